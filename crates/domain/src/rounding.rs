//! Rounding of amounts (§5.4) and of exact fractions of amounts.
//!
//! Every rounding here works on an exact fraction `numerator / denominator` of 10⁻⁵ units held in 128-bit
//! integers, so a product or quotient is rounded exactly once and never passes through a float or a decimal
//! type. Overflow is reported as an [`ArithmeticError`], never as a panic.

use crate::class::RoundingMethod;
use crate::money::Money;

/// The largest precision (fraction digits kept) a rounding accepts; money itself has five.
pub const MAX_PRECISION: u8 = 5;

/// Why an exact computation on amounts could not produce a [`Money`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ArithmeticError {
    #[error("the amount is out of range")]
    Overflow,
    #[error("division by zero")]
    DivisionByZero,
    #[error("precision {0} is outside 0..=5")]
    InvalidPrecision(u8),
}

/// Rounds `amount` to `precision` fraction digits (0..=5) with `method`, keeping its sign (§5.4).
///
/// With step s = 10^(5−p) and a = |amount| in 10⁻⁵ units:
/// `away_from_zero` gives ⌈a/s⌉·s, `half_away_from_zero` ⌊(2a+s)/(2s)⌋·s, and `special` takes t = ⌊a/s⌋ and
/// d = t mod 10 and gives (t − d)·s when d ≤ 2, (t − d + 5)·s when 3 ≤ d ≤ 7 and (t − d + 10)·s when d ≥ 8.
pub fn round(amount: Money, precision: u8, method: RoundingMethod) -> Result<Money, ArithmeticError> {
    round_fraction(i128::from(amount.0), 1, precision, method)
}

/// Rounds the exact amount `numerator / denominator` (in 10⁻⁵ units) to `precision` fraction digits with
/// `method`. This is the single rounding point for charges computed as a product or a quotient, such as a
/// measured-service charge (§5.11).
pub fn round_fraction(
    numerator: i128,
    denominator: i128,
    precision: u8,
    method: RoundingMethod,
) -> Result<Money, ArithmeticError> {
    if precision > MAX_PRECISION {
        return Err(ArithmeticError::InvalidPrecision(precision));
    }
    if denominator == 0 {
        return Err(ArithmeticError::DivisionByZero);
    }
    let negative = (numerator < 0) != (denominator < 0);
    let step = 10_u128.pow(u32::from(MAX_PRECISION - precision));
    let magnitude = round_magnitude(numerator.unsigned_abs(), denominator.unsigned_abs(), step, method)?;
    signed_money(magnitude, negative)
}

/// Rounds the exact amount `numerator / denominator` (in 10⁻⁵ units) half away from zero at the fifth decimal:
/// the rounding of every tax amount (§5.5) and of computed quantities and item amounts.
pub fn round_half_away_at_5(numerator: i128, denominator: i128) -> Result<Money, ArithmeticError> {
    round_fraction(numerator, denominator, MAX_PRECISION, RoundingMethod::HalfAwayFromZero)
}

/// The step of a precision, in 10⁻⁵ units: 1 at precision 5, 100 000 at precision 0.
pub fn step_units(precision: u8) -> Result<i64, ArithmeticError> {
    if precision > MAX_PRECISION {
        return Err(ArithmeticError::InvalidPrecision(precision));
    }
    Ok(10_i64.pow(u32::from(MAX_PRECISION - precision)))
}

/// Converts a count of 10⁻⁵ units held in 128 bits to [`Money`], refusing values outside `i64`.
pub fn money_from_units(units: i128) -> Result<Money, ArithmeticError> {
    i64::try_from(units).map(Money).map_err(|_| ArithmeticError::Overflow)
}

/// Adds amounts in 128 bits and checks the sum fits a [`Money`].
pub fn sum_money(amounts: impl IntoIterator<Item = Money>) -> Result<Money, ArithmeticError> {
    let mut sum: i128 = 0;
    for amount in amounts {
        sum = sum.checked_add(i128::from(amount.0)).ok_or(ArithmeticError::Overflow)?;
    }
    money_from_units(sum)
}

/// `left − right`, checked.
pub fn checked_sub(left: Money, right: Money) -> Result<Money, ArithmeticError> {
    left.0.checked_sub(right.0).map(Money).ok_or(ArithmeticError::Overflow)
}

/// `left + right`, checked.
pub fn checked_add(left: Money, right: Money) -> Result<Money, ArithmeticError> {
    left.0.checked_add(right.0).map(Money).ok_or(ArithmeticError::Overflow)
}

/// Rounds the non-negative fraction `numerator / denominator` to a multiple of `step`.
fn round_magnitude(
    numerator: u128,
    denominator: u128,
    step: u128,
    method: RoundingMethod,
) -> Result<u128, ArithmeticError> {
    let divisor = denominator.checked_mul(step).ok_or(ArithmeticError::Overflow)?;
    // numerator / divisor = steps + remainder / divisor, with the exact value in whole steps.
    let steps = numerator / divisor;
    let remainder = numerator % divisor;
    let rounded_steps = match method {
        RoundingMethod::AwayFromZero => steps + u128::from(remainder > 0),
        // A remainder of at least half the divisor rounds up; `divisor − remainder` cannot overflow.
        RoundingMethod::HalfAwayFromZero => steps + u128::from(remainder >= divisor - remainder),
        RoundingMethod::Special => {
            let digit = steps % 10;
            let base = steps - digit;
            match digit {
                0..=2 => base,
                3..=7 => base + 5,
                _ => base + 10,
            }
        }
    };
    rounded_steps.checked_mul(step).ok_or(ArithmeticError::Overflow)
}

/// Applies the sign to a magnitude of 10⁻⁵ units and checks the range of [`Money`].
fn signed_money(magnitude: u128, negative: bool) -> Result<Money, ArithmeticError> {
    let magnitude = i128::try_from(magnitude).map_err(|_| ArithmeticError::Overflow)?;
    money_from_units(if negative { -magnitude } else { magnitude })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extremes_report_overflow_instead_of_panicking() {
        assert_eq!(
            round(Money(i64::MAX), 0, RoundingMethod::AwayFromZero),
            Err(ArithmeticError::Overflow)
        );
        assert_eq!(
            round(Money(i64::MIN), 5, RoundingMethod::AwayFromZero),
            Ok(Money(i64::MIN))
        );
        assert_eq!(round_half_away_at_5(i128::MIN, 1), Err(ArithmeticError::Overflow));
        assert_eq!(round_half_away_at_5(i128::MAX, i128::MAX), Ok(Money(1)));
        assert_eq!(round_half_away_at_5(1, 0), Err(ArithmeticError::DivisionByZero));
        assert_eq!(
            round(Money(1), 6, RoundingMethod::Special),
            Err(ArithmeticError::InvalidPrecision(6))
        );
        assert_eq!(
            round_fraction(i128::MAX, i128::MAX, 0, RoundingMethod::HalfAwayFromZero),
            Err(ArithmeticError::Overflow)
        );
    }

    #[test]
    fn the_sign_of_a_fraction_comes_from_both_parts() {
        assert_eq!(round_half_away_at_5(-3, 2), Ok(Money(-2)));
        assert_eq!(round_half_away_at_5(3, -2), Ok(Money(-2)));
        assert_eq!(round_half_away_at_5(-3, -2), Ok(Money(2)));
        assert_eq!(round_half_away_at_5(-1, 3), Ok(Money(0)));
    }
}
