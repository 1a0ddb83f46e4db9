//! Rendered invoice PDFs, kept once rendered (customer-classes §2.4 `pdf_generation`).

use crate::{StoreError, Tx, args};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct InvoiceDocumentRow {
    pub invoice_id: i64,
    pub template_id: i64,
    pub pdf: Vec<u8>,
    pub rendered_at: i64,
}

pub async fn get(tx: &mut Tx, invoice_id: i64) -> Result<Option<InvoiceDocumentRow>, StoreError> {
    tx.fetch_optional(
        "SELECT invoice_id, template_id, pdf, rendered_at FROM invoice_documents WHERE invoice_id = $1",
        args![invoice_id],
    )
    .await
}

/// Keeps the first document stored for an invoice: a rendering that lost a race leaves the winner's bytes.
pub async fn insert_first(tx: &mut Tx, row: &InvoiceDocumentRow) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO invoice_documents (invoice_id, template_id, pdf, rendered_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (invoice_id) DO NOTHING",
        args![row.invoice_id, row.template_id, row.pdf.clone(), row.rendered_at],
    )
    .await?;
    Ok(())
}
