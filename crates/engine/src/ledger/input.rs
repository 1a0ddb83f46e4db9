//! One incoming xDR as text, from a JSON item or a CSV row, and the checks that need no database.

use classbill_domain::{FieldError, Money};
use jiff::Timestamp;
use serde_json::Value;

/// Kinds that enter through `POST /xdrs` and `classbill import xdrs` (§5.1); the others are engine-made or
/// come through `/payments`.
pub const IMPORTABLE_KINDS: &[&str] = &["usage", "one_time", "recurring", "credit", "adjustment", "late_fee"];

/// The fields of one incoming xDR, as text. Empty CSV cells and JSON nulls are `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct XdrText {
    pub party_id: Option<String>,
    pub external_id: Option<String>,
    pub occurred_at: Option<String>,
    pub kind: Option<String>,
    pub service: Option<String>,
    pub rate_code: Option<String>,
    pub description: Option<String>,
    pub quantity: Option<String>,
    pub amount: Option<String>,
    pub currency: Option<String>,
}

/// The keys an item may carry, in the order of the import file's columns.
pub const XDR_FIELDS: &[&str] = &[
    "party_id",
    "external_id",
    "occurred_at",
    "kind",
    "service",
    "rate_code",
    "description",
    "quantity",
    "amount",
    "currency",
];

impl XdrText {
    fn slot(&mut self, key: &str) -> Option<&mut Option<String>> {
        Some(match key {
            "party_id" => &mut self.party_id,
            "external_id" => &mut self.external_id,
            "occurred_at" => &mut self.occurred_at,
            "kind" => &mut self.kind,
            "service" => &mut self.service,
            "rate_code" => &mut self.rate_code,
            "description" => &mut self.description,
            "quantity" => &mut self.quantity,
            "amount" => &mut self.amount,
            "currency" => &mut self.currency,
            _ => return None,
        })
    }

    /// The text of the field named `key` as it was given; `None` when it is absent or not a field.
    pub fn get(&self, key: &str) -> Option<&str> {
        let fields = [
            &self.party_id,
            &self.external_id,
            &self.occurred_at,
            &self.kind,
            &self.service,
            &self.rate_code,
            &self.description,
            &self.quantity,
            &self.amount,
            &self.currency,
        ];
        let index = XDR_FIELDS.iter().position(|field| *field == key)?;
        fields[index].as_deref()
    }

    /// Sets the field named `key` from a text cell; empty cells stay absent. Unknown keys answer false.
    pub fn set(&mut self, key: &str, text: &str) -> bool {
        match self.slot(key) {
            Some(slot) => {
                *slot = (!text.is_empty()).then(|| text.to_owned());
                true
            }
            None => false,
        }
    }

    /// Reads a JSON item. `party_id` is a number, everything else a string (money and quantities travel as
    /// decimal strings). Answers the well-typed fields and an error for every wrong type or unknown key.
    pub fn from_json(item: &Value) -> (XdrText, Vec<FieldError>) {
        let mut text = XdrText::default();
        let Some(object) = item.as_object() else {
            return (
                text,
                vec![FieldError::new("", "invalid_type", "each xDR must be a JSON object")],
            );
        };
        let mut errors = Vec::new();
        for (key, value) in object {
            let Some(slot) = text.slot(key) else {
                errors.push(FieldError::new(key, "unknown_field", format!("unknown field `{key}`")));
                continue;
            };
            match (key.as_str(), value) {
                (_, Value::Null) => {}
                ("party_id", Value::Number(n)) => *slot = Some(n.to_string()),
                ("party_id", _) => errors.push(FieldError::new(key, "invalid_type", "must be a party id (a number)")),
                (_, Value::String(s)) => *slot = Some(s.clone()),
                _ => errors.push(FieldError::new(key, "invalid_type", "must be a string")),
            }
        }
        (text, errors)
    }
}

/// An xDR whose fields parsed; what remains to check needs the party.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedXdr {
    pub party_id: i64,
    pub external_id: Option<String>,
    pub occurred_at: Timestamp,
    pub kind: String,
    pub service: String,
    pub rate_code: Option<String>,
    pub description: Option<String>,
    pub quantity: Money,
    pub amount: Money,
    pub currency: Option<String>,
}

fn required<'a>(value: &'a Option<String>, field: &str, errors: &mut Vec<FieldError>) -> Option<&'a str> {
    match value.as_deref().map(str::trim) {
        Some(text) if !text.is_empty() => Some(text),
        _ => {
            errors.push(FieldError::new(field, "required", "is required"));
            None
        }
    }
}

fn decimal(value: &Option<String>, field: &str, errors: &mut Vec<FieldError>) -> Option<Money> {
    let text = required(value, field, errors)?;
    match Money::parse(text) {
        Ok(money) => Some(money),
        Err(e) => {
            errors.push(FieldError::new(field, e.code(), e.to_string()));
            None
        }
    }
}

/// Everything about one item that can be checked without the database; every violation is listed.
pub fn parse(text: &XdrText) -> Result<ParsedXdr, Vec<FieldError>> {
    let mut errors = Vec::new();
    let party_id = required(&text.party_id, "party_id", &mut errors).and_then(|t| match t.parse::<i64>() {
        Ok(id) if id > 0 => Some(id),
        _ => {
            errors.push(FieldError::new(
                "party_id",
                "invalid_type",
                "must be a positive integer party id",
            ));
            None
        }
    });
    let occurred_at =
        required(&text.occurred_at, "occurred_at", &mut errors).and_then(|t| match t.parse::<Timestamp>() {
            Ok(at) => Some(at),
            Err(_) => {
                errors.push(FieldError::new(
                    "occurred_at",
                    "invalid_type",
                    "must be an RFC 3339 instant such as 2025-03-01T10:00:00Z",
                ));
                None
            }
        });
    let kind = required(&text.kind, "kind", &mut errors).and_then(|k| {
        if IMPORTABLE_KINDS.contains(&k) {
            Some(k.to_owned())
        } else {
            errors.push(FieldError::new(
                "kind",
                "not_importable",
                format!("kind {k:?} cannot be imported; one of {}", IMPORTABLE_KINDS.join(", ")),
            ));
            None
        }
    });
    let service = required(&text.service, "service", &mut errors).map(str::to_owned);
    let quantity = decimal(&text.quantity, "quantity", &mut errors);
    let amount = decimal(&text.amount, "amount", &mut errors);
    if let (Some(kind), Some(amount)) = (&kind, amount)
        && kind == "credit"
        && amount.0 >= 0
    {
        errors.push(FieldError::new(
            "amount",
            "out_of_range",
            "a credit must have a negative amount",
        ));
    }
    let currency = text
        .currency
        .as_deref()
        .map(|c| c.trim().to_uppercase())
        .filter(|c| !c.is_empty());
    let external_id = text.external_id.clone().filter(|e| !e.is_empty());
    if let Some(id) = &external_id
        && id.chars().count() > 200
    {
        errors.push(FieldError::new("external_id", "too_long", "at most 200 characters"));
    }
    match (party_id, occurred_at, kind, service, quantity, amount) {
        (Some(party_id), Some(occurred_at), Some(kind), Some(service), Some(quantity), Some(amount))
            if errors.is_empty() =>
        {
            Ok(ParsedXdr {
                party_id,
                external_id,
                occurred_at,
                kind,
                service,
                rate_code: text.rate_code.clone().filter(|r| !r.is_empty()),
                description: text.description.clone().filter(|d| !d.is_empty()),
                quantity,
                amount,
                currency,
            })
        }
        _ => Err(errors),
    }
}
