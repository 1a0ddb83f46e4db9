//! Invoice documents: a Typst template fed with the invoice as data renders the PDF, and a fixed HTML view
//! shows the same invoice in the web UI. Fonts are built in and templates reach nothing but their own source
//! and `invoice.json`, so rendering never touches the disk or the network.

mod error;
mod html;
mod invoice;
mod pdf;
mod world;

pub use error::{RenderError, TemplateError};
pub use html::render_html;
pub use invoice::{
    ChargeLine, CustomFieldValue, InvoiceDocument, PartyDetails, PeriodDates, ServiceGroup, TaxLine, Totals,
    sample_invoice,
};
pub use pdf::{PdfJob, check_template, render_each, render_pdf};

/// The built-in `Standard` invoice template every installation starts with.
pub const STANDARD_TEMPLATE: &str = include_str!("../templates/standard_invoice.typ");
