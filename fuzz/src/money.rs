//! Money and decimal parsing (`Money::parse`, `Percent::parse`) and the roundings applied to what they parse.
//!
//! Each whitespace-separated token of the input is parsed as an amount and as a percentage; whatever parses
//! must print back to a string that parses to the same value, and must round at every precision and method
//! without a panic. The first 32 bytes also give a raw 128-bit fraction for `round_fraction`, whose contract
//! is to report overflow instead of panicking for any operands.

use classbill_domain::class::RoundingMethod;
use classbill_domain::rounding::{round, round_fraction};
use classbill_domain::{Money, Percent};

const METHODS: [RoundingMethod; 3] = [
    RoundingMethod::AwayFromZero,
    RoundingMethod::HalfAwayFromZero,
    RoundingMethod::Special,
];

pub fn check(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut amounts = Vec::new();
    for token in text.split_whitespace().chain(std::iter::once(text.as_ref())) {
        if let Ok(money) = Money::parse(token) {
            let printed = money.to_string();
            assert_eq!(Money::parse(&printed), Ok(money), "{token:?} printed as {printed:?}");
            amounts.push(money);
        }
        if let Ok(percent) = Percent::parse(token) {
            let printed = percent.to_string();
            assert_eq!(
                Percent::parse(&printed),
                Ok(percent),
                "{token:?} printed as {printed:?}"
            );
        }
    }
    for &amount in &amounts {
        for precision in 0..=6 {
            for method in METHODS {
                if let Ok(rounded) = round(amount, precision, method) {
                    assert!(
                        (i128::from(rounded.0) - i128::from(amount.0)).abs() < 1_000_000,
                        "{amount} rounded to {rounded} at precision {precision}"
                    );
                }
            }
        }
    }
    for pair in amounts.windows(2) {
        for method in METHODS {
            let _ = round_fraction(i128::from(pair[0].0), i128::from(pair[1].0), 2, method);
        }
    }
    if data.len() >= 32 {
        let numerator = i128::from_le_bytes(data[..16].try_into().expect("16 bytes"));
        let denominator = i128::from_le_bytes(data[16..32].try_into().expect("16 bytes"));
        for precision in 0..=5 {
            for method in METHODS {
                let _ = round_fraction(numerator, denominator, precision, method);
            }
        }
    }
}
