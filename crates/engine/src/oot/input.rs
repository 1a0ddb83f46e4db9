//! The body of `POST /customers/{id}/out-of-turn-invoices` (customer-classes §5.10), checked field by field
//! before anything is read from the database, and the hash that tells a re-send from another request.

use std::fmt::Write as _;

use classbill_domain::rounding::round_half_away_at_5;
use classbill_domain::{FieldError, Money};
use jiff::Timestamp;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Longest idempotency key, in characters.
const MAX_KEY_CHARS: usize = 200;
/// Most xDR ids and items one request may carry.
const MAX_LINES: usize = 10_000;

const FIELDS: &[&str] = &["idempotency_key", "as_of", "xdr_ids", "items"];
const ITEM_FIELDS: &[&str] = &["kind", "description", "service", "rate_code", "quantity", "unit_price"];

/// A new line of the invoice, booked as an xDR of the party (§5.10 rule 3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Item {
    /// `one_time` or `credit`.
    pub kind: String,
    pub description: Option<String>,
    pub service: String,
    pub rate_code: Option<String>,
    pub quantity: Money,
    /// quantity × unit_price, half away from zero at 5 decimals, negative for a credit.
    pub amount: Money,
}

pub(super) struct OotRequest {
    pub idempotency_key: String,
    pub as_of: Option<Timestamp>,
    pub xdr_ids: Vec<i64>,
    pub items: Vec<Item>,
    /// SHA-256 of the body with its keys sorted, in hex.
    pub body_hash: String,
}

/// The body written with every object's keys in sorted order, so that key order does not make two equal
/// bodies differ.
fn canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (n, key) in keys.into_iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                let _ = write!(out, "{}:", Value::from(key.as_str()));
                canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (n, item) in items.iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                canonical(item, out);
            }
            out.push(']');
        }
        other => {
            let _ = write!(out, "{other}");
        }
    }
}

pub(super) fn body_hash(body: &Value) -> String {
    let mut text = String::new();
    canonical(body, &mut text);
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn text<'a>(object: &'a Value, field: &str, path: &str, errors: &mut Vec<FieldError>) -> Option<&'a str> {
    match object.get(field) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.trim()),
        Some(_) => {
            errors.push(FieldError::new(path, "invalid_type", "must be a string"));
            None
        }
    }
}

fn required<'a>(value: Option<&'a str>, path: &str, errors: &mut Vec<FieldError>) -> Option<&'a str> {
    match value {
        Some(t) if !t.is_empty() => Some(t),
        _ => {
            if !errors.iter().any(|e| e.field == path) {
                errors.push(FieldError::new(path, "required", "is required"));
            }
            None
        }
    }
}

fn decimal(value: Option<&str>, path: &str, errors: &mut Vec<FieldError>) -> Option<Money> {
    let text = required(value, path, errors)?;
    match Money::parse(text) {
        Ok(money) => Some(money),
        Err(e) => {
            errors.push(FieldError::new(path, e.code(), e.to_string()));
            None
        }
    }
}

fn unknown_keys(object: &serde_json::Map<String, Value>, known: &[&str], prefix: &str, errors: &mut Vec<FieldError>) {
    for key in object.keys() {
        if !known.contains(&key.as_str()) {
            errors.push(FieldError::new(
                format!("{prefix}{key}"),
                "unknown_field",
                format!("unknown field `{key}`"),
            ));
        }
    }
}

fn item(value: &Value, i: usize, errors: &mut Vec<FieldError>) -> Option<Item> {
    let path = |field: &str| format!("items[{i}].{field}");
    let Some(object) = value.as_object() else {
        errors.push(FieldError::new(
            format!("items[{i}]"),
            "invalid_type",
            "each item must be a JSON object",
        ));
        return None;
    };
    let before = errors.len();
    unknown_keys(object, ITEM_FIELDS, &format!("items[{i}]."), errors);
    let kind = required(text(value, "kind", &path("kind"), errors), &path("kind"), errors).and_then(|k| {
        if k == "one_time" || k == "credit" {
            Some(k.to_owned())
        } else {
            errors.push(FieldError::new(
                path("kind"),
                "invalid",
                format!("kind {k:?} is not one of one_time, credit"),
            ));
            None
        }
    });
    let description = text(value, "description", &path("description"), errors)
        .filter(|d| !d.is_empty())
        .map(str::to_owned);
    let service = required(
        text(value, "service", &path("service"), errors),
        &path("service"),
        errors,
    )
    .map(str::to_owned);
    let rate_code = text(value, "rate_code", &path("rate_code"), errors)
        .filter(|r| !r.is_empty())
        .map(str::to_owned);
    let quantity = decimal(
        text(value, "quantity", &path("quantity"), errors),
        &path("quantity"),
        errors,
    );
    if quantity.is_some_and(|q| q.0 <= 0) {
        errors.push(FieldError::new(
            path("quantity"),
            "out_of_range",
            "must be greater than 0",
        ));
    }
    let unit_price = decimal(
        text(value, "unit_price", &path("unit_price"), errors),
        &path("unit_price"),
        errors,
    );
    if unit_price.is_some_and(|p| p.0 < 0) {
        errors.push(FieldError::new(
            path("unit_price"),
            "out_of_range",
            "must not be negative; a credit item is booked with the opposite sign",
        ));
    }
    let (Some(kind), Some(service), Some(quantity), Some(unit_price)) = (kind, service, quantity, unit_price) else {
        return None;
    };
    if errors.len() > before {
        return None;
    }
    let product = i128::from(quantity.0) * i128::from(unit_price.0);
    let magnitude = match round_half_away_at_5(product, i128::from(classbill_domain::money::MONEY_SCALE)) {
        Ok(amount) => amount,
        Err(e) => {
            errors.push(FieldError::new(
                path("unit_price"),
                "out_of_range",
                format!("quantity × unit_price: {e}"),
            ));
            return None;
        }
    };
    let amount = if kind == "credit" {
        Money(-magnitude.0)
    } else {
        magnitude
    };
    if kind == "credit" && amount.0 == 0 {
        errors.push(FieldError::new(
            path("unit_price"),
            "out_of_range",
            "a credit must come to an amount below zero",
        ));
        return None;
    }
    Some(Item {
        kind,
        description,
        service,
        rate_code,
        quantity,
        amount,
    })
}

/// Every violation of the body's shape, or the request it asks for.
pub(super) fn parse(body: &Value) -> Result<OotRequest, Vec<FieldError>> {
    let Some(object) = body.as_object() else {
        return Err(vec![FieldError::new(
            "",
            "invalid_type",
            "the body must be a JSON object",
        )]);
    };
    let mut errors = Vec::new();
    unknown_keys(object, FIELDS, "", &mut errors);
    let key = required(
        text(body, "idempotency_key", "idempotency_key", &mut errors),
        "idempotency_key",
        &mut errors,
    );
    if key.is_some_and(|k| k.chars().count() > MAX_KEY_CHARS) {
        errors.push(FieldError::new(
            "idempotency_key",
            "too_long",
            format!("at most {MAX_KEY_CHARS} characters"),
        ));
    }
    let as_of = text(body, "as_of", "as_of", &mut errors).and_then(|t| match t.parse::<Timestamp>() {
        Ok(at) => Some(at),
        Err(_) => {
            errors.push(FieldError::new("as_of", "invalid_type", "must be an RFC 3339 instant"));
            None
        }
    });
    let list = |field: &str, errors: &mut Vec<FieldError>| -> Vec<Value> {
        match body.get(field) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(values)) if values.len() <= MAX_LINES => values.clone(),
            Some(Value::Array(_)) => {
                errors.push(FieldError::new(
                    field,
                    "out_of_range",
                    format!("at most {MAX_LINES} entries"),
                ));
                Vec::new()
            }
            Some(_) => {
                errors.push(FieldError::new(field, "invalid_type", "must be a list"));
                Vec::new()
            }
        }
    };
    let mut xdr_ids = Vec::new();
    for (i, value) in list("xdr_ids", &mut errors).iter().enumerate() {
        match value.as_i64().filter(|id| *id > 0) {
            Some(id) if xdr_ids.contains(&id) => errors.push(FieldError::new(
                format!("xdr_ids[{i}]"),
                "duplicate",
                format!("xDR {id} is listed more than once"),
            )),
            Some(id) => xdr_ids.push(id),
            None => errors.push(FieldError::new(
                format!("xdr_ids[{i}]"),
                "invalid_type",
                "must be an xDR id (a positive number)",
            )),
        }
    }
    let item_values = list("items", &mut errors);
    let items: Vec<Item> = item_values
        .iter()
        .enumerate()
        .filter_map(|(i, value)| item(value, i, &mut errors))
        .collect();
    if body
        .get("xdr_ids")
        .is_none_or(|v| v.as_array().is_none_or(Vec::is_empty))
        && item_values.is_empty()
        && !errors.iter().any(|e| e.field == "xdr_ids" || e.field == "items")
    {
        errors.push(FieldError::new(
            "items",
            "required",
            "an out-of-turn invoice needs at least one xDR id or item",
        ));
    }
    match key {
        Some(key) if errors.is_empty() => Ok(OotRequest {
            idempotency_key: key.to_owned(),
            as_of,
            xdr_ids,
            items,
            body_hash: body_hash(body),
        }),
        _ => Err(errors),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_hash_ignores_key_order_but_not_values() {
        let a = json!({"idempotency_key": "k", "items": [{"kind": "one_time", "quantity": "2"}]});
        let b = json!({"items": [{"quantity": "2", "kind": "one_time"}], "idempotency_key": "k"});
        let c = json!({"items": [{"quantity": "3", "kind": "one_time"}], "idempotency_key": "k"});
        assert_eq!(body_hash(&a), body_hash(&b));
        assert_ne!(body_hash(&a), body_hash(&c));
    }

    #[test]
    fn item_amounts_are_rounded_half_away_from_zero_at_five_decimals() {
        let body = json!({"idempotency_key": "k", "items": [
            {"kind": "one_time", "service": "setup", "quantity": "3", "unit_price": "0.333335"},
        ]});
        assert!(parse(&body).is_err(), "six fraction digits are refused");
        let body = json!({"idempotency_key": "k", "items": [
            {"kind": "one_time", "service": "setup", "quantity": "1.5", "unit_price": "0.00003"},
            {"kind": "credit", "service": "voice", "quantity": "2.5", "unit_price": "0.00001"},
        ]});
        let request = parse(&body).map_err(|e| format!("{e:?}")).expect("valid");
        // 1.5 × 0.00003 = 0.000045 → 0.00005; 2.5 × 0.00001 = 0.000025 → 0.00003, negated.
        assert_eq!(request.items[0].amount, Money(5));
        assert_eq!(request.items[1].amount, Money(-3));
    }

    #[test]
    fn an_empty_request_names_what_is_missing() {
        let errors = parse(&json!({"idempotency_key": "k"})).err().expect("refused");
        assert_eq!(errors.len(), 1);
        assert_eq!(
            (errors[0].field.as_str(), errors[0].code.as_str()),
            ("items", "required")
        );
        let errors = parse(&json!({"xdr_ids": [4, 4], "surplus": 1})).err().expect("refused");
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["surplus", "idempotency_key", "xdr_ids[1]"]);
    }
}
