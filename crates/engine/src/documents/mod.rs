//! Invoice documents (customer-classes §2.4, §2.5, §6 rule 3): the PDF rendered with the template the invoice's
//! settings snapshot names, kept once rendered so every download serves the same bytes, and the HTML view of
//! the same invoice for the web UI.

mod content;
mod queue;

use classbill_render::{InvoiceDocument, RenderError};
use classbill_store::catalog;
use classbill_store::invoice_documents::{self, InvoiceDocumentRow};
use classbill_store::{Tx, instants};
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
    rendered.map_err(|e| render_error(&invoice.number, template_id, e))
}

/// A template that cannot render this invoice is a conflict the operator can fix; anything else is a fault.
fn render_error(number: &str, template_id: i64, error: RenderError) -> EngineError {
    match error {
        RenderError::Template(errors) => EngineError::conflict(
            "template_failed",
            format!(
                "template {template_id} cannot render invoice {number}: {}",
                errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
            ),
        ),
        other => corrupt(other.to_string()),
    }
}

impl crate::Engine {
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
        let document = content::invoice_document(&mut tx, &invoice, &issued_under, &mut None).await?;
        drop(tx);

        let pdf = render_pdf(&invoice, template_id, source, document).await?;
        let mut tx = self.store.write().await?;
        invoice_documents::insert_first(
            &mut tx,
            InvoiceDocumentRow {
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
        let document = content::invoice_document(&mut tx, &invoice, &issued_under, &mut None).await?;
        drop(tx);
        classbill_render::render_html(&document).map_err(|e| corrupt(e.to_string()))
    }
}
