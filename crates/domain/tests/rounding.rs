//! Rounding (§5.4): every cell of the specification's table, and invariants over many amounts.

use classbill_domain::Money;
use classbill_domain::class::RoundingMethod::{self, AwayFromZero, HalfAwayFromZero, Special};
use classbill_domain::rounding::{ArithmeticError, round, round_fraction, round_half_away_at_5, step_units};

const METHODS: [RoundingMethod; 3] = [AwayFromZero, HalfAwayFromZero, Special];

fn money(text: &str) -> Money {
    Money::parse(text).expect("a valid amount")
}

fn rounded(x: &str, precision: u8, method: RoundingMethod) -> Money {
    round(money(x), precision, method).expect("in range")
}

/// Asserts one row of the table: `x` at `precision` gives `expected[i]` with `METHODS[i]`.
fn check_row(x: &str, precision: u8, expected: [&str; 3]) {
    for (method, want) in METHODS.into_iter().zip(expected) {
        assert_eq!(
            rounded(x, precision, method),
            money(want),
            "{x} at p {precision} with {method:?}"
        );
    }
}

#[test]
fn table_16_85306_at_every_precision() {
    check_row("16.85306", 0, ["17", "17", "15"]);
    check_row("16.85306", 1, ["16.9", "16.9", "17.0"]);
    check_row("16.85306", 2, ["16.86", "16.85", "16.85"]);
    check_row("16.85306", 3, ["16.854", "16.853", "16.855"]);
    check_row("16.85306", 4, ["16.8531", "16.8531", "16.8530"]);
    check_row("16.85306", 5, ["16.85306", "16.85306", "16.85305"]);
}

#[test]
fn table_negative_16_85306_keeps_the_sign() {
    check_row("-16.85306", 2, ["-16.86", "-16.85", "-16.85"]);
}

#[test]
fn table_1_215_tie_both_signs() {
    check_row("1.215", 2, ["1.22", "1.22", "1.20"]);
    check_row("-1.215", 2, ["-1.22", "-1.22", "-1.20"]);
}

#[test]
fn table_special_digit_bands() {
    check_row("1.204", 2, ["1.21", "1.20", "1.20"]);
    check_row("1.234", 2, ["1.24", "1.23", "1.25"]);
    check_row("1.284", 2, ["1.29", "1.28", "1.30"]);
    check_row("1.296", 2, ["1.30", "1.30", "1.30"]);
}

#[test]
fn table_smallest_unit() {
    check_row("0.00001", 2, ["0.01", "0.00", "0.00"]);
}

#[test]
fn zero_stays_zero() {
    for method in METHODS {
        for precision in 0..=5 {
            assert_eq!(round(Money::ZERO, precision, method), Ok(Money::ZERO));
        }
    }
}

#[test]
fn precision_above_five_is_refused() {
    assert_eq!(
        round(money("1"), 6, AwayFromZero),
        Err(ArithmeticError::InvalidPrecision(6))
    );
}

#[test]
fn exact_fractions_round_once_at_the_fifth_decimal() {
    // 13.32332 × 20 / 120 = 2.2205533…
    assert_eq!(round_half_away_at_5(1_332_332 * 20, 120), Ok(money("2.22055")));
    // Exact ties go away from zero on both sides.
    assert_eq!(round_half_away_at_5(5, 10), Ok(money("0.00001")));
    assert_eq!(round_half_away_at_5(-5, 10), Ok(money("-0.00001")));
    assert_eq!(round_half_away_at_5(49_999, 100_000), Ok(Money::ZERO));
    // 55/3 = 18.3333… rounded up at precision 2 (§7.4).
    assert_eq!(round_fraction(5_500_000, 3, 2, AwayFromZero), Ok(money("18.34")));
    // (2/3)·3 computed exactly is 2, so away-from-zero does not add a step.
    assert_eq!(round_fraction(2 * 3 * 100_000, 3, 2, AwayFromZero), Ok(money("2")));
}

/// A deterministic generator (SplitMix64) so the invariants run over the same amounts every time.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Amounts of every size from one unit to about ten million currency units, either sign.
    fn amount(&mut self) -> Money {
        let digits = self.next() % 13 + 1;
        let magnitude = (self.next() % 10_u64.pow(digits as u32)) as i64;
        if self.next().is_multiple_of(2) {
            Money(magnitude)
        } else {
            Money(-magnitude)
        }
    }
}

fn amounts() -> impl Iterator<Item = Money> {
    let mut generator = SplitMix(0x00C1_A55B_1111);
    let edges = [
        0, 1, -1, 4, 5, 6, 49_999, 50_000, 50_001, 99_999, 100_000, 250_000, 299_999, 300_000, 750_000, 800_000,
    ]
    .map(Money);
    edges.into_iter().chain((0..20_000).map(move |_| generator.amount()))
}

#[test]
fn rounding_is_idempotent() {
    for x in amounts() {
        for method in METHODS {
            for precision in 0..=5 {
                let once = round(x, precision, method).unwrap();
                assert_eq!(round(once, precision, method), Ok(once), "{x} p {precision} {method:?}");
            }
        }
    }
}

#[test]
fn results_are_multiples_of_the_step() {
    for x in amounts() {
        for precision in 0..=5 {
            let step = step_units(precision).unwrap();
            for method in [AwayFromZero, HalfAwayFromZero] {
                assert_eq!(
                    round(x, precision, method).unwrap().0 % step,
                    0,
                    "{x} p {precision} {method:?}"
                );
            }
            assert_eq!(
                round(x, precision, Special).unwrap().0 % (5 * step),
                0,
                "{x} p {precision} special"
            );
        }
    }
}

#[test]
fn results_stay_within_a_step() {
    for x in amounts() {
        for precision in 0..=5 {
            let step = step_units(precision).unwrap();
            let away = round(x, precision, AwayFromZero).unwrap();
            let half = round(x, precision, HalfAwayFromZero).unwrap();
            let special = round(x, precision, Special).unwrap();
            assert!((away.0 - x.0).abs() < step, "{x} p {precision} away {away}");
            assert!(away.0.abs() >= x.0.abs(), "away from zero never shrinks {x}");
            assert!(2 * (half.0 - x.0).abs() <= step, "{x} p {precision} half {half}");
            assert!(
                (special.0 - x.0).abs() < 3 * step,
                "{x} p {precision} special {special}"
            );
        }
    }
}

#[test]
fn rounding_is_symmetric_in_sign() {
    for x in amounts() {
        for method in METHODS {
            for precision in 0..=5 {
                let positive = round(x, precision, method).unwrap();
                let negative = round(Money(-x.0), precision, method).unwrap();
                assert_eq!(negative, Money(-positive.0), "{x} p {precision} {method:?}");
            }
        }
    }
}

#[test]
fn precision_five_changes_nothing_but_special() {
    for x in amounts() {
        assert_eq!(round(x, 5, AwayFromZero), Ok(x));
        assert_eq!(round(x, 5, HalfAwayFromZero), Ok(x));
    }
}
