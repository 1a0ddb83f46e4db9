//! Reading a submitted class document: defaults for omitted keys, read-only keys ignored, and every type
//! error reported at its dotted path.

use serde_json::Value;
use serde_path_to_error::Segment;

use super::document::ClassSettings;
use super::events::{CLASS_EVENT_KEYS, EventChannels, default_email, is_class_event};
use crate::field_error::FieldError;

/// Top-level keys that a body may carry but that are never read from it.
pub const READ_ONLY_KEYS: &[&str] = &[
    "id",
    "revision",
    "is_default",
    "member_count",
    "created_at",
    "updated_at",
    "warnings",
    "change_note",
];

/// Reading stops after this many errors, so that a hostile body cannot make it run for long.
const MAX_ERRORS: usize = 100;

/// Messages of the `required` errors that a missing method parameter produces (V21, V25).
pub(crate) fn required_message(field: &str) -> &'static str {
    match field {
        "taxation.fixed_vat.rate_percent" => "a rate is required for fixed_vat",
        "taxation.generic_vat.home_country" => "a home country is required for generic_vat",
        "taxation.external.endpoint_url" => "an endpoint URL is required for external",
        "taxation.external.secret_ref" => "a secret is required for external",
        _ => "is required",
    }
}

/// Reads a class document as submitted (create, `PUT`, or a `PATCH` after merging). Omitted keys take their
/// defaults at every level; unknown keys, wrong JSON types and unknown enum values are all reported.
pub fn settings_from_json(value: Value) -> Result<ClassSettings, Vec<FieldError>> {
    let Value::Object(mut body) = value else {
        return Err(vec![FieldError::new(
            "",
            "invalid_type",
            "expected the class document as a JSON object",
        )]);
    };
    for key in READ_ONLY_KEYS {
        body.remove(*key);
    }
    let mut document = Value::Object(body);
    keep_keys_of_type(document.pointer_mut("/managed_by"), owner_keys);
    keep_keys_of_type(
        document.pointer_mut("/regular_invoices/payment_terms"),
        payment_terms_keys,
    );
    keep_keys_of_type(
        document.pointer_mut("/out_of_turn_invoices/payment_terms"),
        payment_terms_keys,
    );
    add_default_email_flags(document.pointer_mut("/notifications/events"));

    let mut errors: Vec<FieldError> = Vec::new();
    loop {
        match serde_path_to_error::deserialize::<_, ClassSettings>(&document) {
            Ok(mut settings) if errors.is_empty() => {
                for key in CLASS_EVENT_KEYS {
                    settings
                        .notifications
                        .events
                        .entry((*key).to_owned())
                        .or_insert_with(|| EventChannels::default_for(key));
                }
                return Ok(settings);
            }
            Ok(_) => return Err(errors),
            Err(error) => {
                let steps = steps_of(error.path().iter());
                let found = describe(&steps, &error.inner().to_string());
                if !errors.iter().any(|known| known.field == found.field) {
                    errors.push(found);
                }
                // Drop the offending part so the next round reaches the errors behind it.
                if errors.len() >= MAX_ERRORS || !remove_at(&mut document, &steps) {
                    return Err(errors);
                }
            }
        }
    }
}

/// One step of a path into the document.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

fn steps_of<'a>(segments: impl Iterator<Item = &'a Segment>) -> Vec<Step> {
    let mut steps = Vec::new();
    for segment in segments {
        match segment {
            Segment::Map { key } => steps.push(Step::Key(key.clone())),
            Segment::Enum { variant } => steps.push(Step::Key(variant.clone())),
            Segment::Seq { index } => steps.push(Step::Index(*index)),
            Segment::Unknown => break,
        }
    }
    steps
}

fn field_of(steps: &[Step]) -> String {
    let mut field = String::new();
    for step in steps {
        match step {
            Step::Key(key) if field.is_empty() => field.push_str(key),
            Step::Key(key) => {
                field.push('.');
                field.push_str(key);
            }
            Step::Index(index) => field.push_str(&format!("[{index}]")),
        }
    }
    field
}

/// Turns a deserialization message into `{field, code, message}`.
fn describe(steps: &[Step], message: &str) -> FieldError {
    let field = field_of(steps);
    for code in ["out_of_range", "invalid_type", "unknown_currency"] {
        if let Some(rest) = message.strip_prefix(code).and_then(|rest| rest.strip_prefix(": ")) {
            return FieldError::new(field, code, rest);
        }
    }
    if message.starts_with("unknown field") {
        return FieldError::new(field, "unknown_field", message);
    }
    if let Some(name) = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.strip_suffix('`'))
    {
        let field = if field.is_empty() {
            name.to_owned()
        } else {
            format!("{field}.{name}")
        };
        let text = required_message(&field);
        return FieldError::new(field, "required", text);
    }
    if message.starts_with("invalid value: integer") {
        return FieldError::new(field, "out_of_range", "must be a 64-bit integer");
    }
    if let Some(rest) = message.strip_prefix("invalid type: ")
        && let Some((found, expected)) = rest.rsplit_once(", expected ")
    {
        return FieldError::new(
            field,
            "invalid_type",
            format!("expected {}, found {found}", plain_expected(expected)),
        );
    }
    if let Some(rest) = message.strip_prefix("unknown variant ") {
        // A value outside the allowed set is a range failure (§3 rule 1), not a type error.
        return FieldError::new(field, "out_of_range", format!("unknown value {rest}"));
    }
    FieldError::new(field, "invalid_type", message)
}

/// Rewords serde's description of an expected type in JSON terms.
fn plain_expected(expected: &str) -> &str {
    if expected.contains("struct") || expected.contains("map") || expected.contains("tagged enum") {
        "an object"
    } else if expected.contains("sequence") {
        "an array"
    } else if matches!(expected, "i64" | "u64" | "i32" | "u32") {
        "an integer"
    } else {
        expected
    }
}

/// Removes the value at `steps`; a failing list item takes its whole list with it (so later indexes stay
/// those of the submitted list). Returns false when nothing could be removed.
fn remove_at(document: &mut Value, steps: &[Step]) -> bool {
    let Some((last, parent_steps)) = steps.split_last() else {
        return false;
    };
    if let Step::Key(key) = last
        && let Some(Value::Object(parent)) = navigate(document, parent_steps)
        && parent.remove(key).is_some()
    {
        return true;
    }
    remove_at(document, parent_steps)
}

fn navigate<'a>(value: &'a mut Value, steps: &[Step]) -> Option<&'a mut Value> {
    steps.iter().try_fold(value, |current, step| match step {
        Step::Key(key) => current.get_mut(key.as_str()),
        Step::Index(index) => current.get_mut(*index),
    })
}

fn owner_keys(kind: &str) -> Option<&'static [&'static str]> {
    match kind {
        "administrator" => Some(&["type"]),
        "reseller" => Some(&["type", "reseller_id"]),
        _ => None,
    }
}

fn payment_terms_keys(kind: &str) -> Option<&'static [&'static str]> {
    match kind {
        "due_upon_receipt" => Some(&["type"]),
        "net" => Some(&["type", "days"]),
        _ => None,
    }
}

/// Drops the keys of a tagged object that its `type` does not have (§2.0 rule 2).
fn keep_keys_of_type(value: Option<&mut Value>, keys_of: fn(&str) -> Option<&'static [&'static str]>) {
    let Some(Value::Object(object)) = value else {
        return;
    };
    let Some(allowed) = object.get("type").and_then(Value::as_str).and_then(keys_of) else {
        return;
    };
    object.retain(|key, _| allowed.contains(&key.as_str()));
}

/// An event object without `email` takes that event's default e-mail flag, which differs per event.
fn add_default_email_flags(events: Option<&mut Value>) {
    let Some(Value::Object(events)) = events else {
        return;
    };
    for (key, channels) in events.iter_mut() {
        if let Value::Object(channels) = channels
            && is_class_event(key)
            && !channels.contains_key("email")
        {
            channels.insert("email".to_owned(), default_email(key).map_or(Value::Null, Value::Bool));
        }
    }
}
