//! Invoice template upload (`POST /invoice-templates`): the input is the Typst source, checked exactly as a
//! create body is, which compiles it against the sample invoice.

use classbill_engine::catalog::{CatalogKind, InvoiceTemplateKind};
use serde_json::json;

pub fn check(data: &[u8]) {
    let source = String::from_utf8_lossy(data);
    let body = json!({"name": "Fuzz", "source": source});
    if let Ok(document) = InvoiceTemplateKind::parse(body) {
        let _ = InvoiceTemplateKind::check(&document);
    }
}
