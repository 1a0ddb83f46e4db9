//! Data retention (`classbill purge`, `POST /purges`): the xDR detail of closed, settled periods is replaced by
//! one summary xDR per group of records that an invoice line, the ledger and the statistics cannot tell apart
//! (same period, invoice, kind, service, rate code, hidden and late flags). Every amount stays: balances
//! (Σ amount, §5.1), invoice totals and lines (Σ per kind, service and rate code, §5.6), and the statistics
//! files S5 stored. Taxes, rounding, payments, fees and adjustments are kept as they are.
//!
//! A period qualifies when it is `closed`, its end lies at or before the start of the given date in the
//! party's own time zone (so "before 2025-04-01" takes every March period, east or west of UTC), it has a
//! regular invoice, and every invoice issued for it or holding one of its xDRs is settled: `paid`,
//! `nothing_due` or `void`, with nothing open. Each period is purged in its own transaction, so an interrupted
//! purge leaves whole periods purged or untouched, and a second purge finds nothing left to merge.

use classbill_domain::{FieldError, Owner};
use classbill_store::StoreError;
use classbill_store::retention::{self as store_retention, CandidateRow};
use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::actor::Actor;
use crate::audit::{self, Change};
use crate::body;
use crate::error::{EngineError, EngineResult};

/// Periods read per candidate query.
const CANDIDATE_BATCH: i64 = 500;
/// Statuses of an invoice with nothing left to collect.
const SETTLED: [&str; 3] = ["paid", "nothing_due", "void"];

/// What a purge did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct PurgeSummary {
    /// Periods whose detail was summarised now.
    pub periods_purged: i64,
    /// Closed periods old enough whose invoices still have an open amount; left as they are.
    pub periods_unsettled: i64,
    /// Detail xDRs deleted.
    pub records_removed: i64,
    /// xDRs that now stand for a group of records.
    pub summary_records: i64,
}

/// What happened to one period.
enum Outcome {
    Purged {
        removed: i64,
        summaries: i64,
    },
    /// Nothing to merge: every group is a single record already.
    Unchanged,
    /// Not closed, not invoiced or not settled (the reason, for an explicitly named period).
    Refused {
        code: &'static str,
        message: String,
    },
}

/// `1234` → `1,234`.
fn grouped(n: i64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn refused(code: &'static str, message: String) -> Outcome {
    Outcome::Refused { code, message }
}

impl crate::Engine {
    /// `classbill purge --before DATE`: purges every qualifying period ending before `before` (administrators).
    /// A date after the UTC date of `now` is refused.
    pub async fn purge_xdr_detail(&self, actor: &Actor, before: Date, now: Timestamp) -> EngineResult<PurgeSummary> {
        administrators_only(actor)?;
        check_not_future(before, now)?;
        // Local midnights lie within a day of the UTC one; the exact bound is checked per party.
        let until = before
            .tomorrow()
            .map_err(|e| EngineError::invalid("before", "out_of_range", e.to_string()))?;
        let until_us = crate::ledger::start_of_date(until, "UTC")?;
        let mut summary = PurgeSummary::default();
        let mut after_id = 0;
        loop {
            let mut tx = self.store.read().await?;
            let batch = store_retention::candidates(&mut tx, until_us, after_id, CANDIDATE_BATCH).await?;
            drop(tx);
            let Some(last) = batch.last() else { break };
            after_id = last.period_id;
            for candidate in &batch {
                if candidate.end_at > crate::ledger::start_of_date(before, &candidate.time_zone)? {
                    continue;
                }
                match self.purge_one(actor, candidate.period_id, Some(before), now).await? {
                    Outcome::Purged { removed, summaries } => {
                        summary.periods_purged += 1;
                        summary.records_removed += removed;
                        summary.summary_records += summaries;
                    }
                    Outcome::Refused {
                        code: "not_settled", ..
                    } => summary.periods_unsettled += 1,
                    Outcome::Unchanged | Outcome::Refused { .. } => {}
                }
            }
        }
        Ok(summary)
    }

    /// `classbill purge --period ID`: purges one period, refusing (409) one that is not closed, has no regular
    /// invoice or is not settled, and with `before` one that ends after that date.
    pub async fn purge_period_detail(
        &self,
        actor: &Actor,
        period_id: i64,
        before: Option<Date>,
        now: Timestamp,
    ) -> EngineResult<PurgeSummary> {
        administrators_only(actor)?;
        if let Some(date) = before {
            check_not_future(date, now)?;
        }
        match self.purge_one(actor, period_id, before, now).await? {
            Outcome::Purged { removed, summaries } => Ok(PurgeSummary {
                periods_purged: 1,
                periods_unsettled: 0,
                records_removed: removed,
                summary_records: summaries,
            }),
            Outcome::Unchanged => Ok(PurgeSummary::default()),
            Outcome::Refused { code, message } => Err(EngineError::conflict(code, message)),
        }
    }

    /// `POST /purges {before?, period_id?, as_of?}`: one of `before` and `period_id` at least.
    pub async fn purge_request(&self, actor: &Actor, body: &Value, now: Timestamp) -> EngineResult<PurgeSummary> {
        administrators_only(actor)?;
        let (before, period_id, as_of) = parse_request(body)?;
        let as_of = as_of.unwrap_or(now);
        match (period_id, before) {
            (Some(id), before) => self.purge_period_detail(actor, id, before, as_of).await,
            (None, Some(date)) => self.purge_xdr_detail(actor, date, as_of).await,
            (None, None) => Err(EngineError::invalid(
                "before",
                "required",
                "give `before` (a date) or `period_id`",
            )),
        }
    }

    /// Purges one period in its own transaction, after checking it qualifies.
    async fn purge_one(
        &self,
        actor: &Actor,
        period_id: i64,
        before: Option<Date>,
        now: Timestamp,
    ) -> EngineResult<Outcome> {
        let mut tx = self.store.write().await?;
        let period = store_retention::lock_period(&mut tx, period_id)
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("period {period_id} not found")))?;
        if let Some(refusal) = refusal(&period, before)? {
            return Ok(refusal);
        }
        let invoices = store_retention::invoices_of_period(&mut tx, period_id).await?;
        if !invoices.iter().any(|i| i.kind == "regular") {
            return Ok(refused(
                "not_invoiced",
                format!("period {period_id} has no regular invoice, so nothing shows it settled"),
            ));
        }
        let open: Vec<&str> = invoices
            .iter()
            .filter(|i| !SETTLED.contains(&i.status.as_str()) || i.open_amount > 0)
            .map(|i| i.number.as_str())
            .collect();
        if !open.is_empty() {
            return Ok(refused(
                "not_settled",
                format!(
                    "period {period_id} is not settled: invoice {} still has an open amount",
                    open.join(", ")
                ),
            ));
        }
        let groups = store_retention::detail_groups(&mut tx, period_id).await?;
        if groups.is_empty() {
            return Ok(Outcome::Unchanged);
        }
        let mut removed = 0;
        for group in &groups {
            let description = format!("purged: {} records", grouped(group.records));
            let deleted = store_retention::summarise(&mut tx, period_id, group, &description).await?;
            if i64::try_from(deleted).ok() != Some(group.records - 1) {
                // Dropping the transaction undoes this period's changes.
                return Err(StoreError::Corrupt(format!(
                    "period {period_id}: {deleted} records deleted for a group of {}",
                    group.records
                ))
                .into());
            }
            removed += group.records - 1;
        }
        let summaries = i64::try_from(groups.len()).unwrap_or(i64::MAX);
        audit::record(
            &mut tx,
            actor,
            now,
            Change {
                action: "purge_xdr_detail",
                object_type: "period",
                object_id: period_id.to_string(),
                owner_reseller_id: period.owner_reseller_id,
                details: json!({
                    "party_id": period.party_id,
                    "before": before.map(|d| d.to_string()),
                    "records_removed": removed,
                    "summary_records": summaries,
                }),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(Outcome::Purged { removed, summaries })
    }
}

fn administrators_only(actor: &Actor) -> EngineResult<()> {
    if actor.owner() == Owner::Administrator {
        Ok(())
    } else {
        Err(EngineError::forbidden("only administrators purge xDR detail"))
    }
}

fn check_not_future(before: Date, now: Timestamp) -> EngineResult<()> {
    let today = now.to_zoned(TimeZone::UTC).date();
    if before > today {
        return Err(EngineError::invalid(
            "before",
            "out_of_range",
            format!("{before} lies after the as_of date {today}; only past periods can be purged"),
        ));
    }
    Ok(())
}

/// Why a period cannot be purged yet, from its own row.
fn refusal(period: &CandidateRow, before: Option<Date>) -> EngineResult<Option<Outcome>> {
    let id = period.period_id;
    if period.status != "closed" {
        return Ok(Some(refused(
            "not_closed",
            format!("period {id} is {}; only closed periods can be purged", period.status),
        )));
    }
    if let Some(date) = before
        && period.end_at > crate::ledger::start_of_date(date, &period.time_zone)?
    {
        return Ok(Some(refused(
            "too_recent",
            format!("period {id} ends after the start of {date}"),
        )));
    }
    Ok(None)
}

fn parse_request(body: &Value) -> EngineResult<(Option<Date>, Option<i64>, Option<Timestamp>)> {
    let object = body::object(body)?;
    let mut errors = Vec::new();
    body::unknown_fields(object, &["before", "period_id", "as_of"], &mut errors);
    let before = body::optional_text(object, "before", &mut errors).and_then(|t| match t.parse::<Date>() {
        Ok(date) => Some(date),
        Err(_) => {
            errors.push(FieldError::new("before", "invalid", "must be a date (YYYY-MM-DD)"));
            None
        }
    });
    let as_of = body::optional_instant(object, "as_of", &mut errors);
    let period_id = match object.get("period_id") {
        None | Some(Value::Null) => None,
        Some(v) => v.as_i64().or_else(|| {
            errors.push(FieldError::new("period_id", "invalid_type", "must be an id (a number)"));
            None
        }),
    };
    if errors.is_empty() {
        Ok((before, period_id, as_of))
    } else {
        Err(EngineError::Invalid(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::grouped;

    #[test]
    fn counts_print_with_thousands_separators() {
        assert_eq!(grouped(7), "7");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1_234), "1,234");
        assert_eq!(grouped(1_234_567), "1,234,567");
    }
}
