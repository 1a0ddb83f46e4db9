//! Rendered invoice PDFs, kept once rendered (customer-classes §2.4 `pdf_generation`).

use crate::db::in_list;
use crate::{Arg, AssertSqlSafe, StoreError, Tx, args};

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

#[derive(sqlx::FromRow)]
struct KeptRow {
    invoice_id: i64,
}

/// Which of these invoices already have their document kept, without reading the documents.
pub async fn kept_among(tx: &mut Tx, invoice_ids: &[i64]) -> Result<Vec<i64>, StoreError> {
    if invoice_ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT invoice_id FROM invoice_documents WHERE invoice_id IN ({})",
        in_list(1, invoice_ids.len())
    );
    let values = invoice_ids.iter().map(|&id| Arg::from(id)).collect();
    let rows: Vec<KeptRow> = tx.fetch_all(AssertSqlSafe(sql), values).await?;
    Ok(rows.into_iter().map(|row| row.invoice_id).collect())
}

/// Keeps the first document stored for an invoice: a rendering that lost a race leaves the winner's bytes.
pub async fn insert_first(tx: &mut Tx, row: InvoiceDocumentRow) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO invoice_documents (invoice_id, template_id, pdf, rendered_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (invoice_id) DO NOTHING",
        args![row.invoice_id, row.template_id, row.pdf, row.rendered_at],
    )
    .await?;
    Ok(())
}
