//! The queued-PDF pass: invoices whose PDF is rendered ahead of any download (`end_of_period`, `postponed`).
//! A pass claims a few jobs at a time and handles each claim as a batch: the invoices' documents are read,
//! rendered on all cores at once, and kept, together with the end of their jobs, in one transaction.

use std::collections::HashMap;

use classbill_render::{InvoiceDocument, PartyDetails, PdfJob};
use classbill_store::invoice_documents::{self, InvoiceDocumentRow};
use classbill_store::{instants, pdf_jobs};
use jiff::Timestamp;

use super::content::{self, IssuedUnder, corrupt};
use super::{render_error, template_of};
use crate::actor::Actor;
use crate::error::{EngineError, EngineResult};

/// Renders failed this often stay in the queue with their last error and are not tried again; the PDF is then
/// rendered on its first download, where the error shows.
const MAX_RENDER_ATTEMPTS: i64 = 5;
/// Jobs rendered by one call at most; the worker calls again on its next poll.
const RENDER_BATCH: usize = 100;
/// Jobs claimed at a time: few, so that workers polling together share the queue, yet enough to keep every
/// core busy and to spread a transaction's cost over several documents.
const CLAIM_BATCH: i64 = 10;
/// How long a claim holds, far longer than rendering a claim's jobs takes; a dead worker's jobs wait this long.
const CLAIM_MICROS: i64 = 10 * 60 * 1_000_000;

/// A claimed invoice with everything its rendering needs.
struct Prepared {
    invoice_id: i64,
    number: String,
    template_id: i64,
    document: InvoiceDocument,
}

/// What became of one claimed job.
enum Outcome {
    /// Rendered by this pass, to be kept.
    Rendered(InvoiceDocumentRow),
    /// Kept already, by a download or an earlier pass that could not end its job.
    AlreadyKept,
    Failed(EngineError),
}

impl crate::Engine {
    /// Renders the queued invoice PDFs that are ready (`end_of_period` at once, `postponed` once their run has
    /// finished) and keeps them; answers how many were rendered. Jobs are claimed a few at a time, so workers
    /// never render the same invoice. A failure is recorded on the job, which is tried again once its claim has
    /// lapsed, up to a limit.
    pub async fn render_queued_pdfs(&self, now: Timestamp) -> EngineResult<u64> {
        let now_us = instants::to_micros(now);
        let mut rendered = 0;
        let mut taken = 0;
        while taken < RENDER_BATCH {
            let claimed = {
                let mut tx = self.store.write().await?;
                let claimed =
                    pdf_jobs::claim_ready(&mut tx, now_us, now_us + CLAIM_MICROS, MAX_RENDER_ATTEMPTS, CLAIM_BATCH)
                        .await?;
                tx.commit().await?;
                claimed
            };
            if claimed.is_empty() {
                break;
            }
            taken += claimed.len();
            let outcomes = self.render_claimed(&claimed, now_us).await?;
            rendered += self.keep_rendered(outcomes).await?;
        }
        Ok(rendered)
    }

    /// Reads and renders the claimed invoices; a failure stays with its invoice.
    async fn render_claimed(&self, claimed: &[i64], now_us: i64) -> EngineResult<Vec<(i64, Outcome)>> {
        let kept = {
            let mut tx = self.store.read().await?;
            invoice_documents::kept_among(&mut tx, claimed).await?
        };
        let mut outcomes = Vec::with_capacity(claimed.len());
        let mut prepared = Vec::with_capacity(claimed.len());
        let mut sources: HashMap<Option<i64>, (i64, String)> = HashMap::new();
        let mut operator = None;
        for &invoice_id in claimed {
            if kept.contains(&invoice_id) {
                outcomes.push((invoice_id, Outcome::AlreadyKept));
                continue;
            }
            match self.prepare(invoice_id, &mut sources, &mut operator).await {
                Ok(ready) => prepared.push(ready),
                Err(error) => outcomes.push((invoice_id, Outcome::Failed(error))),
            }
        }
        if prepared.is_empty() {
            return Ok(outcomes);
        }

        // The template texts by id, so that the rendering thread owns what it reads.
        let texts: HashMap<i64, String> = sources.into_values().collect();
        let (prepared, rendered) = tokio::task::spawn_blocking(move || {
            let jobs: Vec<PdfJob<'_>> = prepared
                .iter()
                .map(|ready| PdfJob {
                    template: texts[&ready.template_id].as_str(),
                    invoice: &ready.document,
                })
                .collect();
            let rendered = classbill_render::render_pdfs(&jobs);
            (prepared, rendered)
        })
        .await
        .map_err(|e| corrupt(format!("rendering stopped: {e}")))?;

        for (ready, result) in prepared.into_iter().zip(rendered) {
            let outcome = match result {
                Ok(pdf) => Outcome::Rendered(InvoiceDocumentRow {
                    invoice_id: ready.invoice_id,
                    template_id: ready.template_id,
                    pdf,
                    rendered_at: now_us,
                }),
                Err(error) => Outcome::Failed(render_error(&ready.number, ready.template_id, error)),
            };
            outcomes.push((ready.invoice_id, outcome));
        }
        Ok(outcomes)
    }

    /// The document of one claimed invoice and its template. `sources` keeps the templates read for the batch
    /// by the id the snapshot names, `operator` the operator's details.
    async fn prepare(
        &self,
        invoice_id: i64,
        sources: &mut HashMap<Option<i64>, (i64, String)>,
        operator: &mut Option<PartyDetails>,
    ) -> EngineResult<Prepared> {
        let invoice = self.get_invoice(&Actor::system(), invoice_id).await?;
        let issued_under = IssuedUnder::of(&invoice)?;
        let named = issued_under.template_id(&invoice.kind);
        let mut tx = self.store.read().await?;
        let template_id = match sources.get(&named) {
            Some((id, _)) => *id,
            None => {
                let (id, source) = template_of(&mut tx, named).await?;
                sources.insert(named, (id, source));
                id
            }
        };
        let document = content::invoice_document(&mut tx, &invoice, &issued_under, operator).await?;
        Ok(Prepared {
            invoice_id,
            number: invoice.number,
            template_id,
            document,
        })
    }

    /// Keeps the rendered documents, ends their jobs and records the failures, in one transaction; answers how
    /// many PDFs are now kept.
    async fn keep_rendered(&self, outcomes: Vec<(i64, Outcome)>) -> EngineResult<u64> {
        let mut done = Vec::with_capacity(outcomes.len());
        let mut tx = self.store.write().await?;
        for (invoice_id, outcome) in outcomes {
            match outcome {
                Outcome::Rendered(row) => {
                    invoice_documents::insert_first(&mut tx, row).await?;
                    done.push(invoice_id);
                }
                Outcome::AlreadyKept => done.push(invoice_id),
                Outcome::Failed(error) => {
                    tracing::warn!(invoice = invoice_id, %error, "invoice PDF not rendered");
                    pdf_jobs::failed(&mut tx, invoice_id, &error.to_string()).await?;
                }
            }
        }
        pdf_jobs::done(&mut tx, &done).await?;
        tx.commit().await?;
        Ok(u64::try_from(done.len()).unwrap_or(u64::MAX))
    }
}
