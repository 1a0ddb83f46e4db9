//! Measured-service charges (customer-classes §5.11) with the worked example of §7.4.

use classbill_domain::Money;
use classbill_domain::class::{ChargeBasis, Metric, MetricRow, RoundingMethod};
use classbill_domain::measured::{MeasuredCharge, MeasuredError, measured_charge};
use classbill_domain::party::MetricOverride;

/// Class 30 "Cloud PBX": precision 2, away from zero.
const PRECISION: u8 = 2;
const METHOD: RoundingMethod = RoundingMethod::AwayFromZero;

fn money(text: &str) -> Money {
    Money::parse(text).expect("amount")
}

fn pbx_extensions() -> MetricRow {
    MetricRow {
        metric: Metric::PbxExtensions,
        charge_basis: ChargeBasis::Maximum,
        price_per_item: money("3.00"),
        free_items: 10,
        rate_code: Some("PBX-EXT".to_owned()),
        service: Some("cloud_pbx".to_owned()),
    }
}

fn active_calls() -> MetricRow {
    MetricRow {
        metric: Metric::ActiveCalls,
        charge_basis: ChargeBasis::Average,
        price_per_item: money("2.50"),
        free_items: 5,
        rate_code: Some("ACT-CALLS".to_owned()),
        service: Some("voice".to_owned()),
    }
}

/// June 2025 samples of customer 1004; the 40 at 2025-07-01T00:00:00Z belongs to July and is not passed.
const PBX_JUNE: &[i64] = &[8, 12, 15, 11];
const CALLS_JUNE: &[i64] = &[10, 12, 15];

fn charge(row: &MetricRow, samples: &[i64]) -> Option<MeasuredCharge> {
    measured_charge(row, samples, PRECISION, METHOD, false).expect("computes")
}

#[test]
fn pbx_extensions_maximum_charges_the_items_above_the_free_ones() {
    let charge = charge(&pbx_extensions(), PBX_JUNE).expect("a charge");
    assert_eq!(charge.service, "cloud_pbx");
    assert_eq!(charge.rate_code, "PBX-EXT");
    assert_eq!(charge.quantity.to_string(), "5.00000");
    assert_eq!(charge.amount.to_string(), "15.00000");
    assert_eq!(charge.description, "pbx_extensions maximum 15.00000");
}

#[test]
fn active_calls_average_is_exact_and_rounded_once() {
    let charge = charge(&active_calls(), CALLS_JUNE).expect("a charge");
    assert_eq!(charge.service, "voice");
    assert_eq!(charge.rate_code, "ACT-CALLS");
    // agg 37/3, q = 22/3, charge 55/3 = 18.3333… → away from zero at 2 digits.
    assert_eq!(charge.quantity.to_string(), "7.33333");
    assert_eq!(charge.amount.to_string(), "18.34000");
    assert_eq!(charge.description, "active_calls average 12.33333");
}

#[test]
fn a_party_override_with_more_free_items_removes_the_charge() {
    let mut free_20 = MetricOverride::new(Metric::PbxExtensions);
    free_20.free_items = Some(20);
    let effective = free_20.apply_to(&pbx_extensions());
    assert_eq!(charge(&effective, PBX_JUNE), None, "q = 0 books nothing");
    let calls = charge(&active_calls(), CALLS_JUNE).expect("active calls still charged");
    assert_eq!(calls.amount.to_string(), "18.34000");
}

#[test]
fn an_override_with_basis_none_switches_the_charge_off() {
    let mut off = MetricOverride::new(Metric::ActiveCalls);
    off.charge_basis = Some(ChargeBasis::None);
    assert_eq!(charge(&off.apply_to(&active_calls()), CALLS_JUNE), None);
}

#[test]
fn minimum_basis_takes_the_smallest_sample() {
    let mut row = pbx_extensions();
    row.charge_basis = ChargeBasis::Minimum;
    row.free_items = 3;
    let charge = charge(&row, PBX_JUNE).expect("a charge");
    assert_eq!(charge.quantity.to_string(), "5.00000");
    assert_eq!(charge.amount.to_string(), "15.00000");
    assert_eq!(charge.description, "pbx_extensions minimum 8.00000");
}

#[test]
fn the_rounding_method_of_the_class_applies() {
    let half = measured_charge(&active_calls(), CALLS_JUNE, 2, RoundingMethod::HalfAwayFromZero, false)
        .expect("computes")
        .expect("a charge");
    assert_eq!(half.amount.to_string(), "18.33000");
    let special = measured_charge(&active_calls(), CALLS_JUNE, 2, RoundingMethod::Special, false)
        .expect("computes")
        .expect("a charge");
    assert_eq!(special.amount.to_string(), "18.35000");
    let exact = measured_charge(&active_calls(), CALLS_JUNE, 5, RoundingMethod::HalfAwayFromZero, false)
        .expect("computes")
        .expect("a charge");
    assert_eq!(exact.amount.to_string(), "18.33333");
}

#[test]
fn concurrent_calls_are_never_charged_to_resellers() {
    let row = MetricRow {
        metric: Metric::ConcurrentCalls,
        charge_basis: ChargeBasis::Maximum,
        price_per_item: money("1"),
        free_items: 0,
        rate_code: None,
        service: Some("voice".to_owned()),
    };
    assert_eq!(measured_charge(&row, &[4], PRECISION, METHOD, true), Ok(None));
    let customer = charge(&row, &[4]).expect("customers are charged");
    assert_eq!(
        customer.rate_code, "CONCURRENT_CALLS",
        "no rate code: the metric name upper-cased"
    );
    assert_eq!(customer.amount.to_string(), "4.00000");
    let mut pbx = pbx_extensions();
    pbx.free_items = 0;
    assert!(
        measured_charge(&pbx, &[2], PRECISION, METHOD, true)
            .expect("computes")
            .is_some(),
        "other metrics are charged to resellers"
    );
}

#[test]
fn no_samples_or_basis_none_books_nothing() {
    assert_eq!(charge(&active_calls(), &[]), None);
    assert_eq!(charge(&pbx_extensions(), &[]), None);
    let mut graphs_only = active_calls();
    graphs_only.charge_basis = ChargeBasis::None;
    assert_eq!(charge(&graphs_only, CALLS_JUNE), None);
}

#[test]
fn a_charged_row_without_service_is_an_error() {
    let mut row = active_calls();
    row.service = None;
    assert_eq!(
        measured_charge(&row, CALLS_JUNE, PRECISION, METHOD, false),
        Err(MeasuredError::MissingService("active_calls"))
    );
}
