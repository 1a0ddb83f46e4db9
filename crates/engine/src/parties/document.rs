//! The party record as requests carry it: the typed bodies of `POST /customers` and `POST /resellers`, and the
//! one internal form both (and merged patches) are read into, with the checks that need no database.

use classbill_domain::FieldError;
use classbill_domain::class::{EmailDelivery, OotEmailDelivery, StatisticsEmail};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::PartyKind;
use crate::error::{EngineError, EngineResult};
use classbill_domain::period::{BillingPeriodKind, time_zone};

/// `POST /customers`. Omitted fields take the defaults of §4.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCustomer {
    pub name: String,
    /// Inherited from the class when omitted; required when the class has none (§1.4 rule 2).
    pub currency: Option<String>,
    /// The owning reseller; null = the operator's direct customer. Immutable.
    pub reseller_id: Option<i64>,
    /// Absent = the owner's Default class.
    pub class_id: Option<i64>,
    pub billing_period: Option<String>,
    pub time_zone: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub activated_at: Option<Timestamp>,
    /// The instant the creation acts at; `activated_at` defaults to it.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub as_of: Option<Timestamp>,
    pub prepaid: Option<bool>,
    pub country: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub tax_id: Option<String>,
    pub tax_registered: Option<bool>,
    pub tax_exempt: Option<bool>,
    pub tax_exemption_reason: Option<String>,
    /// Custom-field values by key.
    #[schema(value_type = Option<Object>)]
    pub custom_fields: Option<Map<String, Value>>,
    /// Overrides the class's whole taxation tab.
    #[schema(value_type = Option<Object>)]
    pub taxation: Option<Value>,
    pub regular_invoice_template_id: Option<i64>,
    pub oot_invoice_template_id: Option<i64>,
    pub invoice_email_delivery: Option<EmailDelivery>,
    pub oot_invoice_email_delivery: Option<OotEmailDelivery>,
    pub statistics_email: Option<StatisticsEmail>,
    /// Partial measured-service rows keyed by `metric`.
    #[schema(value_type = Option<Vec<Object>>)]
    pub measured_services: Option<Vec<Value>>,
}

/// `POST /resellers`. Omitted fields take the defaults of §4.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReseller {
    pub name: String,
    /// Inherited from the class when omitted; required when the class has none (§1.4 rule 2).
    pub currency: Option<String>,
    /// The parent reseller; null = top-level. Immutable.
    pub parent_reseller_id: Option<i64>,
    /// Absent = the owner's Default class.
    pub class_id: Option<i64>,
    pub billing_period: Option<String>,
    pub time_zone: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub activated_at: Option<Timestamp>,
    /// The instant the creation acts at; `activated_at` defaults to it.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub as_of: Option<Timestamp>,
    pub country: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub tax_id: Option<String>,
    pub tax_registered: Option<bool>,
    pub tax_exempt: Option<bool>,
    pub tax_exemption_reason: Option<String>,
    /// Custom-field values by key.
    #[schema(value_type = Option<Object>)]
    pub custom_fields: Option<Map<String, Value>>,
    /// Overrides the class's whole taxation tab.
    #[schema(value_type = Option<Object>)]
    pub taxation: Option<Value>,
    pub regular_invoice_template_id: Option<i64>,
    pub oot_invoice_template_id: Option<i64>,
    pub invoice_email_delivery: Option<EmailDelivery>,
    pub oot_invoice_email_delivery: Option<OotEmailDelivery>,
    pub statistics_email: Option<StatisticsEmail>,
    /// Partial measured-service rows keyed by `metric`.
    #[schema(value_type = Option<Vec<Object>>)]
    pub measured_services: Option<Vec<Value>>,
}

/// Every field of either kind; null and absent are alike.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PartyDocument {
    pub name: Option<String>,
    pub currency: Option<String>,
    pub reseller_id: Option<i64>,
    pub parent_reseller_id: Option<i64>,
    pub class_id: Option<i64>,
    pub billing_period: Option<String>,
    pub time_zone: Option<String>,
    pub activated_at: Option<Timestamp>,
    pub as_of: Option<Timestamp>,
    pub prepaid: Option<bool>,
    pub country: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub tax_id: Option<String>,
    pub tax_registered: Option<bool>,
    pub tax_exempt: Option<bool>,
    pub tax_exemption_reason: Option<String>,
    pub custom_fields: Option<Map<String, Value>>,
    pub taxation: Option<Value>,
    pub regular_invoice_template_id: Option<i64>,
    pub oot_invoice_template_id: Option<i64>,
    pub invoice_email_delivery: Option<EmailDelivery>,
    pub oot_invoice_email_delivery: Option<OotEmailDelivery>,
    pub statistics_email: Option<StatisticsEmail>,
    pub measured_services: Option<Vec<Value>>,
}

/// Keys only the other kind has.
fn foreign_keys(kind: PartyKind) -> &'static [&'static str] {
    match kind {
        PartyKind::Customer => &["parent_reseller_id"],
        PartyKind::Reseller => &["reseller_id", "prepaid"],
    }
}

impl PartyDocument {
    /// Reads a body (or a merged patch) of `kind`; a key of the other kind or of no kind is `unknown_field`.
    pub fn parse(kind: PartyKind, value: Value) -> EngineResult<PartyDocument> {
        let Value::Object(object) = &value else {
            return Err(EngineError::invalid(
                "",
                "invalid_type",
                format!("expected the {} as a JSON object", kind.as_str()),
            ));
        };
        let mut errors: Vec<FieldError> = foreign_keys(kind)
            .iter()
            .filter(|key| object.contains_key(**key))
            .map(|key| FieldError::new(*key, "unknown_field", format!("a {} has no field {key}", kind.as_str())))
            .collect();
        if !errors.is_empty() {
            return Err(EngineError::Invalid(errors));
        }
        crate::catalog::parse_json::<PartyDocument>(value).map_err(|found| {
            errors.extend(found);
            EngineError::Invalid(errors)
        })
    }

    /// The owning reseller as the body names it.
    pub fn owner_reseller_id(&self, kind: PartyKind) -> Option<i64> {
        match kind {
            PartyKind::Customer => self.reseller_id,
            PartyKind::Reseller => self.parent_reseller_id,
        }
    }

    /// Checks that need nothing but the document; `creating` makes `name` required.
    pub fn check(&self, errors: &mut Vec<FieldError>) {
        let name = self.name.as_deref().unwrap_or("").trim();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            errors.push(FieldError::new("name", "invalid_length", "must be 1 to 100 characters"));
        }
        if let Some(period) = &self.billing_period
            && period.parse::<BillingPeriodKind>().is_err()
        {
            errors.push(FieldError::new(
                "billing_period",
                "invalid",
                format!(
                    "unknown billing period {period:?}; one of {}",
                    BillingPeriodKind::ALL.map(BillingPeriodKind::as_str).join(", ")
                ),
            ));
        }
        if let Some(zone) = &self.time_zone
            && time_zone(zone).is_err()
        {
            errors.push(FieldError::new(
                "time_zone",
                "unknown_time_zone",
                format!("{zone} is not an IANA time zone"),
            ));
        }
        if let Some(country) = &self.country
            && (country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()))
        {
            errors.push(FieldError::new(
                "country",
                "invalid",
                "must be an ISO 3166-1 alpha-2 code such as DE",
            ));
        }
        if self.tax_id.as_ref().is_some_and(|t| t.chars().count() > 64) {
            errors.push(FieldError::new(
                "tax_id",
                "out_of_range",
                "must be at most 64 characters",
            ));
        }
        if self
            .tax_exemption_reason
            .as_ref()
            .is_some_and(|t| t.chars().count() > 200)
        {
            errors.push(FieldError::new(
                "tax_exemption_reason",
                "out_of_range",
                "must be at most 200 characters",
            ));
        }
        if let Some(email) = &self.email
            && !classbill_domain::email::is_mail_address(email)
        {
            errors.push(FieldError::new("email", "invalid", "must be a valid e-mail address"));
        }
        if self
            .phone
            .as_ref()
            .is_some_and(|p| p.chars().count() > 40 || p.chars().any(char::is_control))
        {
            errors.push(FieldError::new(
                "phone",
                "out_of_range",
                "must be at most 40 characters",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_of_the_other_kind_are_unknown() {
        let error = PartyDocument::parse(PartyKind::Reseller, json!({"name": "R", "prepaid": true})).unwrap_err();
        let EngineError::Invalid(errors) = error else {
            panic!("{error:?}")
        };
        assert_eq!(errors[0].field, "prepaid");
        assert!(PartyDocument::parse(PartyKind::Customer, json!({"name": "C", "prepaid": true})).is_ok());
    }

    #[test]
    fn static_checks_name_the_field() {
        let doc = PartyDocument::parse(
            PartyKind::Customer,
            json!({"name": "C", "time_zone": "Mars/Olympus", "billing_period": "yearly", "tax_id": "x".repeat(65)}),
        )
        .expect("parses");
        let mut errors = Vec::new();
        doc.check(&mut errors);
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["billing_period", "time_zone", "tax_id"]);
    }
}
