//! How fast a template renders: `cargo run --release -p classbill-render --example render_rate [COUNT] [TEMPLATE.typ]`
//! (the built-in template when no file is named).
//! The first rendering also loads the fonts and fills Typst's caches; the rest show the steady rate, first on
//! one core, then on every core the way the queued-PDF pass renders.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use classbill_render::{PdfJob, STANDARD_TEMPLATE, render_each, render_html, render_pdf, sample_invoice};

fn main() {
    let count: u32 = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(200);
    let source: String = match std::env::args().nth(2) {
        Some(path) => std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}")),
        None => STANDARD_TEMPLATE.to_owned(),
    };
    let mut invoice = sample_invoice();

    let started = Instant::now();
    let first = render_pdf(&source, &invoice).expect("the sample renders");
    println!("first PDF: {:?} ({} bytes)", started.elapsed(), first.len());

    let started = Instant::now();
    for n in 0..count {
        // A different number on each invoice, as in a billing run.
        invoice.number = format!("INV-{n:06}");
        render_pdf(&source, &invoice).expect("the sample renders");
    }
    let per_pdf = started.elapsed() / count;
    println!(
        "{count} PDFs: {per_pdf:?} each, {:.0} per second on one core",
        1.0 / per_pdf.as_secs_f64()
    );

    let template: Arc<str> = Arc::from(source);
    let queue = Mutex::new((0..count).map(|n| {
        let mut invoice = invoice.clone();
        invoice.number = format!("INV-B{n:06}");
        PdfJob {
            tag: n,
            template: template.clone(),
            invoice,
        }
    }));
    let failed = AtomicU32::new(0);
    let started = Instant::now();
    render_each(
        || queue.lock().expect("queue").next(),
        |_, result| {
            if result.is_err() {
                failed.fetch_add(1, Ordering::Relaxed);
            }
        },
    );
    let elapsed = started.elapsed();
    assert_eq!(failed.into_inner(), 0, "every invoice renders");
    println!(
        "{count} PDFs on every core: {:.0} per second",
        f64::from(count) / elapsed.as_secs_f64()
    );

    let started = Instant::now();
    for _ in 0..count {
        render_html(&invoice).expect("the sample renders");
    }
    println!("{count} HTML views: {:?} each", started.elapsed() / count);
}
