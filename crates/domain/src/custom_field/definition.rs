//! Checking a custom-field definition body (§5.14).

use std::collections::BTreeSet;
use std::ops::RangeInclusive;

use serde_json::{Map, Value};

use super::{
    CustomFieldDefinition, CustomFieldObject, CustomFieldProperties, CustomFieldType, parse_date, parse_decimal,
    parse_instant, validate_value, whole_match,
};
use crate::field_error::FieldError;
use crate::money::json_kind;

const DEFINITION_KEYS: &[&str] = &[
    "id",
    "object",
    "key",
    "label",
    "type",
    "properties",
    "default",
    "mandatory",
    "visible_to_end_user",
    "personal_data",
];

/// Collects every problem of one body.
#[derive(Default)]
struct Problems(Vec<FieldError>);

impl Problems {
    fn add(&mut self, field: impl Into<String>, code: &str, message: impl Into<String>) {
        self.0.push(FieldError::new(field, code, message));
    }

    fn wrong_type(&mut self, field: impl Into<String>, expected: &str, found: &Value) {
        self.add(
            field,
            "invalid_type",
            format!("expected {expected}, found {}", json_kind(found)),
        );
    }

    fn unknown_keys(&mut self, object: &Map<String, Value>, known: &[&str], prefix: &str) {
        for key in object.keys().filter(|key| !known.contains(&key.as_str())) {
            self.add(
                format!("{prefix}{key}"),
                "unknown_field",
                format!("unknown field `{key}`"),
            );
        }
    }

    /// A string member, `None` when absent or null.
    fn text(&mut self, object: &Map<String, Value>, name: &str, field: &str) -> Option<String> {
        match object.get(name)? {
            Value::Null => None,
            Value::String(text) => Some(text.clone()),
            other => {
                self.wrong_type(field, "a string", other);
                None
            }
        }
    }

    fn required_text(&mut self, object: &Map<String, Value>, name: &str) -> Option<String> {
        if object.get(name).is_none_or(Value::is_null) {
            self.add(name, "required", "is required");
        }
        self.text(object, name, name)
    }

    fn flag(&mut self, object: &Map<String, Value>, name: &str) -> bool {
        match object.get(name) {
            None | Some(Value::Null) => false,
            Some(Value::Bool(flag)) => *flag,
            Some(other) => {
                self.wrong_type(name, "a boolean", other);
                false
            }
        }
    }

    fn integer(&mut self, object: &Map<String, Value>, name: &str, default: i64, range: RangeInclusive<i64>) -> i64 {
        let field = format!("properties.{name}");
        match object.get(name) {
            None | Some(Value::Null) => default,
            Some(Value::Number(number)) => match number.as_i64().filter(|n| range.contains(n)) {
                Some(n) => n,
                None => {
                    let message = format!("must be between {} and {}", range.start(), range.end());
                    self.add(field, "out_of_range", message);
                    default
                }
            },
            Some(other) => {
                self.wrong_type(field, "an integer", other);
                default
            }
        }
    }
}

/// Checks a definition body; `id` is ignored, unknown keys are rejected, every problem is reported.
pub fn validate_definition(body: &Value) -> Result<CustomFieldDefinition, Vec<FieldError>> {
    let Value::Object(body) = body else {
        return Err(vec![FieldError::new(
            "",
            "invalid_type",
            "expected the definition as a JSON object",
        )]);
    };
    let mut problems = Problems::default();
    problems.unknown_keys(body, DEFINITION_KEYS, "");
    let object = match body.get("object") {
        None | Some(Value::Null) => Some(CustomFieldObject::Customer),
        Some(Value::String(name)) if name == "customer" => Some(CustomFieldObject::Customer),
        Some(Value::String(name)) if name == "account" => {
            problems.add(
                "object",
                "unsupported",
                "account fields are not supported; use customer",
            );
            None
        }
        Some(other) => {
            problems.wrong_type("object", "\"customer\"", other);
            None
        }
    };
    let key = problems.required_text(body, "key");
    if key.as_deref().is_some_and(|key| !is_field_key(key)) {
        let message = "must start with a-z and continue with a-z, 0-9 or _ (at most 63 characters)";
        problems.add("key", "out_of_range", message);
    }
    let label = problems.required_text(body, "label");
    if label
        .as_deref()
        .is_some_and(|label| !(1..=100).contains(&label.trim().chars().count()))
    {
        problems.add("label", "out_of_range", "must be 1 to 100 characters");
    }
    let field_type = match body.get("type") {
        None | Some(Value::Null) => {
            problems.add("type", "required", "is required");
            None
        }
        Some(value) => {
            let parsed = serde_json::from_value::<CustomFieldType>(value.clone()).ok();
            if parsed.is_none() {
                problems.add(
                    "type",
                    "invalid_type",
                    "expected one of text, number, date, datetime, list",
                );
            }
            parsed
        }
    };
    let empty = Map::new();
    let properties = match body.get("properties") {
        None | Some(Value::Null) => Some(&empty),
        Some(Value::Object(properties)) => Some(properties),
        Some(other) => {
            problems.wrong_type("properties", "an object", other);
            None
        }
    };
    let properties = field_type
        .zip(properties)
        .map(|(kind, properties)| read_properties(kind, properties, &mut problems));
    let mandatory = problems.flag(body, "mandatory");
    let visible_to_end_user = problems.flag(body, "visible_to_end_user");
    let personal_data = problems.flag(body, "personal_data");

    let (Some(object), Some(key), Some(label), Some(field_type), Some(properties)) =
        (object, key, label, field_type, properties)
    else {
        return Err(problems.0);
    };
    let mut definition = CustomFieldDefinition {
        object,
        key,
        label,
        field_type,
        properties,
        default: None,
        mandatory,
        visible_to_end_user,
        personal_data,
    };
    match validate_value(&definition, body.get("default").unwrap_or(&Value::Null)) {
        Ok(default) => definition.default = default,
        Err(error) => problems.add("default", &error.code, error.message),
    }
    if problems.0.is_empty() {
        Ok(definition)
    } else {
        Err(problems.0)
    }
}

fn read_properties(
    kind: CustomFieldType,
    properties: &Map<String, Value>,
    problems: &mut Problems,
) -> CustomFieldProperties {
    let prefix = "properties.";
    match kind {
        CustomFieldType::Text => {
            problems.unknown_keys(properties, &["max_length", "pattern"], prefix);
            let max_length = problems.integer(properties, "max_length", 255, 1..=4000);
            let pattern = problems.text(properties, "pattern", "properties.pattern");
            if let Some(Err(error)) = pattern.as_deref().map(whole_match) {
                problems.add(
                    "properties.pattern",
                    "invalid",
                    format!("not a valid regular expression: {error}"),
                );
            }
            CustomFieldProperties::Text { max_length, pattern }
        }
        CustomFieldType::Number => {
            problems.unknown_keys(properties, &["min", "max", "decimals"], prefix);
            let decimals = problems.integer(properties, "decimals", 0, 0..=5);
            let (min, max) = bounds(
                properties,
                problems,
                "a decimal number with at most 5 fraction digits",
                parse_decimal,
            );
            CustomFieldProperties::Number { min, max, decimals }
        }
        CustomFieldType::Date => {
            problems.unknown_keys(properties, &["min", "max"], prefix);
            let (min, max) = bounds(properties, problems, "a date written YYYY-MM-DD", parse_date);
            CustomFieldProperties::Bounds { min, max }
        }
        CustomFieldType::Datetime => {
            problems.unknown_keys(properties, &["min", "max"], prefix);
            let (min, max) = bounds(properties, problems, "an RFC 3339 instant with offset", parse_instant);
            CustomFieldProperties::Bounds { min, max }
        }
        CustomFieldType::List => {
            problems.unknown_keys(properties, &["options"], prefix);
            CustomFieldProperties::List {
                options: options(properties, problems),
            }
        }
    }
}

/// `options`: 1–100 distinct strings of 1–100 characters.
fn options(properties: &Map<String, Value>, problems: &mut Problems) -> Vec<String> {
    let field = "properties.options";
    let items = match properties.get("options") {
        None | Some(Value::Null) => &Vec::new(),
        Some(Value::Array(items)) => items,
        Some(other) => {
            problems.wrong_type(field, "an array", other);
            return Vec::new();
        }
    };
    if items.is_empty() {
        problems.add(field, "required", "a list needs at least one option");
    } else if items.len() > 100 {
        problems.add(field, "too_many", "at most 100 options are allowed");
    }
    let mut seen = BTreeSet::new();
    let mut options = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let item_field = format!("{field}[{index}]");
        match item {
            Value::String(option) if !(1..=100).contains(&option.chars().count()) => {
                problems.add(item_field, "out_of_range", "must be 1 to 100 characters");
            }
            Value::String(option) if !seen.insert(option.as_str()) => {
                problems.add(
                    item_field,
                    "duplicate",
                    format!("option \"{option}\" is listed more than once"),
                );
            }
            Value::String(option) => options.push(option.clone()),
            other => problems.wrong_type(item_field, "a string", other),
        }
    }
    options
}

/// Optional `min` and `max` bounds, each readable by `parse`, with min ≤ max.
fn bounds<T: PartialOrd>(
    properties: &Map<String, Value>,
    problems: &mut Problems,
    expected: &str,
    parse: fn(&str) -> Option<T>,
) -> (Option<String>, Option<String>) {
    let mut read = |name: &str| {
        let field = format!("properties.{name}");
        let text = problems.text(properties, name, &field)?;
        let value = parse(&text);
        if value.is_none() {
            problems.add(field, "invalid", format!("must be {expected}"));
        }
        value.map(|value| (text, value))
    };
    let (min, max) = (read("min"), read("max"));
    if let (Some((_, low)), Some((_, high))) = (&min, &max)
        && high < low
    {
        problems.add("properties.max", "out_of_range", "must not be less than min");
    }
    (min.map(|(text, _)| text), max.map(|(text, _)| text))
}

/// `^[a-z][a-z0-9_]{0,62}$`.
fn is_field_key(key: &str) -> bool {
    let mut chars = key.chars();
    chars.next().is_some_and(|first| first.is_ascii_lowercase())
        && key.len() <= 63
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}
