//! Typst template + invoice data → PDF bytes.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use typst::WorldExt;
use typst::diag::{Severity, SourceDiagnostic};
use typst::ecow::EcoVec;
use typst_layout::PagedDocument;
use typst_pdf::PdfOptions;

use crate::error::{RenderError, TemplateError};
use crate::invoice::{InvoiceDocument, sample_invoice};
use crate::world::{InvoiceWorld, template_id};

/// Renders between two evictions of Typst's memoised results. Typst memoises parsing and layout across
/// compilations, which is what makes rendering many invoices with one template fast; an eviction drops every
/// result no render since the previous eviction used, so a long-running server does not hold the layouts of
/// invoices long sent or of templates it no longer uses. An eviction walks every memoised result, so doing it
/// after each render would cost a few percent of the render.
const RENDERS_PER_EVICTION: usize = 50;

static RENDERS: AtomicUsize = AtomicUsize::new(0);

/// Renders the invoice with the Typst template `source`.
pub fn render_pdf(source: &str, invoice: &InvoiceDocument) -> Result<Vec<u8>, RenderError> {
    let json = serde_json::to_vec(invoice).map_err(|e| RenderError::Data(e.to_string()))?;
    let world = InvoiceWorld::new(source, json);
    let result = compile(&world).and_then(|document| {
        // Most invoices fit one page, where a page count says nothing; a longer one is laid out again with its
        // pages numbered.
        let (world, document) = if document.pages().len() > 1 {
            let paged = world.paged();
            let document = compile(&paged)?;
            (paged, document)
        } else {
            (world, document)
        };
        typst_pdf::pdf(&document, &PdfOptions::default())
            .map_err(|errors| RenderError::Template(template_errors(&world, &errors)))
    });
    if RENDERS.fetch_add(1, Ordering::Relaxed) % RENDERS_PER_EVICTION == RENDERS_PER_EVICTION - 1 {
        typst::comemo::evict(1);
    }
    result
}

fn compile(world: &InvoiceWorld) -> Result<PagedDocument, RenderError> {
    typst::compile::<PagedDocument>(world)
        .output
        .map_err(|errors| RenderError::Template(template_errors(world, &errors)))
}

/// One invoice to render with its template, and `tag`, which comes back with the result.
#[derive(Debug, Clone)]
pub struct PdfJob<T> {
    pub tag: T,
    pub template: Arc<str>,
    pub invoice: InvoiceDocument,
}

/// Renders invoices on every core of the machine until `next` has no more: each of one thread per core takes the
/// next job as soon as it has finished the last and hands the result to `done` with the job's tag, so the
/// results come in the order they are finished. `next` may wait for jobs still to be prepared, which keeps the
/// cores busy while the caller reads the next invoices. Typst's memoised results are shared by the threads.
/// Returns when every job taken is done.
pub fn render_each<T, N, D>(next: N, done: D)
where
    N: Fn() -> Option<PdfJob<T>> + Sync,
    D: Fn(T, Result<Vec<u8>, RenderError>) + Sync,
{
    let work = || {
        while let Some(job) = next() {
            done(job.tag, render_pdf(&job.template, &job.invoice));
        }
    };
    let threads = thread::available_parallelism().map_or(1, NonZeroUsize::get);
    thread::scope(|scope| {
        let helpers: Vec<_> = (1..threads).map(|_| scope.spawn(work)).collect();
        // This thread is one of the workers.
        work();
        for helper in helpers {
            helper.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        }
    });
}

/// Compiles an uploaded template against the sample invoice; the errors name their line.
pub fn check_template(source: &str) -> Result<(), Vec<TemplateError>> {
    match render_pdf(source, &sample_invoice()) {
        Ok(_) => Ok(()),
        Err(RenderError::Template(errors)) => Err(errors),
        Err(other) => Err(vec![TemplateError {
            line: None,
            column: None,
            message: other.to_string(),
        }]),
    }
}

fn template_errors(world: &InvoiceWorld, diagnostics: &EcoVec<SourceDiagnostic>) -> Vec<TemplateError> {
    diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| template_error(world, d))
        .collect()
}

fn template_error(world: &InvoiceWorld, diagnostic: &SourceDiagnostic) -> TemplateError {
    let mut message = diagnostic.message.to_string();
    for hint in &diagnostic.hints {
        message.push_str(" (hint: ");
        message.push_str(&hint.v);
        message.push(')');
    }
    // An error inside a function called by the template points at the call in the template.
    let span = std::iter::once(diagnostic.span)
        .chain(diagnostic.trace.iter().map(|t| t.span.into()))
        .find(|span| span.id() == Some(template_id()));
    let position = span
        .and_then(|span| world.range(span))
        .and_then(|range| world.source_text().lines().byte_to_line_column(range.start));
    match position {
        Some((line, column)) => TemplateError {
            line: Some(line + 1),
            column: Some(column + 1),
            message,
        },
        None => TemplateError {
            line: None,
            column: None,
            message,
        },
    }
}
