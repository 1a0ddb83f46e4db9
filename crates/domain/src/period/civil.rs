//! Calendar arithmetic on plain integers, and the local midnight of a date (§5.2 rule 1).
//!
//! Dates are numbered by days since 1970-01-01 and months by `year * 12 + month - 1`, so that the n-th
//! boundary of any period kind is a closed formula rather than the result of walking a calendar.

use jiff::Timestamp;
use jiff::civil::{Date, DateTime};
use jiff::tz::{AmbiguousOffset, TimeZone};

/// A calendar date that may lie outside the range `jiff` can represent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CivilDate {
    BeforeRange,
    Within(Date),
    AfterRange,
}

impl CivilDate {
    /// The date with this year, month (1–12) and day, which must exist in that month.
    pub(super) fn from_parts(year: i64, month: i64, day: i64) -> CivilDate {
        match (i16::try_from(year), i8::try_from(month), i8::try_from(day)) {
            (Ok(y), Ok(m), Ok(d)) => match Date::new(y, m, d) {
                Ok(date) => CivilDate::Within(date),
                Err(_) if year < 0 => CivilDate::BeforeRange,
                Err(_) => CivilDate::AfterRange,
            },
            _ if year < 0 => CivilDate::BeforeRange,
            _ => CivilDate::AfterRange,
        }
    }

    /// The date `days` days after 1970-01-01.
    pub(super) fn from_day_number(days: i64) -> CivilDate {
        // Proleptic Gregorian conversion over 400-year eras of 146 097 days, years starting in March.
        let shifted = days + 719_468;
        let era = shifted.div_euclid(146_097);
        let day_of_era = shifted - era * 146_097;
        let year_of_era = (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
        let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
        let month_from_march = (5 * day_of_year + 2) / 153;
        let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
        let month = if month_from_march < 10 {
            month_from_march + 3
        } else {
            month_from_march - 9
        };
        let year = year_of_era + era * 400 + i64::from(month <= 2);
        CivilDate::from_parts(year, month, day)
    }

    /// The first instant of this date on the zone's clock; dates outside the range saturate.
    pub(super) fn local_midnight(self, zone: &TimeZone) -> Timestamp {
        match self {
            CivilDate::BeforeRange => Timestamp::MIN,
            CivilDate::Within(date) => local_midnight(zone, date),
            CivilDate::AfterRange => Timestamp::MAX,
        }
    }
}

/// Days since 1970-01-01 (negative before).
pub(super) fn day_number(date: Date) -> i64 {
    let month = i64::from(date.month());
    let year = i64::from(date.year()) - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(date.day()) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Months since January of year 0: `year * 12 + month - 1`.
pub(super) fn month_number(date: Date) -> i64 {
    i64::from(date.year()) * 12 + i64::from(date.month()) - 1
}

/// The given day of the month with the given month number.
pub(super) fn day_of_month(month_number: i64, day: i8) -> CivilDate {
    CivilDate::from_parts(
        month_number.div_euclid(12),
        month_number.rem_euclid(12) + 1,
        i64::from(day),
    )
}

/// The local midnight of `date` in `zone` (§5.2 rule 1): the instant the local clock shows `date` 00:00.
///
/// When 00:00 does not exist because the clock jumps over it, this is the first instant after the jump (the
/// transition itself, even when the skipped range does not start exactly at midnight). When 00:00 occurs twice,
/// this is the earlier occurrence. Dates whose midnight lies outside the representable range saturate to
/// [`Timestamp::MIN`] or [`Timestamp::MAX`].
pub fn local_midnight(zone: &TimeZone, date: Date) -> Timestamp {
    let midnight = date.to_datetime(jiff::civil::Time::midnight());
    let instant = match zone.to_ambiguous_timestamp(midnight).offset() {
        AmbiguousOffset::Unambiguous { offset } | AmbiguousOffset::Fold { before: offset, .. } => {
            offset.to_timestamp(midnight)
        }
        AmbiguousOffset::Gap { before, after } => Ok(first_instant_after_gap(zone, midnight, before, after)),
    };
    instant.unwrap_or(if date.year() < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    })
}

/// The transition that opens the gap containing the local time `inside`.
fn first_instant_after_gap(
    zone: &TimeZone,
    inside: DateTime,
    before: jiff::tz::Offset,
    after: jiff::tz::Offset,
) -> Timestamp {
    // Read with the later offset, a time inside the gap names an instant before the transition; the first
    // transition after that instant is the one that skips over the time.
    let transition = after
        .to_timestamp(inside)
        .ok()
        .and_then(|probe| zone.following(probe).next())
        .map(|transition| transition.timestamp());
    // Read with the earlier offset it lies at or after the transition; a safe fallback if the data has none.
    transition
        .or_else(|| before.to_timestamp(inside).ok())
        .unwrap_or(if inside.year() < 0 {
            Timestamp::MIN
        } else {
            Timestamp::MAX
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_numbers_agree_with_jiff_across_centuries() {
        let epoch = jiff::civil::date(1970, 1, 1);
        let mut date = jiff::civil::date(1599, 12, 25);
        let last = jiff::civil::date(2401, 3, 5);
        while date <= last {
            let expected = i64::from(date.since(epoch).unwrap().get_days());
            assert_eq!(day_number(date), expected, "{date}");
            assert_eq!(CivilDate::from_day_number(expected), CivilDate::Within(date), "{date}");
            date = date.checked_add(jiff::Span::new().days(7)).unwrap().tomorrow().unwrap();
        }
    }

    #[test]
    fn range_edges_saturate() {
        assert_eq!(CivilDate::from_parts(10_000, 1, 1), CivilDate::AfterRange);
        assert_eq!(CivilDate::from_parts(-10_000, 12, 31), CivilDate::BeforeRange);
        assert_eq!(CivilDate::from_day_number(i64::from(i32::MAX)), CivilDate::AfterRange);
        assert_eq!(CivilDate::from_day_number(-i64::from(i32::MAX)), CivilDate::BeforeRange);
        assert_eq!(
            day_of_month(9_999 * 12 + 11, 31),
            CivilDate::Within(jiff::civil::date(9_999, 12, 31))
        );
    }
}
