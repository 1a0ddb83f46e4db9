//! What the effective view of one party is computed from.

use super::*;

/// The two kinds of billed party.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
}

impl fmt::Display for PartyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The per-party overrides of §4. An absent or null key inherits the class value.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PartyOverrides {
    /// Replaces the whole class `taxation` tab.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub taxation: Option<Taxation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub regular_invoice_template_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oot_invoice_template_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoice_email_delivery: Option<EmailDelivery>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oot_invoice_email_delivery: Option<OotEmailDelivery>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statistics_email: Option<StatisticsEmail>,
    #[serde(skip_serializing_if = "Option::is_none")]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricOverride {
    pub metric: Metric,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charge_basis: Option<ChargeBasis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_per_item: Option<Money>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub free_items: Option<i64>,
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub rate_code: Option<Option<String>>,
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
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

/// The billed party as far as its effective settings depend on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartyFacts {
    pub kind: PartyKind,
    /// Always false for resellers.
    pub prepaid: bool,
    pub tax_exempt: bool,
    pub time_zone: String,
    pub overrides: PartyOverrides,
}

impl PartyFacts {
    /// Postpaid customers and every reseller: taxed at close, and billed externally where the class says so.
    pub fn is_postpaid(&self) -> bool {
        self.kind == PartyKind::Reseller || !self.prepaid
    }
}

/// The party's owner: the operator (administrator), or the reseller that owns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnerFacts {
    Administrator,
    Reseller {
        reseller_id: i64,
        name: String,
        email: Option<String>,
        time_zone: String,
    },
}

/// The installation's default sender of notifications.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct DefaultSender {
    pub name: Option<String>,
    pub address: Option<String>,
}

/// The installation settings the effective view shows, with their defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstallationValues {
    pub close_delay_hours: i64,
    pub default_sender: DefaultSender,
    pub time_zone: String,
    pub non_working_weekdays: Vec<String>,
    pub holidays: Vec<String>,
}

impl Default for InstallationValues {
    fn default() -> Self {
        InstallationValues {
            close_delay_hours: 6,
            default_sender: DefaultSender::default(),
            time_zone: "UTC".to_owned(),
            non_working_weekdays: vec!["saturday".to_owned(), "sunday".to_owned()],
            holidays: Vec::new(),
        }
    }
}

impl InstallationValues {
    pub const CLOSE_DELAY_HOURS: &str = "billing.close_delay_hours";
    pub const DEFAULT_SENDER: &str = "default_sender";
    pub const TIME_ZONE: &str = "time_zone";
    pub const NON_WORKING_WEEKDAYS: &str = "collections.non_working_weekdays";
    pub const HOLIDAYS: &str = "collections.holidays";

    /// The installation-setting keys read by [`InstallationValues::from_stored`].
    pub const KEYS: [&str; 5] = [
        Self::CLOSE_DELAY_HOURS,
        Self::DEFAULT_SENDER,
        Self::TIME_ZONE,
        Self::NON_WORKING_WEEKDAYS,
        Self::HOLIDAYS,
    ];

    /// Builds the values from stored settings; a key that is missing or does not have the expected shape keeps
    /// its default.
    pub fn from_stored(lookup: impl Fn(&str) -> Option<Value>) -> InstallationValues {
        fn read<T: for<'de> Deserialize<'de>>(value: Option<Value>) -> Option<T> {
            value.and_then(|v| serde_json::from_value(v).ok())
        }
        let defaults = InstallationValues::default();
        InstallationValues {
            close_delay_hours: read(lookup(Self::CLOSE_DELAY_HOURS)).unwrap_or(defaults.close_delay_hours),
            default_sender: read(lookup(Self::DEFAULT_SENDER)).unwrap_or(defaults.default_sender),
            time_zone: read(lookup(Self::TIME_ZONE)).unwrap_or(defaults.time_zone),
            non_working_weekdays: read(lookup(Self::NON_WORKING_WEEKDAYS)).unwrap_or(defaults.non_working_weekdays),
            holidays: read(lookup(Self::HOLIDAYS)).unwrap_or(defaults.holidays),
        }
    }
}

/// Everything the effective view of one party is computed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EffectiveInput {
    pub class_id: i64,
    pub class_revision: i64,
    /// The class document as it stands at `class_revision`; its `name` is the class name.
    pub class: ClassSettings,
    pub party: PartyFacts,
    pub owner: OwnerFacts,
    pub installation: InstallationValues,
    /// The instant the view is computed at; it is reported, never read from a clock.
    pub computed_at: Timestamp,
}
