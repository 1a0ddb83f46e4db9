//! Percentages as whole counts of 10⁻⁴ percent.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::Schema;

use crate::money::{
    DecimalError, decimal_string_schema, deserialize_decimal_string, parse_fixed_point, write_fixed_point,
};

/// Fraction digits a [`Percent`] string may carry.
pub const PERCENT_FRACTION_DIGITS: u32 = 4;

/// A percentage in units of 10⁻⁴ percent: `19` % is `Percent::from_units(190_000)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Percent(i64);

impl Percent {
    /// Units in one percent.
    pub const UNITS_PER_PERCENT: i64 = 10_000;

    pub const fn from_units(units: i64) -> Percent {
        Percent(units)
    }

    pub const fn units(self) -> i64 {
        self.0
    }

    /// Parses `-?digits[.digits]` with at most four fraction digits.
    pub fn parse(text: &str) -> Result<Percent, DecimalError> {
        parse_fixed_point(text, PERCENT_FRACTION_DIGITS).map(|fixed| Percent(fixed.scaled))
    }
}

impl fmt::Display for Percent {
    /// Without trailing zeros: `19`, `6.25`, `0`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_fixed_point(f, self.0.into(), PERCENT_FRACTION_DIGITS, true)
    }
}

impl Serialize for Percent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Percent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_decimal_string(deserializer, "a percentage", Percent::parse)
    }
}

impl utoipa::PartialSchema for Percent {
    fn schema() -> RefOr<Schema> {
        decimal_string_schema(
            r"^-?[0-9]+(\.[0-9]{0,4})?$",
            "Percentage as a decimal string with 0 to 4 fraction digits; responses print no trailing zeros.",
            "19",
        )
    }
}

impl utoipa::ToSchema for Percent {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Percent")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_without_trailing_zeros() {
        assert_eq!(Percent::parse("19.00").unwrap().to_string(), "19");
        assert_eq!(Percent::parse("6.25").unwrap().to_string(), "6.25");
        assert_eq!(Percent::parse("0").unwrap().to_string(), "0");
        assert_eq!(Percent::parse("0.0001").unwrap().to_string(), "0.0001");
        assert_eq!(Percent::from_units(-55_000).to_string(), "-5.5");
    }

    #[test]
    fn parse_counts_units_of_one_ten_thousandth() {
        assert_eq!(Percent::parse("19").unwrap().units(), 190_000);
        assert_eq!(Percent::parse("6.25").unwrap(), Percent::from_units(62_500));
        assert_eq!(
            Percent::parse("6.25001"),
            Err(DecimalError::TooManyFractionDigits { max: 4 })
        );
        assert_eq!(Percent::parse("1e2"), Err(DecimalError::Malformed));
    }

    #[test]
    fn serde_uses_strings_with_coded_errors() {
        assert_eq!(
            serde_json::to_value(Percent::from_units(190_000)).unwrap(),
            serde_json::json!("19")
        );
        let parsed: Percent = serde_json::from_value(serde_json::json!("20.5")).unwrap();
        assert_eq!(parsed.units(), 205_000);
        let number = serde_json::from_value::<Percent>(serde_json::json!(19)).unwrap_err();
        assert!(number.to_string().starts_with("invalid_type: "), "{number}");
        let digits = serde_json::from_value::<Percent>(serde_json::json!("1.00001")).unwrap_err();
        assert!(digits.to_string().starts_with("out_of_range: "), "{digits}");
    }
}
