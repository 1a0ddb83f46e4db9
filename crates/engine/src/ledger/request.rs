//! The body of `POST /xdrs`: `{"xdrs": [...], "as_of"?}`, read item by item so that every error names its
//! `xdrs[i].field`.

use classbill_domain::FieldError;
use jiff::Timestamp;
use serde_json::Value;

use super::MAX_BATCH;
use super::input::XdrText;
use crate::error::{EngineError, EngineResult};

/// The items of a `POST /xdrs` body, each with its type errors.
pub(super) struct Body {
    pub texts: Vec<XdrText>,
    pub shape_errors: Vec<Vec<FieldError>>,
    pub as_of: Option<Timestamp>,
}

/// Reads the body of `POST /xdrs`: `{"xdrs": [...], "as_of"?}`. Errors of the body itself end the request;
/// type errors of an item are kept to be reported beside its other violations.
pub(super) fn read_body(body: &Value) -> EngineResult<Body> {
    let object = crate::body::object(body)?;
    let mut errors = Vec::new();
    crate::body::unknown_fields(object, &["xdrs", "as_of"], &mut errors);
    let as_of = crate::body::optional_instant(object, "as_of", &mut errors);
    let items = match object.get("xdrs") {
        Some(Value::Array(items)) => items.as_slice(),
        None => {
            errors.push(FieldError::new("xdrs", "required", "is required"));
            &[]
        }
        Some(_) => {
            errors.push(FieldError::new("xdrs", "invalid_type", "must be an array of xDRs"));
            &[]
        }
    };
    if items.len() > MAX_BATCH {
        errors.push(FieldError::new(
            "xdrs",
            "too_many",
            format!("at most {MAX_BATCH} xDRs per request, got {}", items.len()),
        ));
        return Err(EngineError::Invalid(errors));
    }
    if !errors.is_empty() {
        return Err(EngineError::Invalid(errors));
    }
    let (texts, shape_errors) = items.iter().map(XdrText::from_json).unzip();
    Ok(Body {
        texts,
        shape_errors,
        as_of,
    })
}

pub(super) fn indexed(index: usize, e: FieldError) -> FieldError {
    let field = if e.field.is_empty() {
        format!("xdrs[{index}]")
    } else {
        format!("xdrs[{index}].{}", e.field)
    };
    FieldError::new(field, e.code, e.message)
}
