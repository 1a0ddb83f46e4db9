//! The HTML view of an invoice for the web UI, from the same data the PDF templates get. Every value is
//! HTML-escaped by the template engine.

use std::sync::LazyLock;

use minijinja::Environment;

use crate::error::RenderError;
use crate::invoice::InvoiceDocument;

const NAME: &str = "invoice.html";

static ENVIRONMENT: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut environment = Environment::new();
    environment
        .add_template(NAME, include_str!("../templates/invoice.html"))
        .expect("the built-in HTML invoice template parses");
    environment
});

/// A standalone HTML page showing the invoice.
pub fn render_html(invoice: &InvoiceDocument) -> Result<String, RenderError> {
    let template = ENVIRONMENT
        .get_template(NAME)
        .map_err(|e| RenderError::Html(e.to_string()))?;
    template
        .render(minijinja::context! { invoice => minijinja::value::Serde(invoice) })
        .map_err(|e| RenderError::Html(e.to_string()))
}
