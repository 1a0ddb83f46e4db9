//! A sweep over many activation instants, zones and kinds with a deterministic pseudo-random sequence.

use classbill_domain::period::BillingPeriodKind;
use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use super::{schedule, utc};
use BillingPeriodKind::{Daily, Monthly, MonthlyAnniversary, Semimonthly, ThirtyDays, Weekly};

// ---- Sweep over many activations and zones ------------------------------------------------------------

/// A small deterministic pseudo-random sequence (SplitMix64).
struct Sequence(u64);

impl Sequence {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: u64) -> i64 {
        i64::try_from(self.next() % bound).unwrap()
    }
}

const SWEEP_ZONES: [&str; 14] = [
    "UTC",
    "Europe/Berlin",
    "Europe/London",
    "America/New_York",
    "America/Santiago",
    "America/Havana",
    "Atlantic/Azores",
    "Asia/Tokyo",
    "Asia/Kathmandu",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "Pacific/Apia",
    "America/St_Johns",
    "Asia/Beirut",
];

/// Rule 3 restated directly: does `day` carry a boundary for a party activated on local date `activation`?
fn is_boundary_date(kind: BillingPeriodKind, activation: Date, day: Date) -> bool {
    match kind {
        Daily => true,
        Weekly => day.weekday() == Weekday::Monday,
        Semimonthly => day.day() == 1 || day.day() == 16,
        Monthly => day.day() == 1,
        MonthlyAnniversary => day.day() == activation.day().min(28),
        ThirtyDays => {
            let days = day.since(activation).unwrap().get_days();
            days > 0 && days % 30 == 0
        }
    }
}

/// Rule 1 restated with jiff's own disambiguation (later across a gap, earlier in a fold), which agrees with
/// the rule whenever a skipped hour starts at midnight, as it does in every zone of the sweep.
fn reference_midnight(zone: &TimeZone, day: Date) -> Timestamp {
    zone.to_ambiguous_timestamp(day.to_datetime(jiff::civil::Time::midnight()))
        .compatible()
        .unwrap()
}

#[test]
fn sweep_periods_are_contiguous_non_empty_and_end_at_the_first_boundary() {
    let mut random = Sequence(0x5EED_CB11);
    let range_start = utc("1995-01-01T00:00:00Z").as_second();
    let range_seconds = 40 * 365 * 86_400;
    for case in 0..420 {
        let kind = BillingPeriodKind::ALL[usize::try_from(random.below(6)).unwrap()];
        let zone_name = SWEEP_ZONES[usize::try_from(random.below(SWEEP_ZONES.len() as u64)).unwrap()];
        let activated_at = Timestamp::from_second(range_start + random.below(range_seconds)).unwrap()
            + SignedDuration::from_nanos(random.below(1_000_000_000));
        let schedule = schedule(kind, zone_name, activated_at);
        let zone = schedule.zone().clone();
        let activation_date = zone.to_datetime(activated_at).date();
        let label = format!("case {case}: {kind} {zone_name} {activated_at}");

        assert_eq!(
            schedule.period_containing(activated_at - SignedDuration::from_nanos(1)),
            None,
            "{label}"
        );
        let mut current = schedule.first_period();
        assert_eq!(current.start, activated_at, "{label}");
        for step in 0..30 {
            let label = format!("{label} step {step} {current:?}");
            assert!(current.start < current.end, "{label}: empty");

            // The end is a boundary, and no boundary lies strictly inside the period.
            let end_date = zone.to_datetime(current.end).date();
            assert!(
                is_boundary_date(kind, activation_date, end_date),
                "{label}: end date {end_date}"
            );
            assert_eq!(
                reference_midnight(&zone, end_date),
                current.end,
                "{label}: end not a midnight"
            );
            let mut day = zone.to_datetime(current.start).date();
            while day < end_date {
                let midnight = reference_midnight(&zone, day);
                let inside = current.start < midnight && midnight < current.end;
                assert!(
                    !(inside && is_boundary_date(kind, activation_date, day)),
                    "{label}: boundary {day} inside"
                );
                day = day.tomorrow().unwrap();
            }

            // Direct lookups agree with stepping.
            let length = current.end.duration_since(current.start);
            let offset = SignedDuration::from_nanos(random.below(u64::try_from(length.as_nanos()).unwrap()));
            for at in [
                current.start,
                current.start + offset,
                current.end - SignedDuration::from_nanos(1),
            ] {
                assert_eq!(schedule.period_containing(at), Some(current), "{label}: lookup at {at}");
            }
            assert_eq!(schedule.boundary_after(current.start), current.end, "{label}");

            let next = schedule.next_period(&current);
            assert_eq!(next.start, current.end, "{label}: gap or overlap");
            current = next;
        }
    }
}
