//! Invoice documents (customer-classes §2.4, §2.5, §6 rule 3): the PDF rendered with the template the invoice's
//! settings snapshot names, kept once rendered so every download serves the same bytes, and the HTML view of
//! the same invoice for the web UI.

mod content;

use classbill_render::{InvoiceDocument, RenderError};
use classbill_store::catalog;
use classbill_store::invoice_documents::{self, InvoiceDocumentRow};
use classbill_store::{Tx, instants, pdf_jobs};
use jiff::Timestamp;

use crate::actor::Actor;
use crate::catalog::{InvoiceTemplateDocument, kinds};
use crate::close::InvoiceView;
use crate::error::{EngineError, EngineResult};
use content::{IssuedUnder, corrupt};

/// A rendered invoice PDF.
#[derive(Debug, Clone)]
pub struct InvoicePdf {
    /// `<number>.pdf`, safe for a `Content-Disposition` header.
    pub file_name: String,
    pub bytes: Vec<u8>,
}

fn file_name(number: &str) -> String {
    let stem: String = number
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{stem}.pdf")
}

/// The template named by the snapshot, with its id. A template deleted since the invoice was issued, or none
/// named at all, falls back to the built-in `Standard` one, so an issued invoice always has a document.
async fn template_of(tx: &mut Tx, named: Option<i64>) -> EngineResult<(i64, String)> {
    if let Some(id) = named
        && let Some(row) = catalog::get(tx, kinds::INVOICE_TEMPLATE, id).await?
    {
        let document: InvoiceTemplateDocument = serde_json::from_str(&row.document)?;
        return Ok((id, document.source));
    }
    let row = catalog::by_key(tx, kinds::INVOICE_TEMPLATE, None, "standard")
        .await?
        .ok_or_else(|| corrupt("the Standard template is missing".to_owned()))?;
    let document: InvoiceTemplateDocument = serde_json::from_str(&row.document)?;
    Ok((row.id, document.source))
}

/// Typst works for milliseconds without yielding, so it runs beside the async workers.
async fn render_pdf(
    invoice: &InvoiceView,
    template_id: i64,
    source: String,
    document: InvoiceDocument,
) -> EngineResult<Vec<u8>> {
    let rendered = tokio::task::spawn_blocking(move || classbill_render::render_pdf(&source, &document))
        .await
        .map_err(|e| corrupt(format!("rendering stopped: {e}")))?;
    rendered.map_err(|e| match e {
        RenderError::Template(errors) => EngineError::conflict(
            "template_failed",
            format!(
                "template {template_id} cannot render invoice {}: {}",
                invoice.number,
                errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
            ),
        ),
        other => corrupt(other.to_string()),
    })
}

/// Renders failed this often stay in the queue with their last error and are not tried again; the PDF is then
/// rendered on its first download, where the error shows.
const MAX_RENDER_ATTEMPTS: i64 = 5;
/// Jobs rendered by one call at most; the worker calls again on its next poll.
const RENDER_BATCH: usize = 100;
/// Jobs claimed at a time: small, so that workers polling together share the queue.
const CLAIM_BATCH: i64 = 10;
/// How long a claim holds, far longer than rendering a claim's jobs takes; a dead worker's jobs wait this long.
const CLAIM_MICROS: i64 = 10 * 60 * 1_000_000;

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
            for invoice_id in claimed {
                let outcome = self.invoice_pdf(&Actor::system(), invoice_id, now).await;
                let mut tx = self.store.write().await?;
                match outcome {
                    Ok(_) => {
                        pdf_jobs::done(&mut tx, invoice_id).await?;
                        rendered += 1;
                    }
                    Err(error) => {
                        tracing::warn!(invoice = invoice_id, %error, "invoice PDF not rendered");
                        pdf_jobs::failed(&mut tx, invoice_id, &error.to_string()).await?;
                    }
                }
                tx.commit().await?;
            }
        }
        Ok(rendered)
    }

    /// `GET /invoices/{id}/pdf`: the kept PDF, or rendered now from the invoice's snapshot and kept. Visible
    /// when the invoice is.
    pub async fn invoice_pdf(&self, actor: &Actor, id: i64, now: Timestamp) -> EngineResult<InvoicePdf> {
        let invoice = self.get_invoice(actor, id).await?;
        let file_name = file_name(&invoice.number);
        let mut tx = self.store.read().await?;
        if let Some(kept) = invoice_documents::get(&mut tx, id).await? {
            return Ok(InvoicePdf {
                file_name,
                bytes: kept.pdf,
            });
        }
        let issued_under = IssuedUnder::of(&invoice)?;
        let (template_id, source) = template_of(&mut tx, issued_under.template_id(&invoice.kind)).await?;
        let document = content::invoice_document(&mut tx, &invoice, &issued_under).await?;
        drop(tx);

        let pdf = render_pdf(&invoice, template_id, source, document).await?;
        let mut tx = self.store.write().await?;
        invoice_documents::insert_first(
            &mut tx,
            &InvoiceDocumentRow {
                invoice_id: id,
                template_id,
                pdf,
                rendered_at: instants::to_micros(now),
            },
        )
        .await?;
        let kept = invoice_documents::get(&mut tx, id)
            .await?
            .ok_or_else(|| corrupt(format!("the PDF of invoice {id} was not kept")))?;
        tx.commit().await?;
        Ok(InvoicePdf {
            file_name,
            bytes: kept.pdf,
        })
    }

    /// `GET /invoices/{id}/html`: the invoice as a standalone HTML page, rendered on every request.
    pub async fn invoice_html(&self, actor: &Actor, id: i64) -> EngineResult<String> {
        let invoice = self.get_invoice(actor, id).await?;
        let issued_under = IssuedUnder::of(&invoice)?;
        let mut tx = self.store.read().await?;
        let document = content::invoice_document(&mut tx, &invoice, &issued_under).await?;
        drop(tx);
        classbill_render::render_html(&document).map_err(|e| corrupt(e.to_string()))
    }
}
