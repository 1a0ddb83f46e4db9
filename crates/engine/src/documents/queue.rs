//! The queued-PDF pass: invoices whose PDF is rendered ahead of any download (`end_of_period`, `postponed`).
//! A pass claims a few jobs at a time; their invoices' documents are read while the previous claim's render on
//! every core, and each claim's PDFs are kept, together with the end of their jobs, in one transaction.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use classbill_render::{InvoiceDocument, PartyDetails, PdfJob};
use classbill_store::invoice_documents::{self, InvoiceDocumentRow};
use classbill_store::{Tx, instants, pdf_jobs};
use jiff::Timestamp;
use tokio::sync::mpsc;

use super::content::{self, IssuedUnder, corrupt};
use super::{render_error, template_of};
use crate::close::invoice_with_lines;
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
    template: Arc<str>,
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

/// What a job carries through rendering: its claim, invoice, number and template.
type Tag = (usize, i64, String, i64);

/// News for the pass's bookkeeping, in the order it happened: a claim is announced (with the outcomes known
/// without rendering, and how many of its jobs went to render) before any of its renders ends.
enum Progress {
    Claimed {
        claim: usize,
        outcomes: Vec<(i64, Outcome)>,
        rendering: usize,
    },
    Rendered {
        claim: usize,
        invoice_id: i64,
        outcome: Outcome,
    },
}

/// A claim's outcomes so far, and how many renders it still waits for.
struct Open {
    outcomes: Vec<(i64, Outcome)>,
    rendering: usize,
}

impl crate::Engine {
    /// Renders the queued invoice PDFs that are ready (`end_of_period` at once, `postponed` once their run has
    /// finished) and keeps them; answers how many were rendered. Jobs are claimed a few at a time, so workers
    /// never render the same invoice. A failure is recorded on the job, which is tried again once its claim has
    /// lapsed, up to a limit.
    ///
    /// Three things run at once, so that the cores never wait for the database: claiming and reading the next
    /// invoices, rendering on every core, and keeping each claim's PDFs (one transaction per claim) as soon as
    /// its last render is done.
    pub async fn render_queued_pdfs(&self, now: Timestamp) -> EngineResult<u64> {
        let now_us = instants::to_micros(now);
        let claim_size = usize::try_from(CLAIM_BATCH).unwrap_or(1);
        let (jobs, waiting_jobs) = mpsc::channel::<PdfJob<Tag>>(claim_size);
        let (progress, mut news) = mpsc::unbounded_channel();
        let rendered_news = progress.clone();
        let renderer = tokio::task::spawn_blocking(move || {
            let waiting_jobs = Mutex::new(waiting_jobs);
            classbill_render::render_each(
                || {
                    waiting_jobs
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .blocking_recv()
                },
                |(claim, invoice_id, number, template_id), result| {
                    let outcome = match result {
                        Ok(pdf) => Outcome::Rendered(InvoiceDocumentRow {
                            invoice_id,
                            template_id,
                            pdf,
                            rendered_at: now_us,
                        }),
                        Err(error) => Outcome::Failed(render_error(&number, template_id, error)),
                    };
                    // The receiver is gone only when the pass failed; the claim then lapses.
                    let _ = rendered_news.send(Progress::Rendered {
                        claim,
                        invoice_id,
                        outcome,
                    });
                },
            );
        });
        // Both senders move in and are dropped when the claims end, which ends the renderer and then the news.
        let claiming = async move { self.claim_and_prepare(now_us, jobs, progress).await };
        let keeping = async {
            let mut open: HashMap<usize, Open> = HashMap::new();
            let mut rendered = 0;
            while let Some(event) = news.recv().await {
                let claim = match event {
                    Progress::Claimed {
                        claim,
                        outcomes,
                        rendering,
                    } => {
                        open.insert(claim, Open { outcomes, rendering });
                        claim
                    }
                    Progress::Rendered {
                        claim,
                        invoice_id,
                        outcome,
                    } => {
                        let entry = open
                            .get_mut(&claim)
                            .ok_or_else(|| corrupt(format!("claim {claim} unknown")))?;
                        entry.outcomes.push((invoice_id, outcome));
                        entry.rendering -= 1;
                        claim
                    }
                };
                if open.get(&claim).is_some_and(|entry| entry.rendering == 0)
                    && let Some(done) = open.remove(&claim)
                {
                    rendered += self.keep_rendered(done.outcomes).await?;
                }
            }
            Ok::<u64, EngineError>(rendered)
        };
        let ((), rendered) = tokio::try_join!(claiming, keeping)?;
        renderer.await.map_err(|e| corrupt(format!("rendering stopped: {e}")))?;
        Ok(rendered)
    }

    /// Claims ready jobs a few at a time, up to [`RENDER_BATCH`], reads their invoices, announces each claim on
    /// `progress` and queues its invoices on `jobs`.
    async fn claim_and_prepare(
        &self,
        now_us: i64,
        jobs: mpsc::Sender<PdfJob<Tag>>,
        progress: mpsc::UnboundedSender<Progress>,
    ) -> EngineResult<()> {
        let mut sources: HashMap<Option<i64>, (i64, Arc<str>)> = HashMap::new();
        let mut operator = None;
        let mut taken = 0;
        let mut claim = 0;
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
            claim += 1;
            // One read transaction serves the whole claim.
            let mut tx = self.store.read().await?;
            let kept = invoice_documents::kept_among(&mut tx, &claimed).await?;
            let mut outcomes = Vec::new();
            let mut prepared = Vec::with_capacity(claimed.len());
            for invoice_id in claimed {
                if kept.contains(&invoice_id) {
                    outcomes.push((invoice_id, Outcome::AlreadyKept));
                    continue;
                }
                match prepare(&mut tx, invoice_id, &mut sources, &mut operator).await {
                    Ok(ready) => prepared.push(ready),
                    Err(error) => outcomes.push((invoice_id, Outcome::Failed(error))),
                }
            }
            drop(tx);
            let announced = progress.send(Progress::Claimed {
                claim,
                outcomes,
                rendering: prepared.len(),
            });
            if announced.is_err() {
                break;
            }
            for ready in prepared {
                let job = PdfJob {
                    tag: (claim, ready.invoice_id, ready.number, ready.template_id),
                    template: ready.template,
                    invoice: ready.document,
                };
                if jobs.send(job).await.is_err() {
                    return Err(corrupt("rendering stopped".to_owned()));
                }
            }
        }
        Ok(())
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

/// The document of one claimed invoice and its template, read in `tx`. `sources` keeps the templates read by the
/// pass by the id the snapshot names, `operator` the operator's details.
async fn prepare(
    tx: &mut Tx,
    invoice_id: i64,
    sources: &mut HashMap<Option<i64>, (i64, Arc<str>)>,
    operator: &mut Option<PartyDetails>,
) -> EngineResult<Prepared> {
    let invoice = invoice_with_lines(tx, invoice_id, |_| true)
        .await?
        .ok_or_else(|| corrupt(format!("invoice {invoice_id} of a PDF job is missing")))?;
    let issued_under = IssuedUnder::of(&invoice)?;
    let named = issued_under.template_id(&invoice.kind);
    let (template_id, template) = match sources.get(&named) {
        Some((id, source)) => (*id, source.clone()),
        None => {
            let (id, source) = template_of(tx, named).await?;
            let source: Arc<str> = Arc::from(source);
            sources.insert(named, (id, source.clone()));
            (id, source)
        }
    };
    let document = content::invoice_document(tx, &invoice, &issued_under, operator).await?;
    Ok(Prepared {
        invoice_id,
        number: invoice.number,
        template_id,
        template,
        document,
    })
}
