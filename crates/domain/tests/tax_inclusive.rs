//! Property: an inclusive tax and its net always add up to the gross, to the 10⁻⁵ unit (§5.5), and the tax is
//! the exact share G × r / (100 + r) rounded half away from zero at the fifth decimal.

use classbill_domain::tax::{TaxRate, fixed_vat_inclusive, taxes_at_payment};
use classbill_domain::{Money, Percent};
use proptest::prelude::*;

/// 100 % in percent units (10⁻⁴ %).
const HUNDRED: i128 = 1_000_000;

/// Gross amounts up to ±10¹⁰ currency units, rates 0–100 % with four decimals.
fn gross() -> impl Strategy<Value = i64> {
    -1_000_000_000_000_000_i64..=1_000_000_000_000_000
}

fn rate() -> impl Strategy<Value = i64> {
    0_i64..=1_000_000
}

proptest! {
    #[test]
    fn inclusive_tax_plus_net_is_the_gross(gross in gross(), rate in rate()) {
        let line = fixed_vat_inclusive(Money(gross), Percent::from_units(rate)).expect("in range");
        prop_assert_eq!(line.base.0 + line.tax_amount.0, gross);
        prop_assert_eq!(line.amount, Money::ZERO);
        // Nearest 10⁻⁵ unit: |tax × (100 + r) − G × r| ≤ (100 + r) / 2.
        let denominator = HUNDRED + i128::from(rate);
        let error = i128::from(line.tax_amount.0) * denominator - i128::from(gross) * i128::from(rate);
        prop_assert!(2 * error.abs() <= denominator, "tax {} is not the nearest unit", line.tax_amount);
        prop_assert!(line.tax_amount.0.signum() * gross.signum() >= 0, "the tax keeps the sign of the gross");
    }

    #[test]
    fn taxes_at_payment_plus_base_is_the_payment(paid in 1_i64..=1_000_000_000_000_000, rates in prop::collection::vec(rate(), 1..4)) {
        let rates: Vec<TaxRate> = rates
            .into_iter()
            .enumerate()
            .map(|(n, units)| TaxRate { name: format!("T{n}"), rate_percent: Percent::from_units(units) })
            .collect();
        let lines = taxes_at_payment(Money(paid), &rates).expect("in range");
        let taxes: i64 = lines.iter().map(|line| line.tax_amount.0).sum();
        for line in &lines {
            prop_assert_eq!(line.base.0 + taxes, paid);
        }
    }
}
