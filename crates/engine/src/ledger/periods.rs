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

use super::memo::KnownPeriods;
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
pub(crate) fn schedule_of(party: &PartyBilling) -> EngineResult<PeriodSchedule> {
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

fn period_of(row: &PeriodRow) -> EngineResult<Period> {
    Ok(Period {
        start: instants::from_micros(row.start_at)?,
        end: instants::from_micros(row.end_at)?,
    })
}

/// The periods missing between the party's last stored period (if any) and the one containing `through`.
fn missing_periods(
    party: &PartyBilling,
    schedule: &PeriodSchedule,
    last: Option<&PeriodRow>,
    through: Timestamp,
) -> EngineResult<Vec<NewPeriod>> {
    let mut next = match last {
        // A terminated party's last period ends at its termination (§5.9 rule 5): none follows it.
        _ if party.status == "closed" => return Ok(Vec::new()),
        Some(row) if row.end_at > instants::to_micros(through) => return Ok(Vec::new()),
        Some(row) => schedule.next_period(&period_of(row)?),
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

/// Stores every missing period of the party from its last stored one up to the one containing `through`
/// (`through` must not precede the activation).
pub(crate) async fn ensure_through(
    tx: &mut Tx,
    party: &PartyBilling,
    schedule: &PeriodSchedule,
    through: Timestamp,
    now: Timestamp,
) -> EngineResult<()> {
    let last = periods::last_of_party(tx, party.id).await?;
    let missing = missing_periods(party, schedule, last.as_ref(), through)?;
    periods::insert_many(tx, &missing, instants::to_micros(now)).await?;
    Ok(())
}

/// What one party of a batch needs: its periods through the instant given.
pub(crate) type PeriodNeed<'a> = (&'a PartyBilling, &'a PeriodSchedule, Timestamp);

/// Stores the periods missing between each party's last stored one (in `last`) and its instant; answers the
/// parties that got new periods.
async fn store_missing(
    tx: &mut Tx,
    needs: &[PeriodNeed<'_>],
    last: &HashMap<i64, &PeriodRow>,
    now: Timestamp,
) -> EngineResult<Vec<i64>> {
    let mut missing = Vec::new();
    let mut extended = Vec::new();
    for (party, schedule, through) in needs {
        let own = missing_periods(party, schedule, last.get(&party.id).copied(), *through)?;
        if !own.is_empty() {
            extended.push(party.id);
            missing.extend(own);
        }
    }
    periods::insert_many(tx, &missing, instants::to_micros(now)).await?;
    Ok(extended)
}

/// For a batch: stores every party's missing periods up to the instant given for it, with one lookup and
/// multi-row INSERTs for all parties together.
pub(crate) async fn ensure_through_many(tx: &mut Tx, needs: &[PeriodNeed<'_>], now: Timestamp) -> EngineResult<()> {
    let ids: Vec<i64> = needs.iter().map(|(party, _, _)| party.id).collect();
    let last: HashMap<i64, PeriodRow> = periods::last_of_parties(tx, &ids)
        .await?
        .into_iter()
        .map(|row| (row.party_id, row))
        .collect();
    let last: HashMap<i64, &PeriodRow> = last.iter().map(|(id, row)| (*id, row)).collect();
    store_missing(tx, needs, &last, now).await?;
    Ok(())
}

/// For an ingest batch: [`ensure_through_many`], and each party's stored periods that overlap `[from, to]` (and
/// its last one) in `known`, sorted by start. Parties whose periods `known` holds for the span are not read; one
/// read finds both the last periods and the overlapping ones of the others; only parties that got new periods
/// are read again.
pub(super) async fn periods_for_batch(
    tx: &mut Tx,
    needs: &[PeriodNeed<'_>],
    (from, to): (Timestamp, Timestamp),
    now: Timestamp,
    known: &mut HashMap<i64, KnownPeriods>,
) -> EngineResult<()> {
    let (from_us, to_us) = (instants::to_micros(from), instants::to_micros(to));
    let unknown: Vec<i64> = needs
        .iter()
        .map(|(party, _, _)| party.id)
        .filter(|id| !known.get(id).is_some_and(|k| k.covers(from_us, to_us)))
        .collect();
    read_around(tx, known, &unknown, (from_us, to_us)).await?;
    let last: HashMap<i64, &PeriodRow> = needs
        .iter()
        .filter_map(|(party, _, _)| Some((party.id, known.get(&party.id)?.rows.last()?)))
        .collect();
    let extended = store_missing(tx, needs, &last, now).await?;
    read_around(tx, known, &extended, (from_us, to_us)).await
}

/// Reads the periods of `ids` around the span into `known`, replacing what it held for them.
async fn read_around(
    tx: &mut Tx,
    known: &mut HashMap<i64, KnownPeriods>,
    ids: &[i64],
    (from_us, to_us): (i64, i64),
) -> EngineResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let mut found = by_party(periods::around_many(tx, ids, from_us, to_us).await?);
    for id in ids {
        let rows = found.remove(id).unwrap_or_default();
        known.insert(*id, KnownPeriods::new(from_us, to_us, rows));
    }
    Ok(())
}

/// Rows sorted by party and start, grouped by party.
fn by_party(rows: Vec<PeriodRow>) -> HashMap<i64, Vec<PeriodRow>> {
    let mut grouped: HashMap<i64, Vec<PeriodRow>> = HashMap::new();
    for row in rows {
        grouped.entry(row.party_id).or_default().push(row);
    }
    grouped
}

/// The stored period containing `at` among `rows` (sorted by start).
pub(crate) fn containing(rows: &[PeriodRow], at: Timestamp) -> Option<&PeriodRow> {
    let us = instants::to_micros(at);
    let index = rows.partition_point(|r| r.start_at <= us);
    index.checked_sub(1).map(|i| &rows[i]).filter(|r| us < r.end_at)
}

/// The party's current open period for late records (§5.1): the one containing `as_of` when it is open,
/// else the latest open one, else a new period after the last stored one.
pub(crate) async fn current_open(
    tx: &mut Tx,
    party: &PartyBilling,
    schedule: &PeriodSchedule,
    as_of: Timestamp,
    now: Timestamp,
) -> EngineResult<PeriodRow> {
    if instants::to_micros(as_of) >= party.activated_at {
        ensure_through(tx, party, schedule, as_of, now).await?;
        let us = instants::to_micros(as_of);
        let around = periods::overlapping(tx, party.id, us, us).await?;
        if let Some(row) = containing(&around, as_of)
            && row.status == "open"
        {
            return Ok(row.clone());
        }
    }
    if let Some(row) = periods::latest_open(tx, party.id).await? {
        return Ok(row);
    }
    let last = periods::last_of_party(tx, party.id).await?;
    let next = match &last {
        Some(row) => schedule.next_period(&period_of(row)?),
        None => schedule.first_period(),
    };
    ensure_through(tx, party, schedule, next.start, now).await?;
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
