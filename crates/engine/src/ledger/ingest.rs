//! Taking xDRs in (§5.1): every row checked, idempotent on `(party_id, external_id)`, placed in its billing
//! period, and written with multi-row INSERTs in one transaction. `POST /xdrs` is all-or-nothing; an import
//! batch keeps its good rows and reports the others.

use std::collections::{BTreeMap, HashMap};

use classbill_domain::FieldError;
use classbill_domain::period::PeriodSchedule;
use classbill_store::parties::{PartyBilling, PartyRow};
use classbill_store::xdrs::{self, NewXdr, XdrRow};
use classbill_store::{Tx, instants, xdr_partitions};
use jiff::Timestamp;
use serde_json::{Value, json};

use super::XdrView;
use super::check::{Fate, check};
use super::input::{ParsedXdr, XdrText};
use super::periods::{PeriodNeed, containing, current_open, periods_for_batch, schedule_of};
use super::request::{Body, indexed, read_body};
use crate::actor::Actor;
use crate::audit::{self, Change};
use crate::error::{EngineError, EngineResult};

/// Most rows one `POST /xdrs` may carry.
pub const MAX_BATCH: usize = 10_000;

/// One data row of an import file: its line number in the file and its cells.
#[derive(Debug, Clone)]
pub struct ImportRow {
    pub line: u64,
    pub text: XdrText,
}

/// A row an import did not take, with the reasons in one line of text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedRow {
    pub line: u64,
    pub reason: String,
}

/// What one import batch did.
#[derive(Debug, Clone, Default)]
pub struct ImportOutcome {
    /// Rows stored now or found stored already (identical re-sends).
    pub accepted: usize,
    pub rejected: Vec<RejectedRow>,
}

/// Places the new rows in their periods, creating the periods they need, and writes them. Answers the ids in
/// the order of `rows`.
async fn place_and_write(
    tx: &mut Tx,
    rows: &[&ParsedXdr],
    parties: &HashMap<i64, PartyBilling>,
    as_of: Timestamp,
    now: Timestamp,
) -> EngineResult<Vec<i64>> {
    let mut by_party: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
    for (i, x) in rows.iter().enumerate() {
        by_party.entry(x.party_id).or_default().push(i);
    }
    let schedules: BTreeMap<i64, PeriodSchedule> = by_party
        .keys()
        .map(|id| Ok((*id, schedule_of(&parties[id])?)))
        .collect::<EngineResult<_>>()?;
    let latest_of = |indexes: &[usize]| indexes.iter().map(|&i| rows[i].occurred_at).max().unwrap_or(as_of);
    let needs: Vec<PeriodNeed> = by_party
        .iter()
        .map(|(id, indexes)| (&parties[id], &schedules[id], latest_of(indexes)))
        .collect();
    let earliest = rows.iter().map(|x| x.occurred_at).min().unwrap_or(as_of);
    let latest = rows.iter().map(|x| x.occurred_at).max().unwrap_or(as_of);
    let stored = periods_for_batch(tx, &needs, earliest, latest, now).await?;

    // Rows are written party by party: every index of the ledger leads with the party or its period, so a batch
    // then visits each index page once instead of once per row, and commits far fewer pages.
    let mut order = Vec::with_capacity(rows.len());
    let mut placed: Vec<(i64, bool)> = Vec::with_capacity(rows.len());
    for (party_id, indexes) in by_party {
        let party = &parties[&party_id];
        let own = stored.get(&party_id).map_or(&[][..], Vec::as_slice);
        let mut open_now = None;
        for i in indexes {
            let home = containing(own, rows[i].occurred_at).ok_or_else(|| {
                EngineError::Store(classbill_store::StoreError::Corrupt(format!(
                    "party {party_id} has no period containing {}",
                    rows[i].occurred_at
                )))
            })?;
            placed.push(if home.status == "open" {
                (home.id, false)
            } else {
                let open = match open_now {
                    Some(id) => id,
                    None => current_open(tx, party, &schedules[&party_id], as_of, now).await?.id,
                };
                open_now = Some(open);
                (open, true)
            });
            order.push(i);
        }
    }
    let new_rows: Vec<NewXdr> = order
        .iter()
        .zip(placed)
        .map(|(&i, (period_id, late))| {
            let x = rows[i];
            NewXdr {
                party_id: x.party_id,
                period_id,
                occurred_at: instants::to_micros(x.occurred_at),
                kind: x.kind.clone(),
                service: x.service.clone(),
                rate_code: x.rate_code.clone(),
                description: x.description.clone(),
                quantity: x.quantity.0,
                amount: x.amount.0,
                external_id: x.external_id.clone(),
                late,
            }
        })
        .collect();
    match xdrs::insert_many(tx, &new_rows, instants::to_micros(now)).await {
        Ok(written) => {
            let mut ids = vec![0; rows.len()];
            for (&i, id) in order.iter().zip(written) {
                ids[i] = id;
            }
            Ok(ids)
        }
        // Another request stored one of these keys between the check and the write.
        Err(e) if e.is_unique_violation() => Err(EngineError::conflict(
            "external_id_conflict",
            "an external_id of this batch was stored concurrently; nothing was stored, send the batch again",
        )),
        Err(e) => Err(e.into()),
    }
}

/// [`place_and_write`] for records of one party.
pub(crate) async fn place_and_write_for(
    tx: &mut Tx,
    party: &PartyRow,
    rows: &[&ParsedXdr],
    as_of: Timestamp,
    now: Timestamp,
) -> EngineResult<Vec<i64>> {
    let parties = HashMap::from([(party.id, party.billing())]);
    place_and_write(tx, rows, &parties, as_of, now).await
}

async fn record_batch(tx: &mut Tx, actor: &Actor, now: Timestamp, ids: &[i64], via: &str) -> EngineResult<()> {
    let (Some(first), Some(last)) = (ids.iter().min(), ids.iter().max()) else {
        return Ok(());
    };
    audit::record(
        tx,
        actor,
        now,
        Change {
            action: "ingest",
            object_type: "xdrs",
            object_id: format!("{first}-{last}"),
            owner_reseller_id: actor.owner().reseller_id(),
            details: json!({ "via": via, "count": ids.len(), "first_id": first, "last_id": last }),
        },
    )
    .await
}

/// One line for a rejects file.
fn reason(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| format!("{} ({}): {}", e.field, e.code, e.message))
        .collect::<Vec<_>>()
        .join("; ")
}

impl crate::Engine {
    /// `POST /xdrs`: all or nothing. Validation failures are 422 naming `xdrs[i].field`; a key stored with another
    /// body, or used twice with different bodies, is 409. Answers the stored records in the order sent, identical
    /// re-sends included. `as_of` (default `now`) picks the open period that late records join.
    pub async fn ingest_xdrs(&self, actor: &Actor, body: &Value, now: Timestamp) -> EngineResult<Vec<XdrView>> {
        let Body {
            texts,
            shape_errors,
            as_of,
        } = read_body(body)?;
        let as_of = as_of.unwrap_or(now);
        self.prepare_partitions(&texts, now).await?;
        let mut tx = self.store.write().await?;
        let (mut fates, parties) = check(&mut tx, actor, &texts).await?;
        for (fate, shape) in fates.iter_mut().zip(shape_errors) {
            if shape.is_empty() {
                continue;
            }
            let mut errors = shape;
            let whole_item = errors.iter().any(|e| e.field.is_empty());
            if let Fate::Rejected(found) = fate
                && !whole_item
            {
                // A field of the wrong type was left out, so "required" would only repeat its type error.
                let mistyped: Vec<String> = errors.iter().map(|e| e.field.clone()).collect();
                errors.extend(
                    found
                        .drain(..)
                        .filter(|e| !(e.code == "required" && mistyped.contains(&e.field))),
                );
            }
            *fate = Fate::Rejected(errors);
        }
        let mut invalid = Vec::new();
        let mut conflicts = Vec::new();
        for (i, fate) in fates.iter().enumerate() {
            if let Fate::Rejected(errors) = fate {
                for e in errors {
                    let target = if e.code == "conflict" {
                        &mut conflicts
                    } else {
                        &mut invalid
                    };
                    target.push(indexed(i, e.clone()));
                }
            }
        }
        if !invalid.is_empty() {
            return Err(EngineError::Invalid(invalid));
        }
        if !conflicts.is_empty() {
            return Err(EngineError::Conflict {
                code: "external_id_conflict".to_owned(),
                message: "an external_id is already used with a different body; nothing was stored".to_owned(),
                errors: conflicts,
            });
        }
        let new: Vec<(usize, &ParsedXdr)> = fates
            .iter()
            .enumerate()
            .filter_map(|(i, f)| match f {
                Fate::New(x) => Some((i, x.as_ref())),
                _ => None,
            })
            .collect();
        let rows: Vec<&ParsedXdr> = new.iter().map(|(_, x)| *x).collect();
        let ids = place_and_write(&mut tx, &rows, &parties, as_of, now).await?;
        record_batch(&mut tx, actor, now, &ids, "api").await?;
        let written: HashMap<i64, XdrRow> = xdrs::get_many(&mut tx, &ids)
            .await?
            .into_iter()
            .map(|r| (r.id, r))
            .collect();
        let id_of_new: HashMap<usize, i64> = new.iter().map(|(i, _)| *i).zip(ids.iter().copied()).collect();
        tx.commit().await?;

        let mut items = Vec::with_capacity(fates.len());
        for (i, fate) in fates.iter().enumerate() {
            let row = match fate {
                Fate::Stored(row) => (**row).clone(),
                Fate::New(_) => written[&id_of_new[&i]].clone(),
                Fate::SameAs(first) => written[&id_of_new[first]].clone(),
                Fate::Rejected(_) => continue,
            };
            items.push(XdrView::from_row(row)?);
        }
        Ok(items)
    }

    /// One batch of `classbill import xdrs`: every row checked like a `POST /xdrs` item, the good ones stored
    /// in one transaction, the others answered with their reasons.
    pub async fn import_xdrs(
        &self,
        actor: &Actor,
        rows: &[ImportRow],
        as_of: Timestamp,
        now: Timestamp,
    ) -> EngineResult<ImportOutcome> {
        let texts: Vec<XdrText> = rows.iter().map(|r| r.text.clone()).collect();
        self.prepare_partitions(&texts, now).await?;
        let mut tx = self.store.write().await?;
        let (fates, parties) = check(&mut tx, actor, &texts).await?;
        let mut outcome = ImportOutcome::default();
        let mut new = Vec::new();
        for (row, fate) in rows.iter().zip(&fates) {
            match fate {
                Fate::Rejected(errors) => outcome.rejected.push(RejectedRow {
                    line: row.line,
                    reason: reason(errors),
                }),
                Fate::New(x) => {
                    outcome.accepted += 1;
                    new.push(x.as_ref());
                }
                Fate::Stored(_) | Fate::SameAs(_) => outcome.accepted += 1,
            }
        }
        let ids = place_and_write(&mut tx, &new, &parties, as_of, now).await?;
        record_batch(&mut tx, actor, now, &ids, "import").await?;
        tx.commit().await?;
        Ok(outcome)
    }

    /// Makes the ledger's partitions of the months these records name before the transaction that writes them
    /// ([`xdr_partitions`]); a time that does not parse is left to the check, which refuses it.
    async fn prepare_partitions(&self, texts: &[XdrText], now: Timestamp) -> EngineResult<()> {
        let times = texts
            .iter()
            .filter_map(|t| t.occurred_at.as_deref()?.parse::<Timestamp>().ok())
            .map(instants::to_micros);
        xdr_partitions::ensure_for_records(&self.store, times, instants::to_micros(now)).await?;
        Ok(())
    }
}
