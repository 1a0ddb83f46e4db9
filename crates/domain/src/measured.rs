//! Measured services (customer-classes §5.11): turning one period's samples of a metric into at most one
//! `measured_service` charge.
//!
//! Everything is exact: the mean is kept as the fraction Σ / count, the chargeable quantity and the charge are
//! fractions of that, and the charge is rounded once with the class precision and method.

use crate::class::{ChargeBasis, Metric, MetricRow, RoundingMethod};
use crate::money::{MONEY_SCALE, Money};
use crate::rounding::{ArithmeticError, round_fraction, round_half_away_at_5};

/// Why a charge could not be computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MeasuredError {
    /// A charged row must name its service (§2.7); class validation normally guarantees it.
    #[error("metric {0} is charged but names no service")]
    MissingService(&'static str),
    #[error(transparent)]
    Arithmetic(#[from] ArithmeticError),
}

/// One `measured_service` xDR to book at the period close.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeasuredCharge {
    pub metric: Metric,
    pub service: String,
    /// The row's rate code, else the metric name upper-cased.
    pub rate_code: String,
    /// The chargeable items, half away from zero at five decimals.
    pub quantity: Money,
    /// The charge, rounded once with the class precision and method.
    pub amount: Money,
    /// `<metric> <basis> <aggregate with five decimals>`, e.g. `active_calls average 12.33333`.
    pub description: String,
}

/// The aggregate of the samples as an exact fraction `numerator / denominator` (denominator > 0).
fn aggregate(basis: ChargeBasis, samples: &[i64]) -> Option<(i128, i128)> {
    match basis {
        ChargeBasis::None => None,
        ChargeBasis::Average => {
            let sum: i128 = samples.iter().map(|&v| i128::from(v)).sum();
            let count = i128::try_from(samples.len()).ok()?;
            (count > 0).then_some((sum, count))
        }
        ChargeBasis::Maximum => samples.iter().max().map(|&v| (i128::from(v), 1)),
        ChargeBasis::Minimum => samples.iter().min().map(|&v| (i128::from(v), 1)),
    }
}

/// The charge of one metric for one period, or `None` when nothing is charged: basis `none`, no samples,
/// a chargeable quantity of zero, or `concurrent_calls` of a reseller.
///
/// `row` is the effective row (the class row with the party's override laid over it); `samples` are the values
/// whose instants lie in the period; `precision` and `method` are the class rounding settings.
pub fn measured_charge(
    row: &MetricRow,
    samples: &[i64],
    precision: u8,
    method: RoundingMethod,
    party_is_reseller: bool,
) -> Result<Option<MeasuredCharge>, MeasuredError> {
    if party_is_reseller && row.metric == Metric::ConcurrentCalls {
        return Ok(None);
    }
    let Some((numerator, denominator)) = aggregate(row.charge_basis, samples) else {
        return Ok(None);
    };
    let free = i128::from(row.free_items)
        .checked_mul(denominator)
        .ok_or(ArithmeticError::Overflow)?;
    // q = max(0, agg − free) = excess / denominator items.
    let excess = numerator.checked_sub(free).ok_or(ArithmeticError::Overflow)?.max(0);
    if excess == 0 {
        return Ok(None);
    }
    let service = row
        .service
        .clone()
        .ok_or(MeasuredError::MissingService(row.metric.as_str()))?;
    let charge = excess
        .checked_mul(i128::from(row.price_per_item.0))
        .ok_or(ArithmeticError::Overflow)?;
    let amount = round_fraction(charge, denominator, precision, method)?;
    let scale = i128::from(MONEY_SCALE);
    let quantity = round_half_away_at_5(excess.checked_mul(scale).ok_or(ArithmeticError::Overflow)?, denominator)?;
    let shown = round_half_away_at_5(
        numerator.checked_mul(scale).ok_or(ArithmeticError::Overflow)?,
        denominator,
    )?;
    let rate_code = row
        .rate_code
        .clone()
        .unwrap_or_else(|| row.metric.as_str().to_uppercase());
    Ok(Some(MeasuredCharge {
        metric: row.metric,
        service,
        rate_code,
        quantity,
        amount,
        description: format!("{} {} {shown}", row.metric.as_str(), row.charge_basis.as_str()),
    }))
}
