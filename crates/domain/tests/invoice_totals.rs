//! Invoice amounts (§5.6) on the worked examples of §7: lines, totals, rounding and the balance-aware fields.

use classbill_domain::Money;
use classbill_domain::Percent;
use classbill_domain::class::RoundingMethod::{self, AwayFromZero, HalfAwayFromZero, Special};
use classbill_domain::class::TaxScope;
use classbill_domain::invoice_math::{
    BalanceSummary, ChargeXdr, InvoiceLine, InvoiceMathError, InvoiceTaxFields, InvoiceTotals, TaxXdr, balance_summary,
    invoice_amounts, invoice_lines, invoice_totals,
};
use classbill_domain::tax::{CustomTax, TaxBases, TaxRate, XdrKind, custom_taxes, fixed_vat, taxes_at_payment};
use jiff::Timestamp;

fn money(text: &str) -> Money {
    Money::parse(text).expect("a valid amount")
}

fn percent(text: &str) -> Percent {
    Percent::parse(text).expect("a valid percentage")
}

/// Quantities in 10⁻⁵ units, like money.
fn quantity(whole: i64) -> i64 {
    whole * 100_000
}

fn at(instant: &str) -> Timestamp {
    instant.parse().expect("a valid instant")
}

fn charge(
    id: i64,
    occurred_at: &str,
    kind: XdrKind,
    service: &str,
    rate_code: &str,
    qty: i64,
    amount: &str,
) -> ChargeXdr {
    ChargeXdr {
        id,
        occurred_at: at(occurred_at),
        kind,
        service: service.to_owned(),
        rate_code: Some(rate_code.to_owned()),
        quantity: quantity(qty),
        amount: money(amount),
    }
}

fn bases_of(charges: &[ChargeXdr]) -> TaxBases {
    TaxBases::from_lines(charges.iter().map(|xdr| (xdr.kind, xdr.amount))).unwrap()
}

/// §7.1: the March xDRs of customer 1001 without the payment (which is not on the invoice).
fn berlin_march() -> Vec<ChargeXdr> {
    use XdrKind::*;
    vec![
        charge(
            1,
            "2025-02-28T23:00:00Z",
            Recurring,
            "sip_trunk",
            "TRUNK-M",
            1,
            "29.90000",
        ),
        charge(2, "2025-03-03T09:12:00Z", Usage, "voice", "DE-FIX", 412, "12.34567"),
        charge(4, "2025-03-11T16:40:00Z", Usage, "voice", "DE-MOB", 1203, "20.00001"),
        charge(5, "2025-03-19T07:05:00Z", Usage, "voice", "INTL-AT", 96, "5.11244"),
        charge(6, "2025-03-21T11:00:00Z", Usage, "sms", "SMS-DE", 9, "0.99000"),
        charge(7, "2025-03-25T08:30:00Z", Credit, "voice", "GOODWILL", 1, "-2.00000"),
    ]
}

fn totals_of(unrounded: &str, tax_total: &str, net_total: &str, total: &str, rounding: &str) -> InvoiceTotals {
    InvoiceTotals {
        unrounded: money(unrounded),
        tax_total: money(tax_total),
        net_total: money(net_total),
        total: money(total),
        rounding: money(rounding),
    }
}

#[test]
fn example_7_1_item_3_lines_and_totals() {
    let charges = berlin_march();
    let vat = fixed_vat(&bases_of(&charges), percent("19"), false).unwrap();
    assert_eq!(vat.base, money("66.34812"));
    assert_eq!(vat.tax_amount, money("12.60614"));
    let taxes = [TaxXdr { id: 8, tax: vat }];
    let invoice = invoice_amounts(&charges, &taxes, 2, AwayFromZero).unwrap();
    assert_eq!(
        invoice.totals,
        totals_of("78.95426", "12.60614", "66.34812", "78.96", "0.00574")
    );
    let printed: Vec<(XdrKind, &str, Option<&str>, i64, Money)> = invoice
        .lines
        .iter()
        .map(|line| {
            (
                line.kind,
                line.service.as_str(),
                line.rate_code.as_deref(),
                line.quantity,
                line.amount,
            )
        })
        .collect();
    use XdrKind::*;
    assert_eq!(
        printed,
        [
            (Recurring, "sip_trunk", Some("TRUNK-M"), quantity(1), money("29.90000")),
            (Usage, "voice", Some("DE-FIX"), quantity(412), money("12.34567")),
            (Usage, "voice", Some("DE-MOB"), quantity(1203), money("20.00001")),
            (Usage, "voice", Some("INTL-AT"), quantity(96), money("5.11244")),
            (Usage, "sms", Some("SMS-DE"), quantity(9), money("0.99000")),
            (Credit, "voice", Some("GOODWILL"), quantity(1), money("-2.00000")),
            (Tax, "tax", None, quantity(1), money("12.60614")),
            (Rounding, "rounding", None, quantity(1), money("0.00574")),
        ]
    );
    assert_eq!(
        invoice.lines[6].tax,
        Some(InvoiceTaxFields {
            tax_name: "VAT".to_owned(),
            tax_rate_percent: percent("19"),
            tax_base: money("66.34812"),
            tax_amount: money("12.60614"),
        })
    );
    let line_sum: i64 = invoice.lines.iter().map(|line| line.amount.0).sum();
    assert_eq!(Money(line_sum), invoice.totals.total);
}

#[test]
fn example_7_1_item_4_balance_aware_fields() {
    let summary = balance_summary(money("50.00000"), money("-60.00000"), Money::ZERO, money("78.96")).unwrap();
    assert_eq!(
        summary,
        BalanceSummary {
            previous_balance: money("50.00000"),
            payments: money("-60.00000"),
            out_of_turn: Money::ZERO,
            period_end_balance: money("68.96"),
            amount_due: money("68.96"),
            credit_carried: Money::ZERO,
        }
    );
}

#[test]
fn example_7_2_inclusive_vat_with_each_rounding_method() {
    use XdrKind::*;
    let charges = vec![
        charge(
            21,
            "2025-06-11T12:30:00Z",
            Recurring,
            "subscription",
            "WEEK",
            1,
            "9.99000",
        ),
        charge(22, "2025-06-12T08:00:00Z", Usage, "data", "DATA", 1, "1.23456"),
        charge(23, "2025-06-13T08:00:00Z", Usage, "data", "DATA", 1, "0.98765"),
        charge(24, "2025-06-14T08:00:00Z", Usage, "data", "DATA", 1, "1.11111"),
    ];
    let vat = fixed_vat(&bases_of(&charges), percent("20"), true).unwrap();
    assert_eq!(
        (vat.tax_amount, vat.base, vat.amount),
        (money("2.22055"), money("11.10277"), Money::ZERO)
    );
    let taxes = [TaxXdr { id: 25, tax: vat }];
    let cases: [(RoundingMethod, &str, &str); 3] = [
        (HalfAwayFromZero, "13.32", "-0.00332"),
        (AwayFromZero, "13.33", "0.00668"),
        (Special, "13.30", "-0.02332"),
    ];
    for (method, total, rounding) in cases {
        assert_eq!(
            invoice_totals(&charges, &taxes, 2, method).unwrap(),
            totals_of("13.32332", "2.22055", "11.10277", total, rounding),
            "{method:?}"
        );
    }
    // The usage group sums its three xDRs; the inclusive tax line adds nothing to the total.
    let lines = invoice_lines(&charges, &taxes, money("-0.00332")).unwrap();
    assert_eq!(lines.len(), 4);
    assert_eq!((lines[1].quantity, lines[1].amount), (quantity(3), money("3.33332")));
    assert_eq!(lines[2].amount, Money::ZERO);
    assert_eq!(lines[2].tax.as_ref().map(|tax| tax.tax_amount), Some(money("2.22055")));
    let line_sum: i64 = lines.iter().map(|line| line.amount.0).sum();
    assert_eq!(Money(line_sum), money("13.32"));
}

#[test]
fn example_7_3_custom_taxes_and_special_rounding() {
    use XdrKind::*;
    let charges = vec![
        charge(31, "2025-05-01T05:00:00Z", Recurring, "line", "MONTHLY", 1, "40.00"),
        charge(32, "2025-05-02T15:00:00Z", Usage, "voice", "US-LD", 1, "100.12345"),
        charge(33, "2025-05-03T15:00:00Z", OneTime, "setup", "SETUP", 1, "15.00"),
        charge(34, "2025-05-04T15:00:00Z", Credit, "voice", "GOODWILL", 1, "-5.00"),
        charge(35, "2025-05-05T15:00:00Z", LateFee, "collections", "LATE", 1, "2.00"),
    ];
    let selected = [
        ("State sales tax", "6.25", TaxScope::All),
        ("Telecom excise", "3", TaxScope::Usage),
        ("Regulatory recovery", "1.5", TaxScope::Recurring),
    ]
    .map(|(name, rate, scope)| CustomTax {
        name: name.to_owned(),
        rate_percent: percent(rate),
        scope,
    });
    let taxes: Vec<TaxXdr> = custom_taxes(&bases_of(&charges), &selected)
        .unwrap()
        .into_iter()
        .zip(40..)
        .map(|(tax, id)| TaxXdr { id, tax })
        .collect();
    let amounts: Vec<Money> = taxes.iter().map(|xdr| xdr.tax.amount).collect();
    assert_eq!(amounts, [money("9.38272"), money("3.45370"), money("0.60000")]);
    assert_eq!(
        invoice_totals(&charges, &taxes, 2, Special).unwrap(),
        totals_of("165.55987", "13.43642", "152.12345", "165.55", "-0.00987")
    );
    assert_eq!(
        invoice_totals(&charges, &taxes, 2, AwayFromZero).unwrap().total,
        money("165.56")
    );
}

#[test]
fn example_7_3_prepaid_taxed_at_payment() {
    let tax = taxes_at_payment(money("50.00"), &[TaxRate::vat(percent("19"))])
        .unwrap()
        .remove(0);
    assert_eq!((tax.amount, tax.base), (money("7.98319"), money("42.01681")));
    let charges = [charge(
        51,
        "2025-05-10T10:00:00Z",
        XdrKind::Usage,
        "voice",
        "DE-FIX",
        100,
        "30.00",
    )];
    let taxes = [TaxXdr { id: 50, tax }];
    let totals = invoice_totals(&charges, &taxes, 2, AwayFromZero).unwrap();
    assert_eq!(totals.unrounded, money("37.98319"));
    assert_eq!((totals.total, totals.rounding), (money("37.99"), money("0.00681")));
    let summary = balance_summary(Money::ZERO, money("-50.00"), Money::ZERO, totals.total).unwrap();
    assert_eq!(summary.period_end_balance, money("-12.01"));
    assert_eq!(
        (summary.amount_due, summary.credit_carried),
        (Money::ZERO, money("12.01"))
    );
}

#[test]
fn example_7_6_rate_20_after_the_class_edit() {
    let charges = berlin_march();
    let vat = fixed_vat(&bases_of(&charges), percent("20"), false).unwrap();
    let totals = invoice_totals(&charges, &[TaxXdr { id: 8, tax: vat }], 2, AwayFromZero).unwrap();
    assert_eq!(
        totals,
        totals_of("79.61774", "13.26962", "66.34812", "79.62", "0.00226")
    );
}

#[test]
fn charge_lines_group_by_kind_service_and_rate_code_in_first_occurrence_order() {
    use XdrKind::*;
    let charges = [
        charge(10, "2025-03-05T00:00:00Z", Usage, "voice", "B", 2, "2.00"),
        charge(3, "2025-03-02T00:00:00Z", Usage, "voice", "A", 1, "1.00"),
        charge(11, "2025-03-01T00:00:00Z", Usage, "voice", "B", 3, "3.00"),
        // Same instant as the first "B" xDR: the tie goes to the group with the smaller id.
        charge(9, "2025-03-01T00:00:00Z", OneTime, "voice", "B", 1, "4.00"),
        charge(12, "2025-03-01T00:00:00Z", Usage, "sms", "A", 1, "0.10"),
    ];
    let lines = invoice_lines(&charges, &[], Money::ZERO).unwrap();
    let order: Vec<(XdrKind, &str, Option<&str>, i64, Money)> = lines
        .iter()
        .map(|line| {
            (
                line.kind,
                line.service.as_str(),
                line.rate_code.as_deref(),
                line.quantity,
                line.amount,
            )
        })
        .collect();
    assert_eq!(
        order,
        [
            (OneTime, "voice", Some("B"), quantity(1), money("4.00")),
            (Usage, "voice", Some("B"), quantity(5), money("5.00")),
            (Usage, "sms", Some("A"), quantity(1), money("0.10")),
            (Usage, "voice", Some("A"), quantity(1), money("1.00")),
        ]
    );
}

#[test]
fn tax_lines_group_by_name_and_rate_in_smallest_id_order() {
    let vat = |rate: &str, base: &str| {
        fixed_vat(
            &TaxBases {
                all: money(base),
                ..TaxBases::default()
            },
            percent(rate),
            false,
        )
        .unwrap()
    };
    let taxes = [
        TaxXdr {
            id: 70,
            tax: vat("19", "10.00"),
        },
        TaxXdr {
            id: 60,
            tax: vat("7", "100.00"),
        },
        TaxXdr {
            id: 65,
            tax: vat("19", "5.00"),
        },
    ];
    let lines = invoice_lines(&[], &taxes, Money::ZERO).unwrap();
    let summary: Vec<(Percent, i64, Money, Money)> = lines
        .iter()
        .map(|line| {
            let tax = line.tax.as_ref().unwrap();
            (tax.tax_rate_percent, line.quantity, tax.tax_base, line.amount)
        })
        .collect();
    assert_eq!(
        summary,
        [
            (percent("7"), quantity(1), money("100.00"), money("7.00")),
            (percent("19"), quantity(2), money("15.00"), money("2.85")),
        ]
    );
}

#[test]
fn zero_rounding_adds_no_line_and_totals_still_add_up() {
    let charges = [charge(
        1,
        "2025-03-01T00:00:00Z",
        XdrKind::Usage,
        "voice",
        "A",
        1,
        "12.50",
    )];
    let invoice = invoice_amounts(&charges, &[], 2, AwayFromZero).unwrap();
    assert_eq!(invoice.totals.rounding, Money::ZERO);
    assert_eq!(invoice.lines.len(), 1);
    assert!(
        invoice
            .lines
            .iter()
            .all(|line: &InvoiceLine| line.kind != XdrKind::Rounding)
    );
}

#[test]
fn a_credit_balance_is_carried_and_nothing_is_due() {
    let summary = balance_summary(money("-20.00"), Money::ZERO, money("5.00"), money("10.00")).unwrap();
    assert_eq!(summary.period_end_balance, money("-5.00"));
    assert_eq!(
        (summary.amount_due, summary.credit_carried),
        (Money::ZERO, money("5.00"))
    );
}

#[test]
fn payments_taxes_and_roundings_are_not_charge_lines() {
    for kind in [XdrKind::Payment, XdrKind::Tax, XdrKind::Rounding] {
        let charges = [charge(77, "2025-03-01T00:00:00Z", kind, "x", "y", 1, "1.00")];
        assert_eq!(
            invoice_totals(&charges, &[], 2, AwayFromZero),
            Err(InvoiceMathError::NotACharge { id: 77, kind })
        );
    }
}

#[test]
fn overflowing_sums_are_errors() {
    let charges = [
        charge(1, "2025-03-01T00:00:00Z", XdrKind::Usage, "voice", "A", 1, "1"),
        ChargeXdr {
            amount: Money(i64::MAX),
            ..charge(2, "2025-03-01T00:00:00Z", XdrKind::Usage, "voice", "B", 1, "0")
        },
    ];
    assert!(matches!(
        invoice_totals(&charges, &[], 2, AwayFromZero),
        Err(InvoiceMathError::Arithmetic(_))
    ));
    assert!(balance_summary(Money(i64::MIN), Money::ZERO, Money::ZERO, Money::ZERO).is_err());
}
