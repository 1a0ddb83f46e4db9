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
    let Some(object) = body.as_object() else {
        return Err(EngineError::invalid(
            "",
            "invalid_type",
            "the body must be a JSON object",
        ));
    };
    let mut errors = Vec::new();
    for key in object.keys().filter(|k| !matches!(k.as_str(), "xdrs" | "as_of")) {
        errors.push(FieldError::new(key, "unknown_field", format!("unknown field `{key}`")));
    }
    let as_of = match object.get("as_of") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => match text.parse::<Timestamp>() {
            Ok(at) => Some(at),
            Err(_) => {
                errors.push(FieldError::new("as_of", "invalid_type", "must be an RFC 3339 instant"));
                None
            }
        },
        Some(_) => {
            errors.push(FieldError::new("as_of", "invalid_type", "must be an RFC 3339 instant"));
            None
        }
    };
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
