//! The boundary dates of each period kind (§5.2 rule 3) as a sequence indexed by integers.
//!
//! Index `n` maps to a date by a closed formula and a date maps back to the last index on or before it, so
//! finding the boundary around any instant costs the same ten days or ten years after activation.

use jiff::Timestamp;
use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;

use super::BillingPeriodKind;
use super::civil::{CivilDate, day_number, day_of_month, month_number};

/// 1970-01-05, the first Monday on or after the day numbering's origin, as a day number.
const FIRST_MONDAY: i64 = 4;

/// Which dates carry a boundary. Dates with index `n` increase strictly with `n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BoundaryDates {
    /// Every date; the index is the day number.
    EveryDay,
    /// Every Monday; index 0 is 1970-01-05.
    Mondays,
    /// The 1st (even index) and the 16th (odd index) of month number `n / 2`.
    FirstAndSixteenth,
    /// The given day of month number `n`.
    DayOfMonth(i8),
    /// Every 30 days; index 0 is the anchor's day number.
    EveryThirtyDays { anchor: i64 },
}

impl BoundaryDates {
    /// The boundary dates of `kind` for periods counted from `anchor`, a local date of the party.
    ///
    /// `anchor` matters only for `monthly_anniversary` (its day of month) and `thirty_days` (its date).
    pub(super) fn new(kind: BillingPeriodKind, anchor: Date) -> BoundaryDates {
        match kind {
            BillingPeriodKind::Daily => BoundaryDates::EveryDay,
            BillingPeriodKind::Weekly => BoundaryDates::Mondays,
            BillingPeriodKind::Semimonthly => BoundaryDates::FirstAndSixteenth,
            BillingPeriodKind::Monthly => BoundaryDates::DayOfMonth(1),
            BillingPeriodKind::MonthlyAnniversary => BoundaryDates::DayOfMonth(anchor.day().min(28)),
            BillingPeriodKind::ThirtyDays => BoundaryDates::EveryThirtyDays {
                anchor: day_number(anchor),
            },
        }
    }

    /// The date of boundary `n`.
    pub(super) fn date(self, n: i64) -> CivilDate {
        match self {
            BoundaryDates::EveryDay => CivilDate::from_day_number(n),
            BoundaryDates::Mondays => CivilDate::from_day_number(FIRST_MONDAY.saturating_add(n.saturating_mul(7))),
            BoundaryDates::FirstAndSixteenth => {
                day_of_month(n.div_euclid(2), if n.rem_euclid(2) == 0 { 1 } else { 16 })
            }
            BoundaryDates::DayOfMonth(day) => day_of_month(n, day),
            BoundaryDates::EveryThirtyDays { anchor } => {
                CivilDate::from_day_number(anchor.saturating_add(n.saturating_mul(30)))
            }
        }
    }

    /// The index of the last boundary date on or before `date`.
    pub(super) fn last_index_on_or_before(self, date: Date) -> i64 {
        match self {
            BoundaryDates::EveryDay => day_number(date),
            BoundaryDates::Mondays => (day_number(date) - FIRST_MONDAY).div_euclid(7),
            BoundaryDates::FirstAndSixteenth => 2 * month_number(date) + i64::from(date.day() >= 16),
            BoundaryDates::DayOfMonth(day) => month_number(date) - i64::from(date.day() < day),
            BoundaryDates::EveryThirtyDays { anchor } => (day_number(date) - anchor).div_euclid(30),
        }
    }

    /// Whether `date` carries a boundary.
    pub(super) fn contains(self, date: Date) -> bool {
        match self {
            BoundaryDates::EveryDay => true,
            BoundaryDates::Mondays => date.weekday() == Weekday::Monday,
            BoundaryDates::FirstAndSixteenth => date.day() == 1 || date.day() == 16,
            BoundaryDates::DayOfMonth(day) => date.day() == day,
            BoundaryDates::EveryThirtyDays { anchor } => (day_number(date) - anchor).rem_euclid(30) == 0,
        }
    }

    /// The instant of boundary `n` in `zone` (§5.2 rule 1).
    pub(super) fn instant(self, zone: &TimeZone, n: i64) -> Timestamp {
        self.date(n).local_midnight(zone)
    }

    /// The last boundary at or before `at` and the first boundary strictly after it.
    ///
    /// Local midnights never decrease from one date to the next, but two dates may share one instant when a
    /// zone skips a whole day; the pair returned always satisfies `last <= at < next`, except at
    /// [`Timestamp::MAX`], where the boundary after is clipped to that instant.
    pub(super) fn around(self, zone: &TimeZone, at: Timestamp) -> (Timestamp, Timestamp) {
        let mut n = self.last_index_on_or_before(zone.to_datetime(at).date());
        let mut last = self.instant(zone, n);
        // The local date of `at` nearly always names the right boundary; a clock set back across midnight
        // can move it by one, so correct in either direction.
        while last > at {
            n -= 1;
            last = self.instant(zone, n);
        }
        let mut next = self.instant(zone, n + 1);
        while next <= at && next < Timestamp::MAX {
            n += 1;
            last = next;
            next = self.instant(zone, n + 1);
        }
        (last, next)
    }
}
