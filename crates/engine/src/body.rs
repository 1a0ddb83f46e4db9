//! Reading JSON request bodies field by field, so that every error names its field and all of them are
//! reported at once.

use classbill_domain::FieldError;
use jiff::Timestamp;
use serde_json::{Map, Value};

use crate::error::{EngineError, EngineResult};

/// The body as an object; anything else ends the request.
pub(crate) fn object(body: &Value) -> EngineResult<&Map<String, Value>> {
    body.as_object()
        .ok_or_else(|| EngineError::invalid("", "invalid_type", "the body must be a JSON object"))
}

/// An optional string field, trimmed; absent and `null` read as none.
pub(crate) fn optional_text<'a>(
    object: &'a Map<String, Value>,
    field: &str,
    errors: &mut Vec<FieldError>,
) -> Option<&'a str> {
    match object.get(field) {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(text.trim()),
        Some(_) => {
            errors.push(FieldError::new(field, "invalid_type", "must be a string"));
            None
        }
    }
}

/// One `unknown_field` error per key of `object` that is not in `known`.
pub(crate) fn unknown_fields(object: &Map<String, Value>, known: &[&str], errors: &mut Vec<FieldError>) {
    for key in object.keys().filter(|key| !known.contains(&key.as_str())) {
        errors.push(FieldError::new(key, "unknown_field", format!("unknown field `{key}`")));
    }
}

/// An optional RFC 3339 instant such as `as_of`; absent and `null` read as none.
pub(crate) fn optional_instant(
    object: &Map<String, Value>,
    field: &str,
    errors: &mut Vec<FieldError>,
) -> Option<Timestamp> {
    let parsed = match object.get(field) {
        None | Some(Value::Null) => return None,
        Some(Value::String(text)) => text.parse::<Timestamp>().ok(),
        Some(_) => None,
    };
    if parsed.is_none() {
        errors.push(FieldError::new(field, "invalid_type", "must be an RFC 3339 instant"));
    }
    parsed
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn instants_parse_or_name_their_field() {
        let body = json!({"as_of": "2025-04-01T04:00:00Z", "at": 5, "none": null});
        let object = body.as_object().expect("object");
        let mut errors = Vec::new();
        let at = optional_instant(object, "as_of", &mut errors);
        assert_eq!(at.map(|t| t.to_string()).as_deref(), Some("2025-04-01T04:00:00Z"));
        assert_eq!(optional_instant(object, "none", &mut errors), None);
        assert_eq!(optional_instant(object, "missing", &mut errors), None);
        assert_eq!(optional_instant(object, "at", &mut errors), None);
        unknown_fields(object, &["as_of", "at"], &mut errors);
        let found: Vec<(&str, &str)> = errors.iter().map(|e| (e.field.as_str(), e.code.as_str())).collect();
        assert_eq!(found, [("at", "invalid_type"), ("none", "unknown_field")]);
    }
}
