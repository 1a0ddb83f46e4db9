//! Computing an invoice's schedule at issue and freezing it (§5.9): later edits of the class or the calendar
//! never change it.

use std::collections::HashMap;

use classbill_domain::collections::{ScheduleInput, WorkingDays, collection_schedule};
use classbill_domain::period::local_midnight;
use classbill_store::Tx;
use classbill_store::collections::{self as store_collections, NewItem};
use classbill_store::invoices::InvoiceRow;
use classbill_store::parties::{self, PartyRow};
use jiff::Span;
use jiff::civil::Date;
use jiff::tz::TimeZone;

use super::{Followup, corrupt, policy_of};
use crate::error::EngineResult;
use crate::installation::Calendar;

impl WorkingDays for Calendar {
    fn next_working_day(&self, date: Date) -> Date {
        Calendar::next_working_day(self, date)
    }
}

/// Stores the schedules of newly issued invoices, all items with one multi-row insert, and the instant of an
/// invoice's automatic approval when it is held in review with `review_hold_days`. An invoice with nothing to
/// collect (total ≤ 0) has no schedule.
/// Answers the invoices' parties, read once for the whole batch.
pub(super) async fn freeze_schedules(
    tx: &mut Tx,
    invoices: &[InvoiceRow],
    followup: &mut Followup,
) -> EngineResult<HashMap<i64, PartyRow>> {
    let mut party_ids: Vec<i64> = invoices.iter().map(|i| i.party_id).collect();
    party_ids.sort_unstable();
    party_ids.dedup();
    let parties: HashMap<i64, PartyRow> = parties::get_many(tx, &party_ids)
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    let mut calendar = None;
    let mut rows = Vec::new();
    for invoice in invoices {
        let party = parties
            .get(&invoice.party_id)
            .ok_or_else(|| corrupt(format!("party {} vanished", invoice.party_id)))?;
        let zone = TimeZone::get(&party.time_zone).map_err(corrupt)?;
        let class = followup.class_of(invoice)?;
        if invoice.review_state == "under_review"
            && let Some(days) = class.regular_invoices.review_hold_days
        {
            let issued: Date = invoice.issue_date.parse().map_err(corrupt)?;
            let approval = issued.checked_add(Span::new().days(days)).map_err(corrupt)?;
            let at = classbill_store::instants::to_micros(local_midnight(&zone, approval));
            store_collections::set_review_due(tx, invoice.id, at).await?;
        }
        if invoice.total <= 0 {
            continue;
        }
        let due_date: Date = invoice.due_date.parse().map_err(corrupt)?;
        let policy = policy_of(class, invoice);
        let calendar = match &mut calendar {
            Some(calendar) => calendar,
            empty => empty.insert(Calendar::load(tx).await?),
        };
        let items = collection_schedule(&ScheduleInput {
            policy: &policy,
            due_date,
            zone: &zone,
            calendar,
        })
        .map_err(corrupt)?;
        rows.extend(items.into_iter().map(|item| NewItem {
            invoice_id: invoice.id,
            party_id: invoice.party_id,
            event: item.event.as_str().to_owned(),
            firing_rank: item.event.firing_rank(),
            local_date: item.date.to_string(),
            due_at: classbill_store::instants::to_micros(item.due_at),
            state: item.state.as_str().to_owned(),
        }));
    }
    store_collections::insert_items(tx, &rows).await?;
    Ok(parties)
}
