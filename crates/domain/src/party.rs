//! Facts about billed parties that several rules share: their kind and the per-party overrides of §4.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::class::{ChargeBasis, EmailDelivery, Metric, MetricRow, OotEmailDelivery, StatisticsEmail, Taxation};
use crate::money::Money;

/// The two kinds of billed party.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PartyKind {
    Customer,
    Reseller,
}

impl PartyKind {
    /// The spelling used in storage and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            PartyKind::Customer => "customer",
            PartyKind::Reseller => "reseller",
        }
    }

    /// The API field naming the owning reseller.
    pub fn owner_field(self) -> &'static str {
        match self {
            PartyKind::Customer => "reseller_id",
            PartyKind::Reseller => "parent_reseller_id",
        }
    }
}

impl fmt::Display for PartyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The per-party overrides of §4. An absent or null key inherits the class value.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct PartyOverrides {
    /// Replaces the whole class `taxation` tab.
    pub taxation: Option<Taxation>,
    pub regular_invoice_template_id: Option<i64>,
    pub oot_invoice_template_id: Option<i64>,
    pub invoice_email_delivery: Option<EmailDelivery>,
    pub oot_invoice_email_delivery: Option<OotEmailDelivery>,
    pub statistics_email: Option<StatisticsEmail>,
    pub measured_services: Option<Vec<MetricOverride>>,
}

impl PartyOverrides {
    /// Reads the stored overrides; an empty text or JSON null means none.
    pub fn from_json(text: &str) -> Result<PartyOverrides, serde_json::Error> {
        if text.trim().is_empty() {
            return Ok(PartyOverrides::default());
        }
        let value: Value = serde_json::from_str(text)?;
        if value.is_null() {
            return Ok(PartyOverrides::default());
        }
        serde_json::from_value(value)
    }

    /// The party's row for `metric`, if it has one (the first, should there be several).
    pub fn metric(&self, metric: Metric) -> Option<&MetricOverride> {
        self.measured_services
            .as_deref()
            .and_then(|rows| rows.iter().find(|row| row.metric == metric))
    }
}

/// A party's measured-service row: `metric` plus any subset of the other keys of §2.7. For `rate_code` and
/// `service` an explicit null is a value of its own (the defaults), distinct from an absent key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricOverride {
    pub metric: Metric,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charge_basis: Option<ChargeBasis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_per_item: Option<Money>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub free_items: Option<i64>,
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub rate_code: Option<Option<String>>,
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub service: Option<Option<String>>,
}

impl MetricOverride {
    /// A row for `metric` that changes nothing yet.
    pub fn new(metric: Metric) -> MetricOverride {
        MetricOverride {
            metric,
            charge_basis: None,
            price_per_item: None,
            free_items: None,
            rate_code: None,
            service: None,
        }
    }

    /// This row laid over `base`: the keys it gives win, the others stay.
    pub fn apply_to(&self, base: &MetricRow) -> MetricRow {
        let mut row = base.clone();
        row.metric = self.metric;
        if let Some(basis) = self.charge_basis {
            row.charge_basis = basis;
        }
        if let Some(price) = self.price_per_item {
            row.price_per_item = price;
        }
        if let Some(free) = self.free_items {
            row.free_items = free;
        }
        if let Some(rate_code) = &self.rate_code {
            row.rate_code.clone_from(rate_code);
        }
        if let Some(service) = &self.service {
            row.service.clone_from(service);
        }
        row
    }
}

/// A key that is present deserializes to `Some`, even when its value is null.
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}
