//! Custom-field definitions and values (§5.14).

mod definition;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

pub use definition::validate_definition;

use crate::field_error::FieldError;
use crate::money::{DecimalError, json_kind, parse_fixed_point};

/// The records a definition applies to; v1 knows only `customer` (every member, customers and resellers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CustomFieldObject {
    Customer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CustomFieldType {
    Text,
    Number,
    Date,
    Datetime,
    List,
}

/// Type-specific properties; bounds are kept as the strings given (decimal, date or RFC 3339 instant).
// Every key is written, `null` included, and the schema says so: its `oneOf` must match each answer with exactly
// one shape, so an absent bound is not left optional (`{max_length, pattern}` would also be bounds without either),
// and bounds have no third key (numbers' bounds carry `decimals`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(untagged)]
pub enum CustomFieldProperties {
    Text {
        max_length: i64,
        #[schema(required = true)]
        pattern: Option<String>,
    },
    Number {
        #[schema(required = true)]
        min: Option<String>,
        #[schema(required = true)]
        max: Option<String>,
        decimals: i64,
    },
    /// `date` and `datetime`.
    #[schema(max_properties = 2)]
    Bounds {
        #[schema(required = true)]
        min: Option<String>,
        #[schema(required = true)]
        max: Option<String>,
    },
    List {
        options: Vec<String>,
    },
}

/// A checked custom-field definition (without its id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "Value")]
pub struct CustomFieldDefinition {
    pub object: CustomFieldObject,
    pub key: String,
    pub label: String,
    #[serde(rename = "type")]
    pub field_type: CustomFieldType,
    pub properties: CustomFieldProperties,
    /// Never the empty string: an empty default means none.
    pub default: Option<String>,
    pub mandatory: bool,
    pub visible_to_end_user: bool,
    pub personal_data: bool,
}

impl TryFrom<Value> for CustomFieldDefinition {
    type Error = String;

    fn try_from(value: Value) -> Result<Self, Self::Error> {
        validate_definition(&value).map_err(|errors| {
            errors
                .iter()
                .map(|error| format!("{}: {}", error.field, error.message))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }
}

/// Checks one party value (§5.14 table). `Ok(None)` is "no value" (null or the empty string); `Ok(Some)` is
/// the stored form (instants in UTC). Errors are addressed to `custom_fields.<key>`.
pub fn validate_value(definition: &CustomFieldDefinition, value: &Value) -> Result<Option<String>, FieldError> {
    let field = format!("custom_fields.{}", definition.key);
    let fail = |code: &str, message: String| FieldError::new(field.clone(), code, message);
    let text = match value {
        Value::Null => return Ok(None),
        Value::String(text) if text.is_empty() => return Ok(None),
        Value::String(text) => text,
        other => {
            return Err(fail(
                "invalid_type",
                format!("expected a string, found {}", json_kind(other)),
            ));
        }
    };
    let out_of_bounds = |message: String| fail("out_of_range", message);
    match &definition.properties {
        CustomFieldProperties::Text { max_length, pattern } => {
            if text.contains('\0') {
                return Err(fail("invalid", "must not contain NUL characters".into()));
            }
            if i64::try_from(text.chars().count()).unwrap_or(i64::MAX) > *max_length {
                return Err(fail("out_of_range", format!("must be at most {max_length} characters")));
            }
            if let Some(pattern) = pattern
                && !whole_match(pattern).is_ok_and(|regex| regex.is_match(text))
            {
                return Err(fail("invalid", format!("must match the pattern {pattern}")));
            }
            Ok(Some(text.clone()))
        }
        CustomFieldProperties::Number { min, max, decimals } => {
            let number = parse_fixed_point(text, 5).map_err(|error| match error {
                DecimalError::Malformed => fail("invalid", "must be a decimal number".into()),
                _ => fail(
                    "out_of_range",
                    format!("must have at most {decimals} fraction digits and fit in range"),
                ),
            })?;
            if i64::from(number.fraction_digits) > *decimals {
                return Err(fail(
                    "out_of_range",
                    format!("must have at most {decimals} fraction digits"),
                ));
            }
            check_bounds(number.scaled, min, max, parse_decimal).map_err(out_of_bounds)?;
            Ok(Some(text.clone()))
        }
        CustomFieldProperties::Bounds { min, max } if definition.field_type == CustomFieldType::Date => {
            let date =
                parse_date(text).ok_or_else(|| fail("invalid", "must be a real date written YYYY-MM-DD".into()))?;
            check_bounds(date, min, max, parse_date).map_err(out_of_bounds)?;
            Ok(Some(text.clone()))
        }
        CustomFieldProperties::Bounds { min, max } => {
            let instant =
                parse_instant(text).ok_or_else(|| fail("invalid", "must be an RFC 3339 instant with offset".into()))?;
            check_bounds(instant, min, max, parse_instant).map_err(out_of_bounds)?;
            Ok(Some(instant.to_string()))
        }
        CustomFieldProperties::List { options } if options.contains(text) => Ok(Some(text.clone())),
        CustomFieldProperties::List { .. } => Err(fail("invalid", "must be one of the options".into())),
    }
}

fn check_bounds<T: PartialOrd>(
    value: T,
    min: &Option<String>,
    max: &Option<String>,
    parse: fn(&str) -> Option<T>,
) -> Result<(), String> {
    if let Some(min) = min
        && parse(min).is_some_and(|low| value < low)
    {
        return Err(format!("must not be less than {min}"));
    }
    if let Some(max) = max
        && parse(max).is_some_and(|high| value > high)
    {
        return Err(format!("must not be greater than {max}"));
    }
    Ok(())
}

/// A decimal with at most five fraction digits, as a count of 10⁻⁵.
fn parse_decimal(text: &str) -> Option<i64> {
    parse_fixed_point(text, 5).ok().map(|fixed| fixed.scaled)
}

/// `YYYY-MM-DD` naming a real date.
fn parse_date(text: &str) -> Option<jiff::civil::Date> {
    let shaped = text.len() == 10
        && text.bytes().enumerate().all(|(index, b)| {
            if index == 4 || index == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    if shaped { text.parse().ok() } else { None }
}

/// An RFC 3339 instant with offset.
fn parse_instant(text: &str) -> Option<jiff::Timestamp> {
    text.parse().ok()
}

/// The pattern anchored at both ends, so it must match the whole value.
fn whole_match(pattern: &str) -> Result<regex::Regex, regex::Error> {
    regex::RegexBuilder::new(&format!("^(?:{pattern})$"))
        .size_limit(1 << 20)
        .build()
}
