//! Taking xDRs in (§5.1): every row checked, idempotent on `(party_id, external_id)`, placed in its billing
//! period, and written with multi-row INSERTs in one transaction. `POST /xdrs` is all-or-nothing; an import
//! batch keeps its good rows and reports the others.

use std::collections::HashMap;

use classbill_domain::FieldError;
use classbill_store::parties::PartyRow;
use classbill_store::xdrs::{self, NewXdr, XdrRow};
use classbill_store::{Store, StoreError, Tx, instants, xdr_partitions};
use jiff::Timestamp;
use serde_json::{Value, json};

use super::XdrView;
use super::check::{Fate, Keys, check};
use super::input::{ParsedXdr, XdrText};
use super::memo::IngestMemo;
use super::periods::{current_open, periods_for_batch};
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
/// the order of `rows`, or `None` when the key index refused a row: its `(party_id, external_id)` is stored
/// already. The writes made before the refusal are still in `tx`.
async fn place_and_write(
    tx: &mut Tx,
    rows: &[&ParsedXdr],
    memo: &mut IngestMemo,
    as_of: Timestamp,
    now: Timestamp,
) -> EngineResult<Option<Vec<i64>>> {
    // Before the periods are read: a period frozen or removed meanwhile is then seen so (see the lock).
    xdrs::share_open_periods(tx).await?;
    // The rows party by party, each party's in the order given.
    let mut keyed: Vec<(i64, usize)> = rows.iter().enumerate().map(|(i, x)| (x.party_id, i)).collect();
    keyed.sort_unstable();
    let order: Vec<usize> = keyed.iter().map(|&(_, i)| i).collect();
    let by_party: Vec<&[(i64, usize)]> = keyed.chunk_by(|a, b| a.0 == b.0).collect();
    let needs: Vec<(i64, Timestamp)> = by_party
        .iter()
        .map(|party| {
            let latest = party.iter().map(|&(_, i)| rows[i].occurred_at).max().unwrap_or(as_of);
            (party[0].0, latest)
        })
        .collect();
    let earliest = rows.iter().map(|x| x.occurred_at).min().unwrap_or(as_of);
    let latest = rows.iter().map(|x| x.occurred_at).max().unwrap_or(as_of);
    periods_for_batch(tx, &mut memo.parties, &needs, (earliest, latest), now).await?;

    // Rows are written party by party: every index of the ledger leads with the party or its period, so a batch
    // then visits each index page once instead of once per row, and commits far fewer pages.
    let mut placed: Vec<(i64, bool)> = Vec::with_capacity(rows.len());
    let mut given_open = Vec::new();
    for party_rows in by_party {
        let party_id = party_rows[0].0;
        let party = &memo.parties[&party_id];
        let mut open_now = None;
        for &(_, i) in party_rows {
            let at = rows[i].occurred_at;
            let home = party
                .periods
                .as_ref()
                .and_then(|known| known.containing(instants::to_micros(at)))
                .ok_or_else(|| {
                    EngineError::Store(StoreError::Corrupt(format!(
                        "party {party_id} has no period containing {at}"
                    )))
                })?;
            placed.push(if home.open {
                (home.id, false)
            } else {
                let open = match open_now {
                    Some(id) => id,
                    None => {
                        given_open.push(party_id);
                        current_open(tx, &party.billing(party_id), as_of, now).await?.id
                    }
                };
                open_now = Some(open);
                (open, true)
            });
        }
    }
    // Finding the open period may have made one: those parties' periods are read again when next met.
    for party_id in given_open {
        if let Some(party) = memo.parties.get_mut(&party_id) {
            party.periods = None;
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
            Ok(Some(ids))
        }
        Err(e) if e.is_unique_violation() => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// A key that was not stored when the rows were checked is stored now: another request wrote it in between.
fn stored_meanwhile() -> EngineError {
    EngineError::conflict(
        "external_id_conflict",
        "an external_id of this batch was stored concurrently; nothing was stored, send the batch again",
    )
}

/// [`place_and_write`] for records of one party whose keys were looked up.
pub(crate) async fn place_and_write_for(
    tx: &mut Tx,
    party: &PartyRow,
    rows: &[&ParsedXdr],
    as_of: Timestamp,
    now: Timestamp,
) -> EngineResult<Vec<i64>> {
    let mut memo = IngestMemo::default();
    memo.learn(party.billing());
    place_and_write(tx, rows, &mut memo, as_of, now)
        .await?
        .ok_or_else(stored_meanwhile)
}

/// Checks a batch and writes its new rows in a transaction of its own, begun after `memo` has looked at the store;
/// answers that transaction, still open, with the fates and the ids of the [`Fate::New`] rows in their order.
/// Most batches carry fresh records, so the first attempt does not look their keys up ([`Keys::AssumeNew`]);
/// when the key index refuses the write, or a key of the batch comes with two bodies, the transaction is rolled
/// back and the batch checked again in a new one, with the lookup. A savepoint would spare the second
/// transaction but costs every batch a copy of each page it changes. `accept` sees the fates before anything is
/// written and may refuse the batch.
async fn check_and_write(
    store: &Store,
    actor: &Actor,
    texts: &[&XdrText],
    memo: &mut IngestMemo,
    (as_of, now): (Timestamp, Timestamp),
    accept: impl Fn(&mut [Fate]) -> EngineResult<()>,
) -> EngineResult<(Tx, Vec<Fate>, Vec<i64>)> {
    let mut keys = Keys::AssumeNew;
    loop {
        let mut tx = store.write().await?;
        memo.begin(&mut tx).await?;
        let mut fates = check(&mut tx, actor, texts, keys, memo).await?;
        if keys == Keys::AssumeNew && fates.iter().any(Fate::is_conflict) {
            keys = Keys::LookUp;
            fates = check(&mut tx, actor, texts, keys, memo).await?;
        }
        accept(&mut fates)?;
        let new: Vec<&ParsedXdr> = fates
            .iter()
            .filter_map(|f| match f {
                Fate::New(x) => Some(x.as_ref()),
                _ => None,
            })
            .collect();
        match place_and_write(&mut tx, &new, memo, as_of, now).await? {
            Some(ids) => return Ok((tx, fates, ids)),
            None if keys == Keys::LookUp => return Err(stored_meanwhile()),
            None => {
                tx.rollback().await?;
                // The periods it read or made are undone with it.
                memo.forget();
                keys = Keys::LookUp;
            }
        }
    }
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

/// `POST /xdrs` is all or nothing: the type errors of the body join each row's fate, and any rejected row
/// refuses the batch, with 422 naming `xdrs[i].field`, or 409 when the only faults are keys used with another body.
fn refuse_unless_all_good(fates: &mut [Fate], shape_errors: &[Vec<FieldError>]) -> EngineResult<()> {
    for (fate, shape) in fates.iter_mut().zip(shape_errors) {
        if shape.is_empty() {
            continue;
        }
        let mut errors = shape.clone();
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
    Ok(())
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
        let texts: Vec<&XdrText> = texts.iter().collect();
        self.prepare_partitions(&texts, now).await?;
        let mut memo = IngestMemo::default();
        let (mut tx, fates, ids) = check_and_write(&self.store, actor, &texts, &mut memo, (as_of, now), |fates| {
            refuse_unless_all_good(fates, &shape_errors)
        })
        .await?;
        record_batch(&mut tx, actor, now, &ids, "api").await?;
        let written: HashMap<i64, XdrRow> = xdrs::get_many(&mut tx, &ids)
            .await?
            .into_iter()
            .map(|r| (r.id, r))
            .collect();
        let new = fates.iter().enumerate().filter(|(_, f)| matches!(f, Fate::New(_)));
        let id_of_new: HashMap<usize, i64> = new.map(|(i, _)| i).zip(ids.iter().copied()).collect();
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
    /// in one transaction, the others answered with their reasons. The batches of one import share `memo`.
    pub async fn import_xdrs(
        &self,
        actor: &Actor,
        rows: &[ImportRow],
        memo: &mut IngestMemo,
        (as_of, now): (Timestamp, Timestamp),
    ) -> EngineResult<ImportOutcome> {
        let texts: Vec<&XdrText> = rows.iter().map(|r| &r.text).collect();
        self.prepare_partitions(&texts, now).await?;
        let (mut tx, fates, ids) = check_and_write(&self.store, actor, &texts, memo, (as_of, now), |_| Ok(())).await?;
        let mut outcome = ImportOutcome::default();
        for (row, fate) in rows.iter().zip(&fates) {
            match fate {
                Fate::Rejected(errors) => outcome.rejected.push(RejectedRow {
                    line: row.line,
                    reason: reason(errors),
                }),
                Fate::New(_) | Fate::Stored(_) | Fate::SameAs(_) => outcome.accepted += 1,
            }
        }
        record_batch(&mut tx, actor, now, &ids, "import").await?;
        memo.seal(&mut tx).await?;
        if let Err(e) = tx.commit().await {
            memo.forget();
            return Err(e.into());
        }
        Ok(outcome)
    }

    /// Makes the ledger's partitions of the months these records name before the transaction that writes them
    /// ([`xdr_partitions`]); a time that does not parse is left to the check, which refuses it.
    async fn prepare_partitions(&self, texts: &[&XdrText], now: Timestamp) -> EngineResult<()> {
        let times = texts
            .iter()
            .filter_map(|t| t.occurred_at.as_deref()?.parse::<Timestamp>().ok())
            .map(instants::to_micros);
        xdr_partitions::ensure_for_records(&self.store, times, instants::to_micros(now)).await?;
        Ok(())
    }
}
