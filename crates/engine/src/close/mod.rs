//! Period close and billing runs (customer-classes §5.3): freezes every due period, books its taxes and
//! rounding, resets externally billed balances and issues the regular invoice, in batches of parties with one
//! transaction per batch.
//!
//! Steps of §5.3 done here: S1, S2, S3, S4, S11, S6, S5 and S12, in that order. The statistics e-mail (S10),
//! PDFs (S7), delivery (S8) and charge requests (S9) come later. S6 applies the party's unallocated credit
//! to each invoice it issues (§5.7), which sets the invoice's `open_amount` and `status`.

pub(crate) mod compute;
pub(crate) mod external_tax;
pub(crate) mod freeze;
mod invoices;
mod measured;
mod pass;
mod runs;
mod statistics;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use classbill_domain::Money;
use classbill_domain::class::{ClassSettings, EmailDelivery, PdfGeneration, TaxMethod};
use classbill_domain::party::PartyOverrides;
use classbill_domain::tax::{CustomTax, VatRateRow};
use classbill_store::close::{self as store_close, EngineXdr};
use classbill_store::invoices::{self as store_invoices, NewInvoice, Series};
use classbill_store::parties::{self, PartyRow};
use classbill_store::pdf_jobs::{self, NewJob};
use classbill_store::periods::PeriodRow;
use classbill_store::{Tx, allocations, catalog, instants};
use jiff::Timestamp;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::catalog::{CustomTaxDocument, kinds};
use crate::collections::Issued;
use crate::error::EngineResult;
use crate::installation::InstallationSettings;

pub(crate) use invoices::invoice_with_lines;
pub use invoices::{InvoiceLineView, InvoiceListFilter, InvoiceView, SequenceView};
pub use pass::{CloseOptions, CloseProgress, CloseStage, DEFAULT_BATCH_SIZE};
pub use runs::{BillingRunFailure, BillingRunView};
pub use statistics::StatisticsFile;

/// The step names recorded in `close_progress` (§5.3), in execution order. S1 commits on its own; the others
/// commit together, so a crash leaves a period either open, frozen (resumed at S2) or closed.
const STEP_FREEZE: &str = "S1";
const STEPS_AFTER_FREEZE: [&str; 6] = ["S2", "S3", "S4", "S11", "S6", "S12"];
const STEP_STATISTICS: &str = "S5";

/// One period a run could not close.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct CloseFailure {
    pub party_id: i64,
    pub period_id: i64,
    pub error: String,
}

/// What one billing run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct BillingRunSummary {
    /// Periods whose close instant had come.
    pub periods_due: i64,
    pub periods_closed: i64,
    pub periods_failed: i64,
    pub invoices_issued: i64,
    pub failures: Vec<CloseFailure>,
}

/// The owner key of the invoice sequences: 0 = the administrator, else the reseller id.
pub(crate) fn owner_key(owner_reseller_id: Option<i64>) -> i64 {
    owner_reseller_id.unwrap_or(0)
}

/// The class and the party overrides a period closes under, as frozen at S1. Cloned per period from one parse
/// of each distinct snapshot (the periods of a batch mostly share theirs), so the parsed parts are shared.
#[derive(Clone)]
struct Frozen {
    class_id: i64,
    revision: i64,
    snapshot: String,
    class: Arc<ClassSettings>,
    overrides: Arc<PartyOverrides>,
    /// The party's `tax_exempt` at S1: the snapshot holds an exemption reason exactly when it was exempt.
    tax_exempt: bool,
}

impl Frozen {
    /// The settings of each frozen period, or why they cannot be read (a close failure of the period); each
    /// distinct snapshot is parsed once.
    fn of_rows(rows: Vec<store_close::FrozenRow>) -> HashMap<i64, Result<Frozen, String>> {
        let mut parsed: HashMap<(i64, String), Result<Frozen, String>> = HashMap::new();
        rows.into_iter()
            .map(|row| {
                let frozen = match (row.class_revision, row.settings_snapshot) {
                    (Some(revision), Some(snapshot)) => parsed
                        .entry((revision, snapshot))
                        .or_insert_with_key(|(revision, snapshot)| Frozen::parse(*revision, snapshot.clone()))
                        .clone(),
                    _ => Err("the period was not frozen".to_owned()),
                };
                (row.id, frozen)
            })
            .collect()
    }

    fn parse(revision: i64, snapshot: String) -> Result<Frozen, String> {
        let value: Value = serde_json::from_str(&snapshot).map_err(|e| format!("settings snapshot: {e}"))?;
        let class_id = value["class_id"]
            .as_i64()
            .ok_or_else(|| "settings snapshot: no class_id".to_owned())?;
        let class: ClassSettings =
            serde_json::from_value(value["class"].clone()).map_err(|e| format!("settings snapshot: {e}"))?;
        let overrides: PartyOverrides =
            serde_json::from_value(value["overrides"].clone()).map_err(|e| format!("settings snapshot: {e}"))?;
        Ok(Frozen {
            class_id,
            revision,
            tax_exempt: value["tax_exemption_reason"].is_string(),
            snapshot,
            class: Arc::new(class),
            overrides: Arc::new(overrides),
        })
    }
}

/// An invoice planned in a batch, waiting for its number.
struct Pending {
    invoice: NewInvoice,
    /// When the invoice's PDF is rendered (§2.4).
    pdf: PdfGeneration,
    /// The frozen class's collection threshold for the invoice's tab (§2.4), which its opening status depends on.
    threshold: Option<i64>,
    xdr_ids: Vec<i64>,
    /// The close instant: credit is applied to the invoice at it (§5.7 rule 3).
    close_us: i64,
}

/// Installation-wide inputs of a run.
struct RunContext {
    /// Names this pass's postponed PDF jobs, released when it ends.
    pass_key: String,
    /// When this pass started: postponed jobs queued before it belong to passes that ended or crashed.
    started_us: i64,
    close_delay_hours: i64,
    /// `tax.retry_base_ms`: the back-off base of the external tax engine.
    tax_retry_base_ms: i64,
    vat_table: Vec<VatRateRow>,
    custom_taxes: HashMap<i64, CustomTax>,
}

/// Tells the passes of one process apart when they start in the same microsecond.
static PASSES: AtomicU64 = AtomicU64::new(0);

async fn run_context(tx: &mut Tx, now: Timestamp) -> EngineResult<RunContext> {
    let settings = InstallationSettings::load(tx).await?;
    let vat_table = crate::catalog::vat_rate_table(tx).await?;
    let mut custom_taxes = HashMap::new();
    for row in catalog::list(tx, kinds::CUSTOM_TAX, None, None, i64::MAX).await? {
        let doc: CustomTaxDocument = serde_json::from_str(&row.document)?;
        custom_taxes.insert(
            row.id,
            CustomTax {
                name: doc.name,
                rate_percent: doc.rate_percent,
                scope: doc.scope,
            },
        );
    }
    let started_us = instants::to_micros(now);
    Ok(RunContext {
        pass_key: format!(
            "{}:{started_us}:{}",
            std::process::id(),
            PASSES.fetch_add(1, Ordering::Relaxed)
        ),
        started_us,
        close_delay_hours: settings.close_delay_hours,
        tax_retry_base_ms: settings.tax_retry_base_ms,
        vat_table,
        custom_taxes,
    })
}

/// Ends a pass: its postponed PDFs, and those of passes that started before it and were interrupted, may be
/// rendered now.
async fn release_postponed(store: &classbill_store::Store, context: &RunContext) -> EngineResult<()> {
    let mut tx = store.write().await?;
    pdf_jobs::release(&mut tx, &context.pass_key, context.started_us).await?;
    tx.commit().await?;
    Ok(())
}

/// S2–S12 for every period of these parties left `closing` (frozen by `batch_id`'s S1 just before, or by an
/// earlier, interrupted close), recorded under `batch_id` or, when there is none, a new batch. The parties must
/// be claimed by `tx`.
async fn finish_batch(
    tx: &mut Tx,
    context: &RunContext,
    party_ids: &[i64],
    batch_id: Option<i64>,
    now: Timestamp,
    summary: &mut BillingRunSummary,
) -> EngineResult<()> {
    let closing = store_close::closing_of(tx, party_ids).await?;
    if closing.is_empty() {
        return Ok(());
    }
    let created_us = instants::to_micros(now);
    let batch_id = match batch_id {
        Some(id) => id,
        None => store_close::new_batch(tx, created_us).await?,
    };
    let mut closing_parties: Vec<i64> = closing.iter().map(|p| p.party_id).collect();
    closing_parties.dedup();
    let parties: HashMap<i64, PartyRow> = parties::get_many(tx, &closing_parties)
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();

    // What S1 stored: the settings every later step reads, and the close instant.
    let mut frozen =
        Frozen::of_rows(store_close::snapshots(tx, &closing.iter().map(|p| p.id).collect::<Vec<_>>()).await?);
    let due: Vec<(PeriodRow, i64)> = closing
        .into_iter()
        .map(|period| {
            let close_us = period.close_at.unwrap_or_else(|| {
                // Frozen before close instants were stored: the delay of the frozen class.
                let extra = match frozen.get(&period.id) {
                    Some(Ok(f)) => f.class.general_info.period_closure.extra_delay_hours,
                    _ => 0,
                };
                compute::close_instant(period.end_at, context.close_delay_hours, extra)
            });
            (period, close_us)
        })
        .collect();
    summary.periods_due += due.len() as i64;

    // S2 measured services, from the settings frozen at S1.
    measured::book(tx, &due, &parties, &mut frozen, instants::to_micros(now)).await?;

    let period_ids: Vec<i64> = due.iter().map(|(p, _)| p.id).collect();
    let mut ledger = statistics::BatchLedger::default();
    for row in store_close::xdrs_of_periods(tx, &period_ids).await? {
        ledger.read.entry(row.period_id).or_default().push(row);
    }

    let balances = store_close::balances_before(tx, &period_ids).await?;

    let mut planned: Vec<Planned> = Vec::new();
    let mut closed = Vec::new();
    let mut archived = Vec::new();
    for (period, close_us) in &due {
        let party = &parties[&period.party_id];
        let archive = matches!(frozen.get(&period.id), Some(Ok(f)) if f.class.general_info.archive_xdrs);
        let close = PeriodClose {
            party,
            period,
            close_us: *close_us,
            previous_balance: Money(balances.get(&period.id).copied().unwrap_or(0)),
            created_us,
        };
        match plan_one(tx, context, &close, frozen.remove(&period.id), &ledger.read).await? {
            Ok(plan) => {
                planned.push(plan);
                closed.push(period.id);
                if archive {
                    archived.push(period);
                }
            }
            Err(error) => {
                store_close::fail(tx, period.id, &error).await?;
                summary.periods_failed += 1;
                summary.failures.push(CloseFailure {
                    party_id: party.id,
                    period_id: period.id,
                    error,
                });
            }
        }
    }

    // S3, S4 and S11 bookings of the whole batch at once.
    let (pending, booked) = book(tx, planned, created_us).await?;
    ledger.booked = booked;

    // S6 numbers: one reservation per owner for the whole batch, in this transaction.
    let mut by_owner: HashMap<i64, Vec<Pending>> = HashMap::new();
    for item in pending {
        by_owner
            .entry(owner_key(item.invoice.owner_reseller_id))
            .or_default()
            .push(item);
    }
    let count: usize = by_owner.values().map(Vec::len).sum();
    let mut issuing: Vec<i64> = by_owner.values().flatten().map(|p| p.invoice.party_id).collect();
    issuing.sort_unstable();
    issuing.dedup();
    let credit = CreditParties::of(tx, &issuing, by_owner.values().flatten()).await?;
    let mut owners: Vec<i64> = by_owner.keys().copied().collect();
    owners.sort_unstable();
    for items in by_owner.values_mut() {
        // A recurring-fee invoice takes its number just before the regular invoice of its period.
        items.sort_by_key(|p| (p.invoice.party_id, p.invoice.period_id, p.invoice.kind == "regular"));
    }
    // Ids and attachments before the numbers: the owner's sequence, once reserved, is held until the commit, and
    // a concurrent close of the same owner waits for it; the attachment is the largest write of the close.
    let mut ids = store_invoices::allocate_ids(tx, count).await?.into_iter();
    let mut attached: Vec<(i64, &[i64])> = Vec::with_capacity(count);
    for owner in &owners {
        for (item, id) in by_owner.get_mut(owner).into_iter().flatten().zip(&mut ids) {
            item.invoice.id = id;
        }
    }
    for item in owners.iter().flat_map(|owner| &by_owner[owner]) {
        attached.push((item.invoice.id, item.xdr_ids.as_slice()));
        ledger
            .attached
            .extend(item.xdr_ids.iter().map(|&xdr_id| (xdr_id, item.invoice.id)));
    }
    store_invoices::attach_xdrs_many(tx, &attached).await?;
    for owner in owners {
        let mut items = by_owner.remove(&owner).unwrap_or_default();
        let (prefix, first) = store_invoices::reserve_numbers(tx, Series::Invoices, owner, items.len() as i64).await?;
        for (n, item) in items.iter_mut().enumerate() {
            item.invoice.number = format!("{prefix}{:06}", first + n as i64);
            // What S6 sets when there is no credit to apply; the credit step below sets it again when there is.
            let (open, status) = crate::payments::opening_under(&item.invoice, item.threshold);
            item.invoice.open_amount = open;
            item.invoice.status = status;
        }
        // Issued in number order, in runs stored and followed up together; an invoice whose credit step does
        // work is a run of its own (see `collections::after_issue`).
        let mut run: Vec<Pending> = Vec::new();
        for item in items {
            if credit.applies(&item.invoice) {
                issue(tx, context, std::mem::take(&mut run), &mut ledger, now).await?;
                issue(tx, context, vec![item], &mut ledger, now).await?;
            } else {
                run.push(item);
            }
        }
        issue(tx, context, run, &mut ledger, now).await?;
    }
    summary.invoices_issued += count as i64;

    // S5 statistics, now that the invoice numbers are known.
    statistics::write(tx, &archived, &parties, ledger, created_us).await?;

    // S12.
    store_close::mark_closed(tx, &closed).await?;
    summary.periods_closed += closed.len() as i64;

    for step in STEPS_AFTER_FREEZE {
        store_close::record_step(tx, batch_id, step, &closed, created_us).await?;
    }
    let archived: Vec<i64> = archived.iter().map(|p| p.id).collect();
    store_close::record_step(tx, batch_id, STEP_STATISTICS, &archived, created_us).await?;
    Ok(())
}

/// The parties of a batch whose invoices may have credit to apply at issue: those holding unallocated credit
/// before the batch, and those issued a negative invoice in it (its credit is spread when it is issued).
struct CreditParties(HashSet<i64>);

impl CreditParties {
    async fn of<'a>(
        tx: &mut Tx,
        party_ids: &[i64],
        pending: impl Iterator<Item = &'a Pending>,
    ) -> EngineResult<CreditParties> {
        let mut parties: HashSet<i64> = allocations::parties_with_credit(tx, party_ids)
            .await?
            .into_iter()
            .collect();
        parties.extend(pending.filter(|p| p.invoice.total < 0).map(|p| p.invoice.party_id));
        Ok(CreditParties(parties))
    }

    fn applies(&self, invoice: &NewInvoice) -> bool {
        crate::payments::credit_applies(invoice, self.0.contains(&invoice.party_id))
    }
}

/// Stores a run of numbered invoices, their xDRs attached already, with one statement, follows their issue up
/// (credit, schedule, announcement: `collections::after_issue`) and queues their PDFs (§2.4), each step for the
/// whole run. The numbers go to `ledger` for S5.
async fn issue(
    tx: &mut Tx,
    context: &RunContext,
    run: Vec<Pending>,
    ledger: &mut statistics::BatchLedger,
    now: Timestamp,
) -> EngineResult<()> {
    if run.is_empty() {
        return Ok(());
    }
    let created_us = instants::to_micros(now);
    let invoices: Vec<&NewInvoice> = run.iter().map(|p| &p.invoice).collect();
    store_invoices::insert_many(tx, &invoices).await?;
    for p in &run {
        ledger.numbers.insert(p.invoice.id, p.invoice.number.clone());
    }
    let jobs: Vec<NewJob> = run
        .iter()
        .filter(|p| p.pdf != PdfGeneration::OnDemand)
        .map(|p| NewJob {
            invoice_id: p.invoice.id,
            ready: p.pdf == PdfGeneration::EndOfPeriod,
        })
        .collect();
    let issued: Vec<Issued> = run
        .into_iter()
        .map(|p| Issued {
            invoice: p.invoice,
            at_us: p.close_us,
            opened: true,
        })
        .collect();
    crate::collections::after_issue(tx, issued, now).await?;
    pdf_jobs::enqueue(tx, &jobs, &context.pass_key, created_us).await?;
    Ok(())
}

/// `under_review` when the invoice's e-mail waits for approval (§2.4 `after_review`, party override first).
fn review_state(frozen: &Frozen) -> &'static str {
    let delivery = frozen
        .overrides
        .invoice_email_delivery
        .unwrap_or(frozen.class.regular_invoices.email_delivery);
    if delivery == EmailDelivery::AfterReview {
        "under_review"
    } else {
        "not_required"
    }
}

/// One period about to be closed, with what the batch read for it.
struct PeriodClose<'a> {
    party: &'a PartyRow,
    period: &'a PeriodRow,
    close_us: i64,
    /// The party's balance at the period's start (§5.1).
    previous_balance: Money,
    created_us: i64,
}

/// A period's S3, S4 and S11 computed and not yet booked: the engine xDRs to book and the invoices they go on.
struct Planned {
    /// Taxes, rounding, or the balance reset: booked onto the regular invoice when there is one.
    xdrs: Vec<EngineXdr>,
    /// The taxes and rounding of the separate recurring-fee invoice (§5.10 rule 6).
    fee_xdrs: Vec<EngineXdr>,
    fees: Option<Pending>,
    regular: Option<Pending>,
}

/// Books the engine xDRs of every planned period with multi-row statements and answers the invoices S6 is to
/// issue, each with the ids of its booked xDRs added to those it invoices, and the records booked now with their
/// ids. A key already stored (a step that booked it before) is not booked again and not added.
async fn book(
    tx: &mut Tx,
    planned: Vec<Planned>,
    created_us: i64,
) -> EngineResult<(Vec<Pending>, Vec<(i64, EngineXdr)>)> {
    let rows: Vec<EngineXdr> = planned
        .iter()
        .flat_map(|p| p.xdrs.iter().chain(&p.fee_xdrs).cloned())
        .collect();
    let mut booked = store_close::book_engine_xdrs(tx, &rows, created_us).await?;
    let ids_of = |xdrs: &[EngineXdr]| {
        let mut ids: Vec<i64> = xdrs
            .iter()
            .filter_map(|x| booked.get(&(x.party_id, x.external_id.clone())).copied())
            .collect();
        ids.sort_unstable();
        ids
    };
    let mut pending = Vec::new();
    for plan in planned {
        if let Some(mut fees) = plan.fees {
            fees.xdr_ids.extend(ids_of(&plan.fee_xdrs));
            pending.push(fees);
        }
        // A balance reset is only booked when no invoice is issued, so every booked xDR belongs on it.
        if let Some(mut regular) = plan.regular {
            regular.xdr_ids.extend(ids_of(&plan.xdrs));
            pending.push(regular);
        }
    }
    // Each key once: PostgreSQL stores only the first record of a key a batch repeats.
    let stored = rows
        .into_iter()
        .filter_map(|x| booked.remove(&(x.party_id, x.external_id.clone())).map(|id| (id, x)))
        .collect();
    Ok((pending, stored))
}

/// Computes S3, S4 and S11 of one period and the invoices S6 is to issue; the inner `Err` is a close failure of
/// this period (nothing of it booked), the outer one a storage failure of the whole batch.
async fn plan_one(
    tx: &mut Tx,
    context: &RunContext,
    close: &PeriodClose<'_>,
    frozen: Option<Result<Frozen, String>>,
    xdrs_by_period: &HashMap<i64, Vec<classbill_store::xdrs::XdrRow>>,
) -> EngineResult<Result<Planned, String>> {
    let frozen = match frozen {
        Some(Ok(frozen)) => frozen,
        Some(Err(error)) => return Ok(Err(error)),
        None => return Ok(Err("the period was not frozen".to_owned())),
    };
    let (period, close_us, created_us) = (close.period, close.close_us, close.created_us);
    let taxation = frozen
        .overrides
        .taxation
        .clone()
        .unwrap_or_else(|| frozen.class.taxation.clone());
    let mut custom = Vec::new();
    if taxation.method == TaxMethod::Custom {
        for id in &taxation.custom_tax_ids {
            match context.custom_taxes.get(id) {
                Some(tax) => custom.push(tax.clone()),
                None => return Ok(Err(format!("custom tax {id} of the class is missing"))),
            }
        }
    }
    // S3 taxes the party as S1 froze it: a later change of its exemption waits for the next period.
    let party = &PartyRow {
        tax_exempt: frozen.tax_exempt,
        ..close.party.clone()
    };
    let mut input = compute::CloseInput {
        party,
        period,
        class: &frozen.class,
        taxation: &taxation,
        custom_taxes: &custom,
        vat_table: &context.vat_table,
        external_taxes: None,
        external_recurring_taxes: None,
        previous_balance: close.previous_balance,
    };
    let empty = Vec::new();
    let xdrs = xdrs_by_period.get(&period.id).unwrap_or(&empty);
    let external = match external_tax::taxes_for_close(tx, &input, xdrs, close_us, context.tax_retry_base_ms).await? {
        Ok(answer) => answer,
        Err(error) => return Ok(Err(error)),
    };
    input.external_taxes = external.regular.as_deref();
    input.external_recurring_taxes = external.recurring.as_deref();
    let plan = match compute::plan(&input, xdrs) {
        Ok(plan) => plan,
        Err(error) => return Ok(Err(error)),
    };
    let net_days = frozen.class.regular_invoices.payment_terms.net_days();
    let dates = match compute::issue_and_due(close_us, &party.time_zone, net_days) {
        Ok(dates) => dates,
        Err(error) => return Ok(Err(error)),
    };
    let mut planned = Planned {
        xdrs: plan.xdrs,
        fee_xdrs: Vec::new(),
        fees: None,
        regular: None,
    };
    if let Some(fees) = plan.recurring_fees {
        let fee_dates = match compute::issue_and_due(
            close_us,
            &party.time_zone,
            frozen.class.out_of_turn_invoices.payment_terms.net_days(),
        ) {
            Ok(dates) => dates,
            Err(error) => return Ok(Err(error)),
        };
        let totals = fees.totals;
        planned.fee_xdrs = fees.xdrs;
        planned.fees = Some(Pending {
            // Rendered at issue like every out-of-turn invoice (§2.5).
            pdf: PdfGeneration::EndOfPeriod,
            threshold: frozen.class.out_of_turn_invoices.collection_threshold.map(|m| m.0),
            invoice: NewInvoice {
                id: 0,
                number: String::new(),
                kind: "recurring_fees".to_owned(),
                party_id: party.id,
                owner_reseller_id: party.owner_reseller_id,
                class_id: frozen.class_id,
                class_revision: frozen.revision,
                settings_snapshot: frozen.snapshot.clone(),
                period_id: Some(period.id),
                issue_date: fee_dates.0,
                due_date: fee_dates.1,
                net_total: totals.net_total.0,
                tax_total: totals.tax_total.0,
                rounding: totals.rounding.0,
                total: totals.total.0,
                // Not balance-aware: the regular invoice counts it among the period's out-of-turn amounts.
                previous_balance: 0,
                payments: 0,
                out_of_turn: 0,
                amount_due: totals.total.0.max(0),
                credit_carried: 0,
                open_amount: totals.total.0.max(0),
                status: if totals.total.0 <= 0 { "nothing_due" } else { "unpaid" }.to_owned(),
                review_state: "not_required".to_owned(),
                // Payable only by the charge connector (§5.10 rule 6).
                card_only: true,
                created_at: created_us,
            },
            xdr_ids: fees.invoiced_xdr_ids,
            close_us,
        });
    }
    let Some(amounts) = plan.invoice else {
        return Ok(Ok(planned));
    };
    let totals = amounts.totals;
    let balance = amounts.balance;
    let review_state = review_state(&frozen);
    let invoice = NewInvoice {
        id: 0,
        number: String::new(),
        kind: "regular".to_owned(),
        party_id: party.id,
        owner_reseller_id: party.owner_reseller_id,
        class_id: frozen.class_id,
        class_revision: frozen.revision,
        settings_snapshot: frozen.snapshot,
        period_id: Some(period.id),
        issue_date: dates.0,
        due_date: dates.1,
        net_total: totals.net_total.0,
        tax_total: totals.tax_total.0,
        rounding: totals.rounding.0,
        total: totals.total.0,
        previous_balance: balance.previous_balance.0,
        payments: balance.payments.0,
        out_of_turn: balance.out_of_turn.0,
        amount_due: balance.amount_due.0,
        credit_carried: balance.credit_carried.0,
        // Provisional: S6 sets the open amount and status when it applies the party's credit (§5.7).
        open_amount: balance.amount_due.0,
        status: if totals.total.0 <= 0 { "nothing_due" } else { "unpaid" }.to_owned(),
        review_state: review_state.to_owned(),
        card_only: false,
        created_at: created_us,
    };
    planned.regular = Some(Pending {
        pdf: frozen.class.regular_invoices.pdf_generation,
        threshold: frozen.class.regular_invoices.collection_threshold.map(|m| m.0),
        invoice,
        xdr_ids: plan.invoiced_xdr_ids,
        close_us,
    });
    Ok(Ok(planned))
}
