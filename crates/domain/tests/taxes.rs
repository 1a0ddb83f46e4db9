//! Taxation (§5.5): bases per scope, fixed VAT on top and inclusive, custom taxes, the generic VAT rate choice,
//! taxes at payment, and the worked examples of §7.

use classbill_domain::class::TaxScope;
use classbill_domain::rounding::ArithmeticError;
use classbill_domain::tax::{
    CustomTax, PartyTaxAttributes, TaxBases, TaxError, TaxLine, TaxRate, VatDecision, VatRateRow, XdrKind,
    choose_vat_rate, custom_taxes, fixed_vat, fixed_vat_exclusive, fixed_vat_inclusive, generic_vat, taxes_at_payment,
};
use classbill_domain::{Money, Percent};

fn money(text: &str) -> Money {
    Money::parse(text).expect("a valid amount")
}

fn percent(text: &str) -> Percent {
    Percent::parse(text).expect("a valid percentage")
}

fn bases(lines: &[(XdrKind, &str)]) -> TaxBases {
    TaxBases::from_lines(lines.iter().map(|(kind, amount)| (*kind, money(amount)))).expect("in range")
}

/// The xDRs of §7.1 that are not payments.
fn berlin_march() -> TaxBases {
    bases(&[
        (XdrKind::Recurring, "29.90000"),
        (XdrKind::Usage, "12.34567"),
        (XdrKind::Usage, "20.00001"),
        (XdrKind::Usage, "5.11244"),
        (XdrKind::Usage, "0.99000"),
        (XdrKind::Credit, "-2.00000"),
    ])
}

#[test]
fn scope_table_of_5_1() {
    use XdrKind::*;
    let expected: [(XdrKind, [bool; 3]); 11] = [
        (Usage, [true, true, false]),
        (OneTime, [true, true, false]),
        (MeasuredService, [true, true, false]),
        (ReactivationFee, [true, true, false]),
        (Recurring, [true, false, true]),
        (Credit, [true, false, false]),
        (LateFee, [false, false, false]),
        (Adjustment, [false, false, false]),
        (Tax, [false, false, false]),
        (Rounding, [false, false, false]),
        (Payment, [false, false, false]),
    ];
    for (kind, [all, usage, recurring]) in expected {
        assert_eq!(kind.is_taxed_in(TaxScope::All), all, "{kind:?} all");
        assert_eq!(kind.is_taxed_in(TaxScope::Usage), usage, "{kind:?} usage");
        assert_eq!(kind.is_taxed_in(TaxScope::Recurring), recurring, "{kind:?} recurring");
    }
}

#[test]
fn kinds_read_and_print_their_spelling() {
    for kind in XdrKind::ALL {
        assert_eq!(kind.as_str().parse::<XdrKind>(), Ok(kind));
        assert_eq!(serde_json::to_value(kind).unwrap(), serde_json::json!(kind.as_str()));
        assert_eq!(kind.counts_in_invoice_total(), kind != XdrKind::Payment);
    }
    assert_eq!("one_time".parse::<XdrKind>(), Ok(XdrKind::OneTime));
    assert!("refund".parse::<XdrKind>().is_err());
}

#[test]
fn untaxed_kinds_stay_out_of_every_base() {
    let bases = bases(&[
        (XdrKind::LateFee, "5.00"),
        (XdrKind::Adjustment, "-3.00"),
        (XdrKind::Tax, "1.90"),
        (XdrKind::Rounding, "0.00574"),
        (XdrKind::Payment, "-60.00"),
    ]);
    assert_eq!(bases, TaxBases::default());
}

#[test]
fn example_7_1_fixed_vat_19_exclusive() {
    let line = fixed_vat(&berlin_march(), percent("19"), false).unwrap();
    assert_eq!(
        line,
        TaxLine {
            name: "VAT".to_owned(),
            rate_percent: percent("19"),
            base: money("66.34812"),
            // exact 12.6061428
            tax_amount: money("12.60614"),
            amount: money("12.60614"),
            reverse_charge: false,
            outside_scope: false,
        }
    );
}

#[test]
fn example_7_1_reactivation_fee_vat() {
    let line = fixed_vat(&bases(&[(XdrKind::ReactivationFee, "10.00")]), percent("19"), false).unwrap();
    assert_eq!(line.tax_amount, money("1.90000"));
}

#[test]
fn example_7_6_rate_20_after_the_class_edit() {
    // exact 13.269624
    let line = fixed_vat(&berlin_march(), percent("20"), false).unwrap();
    assert_eq!(line.tax_amount, money("13.26962"));
    assert_eq!(line.amount, money("13.26962"));
}

#[test]
fn example_7_2_fixed_vat_20_inclusive() {
    let gross = bases(&[
        (XdrKind::Recurring, "9.99000"),
        (XdrKind::Usage, "1.23456"),
        (XdrKind::Usage, "0.98765"),
        (XdrKind::Usage, "1.11111"),
    ]);
    assert_eq!(gross.all, money("13.32332"));
    let line = fixed_vat(&gross, percent("20"), true).unwrap();
    assert_eq!(line.tax_amount, money("2.22055"));
    assert_eq!(line.base, money("11.10277"));
    assert_eq!(line.amount, Money::ZERO);
    assert!(!line.reverse_charge && !line.outside_scope);
}

#[test]
fn example_7_3_custom_taxes_with_scopes() {
    let bases = bases(&[
        (XdrKind::Usage, "100.12345"),
        (XdrKind::OneTime, "15.00"),
        (XdrKind::Recurring, "40.00"),
        (XdrKind::Credit, "-5.00"),
        (XdrKind::LateFee, "2.00"),
    ]);
    assert_eq!(bases.all, money("150.12345"));
    assert_eq!(bases.usage, money("115.12345"));
    assert_eq!(bases.recurring, money("40.00"));
    let taxes = [
        ("State sales tax", "6.25", TaxScope::All),
        ("Telecom excise", "3", TaxScope::Usage),
        ("Regulatory recovery", "1.5", TaxScope::Recurring),
    ]
    .map(|(name, rate, scope)| CustomTax {
        name: name.to_owned(),
        rate_percent: percent(rate),
        scope,
    });
    let lines = custom_taxes(&bases, &taxes).unwrap();
    let summary: Vec<(&str, Money, Money, Money)> = lines
        .iter()
        .map(|line| (line.name.as_str(), line.base, line.tax_amount, line.amount))
        .collect();
    assert_eq!(
        summary,
        [
            // exact 9.382715625
            (
                "State sales tax",
                money("150.12345"),
                money("9.38272"),
                money("9.38272")
            ),
            // exact 3.4537035
            ("Telecom excise", money("115.12345"), money("3.45370"), money("3.45370")),
            (
                "Regulatory recovery",
                money("40.00"),
                money("0.60000"),
                money("0.60000")
            ),
        ]
    );
    let tax_total: i64 = lines.iter().map(|line| line.tax_amount.0).sum();
    assert_eq!(Money(tax_total), money("13.43642"));
}

#[test]
fn example_7_3_prepaid_tax_at_payment() {
    let lines = taxes_at_payment(money("50.00"), &[TaxRate::vat(percent("19"))]).unwrap();
    assert_eq!(lines.len(), 1);
    // exact 7.9831932…
    assert_eq!(lines[0].tax_amount, money("7.98319"));
    assert_eq!(lines[0].amount, money("7.98319"));
    assert_eq!(lines[0].base, money("42.01681"));
    // The payment xDR of −50 and the tax xDR leave this balance.
    assert_eq!(Money(money("-50.00").0 + lines[0].amount.0), money("-42.01681"));
}

#[test]
fn taxes_at_payment_share_one_denominator_and_one_base() {
    let rates = [
        TaxRate {
            name: "State".to_owned(),
            rate_percent: percent("6.25"),
        },
        TaxRate {
            name: "County".to_owned(),
            rate_percent: percent("2"),
        },
    ];
    let lines = taxes_at_payment(money("100"), &rates).unwrap();
    // 100 × 6.25 / 108.25 = 5.7736720…, 100 × 2 / 108.25 = 1.8475750…
    assert_eq!(lines[0].tax_amount, money("5.77367"));
    assert_eq!(lines[1].tax_amount, money("1.84758"));
    assert!(lines.iter().all(|line| line.base == money("92.37875")));
    assert_eq!(taxes_at_payment(money("100"), &[]).unwrap(), []);
}

#[test]
fn negative_bases_give_negative_tax() {
    let credit_only = bases(&[(XdrKind::Credit, "-2.00000")]);
    assert_eq!(
        fixed_vat(&credit_only, percent("19"), false).unwrap().tax_amount,
        money("-0.38")
    );
    let inclusive = fixed_vat_inclusive(money("-13.32332"), percent("20")).unwrap();
    assert_eq!(inclusive.tax_amount, money("-2.22055"));
    assert_eq!(inclusive.base, money("-11.10277"));
    // −0.000025 is a tie and goes away from zero.
    assert_eq!(
        fixed_vat_exclusive(money("-0.00025"), percent("10"))
            .unwrap()
            .tax_amount,
        money("-0.00003")
    );
}

#[test]
fn custom_taxes_never_compound() {
    let bases = bases(&[(XdrKind::Usage, "100")]);
    let taxes = [
        CustomTax {
            name: "A".to_owned(),
            rate_percent: percent("10"),
            scope: TaxScope::All,
        },
        CustomTax {
            name: "B".to_owned(),
            rate_percent: percent("10"),
            scope: TaxScope::Usage,
        },
        CustomTax {
            name: "C".to_owned(),
            rate_percent: percent("10"),
            scope: TaxScope::Recurring,
        },
    ];
    let amounts: Vec<Money> = custom_taxes(&bases, &taxes)
        .unwrap()
        .into_iter()
        .map(|line| line.amount)
        .collect();
    assert_eq!(amounts, [money("10"), money("10"), Money::ZERO]);
}

fn vat_table() -> Vec<VatRateRow> {
    [("DE", "19", Some("EU")), ("AT", "20", Some("EU")), ("US", "0", None)]
        .into_iter()
        .map(|(country, rate, zone)| VatRateRow {
            country: country.to_owned(),
            rate_percent: percent(rate),
            zone: zone.map(str::to_owned),
        })
        .collect()
}

fn party(country: Option<&str>, tax_id: Option<&str>, registered: bool) -> PartyTaxAttributes {
    PartyTaxAttributes {
        country: country.map(str::to_owned),
        tax_id: tax_id.map(str::to_owned),
        tax_registered: registered,
        tax_exempt: false,
    }
}

#[test]
fn generic_vat_example_of_5_5() {
    let table = vat_table();
    let choose = |party: &PartyTaxAttributes| choose_vat_rate("DE", party, &table).unwrap();
    assert_eq!(
        choose(&party(Some("DE"), None, false)),
        VatDecision::HomeRate {
            rate_percent: percent("19")
        }
    );
    assert_eq!(
        choose(&party(Some("AT"), None, false)),
        VatDecision::ZoneRate {
            country: "AT".to_owned(),
            rate_percent: percent("20")
        }
    );
    assert_eq!(
        choose(&party(Some("AT"), Some("ATU12345678"), true)),
        VatDecision::ReverseCharge {
            country: "AT".to_owned()
        }
    );
    assert_eq!(
        choose(&party(Some("US"), Some("12-3456789"), true)),
        VatDecision::OutsideScope {
            country: "US".to_owned()
        }
    );
}

#[test]
fn generic_vat_rule_order_and_edges() {
    let table = vat_table();
    let choose = |party: &PartyTaxAttributes| choose_vat_rate("DE", party, &table).unwrap();
    let home = VatDecision::HomeRate {
        rate_percent: percent("19"),
    };
    // Rule 1 comes first, whatever else is true.
    let exempt = PartyTaxAttributes {
        tax_exempt: true,
        ..party(Some("AT"), Some("ATU1"), true)
    };
    assert_eq!(choose(&exempt), VatDecision::Exempt);
    // A missing country is the home country; a home business is not reverse charged.
    assert_eq!(choose(&party(None, Some("DE1"), true)), home);
    assert_eq!(choose(&party(Some("DE"), Some("DE1"), true)), home);
    // Reverse charge needs both the registration and a tax id.
    assert!(matches!(
        choose(&party(Some("AT"), Some("ATU1"), false)),
        VatDecision::ZoneRate { .. }
    ));
    assert!(matches!(
        choose(&party(Some("AT"), None, true)),
        VatDecision::ZoneRate { .. }
    ));
    assert!(matches!(
        choose(&party(Some("AT"), Some(" "), true)),
        VatDecision::ZoneRate { .. }
    ));
    // A country missing from the table has no zone.
    assert_eq!(
        choose(&party(Some("CH"), Some("CHE1"), true)),
        VatDecision::OutsideScope {
            country: "CH".to_owned()
        }
    );
    // A home country without a zone puts every foreign party outside the scope.
    let no_zone = choose_vat_rate("US", &party(Some("DE"), None, false), &table).unwrap();
    assert!(matches!(no_zone, VatDecision::OutsideScope { .. }));
    assert_eq!(
        choose_vat_rate("FR", &party(Some("DE"), None, false), &table),
        Err(TaxError::UnknownHomeCountry("FR".to_owned()))
    );
}

#[test]
fn generic_vat_lines_follow_the_decision() {
    let bases = berlin_march();
    let line = |decision: &VatDecision, inclusive: bool| generic_vat(decision, &bases, inclusive).unwrap();
    assert_eq!(line(&VatDecision::Exempt, false), None);
    let zone = line(
        &VatDecision::ZoneRate {
            country: "AT".to_owned(),
            rate_percent: percent("20"),
        },
        false,
    )
    .unwrap();
    assert_eq!((zone.tax_amount, zone.amount), (money("13.26962"), money("13.26962")));
    let reverse = line(
        &VatDecision::ReverseCharge {
            country: "AT".to_owned(),
        },
        false,
    )
    .unwrap();
    assert_eq!(
        reverse,
        TaxLine {
            name: "VAT".to_owned(),
            rate_percent: percent("0"),
            base: money("66.34812"),
            tax_amount: Money::ZERO,
            amount: Money::ZERO,
            reverse_charge: true,
            outside_scope: false,
        }
    );
    let outside = line(
        &VatDecision::OutsideScope {
            country: "US".to_owned(),
        },
        true,
    )
    .unwrap();
    assert!(outside.outside_scope && !outside.reverse_charge);
    assert_eq!(
        (outside.base, outside.tax_amount, outside.amount),
        (money("66.34812"), Money::ZERO, Money::ZERO)
    );
    let home_inclusive = line(
        &VatDecision::HomeRate {
            rate_percent: percent("19"),
        },
        true,
    )
    .unwrap();
    assert_eq!(home_inclusive.amount, Money::ZERO);
    assert_eq!(Money(home_inclusive.base.0 + home_inclusive.tax_amount.0), bases.all);
}

/// SplitMix64, for deterministic pseudo-random grosses and rates.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[test]
fn inclusive_tax_plus_net_is_the_gross_to_the_unit() {
    let mut generator = SplitMix(0x7A_5E5);
    for _ in 0..20_000 {
        let digits = (generator.next() % 12 + 1) as u32;
        let magnitude = (generator.next() % 10_u64.pow(digits)) as i64;
        let gross = Money(if generator.next().is_multiple_of(4) {
            -magnitude
        } else {
            magnitude
        });
        // Rates from 0 to 100 % in steps of 10⁻⁴ %.
        let rate = Percent::from_units((generator.next() % 1_000_001) as i64);
        let line = fixed_vat_inclusive(gross, rate).unwrap();
        assert_eq!(Money(line.base.0 + line.tax_amount.0), gross, "{gross} at {rate} %");
        assert_eq!(line.amount, Money::ZERO);
        // The tax is the exact quotient rounded half away from zero: within half a unit of it.
        let exact_numerator = i128::from(gross.0) * i128::from(rate.units());
        let denominator = 1_000_000 + i128::from(rate.units());
        let error = i128::from(line.tax_amount.0) * denominator - exact_numerator;
        assert!(
            2 * error.abs() <= denominator,
            "{gross} at {rate} %: {}",
            line.tax_amount
        );
        // Payment taxes with a single rate are the same computation.
        let at_payment = taxes_at_payment(gross, &[TaxRate::vat(rate)]).unwrap();
        assert_eq!(
            (at_payment[0].tax_amount, at_payment[0].base),
            (line.tax_amount, line.base)
        );
    }
}

#[test]
fn overflow_is_an_error_not_a_panic() {
    assert_eq!(
        fixed_vat_exclusive(Money(i64::MAX), percent("100")).map(|line| line.tax_amount),
        Ok(Money(i64::MAX))
    );
    assert_eq!(
        fixed_vat_exclusive(Money(i64::MAX), percent("200")).map(|line| line.tax_amount),
        Err(ArithmeticError::Overflow)
    );
    assert_eq!(
        TaxBases::from_lines([(XdrKind::Usage, Money(i64::MAX)), (XdrKind::Usage, Money(1))]),
        Err(ArithmeticError::Overflow)
    );
}
