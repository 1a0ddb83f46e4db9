//! A party's sequence of billing periods (§5.2 rules 2 and 4).

use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::boundary::BoundaryDates;
use super::{BillingPeriodKind, Period, PeriodError};

/// Looks up an IANA time zone by name.
pub fn time_zone(name: &str) -> Result<TimeZone, PeriodError> {
    TimeZone::get(name).map_err(|_| PeriodError::UnknownTimeZone(name.to_owned()))
}

/// The billing periods of one party under one `billing_period` and `time_zone` setting.
///
/// The first period starts at the schedule's start — the party's `activated_at`, or the end of the period
/// during which the setting changed (§5.2 rule 4) — and ends at the first boundary strictly after it; every
/// later period runs from one boundary to the next. Any period is found directly from its boundary index, so
/// no lookup walks the calendar period by period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodSchedule {
    kind: BillingPeriodKind,
    zone: TimeZone,
    activated_at: Timestamp,
    start: Timestamp,
    boundaries: BoundaryDates,
}

impl PeriodSchedule {
    /// The schedule of a party activated at `activated_at` whose `time_zone` is the IANA name `zone`.
    pub fn new(kind: BillingPeriodKind, zone: &str, activated_at: Timestamp) -> Result<PeriodSchedule, PeriodError> {
        Ok(PeriodSchedule::in_zone(kind, time_zone(zone)?, activated_at))
    }

    /// Like [`PeriodSchedule::new`], with the zone already resolved.
    pub fn in_zone(kind: BillingPeriodKind, zone: TimeZone, activated_at: Timestamp) -> PeriodSchedule {
        PeriodSchedule::starting_at(kind, zone, activated_at, activated_at)
    }

    /// The schedule that follows a change of `billing_period` or `time_zone` (§5.2 rule 4).
    ///
    /// The change takes effect at `current_end`, the end of the period that was open when it was made: the
    /// returned schedule's first period starts there and ends at the first boundary of the new setting strictly
    /// after it. `thirty_days` counts from the local date of `current_end` in the new zone;
    /// `monthly_anniversary` keeps the activation's day of month, read in the new zone.
    pub fn after_change(
        &self,
        current_end: Timestamp,
        new_kind: BillingPeriodKind,
        new_zone: &str,
    ) -> Result<PeriodSchedule, PeriodError> {
        Ok(self.after_change_in_zone(current_end, new_kind, time_zone(new_zone)?))
    }

    /// Like [`PeriodSchedule::after_change`], with the new zone already resolved.
    pub fn after_change_in_zone(
        &self,
        current_end: Timestamp,
        new_kind: BillingPeriodKind,
        new_zone: TimeZone,
    ) -> PeriodSchedule {
        PeriodSchedule::starting_at(new_kind, new_zone, self.activated_at, current_end)
    }

    fn starting_at(kind: BillingPeriodKind, zone: TimeZone, activated_at: Timestamp, start: Timestamp) -> Self {
        let anchor = match kind {
            BillingPeriodKind::ThirtyDays => start,
            _ => activated_at,
        };
        let boundaries = BoundaryDates::new(kind, zone.to_datetime(anchor).date());
        PeriodSchedule {
            kind,
            zone,
            activated_at,
            start,
            boundaries,
        }
    }

    pub fn kind(&self) -> BillingPeriodKind {
        self.kind
    }

    pub fn zone(&self) -> &TimeZone {
        &self.zone
    }

    /// The party's activation instant.
    pub fn activated_at(&self) -> Timestamp {
        self.activated_at
    }

    /// Where the first period of this schedule starts: `activated_at`, or the instant a change took effect.
    pub fn start(&self) -> Timestamp {
        self.start
    }

    /// The first boundary strictly after `at`.
    pub fn boundary_after(&self, at: Timestamp) -> Timestamp {
        self.boundaries.around(&self.zone, at).1
    }

    /// Whether `at` is a boundary of this schedule: the local midnight of one of its boundary dates.
    pub fn is_boundary(&self, at: Timestamp) -> bool {
        self.boundaries.around(&self.zone, at).0 == at
    }

    /// Whether boundaries of this schedule fall on `date` (the party's local calendar).
    pub fn is_boundary_date(&self, date: jiff::civil::Date) -> bool {
        self.boundaries.contains(date)
    }

    /// The first period: from the schedule's start to the first boundary strictly after it.
    pub fn first_period(&self) -> Period {
        Period {
            start: self.start,
            end: self.boundary_after(self.start),
        }
    }

    /// The period that starts where `period` ends.
    pub fn next_period(&self, period: &Period) -> Period {
        Period {
            start: period.end,
            end: self.boundary_after(period.end),
        }
    }

    /// The period containing `at`, or `None` before the schedule starts.
    pub fn period_containing(&self, at: Timestamp) -> Option<Period> {
        if at < self.start {
            return None;
        }
        let (last, end) = self.boundaries.around(&self.zone, at);
        Some(Period {
            start: last.max(self.start),
            end,
        })
    }

    /// The periods that overlap `[from, to)`, in order.
    pub fn periods_between(&self, from: Timestamp, to: Timestamp) -> impl Iterator<Item = Period> + '_ {
        let first = if from < to {
            self.period_containing(from.max(self.start))
        } else {
            None
        };
        std::iter::successors(first, move |period| (period.end < to).then(|| self.next_period(period)))
            .take_while(move |period| period.start < to)
    }
}
