//! Billing periods (§5.2): boundaries, the worked table, DST days, period changes and a sweep over many
//! activations and zones.

use classbill_domain::period::{BillingPeriodKind, Period, PeriodSchedule, local_midnight, time_zone};
use jiff::civil::{Weekday, date};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, Zoned};

use BillingPeriodKind::{Daily, Monthly, MonthlyAnniversary, Semimonthly, ThirtyDays, Weekly};

#[path = "billing_periods/changes.rs"]
mod changes;
#[path = "billing_periods/sweep.rs"]
mod sweep;

fn utc(text: &str) -> Timestamp {
    text.parse().unwrap_or_else(|error| panic!("{text}: {error}"))
}

/// The instant a zone's clock shows `local` (`2025-03-10T15:20`), unambiguous in every use here.
fn local(zone: &str, local: &str) -> Timestamp {
    let text = format!("{local}[{zone}]");
    text.parse::<Zoned>()
        .unwrap_or_else(|error| panic!("{text}: {error}"))
        .timestamp()
}

fn schedule(kind: BillingPeriodKind, zone: &str, activated_at: Timestamp) -> PeriodSchedule {
    PeriodSchedule::new(kind, zone, activated_at).expect("known zone")
}

fn period(start: &str, end: &str) -> Period {
    Period {
        start: utc(start),
        end: utc(end),
    }
}

/// The first `count` periods, stepping with `next_period`.
fn first_periods(schedule: &PeriodSchedule, count: usize) -> Vec<Period> {
    std::iter::successors(Some(schedule.first_period()), |p| Some(schedule.next_period(p)))
        .take(count)
        .collect()
}

fn ends(periods: &[Period]) -> Vec<Timestamp> {
    periods.iter().map(|p| p.end).collect()
}

// ---- Rule 1: a boundary is the local midnight of a date -------------------------------------------------

#[test]
fn rule_1_midnight_skipped_by_dst_is_the_first_instant_after_the_gap() {
    // America/Santiago jumps from 2024-09-07 24:00 −04 to 2024-09-08 01:00 −03.
    let zone = time_zone("America/Santiago").unwrap();
    assert_eq!(local_midnight(&zone, date(2024, 9, 8)), utc("2024-09-08T04:00:00Z"));
    assert_eq!(
        zone.to_datetime(utc("2024-09-08T04:00:00Z")).to_string(),
        "2024-09-08T01:00:00"
    );
}

#[test]
fn rule_1_midnight_occurring_twice_is_the_earlier_one_havana() {
    // America/Havana leaves DST at 2025-11-02 01:00 CDT, back to 00:00 CST: midnight shows twice.
    let zone = time_zone("America/Havana").unwrap();
    assert_eq!(
        zone.to_datetime(utc("2025-11-02T04:00:00Z")).to_string(),
        "2025-11-02T00:00:00"
    );
    assert_eq!(
        zone.to_datetime(utc("2025-11-02T05:00:00Z")).to_string(),
        "2025-11-02T00:00:00"
    );
    assert_eq!(local_midnight(&zone, date(2025, 11, 2)), utc("2025-11-02T04:00:00Z"));

    let daily = schedule(Daily, "America/Havana", utc("2025-10-30T15:00:00Z"));
    // The day of the change has 25 hours: it starts at the first midnight.
    let day = daily.period_containing(utc("2025-11-02T12:00:00Z")).unwrap();
    assert_eq!(day, period("2025-11-02T04:00:00Z", "2025-11-03T05:00:00Z"));
    // The second 00:00–01:00 belongs to 2025-11-02, not to the day before.
    let previous = daily.period_containing(utc("2025-11-02T04:30:00Z")).unwrap();
    assert_eq!(previous, day);
    assert_eq!(
        daily.period_containing(utc("2025-11-02T03:59:59Z")).unwrap().end,
        utc("2025-11-02T04:00:00Z")
    );
}

#[test]
fn rule_1_midnight_occurring_twice_is_the_earlier_one_azores() {
    // Atlantic/Azores goes from 01:00 +00 back to 00:00 −01 on 2025-10-26.
    let zone = time_zone("Atlantic/Azores").unwrap();
    assert_eq!(local_midnight(&zone, date(2025, 10, 26)), utc("2025-10-26T00:00:00Z"));
    assert_eq!(local_midnight(&zone, date(2025, 10, 27)), utc("2025-10-27T01:00:00Z"));
}

#[test]
fn rule_1_santiago_autumn_change_repeats_23h_not_midnight() {
    // America/Santiago's April change repeats 23:00–24:00 of the Saturday; Sunday 00:00 occurs once, at −04.
    let zone = time_zone("America/Santiago").unwrap();
    assert_eq!(local_midnight(&zone, date(2025, 4, 6)), utc("2025-04-06T04:00:00Z"));
    let daily = schedule(Daily, "America/Santiago", utc("2025-04-01T12:00:00Z"));
    assert_eq!(
        daily.period_containing(utc("2025-04-06T03:30:00Z")).unwrap(),
        period("2025-04-05T03:00:00Z", "2025-04-06T04:00:00Z")
    );
}

#[test]
fn rule_1_gap_around_midnight_ends_at_the_transition() {
    // A zone whose clock jumps from Saturday 23:30 to Sunday 00:30 on the first Saturday of September:
    // Sunday's boundary is the jump itself (local 00:30), not 01:00.
    let zone = TimeZone::posix("XST3XDT,M9.1.6/23:30,M4.1.0/0").unwrap();
    assert_eq!(local_midnight(&zone, date(2025, 9, 7)), utc("2025-09-07T02:30:00Z"));
    assert_eq!(
        zone.to_datetime(utc("2025-09-07T02:30:00Z")).to_string(),
        "2025-09-07T00:30:00"
    );
    let daily = PeriodSchedule::in_zone(Daily, zone, utc("2025-09-01T12:00:00Z"));
    assert_eq!(
        daily.period_containing(utc("2025-09-07T02:29:59Z")).unwrap(),
        period("2025-09-06T03:00:00Z", "2025-09-07T02:30:00Z")
    );
}

#[test]
fn rule_1_a_skipped_calendar_day_yields_no_empty_period() {
    // Pacific/Apia skipped 2011-12-30 entirely: 12-29 24:00 −10 became 12-31 00:00 +14.
    let daily = schedule(Daily, "Pacific/Apia", utc("2011-12-28T12:00:00Z"));
    let periods = first_periods(&daily, 4);
    assert_eq!(
        periods,
        [
            period("2011-12-28T12:00:00Z", "2011-12-29T10:00:00Z"),
            period("2011-12-29T10:00:00Z", "2011-12-30T10:00:00Z"),
            period("2011-12-30T10:00:00Z", "2011-12-31T10:00:00Z"),
            period("2011-12-31T10:00:00Z", "2012-01-01T10:00:00Z"),
        ]
    );
    let zone = daily.zone();
    assert_eq!(periods[2].first_local_date(zone), date(2011, 12, 31));
}

// ---- Rule 2 and the §5.2 table ------------------------------------------------------------------------

#[test]
fn table_daily_asia_tokyo() {
    let daily = schedule(Daily, "Asia/Tokyo", local("Asia/Tokyo", "2025-03-10T15:20"));
    assert_eq!(
        daily.first_period(),
        period("2025-03-10T06:20:00Z", "2025-03-10T15:00:00Z")
    );
}

#[test]
fn table_weekly_europe_vienna() {
    let weekly = schedule(Weekly, "Europe/Vienna", local("Europe/Vienna", "2025-06-11T14:30"));
    assert_eq!(
        first_periods(&weekly, 2),
        [
            period("2025-06-11T12:30:00Z", "2025-06-15T22:00:00Z"),
            period("2025-06-15T22:00:00Z", "2025-06-22T22:00:00Z"),
        ]
    );
    let second = weekly.next_period(&weekly.first_period());
    assert_eq!(second.first_local_date(weekly.zone()).weekday(), Weekday::Monday);
    assert_eq!(second.last_local_date(weekly.zone()).weekday(), Weekday::Sunday);
}

#[test]
fn table_semimonthly_america_new_york_across_dst() {
    let semimonthly = schedule(
        Semimonthly,
        "America/New_York",
        local("America/New_York", "2025-02-20T09:00"),
    );
    let periods = first_periods(&semimonthly, 3);
    assert_eq!(periods[0].start, utc("2025-02-20T14:00:00Z"));
    assert_eq!(
        ends(&periods),
        [
            utc("2025-03-01T05:00:00Z"),
            utc("2025-03-16T04:00:00Z"),
            utc("2025-04-01T04:00:00Z")
        ]
    );
    let zone = semimonthly.zone();
    assert_eq!(
        (periods[1].first_local_date(zone), periods[1].last_local_date(zone)),
        (date(2025, 3, 1), date(2025, 3, 15))
    );
    assert_eq!(
        (periods[2].first_local_date(zone), periods[2].last_local_date(zone)),
        (date(2025, 3, 16), date(2025, 3, 31))
    );
}

#[test]
fn table_monthly_europe_berlin() {
    let monthly = schedule(Monthly, "Europe/Berlin", local("Europe/Berlin", "2025-02-10T00:00"));
    let periods = first_periods(&monthly, 2);
    assert_eq!(periods[0], period("2025-02-09T23:00:00Z", "2025-02-28T23:00:00Z"));
    assert_eq!(periods[1], period("2025-02-28T23:00:00Z", "2025-03-31T22:00:00Z"));
    let march = periods[1];
    let zone = monthly.zone();
    let name = format!(
        "1001_{}_{}_full.csv",
        march.first_local_date(zone),
        march.last_local_date(zone)
    );
    assert_eq!(name, "1001_2025-03-01_2025-03-31_full.csv");
}

#[test]
fn table_monthly_anniversary_europe_london_day_30_becomes_28() {
    let anniversary = schedule(
        MonthlyAnniversary,
        "Europe/London",
        local("Europe/London", "2025-01-30T11:00"),
    );
    let periods = first_periods(&anniversary, 3);
    assert_eq!(periods[0].start, utc("2025-01-30T11:00:00Z"));
    assert_eq!(
        ends(&periods),
        [
            utc("2025-02-28T00:00:00Z"),
            utc("2025-03-28T00:00:00Z"),
            utc("2025-04-27T23:00:00Z")
        ]
    );
}

#[test]
fn table_monthly_anniversary_utc_day_15() {
    let anniversary = schedule(MonthlyAnniversary, "UTC", utc("2025-01-15T08:00:00Z"));
    assert_eq!(
        first_periods(&anniversary, 2),
        [
            period("2025-01-15T08:00:00Z", "2025-02-15T00:00:00Z"),
            period("2025-02-15T00:00:00Z", "2025-03-15T00:00:00Z"),
        ]
    );
}

#[test]
fn table_thirty_days_utc() {
    let thirty = schedule(ThirtyDays, "UTC", utc("2025-01-30T11:00:00Z"));
    let periods = first_periods(&thirty, 3);
    assert_eq!(periods[0].start, utc("2025-01-30T11:00:00Z"));
    assert_eq!(
        ends(&periods),
        [
            utc("2025-03-01T00:00:00Z"),
            utc("2025-03-31T00:00:00Z"),
            utc("2025-04-30T00:00:00Z")
        ]
    );
}

#[test]
fn table_daily_america_santiago_day_before_skipped_midnight() {
    let daily = schedule(Daily, "America/Santiago", local("America/Santiago", "2024-09-01T10:00"));
    let day = daily
        .period_containing(local("America/Santiago", "2024-09-07T12:00"))
        .unwrap();
    assert_eq!(day, period("2024-09-07T04:00:00Z", "2024-09-08T04:00:00Z"));
    assert_eq!(day.first_local_date(daily.zone()), date(2024, 9, 7));
    assert_eq!(day.last_local_date(daily.zone()), date(2024, 9, 7));
    // The next local day starts at 01:00 −03 and lasts 23 hours.
    assert_eq!(
        daily.next_period(&day),
        period("2024-09-08T04:00:00Z", "2024-09-09T03:00:00Z")
    );
}

#[test]
fn rule_2_periods_are_half_open_and_none_before_activation() {
    let activated_at = utc("2025-03-10T06:20:00Z");
    let daily = schedule(Daily, "Asia/Tokyo", activated_at);
    assert_eq!(
        daily.period_containing(activated_at - SignedDuration::from_nanos(1)),
        None
    );
    let first = daily.period_containing(activated_at).unwrap();
    assert_eq!(first, daily.first_period());
    assert!(first.contains(activated_at) && !first.contains(first.end));
    assert_eq!(daily.period_containing(first.end).unwrap().start, first.end);
    assert_eq!(
        daily
            .period_containing(first.end - SignedDuration::from_nanos(1))
            .unwrap(),
        first
    );
}

#[test]
fn rule_2_activation_exactly_at_a_boundary_starts_a_full_period() {
    let monthly = schedule(Monthly, "Europe/Berlin", utc("2025-02-28T23:00:00Z"));
    assert_eq!(
        monthly.first_period(),
        period("2025-02-28T23:00:00Z", "2025-03-31T22:00:00Z")
    );
    assert!(monthly.is_boundary(utc("2025-02-28T23:00:00Z")));
    assert!(!monthly.is_boundary(utc("2025-03-01T00:00:00Z")));
}

// ---- DST days -----------------------------------------------------------------------------------------

#[test]
fn dst_spring_day_in_europe_berlin_lasts_23_hours() {
    let daily = schedule(Daily, "Europe/Berlin", utc("2025-03-01T08:00:00Z"));
    let day = daily
        .period_containing(local("Europe/Berlin", "2025-03-30T12:00"))
        .unwrap();
    assert_eq!(day, period("2025-03-29T23:00:00Z", "2025-03-30T22:00:00Z"));
    assert_eq!(day.end.duration_since(day.start), SignedDuration::from_hours(23));
}

#[test]
fn dst_autumn_day_in_europe_berlin_lasts_25_hours() {
    let daily = schedule(Daily, "Europe/Berlin", utc("2025-10-01T08:00:00Z"));
    let day = daily
        .period_containing(local("Europe/Berlin", "2025-10-26T12:00"))
        .unwrap();
    assert_eq!(day, period("2025-10-25T22:00:00Z", "2025-10-26T23:00:00Z"));
    assert_eq!(day.end.duration_since(day.start), SignedDuration::from_hours(25));
}

// ---- Rule 3: monthly_anniversary with days 29–31 ------------------------------------------------------

#[test]
fn rule_3_anniversary_on_the_31st_uses_the_28th() {
    let anniversary = schedule(MonthlyAnniversary, "UTC", utc("2025-01-31T09:00:00Z"));
    assert_eq!(
        ends(&first_periods(&anniversary, 4)),
        [
            utc("2025-02-28T00:00:00Z"),
            utc("2025-03-28T00:00:00Z"),
            utc("2025-04-28T00:00:00Z"),
            utc("2025-05-28T00:00:00Z")
        ]
    );
    for day in [29, 30] {
        let other = schedule(MonthlyAnniversary, "UTC", utc(&format!("2024-01-{day}T09:00:00Z")));
        // 2024 is a leap year, yet the boundary stays on the 28th.
        assert_eq!(other.first_period().end, utc("2024-02-28T00:00:00Z"), "day {day}");
    }
}

#[test]
fn rule_3_anniversary_day_is_read_on_the_local_calendar() {
    // 2025-01-31T23:30Z is already 1 February in Tokyo: A = 1.
    let anniversary = schedule(MonthlyAnniversary, "Asia/Tokyo", utc("2025-01-31T23:30:00Z"));
    assert_eq!(anniversary.first_period().end, local("Asia/Tokyo", "2025-03-01T00:00"));
}
