//! The body of `POST /invoices/{id}/credit-notes`, checked field by field before anything is read.

use std::collections::HashSet;

use classbill_domain::FieldError;
use jiff::Timestamp;
use serde_json::Value;

/// The longest reason kept, in characters.
const MAX_REASON: usize = 500;
const FIELDS: &[&str] = &["reason", "xdr_ids", "as_of"];

pub(super) struct CreditRequest {
    pub reason: String,
    /// The charge xDRs of the invoice to credit; `None` credits every line not credited yet.
    pub xdr_ids: Option<Vec<i64>>,
    pub as_of: Option<Timestamp>,
}

pub(super) fn parse(body: &Value) -> Result<CreditRequest, Vec<FieldError>> {
    let Some(object) = body.as_object() else {
        return Err(vec![FieldError::new("body", "invalid_type", "must be a JSON object")]);
    };
    let mut errors = Vec::new();
    crate::body::unknown_fields(object, FIELDS, &mut errors);
    let reason = match object.get("reason") {
        Some(Value::String(text)) if !text.trim().is_empty() && text.trim().chars().count() <= MAX_REASON => {
            text.trim().to_owned()
        }
        _ => {
            errors.push(FieldError::new(
                "reason",
                "required",
                format!("say why the invoice is credited (1 to {MAX_REASON} characters)"),
            ));
            String::new()
        }
    };
    let xdr_ids = match object.get("xdr_ids") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) if items.is_empty() => {
            errors.push(FieldError::new(
                "xdr_ids",
                "empty",
                "name at least one line, or leave the field out to credit the whole invoice",
            ));
            None
        }
        Some(Value::Array(items)) => {
            let mut seen = HashSet::new();
            let mut ids = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                match item.as_i64() {
                    Some(id) if seen.insert(id) => ids.push(id),
                    Some(id) => errors.push(FieldError::new(
                        format!("xdr_ids[{i}]"),
                        "duplicate",
                        format!("xDR {id} is named twice"),
                    )),
                    None => errors.push(FieldError::new(
                        format!("xdr_ids[{i}]"),
                        "invalid_type",
                        "must be an xDR id",
                    )),
                }
            }
            Some(ids)
        }
        Some(_) => {
            errors.push(FieldError::new(
                "xdr_ids",
                "invalid_type",
                "must be an array of xDR ids",
            ));
            None
        }
    };
    let as_of = crate::body::optional_instant(object, "as_of", &mut errors);
    if errors.is_empty() {
        Ok(CreditRequest { reason, xdr_ids, as_of })
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn codes(body: Value) -> Vec<(String, String)> {
        match parse(&body) {
            Ok(_) => Vec::new(),
            Err(errors) => errors.into_iter().map(|e| (e.field, e.code)).collect(),
        }
    }

    #[test]
    fn a_whole_invoice_needs_only_a_reason() {
        let request = parse(&json!({"reason": " wrong tariff "})).expect("valid");
        assert_eq!(request.reason, "wrong tariff");
        assert!(request.xdr_ids.is_none() && request.as_of.is_none());
    }

    #[test]
    fn every_bad_field_is_named() {
        let found = codes(json!({"reason": "", "xdr_ids": [4, "x", 4], "as_of": "yesterday", "lines": []}));
        let expected = [
            ("lines", "unknown_field"),
            ("reason", "required"),
            ("xdr_ids[1]", "invalid_type"),
            ("xdr_ids[2]", "duplicate"),
            ("as_of", "invalid_type"),
        ];
        assert_eq!(found, expected.map(|(f, c)| (f.to_owned(), c.to_owned())).to_vec());
        assert_eq!(
            codes(json!({"reason": "x", "xdr_ids": []})),
            vec![("xdr_ids".into(), "empty".into())]
        );
        assert_eq!(codes(json!([1])), vec![("body".into(), "invalid_type".into())]);
    }
}
