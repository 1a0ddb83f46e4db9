//! ISO 4217 currencies, identified by their alphabetic code.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer, de::Error as _};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

use crate::money::json_kind;

/// A valid ISO 4217 alphabetic currency code such as `EUR`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency(iso_currency::Currency);

impl Currency {
    /// The currency for an upper-case ISO 4217 code, or `None` for anything else.
    pub fn parse(code: &str) -> Option<Currency> {
        iso_currency::Currency::from_code(code).map(Currency)
    }

    /// Every ISO 4217 currency.
    pub fn all() -> impl Iterator<Item = Currency> {
        use iso_currency::IntoEnumIterator;
        iso_currency::Currency::iter().map(Currency)
    }

    pub fn as_str(self) -> &'static str {
        self.0.code()
    }

    /// Digits of the minor unit (JPY 0, EUR 2, BHD 3); codes without a minor unit count as 0.
    pub fn minor_digits(self) -> u8 {
        self.0
            .exponent()
            .and_then(|digits| u8::try_from(digits).ok())
            .unwrap_or(0)
    }
}

impl PartialOrd for Currency {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Currency {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Currency {
    /// Error messages start with their code (`unknown_currency: `, `invalid_type: `).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(deserializer)? {
            serde_json::Value::String(code) => Currency::parse(&code)
                .ok_or_else(|| D::Error::custom(format!("unknown_currency: currency {code} is not enabled"))),
            other => Err(D::Error::custom(format!(
                "invalid_type: expected an ISO 4217 currency code as a string, found {}",
                json_kind(&other)
            ))),
        }
    }
}

impl utoipa::PartialSchema for Currency {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some("^[A-Z]{3}$"))
            .description(Some("ISO 4217 alphabetic currency code"))
            .examples([serde_json::Value::String("EUR".to_owned())])
            .into()
    }
}

impl utoipa::ToSchema for Currency {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Currency")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minor_digits_follow_iso_4217() {
        assert_eq!(Currency::parse("JPY").unwrap().minor_digits(), 0);
        assert_eq!(Currency::parse("EUR").unwrap().minor_digits(), 2);
        assert_eq!(Currency::parse("BHD").unwrap().minor_digits(), 3);
        assert_eq!(Currency::parse("XAU").unwrap().minor_digits(), 0);
    }

    #[test]
    fn parse_accepts_only_upper_case_iso_codes() {
        assert_eq!(Currency::parse("EUR").unwrap().as_str(), "EUR");
        assert_eq!(Currency::parse("eur"), None);
        assert_eq!(Currency::parse("XYZ"), None);
        assert_eq!(Currency::parse("EURO"), None);
    }

    #[test]
    fn serde_round_trips_the_code() {
        let eur = Currency::parse("EUR").unwrap();
        assert_eq!(serde_json::to_value(eur).unwrap(), serde_json::json!("EUR"));
        assert_eq!(
            serde_json::from_value::<Currency>(serde_json::json!("EUR")).unwrap(),
            eur
        );
        let unknown = serde_json::from_value::<Currency>(serde_json::json!("XYZ")).unwrap_err();
        assert_eq!(unknown.to_string(), "unknown_currency: currency XYZ is not enabled");
        let number = serde_json::from_value::<Currency>(serde_json::json!(978)).unwrap_err();
        assert!(number.to_string().starts_with("invalid_type: "), "{number}");
    }

    #[test]
    fn orders_by_code() {
        let mut codes = [
            Currency::parse("USD").unwrap(),
            Currency::parse("CHF").unwrap(),
            Currency::parse("EUR").unwrap(),
        ];
        codes.sort();
        assert_eq!(codes.map(Currency::as_str), ["CHF", "EUR", "USD"]);
    }
}
