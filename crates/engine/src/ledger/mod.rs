//! The ledger (customer-classes §5.1): rated records ("xDRs") entering through `POST /xdrs` and
//! `classbill import xdrs`, the billing periods they join (§5.2), and reading both back.

mod check;
mod ingest;
mod input;
mod memo;
mod periods;
mod read;
mod request;

use classbill_domain::{Money, Percent};
use classbill_store::parties::{self, PartyRow};
use classbill_store::xdrs::XdrRow;
use classbill_store::{Tx, instants};
use jiff::Timestamp;
use serde::Serialize;
use utoipa::ToSchema;

use crate::actor::Actor;
use crate::error::{EngineError, EngineResult};
use crate::parties::owner_of;

/// A map for the keys of every row of an ingest batch, looked up several times per row: the default hasher,
/// built to withstand keys chosen to collide, costs more than the lookup itself. This one is still seeded per map.
type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// The start of `date` in `zone` (a party's), in microseconds.
pub(crate) fn start_of_date(date: jiff::civil::Date, zone: &str) -> EngineResult<i64> {
    let zone =
        classbill_domain::period::time_zone(zone).map_err(|e| classbill_store::StoreError::Corrupt(e.to_string()))?;
    Ok(instants::to_micros(classbill_domain::period::local_midnight(
        &zone, date,
    )))
}

pub(crate) use ingest::place_and_write_for;
pub use ingest::{ImportOutcome, ImportRow, MAX_BATCH, RejectedRow};
pub(crate) use input::ParsedXdr;
pub use input::{IMPORTABLE_KINDS, XDR_FIELDS, XdrText};
pub use memo::IngestMemo;
pub use periods::{PeriodView, STATUSES as PERIOD_STATUSES};
pub(crate) use periods::{current_open, ensure_through, ensure_through_many};
pub use read::XdrListFilter;

/// One stored xDR as the API shows it: money and quantities with five fraction digits, instants in UTC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct XdrView {
    pub id: i64,
    pub party_id: i64,
    /// The billing period the record belongs to; never recomputed from `occurred_at`.
    pub period_id: i64,
    #[schema(value_type = String, format = DateTime)]
    pub occurred_at: Timestamp,
    pub kind: String,
    pub service: String,
    pub rate_code: Option<String>,
    pub description: Option<String>,
    pub quantity: Money,
    pub amount: Money,
    /// The party's currency.
    pub currency: String,
    pub external_id: Option<String>,
    pub invoice_id: Option<i64>,
    pub hidden: bool,
    /// Arrived after its own period was frozen and joined the party's open period instead.
    pub late: bool,
    pub tax_name: Option<String>,
    pub tax_rate_percent: Option<Percent>,
    pub tax_base: Option<Money>,
    pub tax_amount: Option<Money>,
    pub reverse_charge: Option<bool>,
    pub outside_scope: Option<bool>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

impl XdrView {
    pub(crate) fn from_row(row: XdrRow) -> EngineResult<Self> {
        Ok(XdrView {
            id: row.id,
            party_id: row.party_id,
            period_id: row.period_id,
            occurred_at: instants::from_micros(row.occurred_at)?,
            kind: row.kind,
            service: row.service,
            rate_code: row.rate_code,
            description: row.description,
            quantity: Money(row.quantity),
            amount: Money(row.amount),
            currency: row.currency,
            external_id: row.external_id,
            invoice_id: row.invoice_id,
            hidden: row.hidden,
            late: row.late,
            tax_name: row.tax_name,
            tax_rate_percent: row.tax_rate_percent.map(Percent::from_units),
            tax_base: row.tax_base.map(Money),
            tax_amount: row.tax_amount.map(Money),
            reverse_charge: row.reverse_charge,
            outside_scope: row.outside_scope,
            created_at: instants::from_micros(row.created_at)?,
        })
    }
}

/// The party if the actor may see it; missing and invisible parties are alike (404).
pub(crate) async fn visible_party(tx: &mut Tx, actor: &Actor, id: i64) -> EngineResult<PartyRow> {
    match parties::get(tx, id).await? {
        Some(row) if actor.sees(owner_of(&row)) => Ok(row),
        _ => Err(EngineError::NotFound(format!("party {id} not found"))),
    }
}
