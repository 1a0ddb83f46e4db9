//! A party's billing periods (§5.2) as stored rows: created contiguously from the schedule as they are first
//! needed, read back through `GET /periods`.

use std::collections::HashMap;
use std::str::FromStr;

use classbill_domain::period::{BillingPeriodKind, Period, PeriodSchedule};
use classbill_store::parties::{self, PartyBilling};
use classbill_store::periods::{self, NewPeriod, PeriodFilter, PeriodRow};
use classbill_store::{Tx, instants};
use jiff::Timestamp;
use serde::Serialize;
use utoipa::ToSchema;

use super::memo::{KnownPeriods, Parties};
use crate::actor::{Actor, Role};
use crate::error::{EngineError, EngineResult};
use crate::page::{Page, PageRequest};
use crate::parties::owner_of;

/// At most this many periods are created for one party in one step (27 years of daily periods).
const MAX_NEW_PERIODS: usize = 10_000;

/// Period statuses (§5.3).
pub const STATUSES: &[&str] = &["open", "closing", "closed"];

/// One billing period as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PeriodView {
    pub id: i64,
    pub party_id: i64,
    #[schema(value_type = String, format = DateTime)]
    pub start: Timestamp,
    /// Exclusive.
    #[schema(value_type = String, format = DateTime)]
    pub end: Timestamp,
    /// `open`, `closing` or `closed`.
    pub status: String,
    /// Why the last close attempt stopped, if it did.
    pub close_error: Option<String>,
}

impl PeriodView {
    pub(crate) fn from_row(row: &PeriodRow) -> EngineResult<Self> {
        Ok(PeriodView {
            id: row.id,
            party_id: row.party_id,
            start: instants::from_micros(row.start_at)?,
            end: instants::from_micros(row.end_at)?,
            status: row.status.clone(),
            close_error: row.close_error.clone(),
        })
    }
}

/// The period schedule of a stored party.
fn schedule_of(party: &PartyBilling) -> EngineResult<PeriodSchedule> {
    let corrupt = |what: String| EngineError::Store(classbill_store::StoreError::Corrupt(what));
    let kind =
        BillingPeriodKind::from_str(&party.billing_period).map_err(|e| corrupt(format!("party {}: {e}", party.id)))?;
    let activated_at = instants::from_micros(party.activated_at)?;
    let schedule = PeriodSchedule::new(kind, &party.time_zone, activated_at)
        .map_err(|e| corrupt(format!("party {}: {e}", party.id)))?;
    match party.period_anchor {
        // §5.2 rule 4: after a change, periods run from the end of the period current at the change.
        Some(anchor) => schedule
            .after_change(instants::from_micros(anchor)?, kind, &party.time_zone)
            .map_err(|e| corrupt(format!("party {}: {e}", party.id))),
        None => Ok(schedule),
    }
}

fn period_of(start_at: i64, end_at: i64) -> EngineResult<Period> {
    Ok(Period {
        start: instants::from_micros(start_at)?,
        end: instants::from_micros(end_at)?,
    })
}

/// Whether periods are missing up to the one containing `through` for a party whose last stored period ends at
/// `last_end` (in microseconds; `None` when it has none). A terminated party's last period ends at its
/// termination (§5.9 rule 5): none follows it.
pub(super) fn lacks_periods(closed: bool, last_end: Option<i64>, through: Timestamp) -> bool {
    !closed && last_end.is_none_or(|end| end <= instants::to_micros(through))
}

/// The periods missing between the party's last stored period (`last`, as start and end) and the one containing
/// `through`.
pub(super) fn missing_periods(
    party: &PartyBilling,
    last: Option<(i64, i64)>,
    through: Timestamp,
) -> EngineResult<Vec<NewPeriod>> {
    if !lacks_periods(party.status == "closed", last.map(|(_, end)| end), through) {
        return Ok(Vec::new());
    }
    let schedule = schedule_of(party)?;
    let mut next = match last {
        Some((start_at, end_at)) => schedule.next_period(&period_of(start_at, end_at)?),
        None => schedule.first_period(),
    };
    let mut missing = Vec::new();
    while next.start <= through {
        if missing.len() >= MAX_NEW_PERIODS {
            return Err(EngineError::invalid(
                "occurred_at",
                "out_of_range",
                format!("more than {MAX_NEW_PERIODS} billing periods lie between the last one and this instant"),
            ));
        }
        missing.push(NewPeriod {
            party_id: party.id,
            start_at: instants::to_micros(next.start),
            end_at: instants::to_micros(next.end),
        });
        next = schedule.next_period(&next);
    }
    Ok(missing)
}

fn bounds(row: &PeriodRow) -> (i64, i64) {
    (row.start_at, row.end_at)
}

/// Stores every missing period of the party from its last stored one up to the one containing `through`
/// (`through` must not precede the activation).
pub(crate) async fn ensure_through(
    tx: &mut Tx,
    party: &PartyBilling,
    through: Timestamp,
    now: Timestamp,
) -> EngineResult<()> {
    let last = periods::last_of_party(tx, party.id).await?;
    let missing = missing_periods(party, last.as_ref().map(bounds), through)?;
    periods::insert_many(tx, &missing, instants::to_micros(now)).await?;
    Ok(())
}

/// For a batch of parties, each with the instant it needs periods through: stores every party's missing periods,
/// with one lookup and multi-row INSERTs for all parties together.
pub(crate) async fn ensure_through_many(
    tx: &mut Tx,
    needs: &[(&PartyBilling, Timestamp)],
    now: Timestamp,
) -> EngineResult<()> {
    let ids: Vec<i64> = needs.iter().map(|(party, _)| party.id).collect();
    let last: HashMap<i64, (i64, i64)> = periods::last_of_parties(tx, &ids)
        .await?
        .iter()
        .map(|row| (row.party_id, bounds(row)))
        .collect();
    let mut missing = Vec::new();
    for (party, through) in needs {
        missing.extend(missing_periods(party, last.get(&party.id).copied(), *through)?);
    }
    periods::insert_many(tx, &missing, instants::to_micros(now)).await?;
    Ok(())
}

/// For an ingest batch, each party with the latest instant of its records: stores the periods each lacks, and keeps
/// every party's stored periods that overlap `[from, to]` (and its last one) in `parties`. Parties whose known
/// periods cover the span are not read; one read finds both the last periods and the overlapping ones of the
/// others; only parties that got new periods are read again.
pub(super) async fn periods_for_batch(
    tx: &mut Tx,
    parties: &mut Parties,
    needs: &[(i64, Timestamp)],
    (from, to): (Timestamp, Timestamp),
    now: Timestamp,
) -> EngineResult<()> {
    let span = (instants::to_micros(from), instants::to_micros(to));
    let unknown: Vec<i64> = needs
        .iter()
        .map(|&(id, _)| id)
        .filter(|id| !parties[id].periods.as_ref().is_some_and(|k| k.covers(span.0, span.1)))
        .collect();
    read_around(tx, parties, &unknown, span).await?;
    let mut missing = Vec::new();
    let mut extended = Vec::new();
    for &(id, through) in needs {
        let party = &parties[&id];
        let last = party.periods.as_ref().and_then(KnownPeriods::last);
        if lacks_periods(party.closed(), last.map(|p| p.end_at), through) {
            let last = last.map(|p| (p.start_at, p.end_at));
            missing.extend(missing_periods(&party.billing(id), last, through)?);
            extended.push(id);
        }
    }
    periods::insert_many(tx, &missing, instants::to_micros(now)).await?;
    read_around(tx, parties, &extended, span).await
}

/// Reads the periods of `ids` around the span into their parties, replacing what those held.
async fn read_around(
    tx: &mut Tx,
    parties: &mut Parties,
    ids: &[i64],
    (from_us, to_us): (i64, i64),
) -> EngineResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let found = periods::around_many(tx, ids, from_us, to_us).await?;
    let mut by_party: HashMap<i64, &[PeriodRow]> = found
        .chunk_by(|a, b| a.party_id == b.party_id)
        .map(|rows| (rows[0].party_id, rows))
        .collect();
    for id in ids {
        let rows = by_party.remove(id).unwrap_or_default();
        if let Some(party) = parties.get_mut(id) {
            party.periods = Some(KnownPeriods::new(from_us, to_us, rows));
        }
    }
    Ok(())
}

/// The party's current open period for late records (§5.1): the one containing `as_of` when it is open,
/// else the latest open one, else a new period after the last stored one.
pub(crate) async fn current_open(
    tx: &mut Tx,
    party: &PartyBilling,
    as_of: Timestamp,
    now: Timestamp,
) -> EngineResult<PeriodRow> {
    let us = instants::to_micros(as_of);
    if us >= party.activated_at {
        ensure_through(tx, party, as_of, now).await?;
        let around = periods::overlapping(tx, party.id, us, us).await?;
        if let Some(row) = around.into_iter().find(|r| r.start_at <= us && us < r.end_at)
            && row.status == "open"
        {
            return Ok(row);
        }
    }
    if let Some(row) = periods::latest_open(tx, party.id).await? {
        return Ok(row);
    }
    let last = periods::last_of_party(tx, party.id).await?;
    let schedule = schedule_of(party)?;
    let next = match &last {
        Some(row) => schedule.next_period(&period_of(row.start_at, row.end_at)?),
        None => schedule.first_period(),
    };
    ensure_through(tx, party, next.start, now).await?;
    periods::latest_open(tx, party.id)
        .await?
        .ok_or_else(|| EngineError::Store(classbill_store::StoreError::Corrupt("no open period".to_owned())))
}

impl crate::Engine {
    /// `GET /periods/{id}`: visible when the party is.
    pub async fn get_period(&self, actor: &Actor, id: i64) -> EngineResult<PeriodView> {
        let mut tx = self.store.read().await?;
        let not_found = || EngineError::NotFound(format!("period {id} not found"));
        let row = periods::get(&mut tx, id).await?.ok_or_else(not_found)?;
        match parties::get(&mut tx, row.party_id).await? {
            Some(party) if actor.sees(owner_of(&party)) => PeriodView::from_row(&row),
            _ => Err(not_found()),
        }
    }

    /// `GET /periods`: the periods of the parties the actor sees, in id order; a `party_id` the actor may not
    /// see is 404.
    pub async fn list_periods(
        &self,
        actor: &Actor,
        party_id: Option<i64>,
        status: Option<String>,
        page: PageRequest,
    ) -> EngineResult<Page<PeriodView>> {
        if let Some(status) = &status
            && !STATUSES.contains(&status.as_str())
        {
            return Err(EngineError::invalid(
                "status",
                "invalid",
                format!("unknown status {status:?}; one of {}", STATUSES.join(", ")),
            ));
        }
        let mut tx = self.store.read().await?;
        if let Some(id) = party_id {
            super::visible_party(&mut tx, actor, id).await?;
        }
        let filter = PeriodFilter {
            party_id,
            owner: match actor.role {
                Role::Administrator => None,
                Role::Reseller(own) => Some(Some(own)),
            },
            status,
        };
        let rows = periods::list(&mut tx, &filter, page.cursor_id()?, page.limit + 1).await?;
        let views = rows
            .iter()
            .map(PeriodView::from_row)
            .collect::<EngineResult<Vec<_>>>()?;
        Ok(Page::from_rows(views, page.limit, |v| v.id.to_string()))
    }
}
