//! The `billing_period` party attribute (§4, §5.2 rule 3).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::PeriodError;

/// How a party's billing periods are cut. The default is `monthly` (§4).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BillingPeriodKind {
    /// Boundary at every local midnight.
    Daily,
    /// Boundary at every Monday; periods run Monday to Sunday.
    Weekly,
    /// Boundaries on the 1st and the 16th of each month.
    Semimonthly,
    /// Boundary on the 1st of each month.
    #[default]
    Monthly,
    /// Boundary on the activation's local day of month, or the 28th when that day is 29, 30 or 31.
    MonthlyAnniversary,
    /// Boundary every 30 days counted from the activation's local date.
    ThirtyDays,
}

impl BillingPeriodKind {
    /// Every kind, in the order the specification lists them.
    pub const ALL: [BillingPeriodKind; 6] = [
        BillingPeriodKind::Daily,
        BillingPeriodKind::Weekly,
        BillingPeriodKind::Semimonthly,
        BillingPeriodKind::Monthly,
        BillingPeriodKind::MonthlyAnniversary,
        BillingPeriodKind::ThirtyDays,
    ];

    /// The spelling used in the API and in storage.
    pub const fn as_str(self) -> &'static str {
        match self {
            BillingPeriodKind::Daily => "daily",
            BillingPeriodKind::Weekly => "weekly",
            BillingPeriodKind::Semimonthly => "semimonthly",
            BillingPeriodKind::Monthly => "monthly",
            BillingPeriodKind::MonthlyAnniversary => "monthly_anniversary",
            BillingPeriodKind::ThirtyDays => "thirty_days",
        }
    }
}

impl fmt::Display for BillingPeriodKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BillingPeriodKind {
    type Err = PeriodError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        BillingPeriodKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
            .ok_or_else(|| PeriodError::UnknownBillingPeriod(text.to_owned()))
    }
}
