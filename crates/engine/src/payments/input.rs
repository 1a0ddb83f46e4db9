//! The body of `POST /payments`, checked field by field before anything is read from the database.

use classbill_domain::{FieldError, Money};
use jiff::Timestamp;
use serde_json::Value;

use crate::error::{EngineError, EngineResult};

const FIELDS: &[&str] = &[
    "party_id",
    "amount",
    "currency",
    "received_at",
    "invoice_id",
    "external_id",
];

pub(super) struct PaymentInput {
    pub party_id: i64,
    pub amount: Money,
    pub currency: String,
    pub received_at: Timestamp,
    pub invoice_id: Option<i64>,
    pub external_id: Option<String>,
}

fn text<'a>(body: &'a Value, field: &str, errors: &mut Vec<FieldError>) -> Option<&'a str> {
    match body.get(field) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => {
            errors.push(FieldError::new(field, "invalid_type", "must be a string"));
            None
        }
    }
}

fn id(body: &Value, field: &str, errors: &mut Vec<FieldError>) -> Option<i64> {
    match body.get(field) {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_i64() {
            Some(id) => Some(id),
            None => {
                errors.push(FieldError::new(field, "invalid_type", "must be an id (a number)"));
                None
            }
        },
    }
}

fn required<T>(value: Option<T>, field: &str, errors: &mut Vec<FieldError>) -> Option<T> {
    if value.is_none() && !errors.iter().any(|e| e.field == field) {
        errors.push(FieldError::new(field, "required", format!("`{field}` is required")));
    }
    value
}

pub(super) fn parse(body: &Value) -> EngineResult<PaymentInput> {
    let Some(object) = body.as_object() else {
        return Err(EngineError::invalid(
            "",
            "invalid_type",
            "the body must be a JSON object",
        ));
    };
    let mut errors = Vec::new();
    for key in object.keys() {
        if !FIELDS.contains(&key.as_str()) {
            errors.push(FieldError::new(key, "unknown_field", format!("unknown field `{key}`")));
        }
    }
    let party_id = id(body, "party_id", &mut errors);
    let party_id = required(party_id, "party_id", &mut errors);
    let invoice_id = id(body, "invoice_id", &mut errors);
    let amount = match text(body, "amount", &mut errors) {
        Some(t) => match Money::parse(t.trim()) {
            Ok(m) if m.is_positive() => Some(m),
            Ok(_) => {
                errors.push(FieldError::new("amount", "out_of_range", "must be greater than 0"));
                None
            }
            Err(_) => {
                errors.push(FieldError::new(
                    "amount",
                    "invalid",
                    "must be a decimal with at most five fraction digits",
                ));
                None
            }
        },
        None => None,
    };
    let amount = required(amount, "amount", &mut errors);
    let currency = text(body, "currency", &mut errors).map(|c| c.trim().to_uppercase());
    let currency = required(currency.filter(|c| !c.is_empty()), "currency", &mut errors);
    let received_at = match text(body, "received_at", &mut errors) {
        Some(t) => match t.trim().parse::<Timestamp>() {
            Ok(at) => Some(at),
            Err(_) => {
                errors.push(FieldError::new("received_at", "invalid", "must be an RFC 3339 instant"));
                None
            }
        },
        None => None,
    };
    let received_at = required(received_at, "received_at", &mut errors);
    let external_id = text(body, "external_id", &mut errors)
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty());
    match (party_id, amount, currency, received_at) {
        (Some(party_id), Some(amount), Some(currency), Some(received_at)) if errors.is_empty() => Ok(PaymentInput {
            party_id,
            amount,
            currency,
            received_at,
            invoice_id,
            external_id,
        }),
        _ => Err(EngineError::Invalid(errors)),
    }
}
