//! Lookups far from activation, period changes (rule 4) and the settings' spellings.

use classbill_domain::period::{BillingPeriodKind, Period, PeriodError, PeriodSchedule};
use jiff::{SignedDuration, Timestamp};

use super::{first_periods, local, period, schedule, utc};
use BillingPeriodKind::{Daily, Monthly, MonthlyAnniversary, ThirtyDays, Weekly};

// ---- Lookups far from activation ----------------------------------------------------------------------

#[test]
fn period_containing_ten_years_on_equals_stepping() {
    let activated_at = utc("2025-01-31T10:17:00Z");
    let horizon = utc("2035-02-01T00:00:00Z");
    for zone in ["Europe/Berlin", "America/Santiago", "Australia/Lord_Howe"] {
        for kind in BillingPeriodKind::ALL {
            let schedule = schedule(kind, zone, activated_at);
            let stepped: Vec<Period> =
                std::iter::successors(Some(schedule.first_period()), |p| Some(schedule.next_period(p)))
                    .take_while(|p| p.start < horizon)
                    .collect();
            assert!(stepped.len() >= 120, "{kind} {zone}");
            for (i, expected) in stepped
                .iter()
                .enumerate()
                .filter(|(i, _)| i % 7 == 0 || *i + 1 == stepped.len())
            {
                let middle = expected.start + expected.end.duration_since(expected.start) / 2;
                for at in [expected.start, middle, expected.end - SignedDuration::from_nanos(1)] {
                    assert_eq!(
                        schedule.period_containing(at).as_ref(),
                        Some(expected),
                        "{kind} {zone} #{i} {at}"
                    );
                }
            }
            let between: Vec<Period> = schedule.periods_between(activated_at, horizon).collect();
            assert_eq!(between, stepped, "{kind} {zone}");
        }
    }
}

#[test]
fn periods_between_lists_the_overlapping_periods() {
    let monthly = schedule(Monthly, "Europe/Berlin", local("Europe/Berlin", "2025-02-10T00:00"));
    let months: Vec<Period> = monthly
        .periods_between(utc("2025-03-15T00:00:00Z"), utc("2025-05-31T22:00:00Z"))
        .collect();
    assert_eq!(
        months,
        [
            period("2025-02-28T23:00:00Z", "2025-03-31T22:00:00Z"),
            period("2025-03-31T22:00:00Z", "2025-04-30T22:00:00Z"),
            period("2025-04-30T22:00:00Z", "2025-05-31T22:00:00Z"),
        ]
    );
    let early: Vec<Period> = monthly
        .periods_between(utc("2024-01-01T00:00:00Z"), utc("2025-03-01T00:00:00Z"))
        .collect();
    assert_eq!(early, first_periods(&monthly, 2));
    assert_eq!(
        monthly
            .periods_between(utc("2024-01-01T00:00:00Z"), utc("2025-01-01T00:00:00Z"))
            .count(),
        0
    );
    assert_eq!(
        monthly
            .periods_between(utc("2025-04-01T00:00:00Z"), utc("2025-04-01T00:00:00Z"))
            .count(),
        0
    );
}

#[test]
fn far_edges_of_the_calendar_do_not_panic() {
    for kind in BillingPeriodKind::ALL {
        let late = schedule(kind, "Pacific/Kiritimati", utc("9999-12-01T00:00:00Z"));
        let last = late.period_containing(Timestamp::MAX).unwrap();
        assert!(last.start <= last.end && last.end == Timestamp::MAX, "{kind} {last:?}");
        let early = schedule(kind, "Pacific/Niue", Timestamp::MIN);
        let first = early.first_period();
        assert!(first.start < first.end, "{kind} {first:?}");
    }
}

// ---- Rule 4: changes take effect at the end of the current period -------------------------------------

#[test]
fn rule_4_monthly_to_weekly() {
    let monthly = schedule(Monthly, "Europe/Berlin", local("Europe/Berlin", "2025-02-10T00:00"));
    let march = monthly.period_containing(utc("2025-03-20T10:00:00Z")).unwrap();
    assert_eq!(march.end, utc("2025-03-31T22:00:00Z"));
    let weekly = monthly.after_change(march.end, Weekly, "Europe/Berlin").unwrap();
    assert_eq!(weekly.start(), march.end);
    assert_eq!(
        first_periods(&weekly, 2),
        [
            // Tuesday 1 April to Monday 7 April, then whole weeks.
            period("2025-03-31T22:00:00Z", "2025-04-06T22:00:00Z"),
            period("2025-04-06T22:00:00Z", "2025-04-13T22:00:00Z"),
        ]
    );
    assert_eq!(weekly.period_containing(utc("2025-03-31T21:59:59Z")), None);
}

#[test]
fn rule_4_utc_to_asia_tokyo() {
    let monthly = schedule(Monthly, "UTC", utc("2025-01-15T08:00:00Z"));
    let february = monthly.period_containing(utc("2025-02-20T00:00:00Z")).unwrap();
    assert_eq!(february.end, utc("2025-03-01T00:00:00Z"));
    let tokyo = monthly.after_change(february.end, Monthly, "Asia/Tokyo").unwrap();
    assert_eq!(
        first_periods(&tokyo, 2),
        [
            // Starts at 09:00 on 1 March in Tokyo and ends at the next Tokyo month start.
            period("2025-03-01T00:00:00Z", "2025-03-31T15:00:00Z"),
            period("2025-03-31T15:00:00Z", "2025-04-30T15:00:00Z"),
        ]
    );

    let daily = schedule(Daily, "UTC", utc("2025-03-01T08:00:00Z"));
    let tokyo_daily = daily
        .after_change(utc("2025-03-02T00:00:00Z"), Daily, "Asia/Tokyo")
        .unwrap();
    assert_eq!(
        tokyo_daily.first_period(),
        period("2025-03-02T00:00:00Z", "2025-03-02T15:00:00Z")
    );
}

#[test]
fn rule_4_monthly_to_thirty_days_counts_from_the_new_start() {
    // Activated 2025-02-10: counted from activation the 30-day boundaries would fall on 03-12, 04-11, 05-11.
    let monthly = schedule(Monthly, "Europe/Berlin", local("Europe/Berlin", "2025-02-10T00:00"));
    let thirty = monthly
        .after_change(utc("2025-03-31T22:00:00Z"), ThirtyDays, "Europe/Berlin")
        .unwrap();
    assert_eq!(
        first_periods(&thirty, 2),
        [
            // From local 2025-04-01: boundaries 05-01 and 05-31.
            period("2025-03-31T22:00:00Z", "2025-04-30T22:00:00Z"),
            period("2025-04-30T22:00:00Z", "2025-05-30T22:00:00Z"),
        ]
    );
}

#[test]
fn rule_4_thirty_days_in_a_new_zone_counts_from_the_local_date_there() {
    let monthly = schedule(Monthly, "UTC", utc("2025-01-15T08:00:00Z"));
    // 2025-03-01T00:00Z is 1 March 09:00 in Tokyo.
    let thirty = monthly
        .after_change(utc("2025-03-01T00:00:00Z"), ThirtyDays, "Asia/Tokyo")
        .unwrap();
    assert_eq!(
        thirty.first_period(),
        period("2025-03-01T00:00:00Z", "2025-03-30T15:00:00Z")
    );
}

#[test]
fn rule_4_monthly_anniversary_keeps_the_activation_day() {
    let monthly = schedule(Monthly, "Europe/Berlin", local("Europe/Berlin", "2025-02-10T00:00"));
    let anniversary = monthly
        .after_change(utc("2025-03-31T22:00:00Z"), MonthlyAnniversary, "Europe/Berlin")
        .unwrap();
    assert_eq!(anniversary.activated_at(), monthly.activated_at());
    assert_eq!(
        anniversary.first_period(),
        period("2025-03-31T22:00:00Z", "2025-04-09T22:00:00Z")
    );
}

#[test]
fn rule_4_unchanged_setting_continues_the_same_periods() {
    for kind in BillingPeriodKind::ALL {
        let before = schedule(kind, "America/New_York", utc("2025-01-30T15:00:00Z"));
        let periods = first_periods(&before, 6);
        let after = before.after_change(periods[2].end, kind, "America/New_York").unwrap();
        assert_eq!(first_periods(&after, 3), periods[3..], "{kind}");
    }
}

#[test]
fn rule_4_unknown_zone_is_refused() {
    let monthly = schedule(Monthly, "UTC", utc("2025-01-15T08:00:00Z"));
    assert_eq!(
        monthly.after_change(utc("2025-02-01T00:00:00Z"), Daily, "Mars/Olympus"),
        Err(PeriodError::UnknownTimeZone("Mars/Olympus".to_owned()))
    );
}

// ---- Settings ------------------------------------------------------------------------------------------

#[test]
fn kinds_use_their_snake_case_names() {
    let names = [
        "daily",
        "weekly",
        "semimonthly",
        "monthly",
        "monthly_anniversary",
        "thirty_days",
    ];
    for (kind, name) in BillingPeriodKind::ALL.into_iter().zip(names) {
        assert_eq!(kind.as_str(), name);
        assert_eq!(kind.to_string(), name);
        assert_eq!(name.parse::<BillingPeriodKind>(), Ok(kind));
        assert_eq!(serde_json::to_value(kind).unwrap(), serde_json::json!(name));
        assert_eq!(
            serde_json::from_value::<BillingPeriodKind>(serde_json::json!(name)).unwrap(),
            kind
        );
    }
    assert_eq!(BillingPeriodKind::default(), Monthly);
    assert_eq!(
        "yearly".parse::<BillingPeriodKind>(),
        Err(PeriodError::UnknownBillingPeriod("yearly".to_owned()))
    );
    assert!(serde_json::from_value::<BillingPeriodKind>(serde_json::json!("Monthly")).is_err());
}

#[test]
fn unknown_time_zone_is_an_error() {
    assert_eq!(
        PeriodSchedule::new(Monthly, "Mars/Olympus", utc("2025-01-01T00:00:00Z")),
        Err(PeriodError::UnknownTimeZone("Mars/Olympus".to_owned()))
    );
    assert!(PeriodSchedule::new(Monthly, "UTC", utc("2025-01-01T00:00:00Z")).is_ok());
}

#[test]
fn periods_serialize_as_utc_instants() {
    let json = serde_json::to_value(period("2025-02-28T23:00:00Z", "2025-03-31T22:00:00Z")).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"start": "2025-02-28T23:00:00Z", "end": "2025-03-31T22:00:00Z"})
    );
}
