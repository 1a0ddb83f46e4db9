//! S5 statistics (customer-classes §5.12): the full and the summary CSV of each closed period whose frozen class
//! archives xDRs, written after S6 so that every row knows its invoice number, and the endpoints serving them.

use std::collections::HashMap;

use classbill_domain::Money;
use classbill_domain::statistics::{StatisticsRow, file_names, full_csv, summary_csv};
use classbill_store::close::EngineXdr;
use classbill_store::parties::{self, PartyRow};
use classbill_store::periods::{self, PeriodRow};
use classbill_store::statistics::{self as store_statistics, StatisticsRow as StoredFiles};
use classbill_store::xdrs::XdrRow;
use classbill_store::{StoreError, Tx, instants};
use jiff::tz::TimeZone;

use crate::actor::Actor;
use crate::error::{EngineError, EngineResult};
use crate::notifications::{self, EmitCache, Event};
use crate::parties::owner_of;

/// Which of the two files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatisticsFile {
    Full,
    Summary,
}

/// What the batch knows of its periods' xDRs after S6, so that S5 need not read them all again: the rows the
/// close read before booking anything, the invoice each was attached to, the numbers of the invoices issued, and
/// the ids of the records it booked. The batch holds its parties, so nothing else wrote to these periods meanwhile.
#[derive(Default)]
pub(super) struct BatchLedger {
    /// The periods' xDRs as the close read them, by period, in id order.
    pub read: HashMap<i64, Vec<XdrRow>>,
    /// xDR id → the invoice this batch attached it to.
    pub attached: HashMap<i64, i64>,
    /// Invoice id → number, of the invoices this batch issued.
    pub numbers: HashMap<i64, String>,
    /// The records this batch booked after the read (S3/S4/S11; S2 measured services are booked before it),
    /// with their ids: known here, so not read back.
    pub booked: Vec<(i64, EngineXdr)>,
}

impl BatchLedger {
    /// The xDRs of `periods` as stored now, by period in id order, and the numbers of every invoice they name.
    async fn stored(
        mut self,
        tx: &mut Tx,
        periods: &[i64],
        parties: &HashMap<i64, PartyRow>,
        created_us: i64,
    ) -> EngineResult<(HashMap<i64, Vec<XdrRow>>, HashMap<i64, String>)> {
        let mut by_period: HashMap<i64, Vec<XdrRow>> = HashMap::with_capacity(periods.len());
        for period_id in periods {
            by_period.insert(*period_id, self.read.remove(period_id).unwrap_or_default());
        }
        for (id, xdr) in &self.booked {
            if let Some(rows) = by_period.get_mut(&xdr.period_id) {
                rows.push(xdr.stored_as(*id, created_us, &parties[&xdr.party_id].currency));
            }
        }
        for rows in by_period.values_mut() {
            for row in rows.iter_mut() {
                if let Some(&invoice_id) = self.attached.get(&row.id) {
                    row.invoice_id = Some(invoice_id);
                }
            }
            rows.sort_unstable_by_key(|x| x.id);
        }
        // Invoices issued before this batch (an out-of-turn invoice may take xDRs of an open period).
        let mut earlier: Vec<i64> = by_period
            .values()
            .flatten()
            .filter_map(|x| x.invoice_id)
            .filter(|id| !self.numbers.contains_key(id))
            .collect();
        earlier.sort_unstable();
        earlier.dedup();
        self.numbers
            .extend(store_statistics::invoice_numbers(tx, &earlier).await?);
        Ok((by_period, self.numbers))
    }
}

/// Writes the files of these closed periods from their xDRs as stored now (hidden ones left out by the writers).
pub(super) async fn write(
    tx: &mut Tx,
    periods: &[&PeriodRow],
    parties: &HashMap<i64, PartyRow>,
    ledger: BatchLedger,
    created_us: i64,
) -> EngineResult<()> {
    if periods.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = periods.iter().map(|p| p.id).collect();
    let (xdrs, numbers) = ledger.stored(tx, &ids, parties, created_us).await?;
    let mut by_period: HashMap<i64, Vec<StatisticsRow>> = HashMap::new();
    for x in xdrs.into_values().flatten() {
        by_period.entry(x.period_id).or_default().push(StatisticsRow {
            xdr_id: x.id,
            external_id: x.external_id,
            occurred_at: instants::from_micros(x.occurred_at)?,
            kind: x.kind,
            service: x.service,
            rate_code: x.rate_code,
            description: x.description,
            quantity: Money(x.quantity),
            amount: Money(x.amount),
            currency: x.currency,
            invoice_number: x.invoice_id.and_then(|id| numbers.get(&id).cloned()),
            late: x.late,
            hidden: x.hidden,
        });
    }
    let mut files = Vec::with_capacity(periods.len());
    let mut events = Vec::with_capacity(periods.len());
    for period in periods {
        let party = &parties[&period.party_id];
        let zone = TimeZone::get(&party.time_zone)
            .map_err(|e| StoreError::Corrupt(format!("party {} time zone: {e}", party.id)))?;
        let first = instants::from_micros(period.start_at)?.to_zoned(zone.clone()).date();
        let last = instants::from_micros(period.end_at - 1)?.to_zoned(zone.clone()).date();
        let names = file_names(party.id, first, last);
        let rows = by_period.remove(&period.id).unwrap_or_default();
        // S10: the party hears of its files when its class (or its override) sends statistics by e-mail.
        let ready = Event::new("statistics_ready", party.id, period.id)
            .with("period_start", first.to_string())
            .with("period_end", last.to_string())
            .with("full_file", names.full.as_str())
            .with("summary_file", names.summary.as_str());
        files.push(StoredFiles {
            period_id: period.id,
            full_name: names.full,
            full_csv: full_csv(&rows, &zone),
            summary_name: names.summary,
            summary_csv: summary_csv(&rows),
            created_at: created_us,
        });
        events.push(ready);
    }
    store_statistics::put(tx, &files).await?;
    let now = instants::from_micros(created_us)?;
    // The close changes no party's row but for the status collections may set, which no announcement reads.
    let announced = periods
        .iter()
        .map(|p| (p.party_id, parties[&p.party_id].clone()))
        .collect();
    let mut cache = EmitCache::knowing(announced);
    for event in &events {
        notifications::emit_with(tx, &mut cache, event, now).await?;
    }
    Ok(())
}

impl crate::Engine {
    /// `GET /periods/{id}/statistics/{full,summary}.csv`: the file's name and content; 404 when the actor does
    /// not see the period or S5 wrote no files for it.
    pub async fn period_statistics_file(
        &self,
        actor: &Actor,
        period_id: i64,
        file: StatisticsFile,
    ) -> EngineResult<(String, String)> {
        let mut tx = self.store.read().await?;
        let not_found = || EngineError::NotFound(format!("no statistics for period {period_id}"));
        let period = periods::get(&mut tx, period_id).await?.ok_or_else(not_found)?;
        match parties::get(&mut tx, period.party_id).await? {
            Some(party) if actor.sees(owner_of(&party)) => {}
            _ => return Err(not_found()),
        }
        let stored = store_statistics::get(&mut tx, period_id).await?.ok_or_else(not_found)?;
        Ok(match file {
            StatisticsFile::Full => (stored.full_name, stored.full_csv),
            StatisticsFile::Summary => (stored.summary_name, stored.summary_csv),
        })
    }
}
