//! S1 freeze (customer-classes §5.3): the first of a batch's two transactions. It stores the periods the
//! batch's parties lack, picks the periods whose close instant has come and freezes them with the class
//! revision, the settings snapshot, the close instant and the batch, then records the step. The other steps
//! run in the batch's second transaction and read only what S1 stored, so a close that crashed in between
//! resumes at S2 with the same settings and issue date.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use classbill_domain::class::{ClosureMode, PeriodClosure};
use classbill_domain::party::PartyOverrides;
use classbill_store::classes::{self, ClassRow};
use classbill_store::close::{self as store_close, Freeze};
use classbill_store::parties::{self, PartyBilling, PartyRow};
use classbill_store::periods::PeriodRow;
use classbill_store::{StoreError, Tx, instants};
use jiff::Timestamp;
use serde_json::{Value, json};

use super::{RunContext, STEP_FREEZE, compute};
use crate::error::EngineResult;

/// Freezes the due periods of these parties (already claimed by the caller's transaction) under a new batch;
/// answers the batch, or `None` when nothing was due.
pub(super) async fn freeze_due(
    tx: &mut Tx,
    context: &RunContext,
    party_ids: &[i64],
    as_of: Timestamp,
    now: Timestamp,
) -> EngineResult<Option<i64>> {
    let as_of_us = instants::to_micros(as_of);
    let parties: HashMap<i64, PartyRow> = parties::get_many(tx, party_ids)
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    let billing: Vec<PartyBilling> = parties.values().map(PartyRow::billing).collect();
    let needs: Vec<_> = billing.iter().map(|p| (p, as_of)).collect();
    crate::ledger::ensure_through_many(tx, &needs, now).await?;

    let mut class_rows: HashMap<i64, ClassRow> = HashMap::new();
    let mut closures: HashMap<i64, PeriodClosure> = HashMap::new();
    let mut due = Vec::new();
    for period in store_close::open_ended(tx, party_ids, as_of_us).await? {
        let party = &parties[&period.party_id];
        if let Entry::Vacant(slot) = class_rows.entry(party.class_id) {
            let row = slot.insert(class_row(tx, party.class_id).await?);
            closures.insert(row.id, crate::classes::settings_of(row)?.general_info.period_closure);
        }
        let closure = &closures[&party.class_id];
        if closure.mode == ClosureMode::UponApproval {
            continue;
        }
        let close_us = compute::close_instant(period.end_at, context.close_delay_hours, closure.extra_delay_hours);
        if close_us <= as_of_us {
            due.push((period, close_us));
        }
    }
    if due.is_empty() {
        return Ok(None);
    }
    let now_us = instants::to_micros(now);
    let batch_id = store_close::new_batch(tx, now_us).await?;
    let mut snapshots = Snapshots::default();
    for (period, _) in &due {
        let party = &parties[&period.party_id];
        snapshots.add(party, &class_rows[&party.class_id])?;
    }
    let frozen: Vec<Freeze> = due
        .iter()
        .map(|(period, close_us)| {
            let party = &parties[&period.party_id];
            Freeze {
                period_id: period.id,
                revision: class_rows[&party.class_id].revision,
                snapshot: snapshots.of(party),
                close_at: *close_us,
                batch_id,
            }
        })
        .collect();
    store_close::freeze(tx, &frozen, now_us).await?;
    let ids: Vec<i64> = due.iter().map(|(p, _)| p.id).collect();
    store_close::record_step(tx, batch_id, STEP_FREEZE, &ids, now_us).await?;
    Ok(Some(batch_id))
}

/// Freezes one approved period (`upon_approval`, §5.3: the close instant is the approval) under a new batch;
/// answers the batch.
pub(super) async fn freeze_approved(
    tx: &mut Tx,
    party: &PartyRow,
    class: &ClassRow,
    period: &PeriodRow,
    close_us: i64,
    now: Timestamp,
) -> EngineResult<i64> {
    let now_us = instants::to_micros(now);
    let batch_id = store_close::new_batch(tx, now_us).await?;
    let snapshot = settings_snapshot(party, class)?;
    let frozen = Freeze {
        period_id: period.id,
        revision: class.revision,
        snapshot: &snapshot,
        close_at: close_us,
        batch_id,
    };
    store_close::freeze(tx, &[frozen], now_us).await?;
    store_close::record_step(tx, batch_id, STEP_FREEZE, &[period.id], now_us).await?;
    Ok(batch_id)
}

pub(super) async fn class_row(tx: &mut Tx, id: i64) -> EngineResult<ClassRow> {
    Ok(classes::get(tx, id)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("class {id} is missing")))?)
}

/// What a settings snapshot depends on besides the class: parties alike in it share one snapshot.
type SnapshotKey = (i64, String, Option<String>);

/// The settings snapshots of a batch, made once per class and alike parties: the parties of a batch mostly
/// share theirs, and making one parses and writes the whole class document.
#[derive(Default)]
struct Snapshots(HashMap<SnapshotKey, String>);

impl Snapshots {
    fn key(party: &PartyRow) -> SnapshotKey {
        (party.class_id, party.overrides.clone(), exemption_reason(party))
    }

    fn add(&mut self, party: &PartyRow, class: &ClassRow) -> EngineResult<()> {
        if let Entry::Vacant(slot) = self.0.entry(Snapshots::key(party)) {
            slot.insert(settings_snapshot(party, class)?);
        }
        Ok(())
    }

    /// The snapshot [`Snapshots::add`] made for a party alike.
    fn of(&self, party: &PartyRow) -> &str {
        &self.0[&Snapshots::key(party)]
    }
}

/// The exemption reason an invoice prints: present exactly when the party is exempt.
fn exemption_reason(party: &PartyRow) -> Option<String> {
    party
        .tax_exempt
        .then(|| party.tax_exemption_reason.clone().unwrap_or_default())
}

/// The settings snapshot an invoice is issued under (§6): the class document and the party's overrides as
/// they are now, with the exemption reason the invoice prints. The close freezes it at S1; an out-of-turn
/// invoice takes it at issue.
pub(crate) fn settings_snapshot(party: &PartyRow, class: &ClassRow) -> EngineResult<String> {
    Ok(json!({
        "class_id": class.id,
        "class": serde_json::from_str::<Value>(&class.document)?,
        "overrides": serde_json::to_value(PartyOverrides::from_json(&party.overrides)?)?,
        "tax_exemption_reason": exemption_reason(party),
    })
    .to_string())
}
