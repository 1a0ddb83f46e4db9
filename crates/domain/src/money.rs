//! Amounts of money as whole counts of 10⁻⁵ currency units, and the fixed-point decimal parser shared with
//! percentages and custom-field numbers.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer, de::Error as _};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

/// Units of [`Money`] in one currency unit.
pub const MONEY_SCALE: i64 = 100_000;

/// Fraction digits a [`Money`] string may carry.
pub const MONEY_FRACTION_DIGITS: u32 = 5;

/// Why a decimal string was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    #[error("must be a decimal string such as \"12.50\"")]
    Malformed,
    #[error("at most {max} fraction digits are allowed")]
    TooManyFractionDigits { max: u32 },
    #[error("the number is out of range")]
    OutOfRange,
}

impl DecimalError {
    /// The error code used in `{field, code, message}` answers.
    pub fn code(self) -> &'static str {
        match self {
            DecimalError::Malformed => "invalid_type",
            DecimalError::TooManyFractionDigits { .. } | DecimalError::OutOfRange => "out_of_range",
        }
    }
}

/// The error of [`Money::parse`].
pub type MoneyError = DecimalError;

/// A decimal read exactly: `scaled` = value × 10^`scale` and the number of fraction digits written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FixedPoint {
    pub scaled: i64,
    pub fraction_digits: u32,
}

/// Reads `-?digits[.digits]` with at most `scale` fraction digits into an exact integer count of 10^-`scale`.
pub(crate) fn parse_fixed_point(text: &str, scale: u32) -> Result<FixedPoint, DecimalError> {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = match unsigned.split_once('.') {
        Some((whole, fraction)) => (whole, fraction),
        None => (unsigned, ""),
    };
    let all_digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !all_digits(whole) || !all_digits(fraction) {
        return Err(DecimalError::Malformed);
    }
    let fraction_digits =
        u32::try_from(fraction.len()).map_err(|_| DecimalError::TooManyFractionDigits { max: scale })?;
    if fraction_digits > scale {
        return Err(DecimalError::TooManyFractionDigits { max: scale });
    }
    let whole = whole.trim_start_matches('0');
    if whole.len() > 20 {
        return Err(DecimalError::OutOfRange);
    }
    let mut magnitude: i128 = 0;
    for digit in whole.bytes().chain(fraction.bytes()) {
        magnitude = magnitude * 10 + i128::from(digit - b'0');
    }
    magnitude *= 10_i128.pow(scale - fraction_digits);
    let signed = if negative { -magnitude } else { magnitude };
    let scaled = i64::try_from(signed).map_err(|_| DecimalError::OutOfRange)?;
    Ok(FixedPoint {
        scaled,
        fraction_digits,
    })
}

/// Writes `scaled` × 10^-`scale` with exactly `scale` fraction digits, or with trailing zeros removed.
pub(crate) fn write_fixed_point(f: &mut fmt::Formatter<'_>, scaled: i128, scale: u32, trim: bool) -> fmt::Result {
    let unit = 10_u128.pow(scale);
    let magnitude = scaled.unsigned_abs();
    let sign = if scaled < 0 { "-" } else { "" };
    let whole = magnitude / unit;
    let mut fraction = magnitude % unit;
    let mut digits = scale as usize;
    if trim {
        while digits > 0 && fraction.is_multiple_of(10) {
            fraction /= 10;
            digits -= 1;
        }
    }
    if digits == 0 {
        write!(f, "{sign}{whole}")
    } else {
        write!(f, "{sign}{whole}.{fraction:0digits$}")
    }
}

/// Reads a JSON string through `parse`; anything but a string is an `invalid_type` error. Error messages start
/// with the error code and `": "` so that callers can recover the code.
pub(crate) fn deserialize_decimal_string<'de, D, T>(
    deserializer: D,
    what: &str,
    parse: impl FnOnce(&str) -> Result<T, DecimalError>,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::String(text) => {
            parse(&text).map_err(|error| D::Error::custom(format!("{}: {error}", error.code())))
        }
        other => Err(D::Error::custom(format!(
            "invalid_type: expected {what} as a string, found {}",
            json_kind(&other)
        ))),
    }
}

/// Describes the JSON type of a value for error messages.
pub(crate) fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// An OpenAPI string schema with a pattern, for the decimal newtypes.
pub(crate) fn decimal_string_schema(pattern: &str, description: &str, example: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(pattern))
        .description(Some(description))
        .examples([serde_json::Value::String(example.to_owned())])
        .into()
}

/// An amount of money: a count of 10⁻⁵ currency units. Positive = the party owes more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(pub i64);

impl Money {
    pub const ZERO: Money = Money(0);

    /// Parses `-?digits[.digits]` with at most five fraction digits.
    pub fn parse(text: &str) -> Result<Money, MoneyError> {
        parse_fixed_point(text, MONEY_FRACTION_DIGITS).map(|fixed| Money(fixed.scaled))
    }

    pub fn is_positive(self) -> bool {
        self.0 > 0
    }
}

impl fmt::Display for Money {
    /// Always five fraction digits: `12.34500`, `-0.00001`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_fixed_point(f, self.0.into(), MONEY_FRACTION_DIGITS, false)
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_decimal_string(deserializer, "an amount", Money::parse)
    }
}

impl utoipa::PartialSchema for Money {
    fn schema() -> RefOr<Schema> {
        decimal_string_schema(
            r"^-?[0-9]+(\.[0-9]{0,5})?$",
            "Amount of money as a decimal string; requests accept 0 to 5 fraction digits, responses print 5.",
            "78.96000",
        )
    }
}

impl utoipa::ToSchema for Money {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Money")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_pads_to_five_fraction_digits() {
        assert_eq!(Money::parse("12.345").unwrap().to_string(), "12.34500");
        assert_eq!(Money::parse("12.345").unwrap(), Money(1_234_500));
        assert_eq!(Money::parse("7").unwrap().to_string(), "7.00000");
        assert_eq!(Money::parse("0.00001").unwrap(), Money(1));
        assert_eq!(Money::parse("-0.00001").unwrap().to_string(), "-0.00001");
        assert_eq!(Money::parse("-0").unwrap(), Money::ZERO);
        assert_eq!(Money::parse("007.5").unwrap(), Money(750_000));
    }

    #[test]
    fn parse_rejects_bad_syntax() {
        for text in ["", "-", "+1", " 1", "1 ", "1e3", "1.2.3", ".5", "1,5", "١"] {
            assert_eq!(Money::parse(text), Err(DecimalError::Malformed), "{text:?}");
        }
    }

    #[test]
    fn parse_rejects_six_fraction_digits() {
        assert_eq!(
            Money::parse("1.123456"),
            Err(DecimalError::TooManyFractionDigits { max: 5 })
        );
    }

    #[test]
    fn parse_checks_the_i64_range() {
        assert_eq!(Money::parse("92233720368547.75807").unwrap(), Money(i64::MAX));
        assert_eq!(Money::parse("-92233720368547.75808").unwrap(), Money(i64::MIN));
        assert_eq!(Money::parse("92233720368547.75808"), Err(DecimalError::OutOfRange));
        assert_eq!(
            Money::parse("100000000000000000000000000"),
            Err(DecimalError::OutOfRange)
        );
        assert_eq!(Money(i64::MIN).to_string(), "-92233720368547.75808");
    }

    #[test]
    fn serde_uses_strings_only() {
        assert_eq!(
            serde_json::to_value(Money(1_234_500)).unwrap(),
            serde_json::json!("12.34500")
        );
        let money: Money = serde_json::from_value(serde_json::json!("5")).unwrap();
        assert_eq!(money, Money(500_000));
        let number = serde_json::from_value::<Money>(serde_json::json!(5)).unwrap_err();
        assert!(number.to_string().starts_with("invalid_type: "), "{number}");
        let digits = serde_json::from_value::<Money>(serde_json::json!("1.123456")).unwrap_err();
        assert!(digits.to_string().starts_with("out_of_range: "), "{digits}");
        let garbage = serde_json::from_value::<Money>(serde_json::json!("abc")).unwrap_err();
        assert!(garbage.to_string().starts_with("invalid_type: "), "{garbage}");
    }

    #[test]
    fn schema_is_a_string_with_the_accepted_pattern() {
        let schema = serde_json::to_value(<Money as utoipa::PartialSchema>::schema()).unwrap();
        assert_eq!(schema["type"], "string");
        let pattern = regex::Regex::new(schema["pattern"].as_str().unwrap()).unwrap();
        assert!(pattern.is_match("-12.34500") && pattern.is_match("7"));
        assert!(!pattern.is_match("1.123456") && !pattern.is_match("+1"));
    }

    #[test]
    fn is_positive_excludes_zero() {
        assert!(Money(1).is_positive());
        assert!(!Money::ZERO.is_positive());
        assert!(!Money(-1).is_positive());
    }
}
