//! Billing periods (§5.2): where each period of a party starts and ends, given its `billing_period`,
//! `time_zone` and `activated_at`.
//!
//! Everything here is pure: instants are arguments and no clock is read. Time zones come from the IANA
//! database that `jiff` is configured with.

mod boundary;
mod civil;
mod kind;
mod schedule;

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

pub use civil::local_midnight;
pub use kind::BillingPeriodKind;
pub use schedule::{PeriodSchedule, time_zone};

/// Why a billing period setting could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    #[error("unknown billing period \"{0}\"")]
    UnknownBillingPeriod(String),
    #[error("unknown time zone \"{0}\"")]
    UnknownTimeZone(String),
}

/// One billing period: the half-open range `[start, end)` (§5.2 rule 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Period {
    pub start: Timestamp,
    pub end: Timestamp,
}

impl Period {
    /// Whether `at` falls inside the period.
    pub fn contains(&self, at: Timestamp) -> bool {
        self.start <= at && at < self.end
    }

    /// The local date of the period's start in the party's zone.
    pub fn first_local_date(&self, zone: &TimeZone) -> Date {
        zone.to_datetime(self.start).date()
    }

    /// The last local date the period covers: the local date of its end, minus one day.
    ///
    /// Together with [`Period::first_local_date`] this names the statistics files of §5.12
    /// (`1001_2025-03-01_2025-03-31_full.csv`).
    pub fn last_local_date(&self, zone: &TimeZone) -> Date {
        let end = zone.to_datetime(self.end).date();
        end.yesterday().unwrap_or(end)
    }
}
