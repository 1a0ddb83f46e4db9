//! S2 measured services (customer-classes §5.11): one `measured_service` xDR per charged metric of a period,
//! computed from the settings frozen at S1 and booked before S3 so that the taxes and the invoice include it.
//!
//! The samples of a whole batch are read at once: one statement for every due period's party and window.

use std::collections::HashMap;

use classbill_domain::class::{ChargeBasis, Metric};
use classbill_domain::measured::measured_charge;
use classbill_store::Tx;
use classbill_store::measurements;
use classbill_store::parties::PartyRow;
use classbill_store::periods::PeriodRow;
use classbill_store::statistics::{self as store_statistics, MeasuredXdr};

use super::Frozen;
use crate::error::EngineResult;

/// The samples of a batch, by party and metric, as `(at, value)` in instant order.
type Samples = HashMap<(i64, String), Vec<(i64, i64)>>;

/// The measured-service xDRs of one period, or why they cannot be computed (a close failure of that period).
fn charges_of(
    samples: &Samples,
    party: &PartyRow,
    period: &PeriodRow,
    frozen: &Frozen,
) -> Result<Vec<MeasuredXdr>, String> {
    let is_reseller = party.kind == "reseller";
    let general = &frozen.class.general_info;
    let Ok(precision) = u8::try_from(general.rounding_precision) else {
        return Err("the class rounding precision is out of range".to_owned());
    };
    let mut rows = Vec::new();
    for base in &frozen.class.measured_services.metrics {
        let row = match frozen.overrides.metric(base.metric) {
            Some(change) => change.apply_to(base),
            None => base.clone(),
        };
        if row.charge_basis == ChargeBasis::None || (is_reseller && row.metric == Metric::ConcurrentCalls) {
            continue;
        }
        let values: Vec<i64> = samples
            .get(&(party.id, row.metric.as_str().to_owned()))
            .into_iter()
            .flatten()
            .filter(|(at, _)| (period.start_at..period.end_at).contains(at))
            .map(|&(_, value)| value)
            .collect();
        if values.is_empty() {
            continue;
        }
        let charge = match measured_charge(&row, &values, precision, general.rounding_method, is_reseller) {
            Ok(Some(charge)) => charge,
            Ok(None) => continue,
            Err(error) => return Err(format!("measured service {}: {error}", row.metric.as_str())),
        };
        rows.push(MeasuredXdr {
            party_id: party.id,
            period_id: period.id,
            occurred_at: period.end_at,
            service: charge.service,
            rate_code: charge.rate_code,
            quantity: charge.quantity.0,
            amount: charge.amount.0,
            description: charge.description,
            external_id: format!("close:{}:S2:{}", period.id, row.metric.as_str()),
        });
    }
    Ok(rows)
}

/// Whether the frozen class of this period has metrics at all.
fn measures(frozen: &HashMap<i64, Result<Frozen, String>>, period: &PeriodRow) -> bool {
    matches!(frozen.get(&period.id), Some(Ok(f)) if !f.class.measured_services.metrics.is_empty())
}

/// Books S2 for every frozen period of the batch; a period whose charges cannot be computed gets its error in
/// place of its frozen settings, so the close reports it as failed and books nothing else for it.
pub(super) async fn book(
    tx: &mut Tx,
    due: &[(PeriodRow, i64)],
    parties: &HashMap<i64, PartyRow>,
    frozen: &mut HashMap<i64, Result<Frozen, String>>,
    created_us: i64,
) -> EngineResult<()> {
    let windows: Vec<(i64, i64, i64)> = due
        .iter()
        .filter(|(period, _)| measures(frozen, period))
        .map(|(period, _)| (period.party_id, period.start_at, period.end_at))
        .collect();
    if windows.is_empty() {
        return Ok(());
    }
    let mut samples = Samples::new();
    for row in measurements::samples_in_windows(tx, &windows).await? {
        samples
            .entry((row.party_id, row.metric))
            .or_default()
            .push((row.at, row.value));
    }
    let mut failed = Vec::new();
    let mut rows = Vec::new();
    for (period, _) in due {
        if !measures(frozen, period) {
            continue;
        }
        let Some(Ok(settings)) = frozen.get(&period.id) else {
            continue;
        };
        match charges_of(&samples, &parties[&period.party_id], period, settings) {
            Ok(charges) => rows.extend(charges),
            Err(error) => failed.push((period.id, error)),
        }
    }
    for (period_id, error) in failed {
        frozen.insert(period_id, Err(error));
    }
    store_statistics::insert_measured(tx, &rows, created_us).await?;
    Ok(())
}
