//! What the effective view of one party is computed from.

use super::*;
use crate::party::{PartyKind, PartyOverrides};

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
