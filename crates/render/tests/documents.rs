//! The built-in template against the worked example §7.1, template errors with their line, and the HTML view.

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use classbill_render::{
    PdfJob, RenderError, STANDARD_TEMPLATE, TemplateError, check_template, render_each, render_html, render_pdf,
    sample_invoice,
};

/// The text layer of a PDF, as `pdftotext` (poppler-utils) reads it.
fn pdf_text(pdf: &[u8]) -> String {
    let mut child = Command::new("pdftotext")
        .args(["-layout", "-", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("pdftotext (poppler-utils) is installed");
    child.stdin.take().expect("stdin").write_all(pdf).expect("pdf written");
    let output = child.wait_with_output().expect("pdftotext ran");
    assert!(output.status.success(), "pdftotext failed");
    String::from_utf8(output.stdout).expect("utf-8 text")
}

fn errors_of(source: &str) -> Vec<TemplateError> {
    check_template(source).expect_err("the template is broken")
}

#[test]
fn example_7_1_invoice_renders_with_the_standard_template() {
    let pdf = render_pdf(STANDARD_TEMPLATE, &sample_invoice()).expect("renders");
    assert!(pdf.starts_with(b"%PDF-"));
    let text = pdf_text(&pdf);
    for expected in [
        "INV-000042",
        "Example Telecom GmbH",
        "Berlin Dental GmbH",
        "DE123456789",
        "2025-03-01 – 2025-03-31",
        "2025-04-16",
        "Sip trunk",
        "TRUNK-M",
        "12.34567",
        "-2.00",
        "35.45812",
        "VAT 19 % on 66.34812",
        "12.60614",
        "0.00574",
        "78.96 EUR",
        "50.00",
        "-60.00",
        "Amount due",
        "68.96 EUR",
        "Contract number",
        "C-2025-0042",
    ] {
        assert!(text.contains(expected), "{expected:?} missing from:\n{text}");
    }
}

#[test]
fn reverse_charge_and_exemption_notes_are_printed() {
    let mut invoice = sample_invoice();
    invoice.taxes[0].reverse_charge = true;
    invoice.taxes[0].amount = "0.00".to_owned();
    invoice.notes = vec!["Reverse charge: the recipient is liable for the VAT.".to_owned()];
    let text = pdf_text(&render_pdf(STANDARD_TEMPLATE, &invoice).expect("renders"));
    assert!(text.contains("VAT (reverse charge) on 66.34812"), "{text}");
    assert!(text.contains("the recipient is liable for the VAT"), "{text}");
}

#[test]
fn out_of_turn_invoice_without_period_renders() {
    let mut invoice = sample_invoice();
    invoice.kind = "oot".to_owned();
    invoice.period = None;
    invoice.custom_fields.clear();
    invoice.customer.tax_id = None;
    let text = pdf_text(&render_pdf(STANDARD_TEMPLATE, &invoice).expect("renders"));
    assert!(text.contains("INVOICE (OUT OF TURN)"), "{text}");
    assert!(!text.contains("Amount due"), "{text}");
    assert!(text.contains("Please pay 68.96 EUR by 2025-04-16"), "{text}");
}

/// The page count of a PDF, as `pdfinfo` (poppler-utils) reads it.
fn pdf_pages(pdf: &[u8]) -> usize {
    let file = std::env::temp_dir().join(format!("classbill-pages-{}.pdf", std::process::id()));
    std::fs::write(&file, pdf).expect("pdf written");
    let output = Command::new("pdfinfo")
        .arg(&file)
        .output()
        .expect("pdfinfo (poppler-utils) is installed");
    std::fs::remove_file(&file).expect("removed");
    let info = String::from_utf8(output.stdout).expect("utf-8 text");
    info.lines()
        .find_map(|line| line.strip_prefix("Pages:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no page count in:\n{info}"))
}

#[test]
fn a_one_page_invoice_carries_no_page_count() {
    let pdf = render_pdf(STANDARD_TEMPLATE, &sample_invoice()).expect("renders");
    assert_eq!(pdf_pages(&pdf), 1);
    let text = pdf_text(&pdf);
    assert!(
        text.contains("Example Telecom GmbH · INV-000042"),
        "the footer is there:\n{text}"
    );
    assert!(!text.replace(' ', "").contains("1/1"), "{text}");
}

#[test]
fn a_longer_invoice_numbers_every_page_with_the_count() {
    let mut invoice = sample_invoice();
    let lines = invoice.groups[0].lines.clone();
    for n in 0..80 {
        let mut line = lines[n % lines.len()].clone();
        line.rate_code = Some(format!("RATE-{n:03}"));
        invoice.groups[0].lines.push(line);
    }
    let pdf = render_pdf(STANDARD_TEMPLATE, &invoice).expect("renders");
    let pages = pdf_pages(&pdf);
    assert!(pages >= 2, "80 more lines take more than a page");
    let text = pdf_text(&pdf);
    // pdftotext drops the thin spaces around the slash.
    let squeezed = text.replace(' ', "");
    for page in 1..=pages {
        assert!(
            squeezed.contains(&format!("{page}/{pages}")),
            "page {page} of {pages} missing from:\n{text}"
        );
    }
    assert!(text.contains("RATE-079") && text.contains("68.96 EUR"), "{text}");
}

#[test]
fn rendering_is_reproducible() {
    let first = render_pdf(STANDARD_TEMPLATE, &sample_invoice()).expect("renders");
    let second = render_pdf(STANDARD_TEMPLATE, &sample_invoice()).expect("renders");
    assert_eq!(first, second);
}

#[test]
fn jobs_rendered_on_every_core_come_out_as_each_alone() {
    let broken: Arc<str> = Arc::from("#let invoice = json(\"invoice.json\")\n#invoice.missing\n");
    let standard: Arc<str> = Arc::from(STANDARD_TEMPLATE);
    let jobs: Vec<PdfJob<usize>> = (0..7)
        .map(|n| {
            let mut invoice = sample_invoice();
            invoice.number = format!("INV-{n:06}");
            PdfJob {
                tag: n,
                template: if n == 3 { broken.clone() } else { standard.clone() },
                invoice,
            }
        })
        .collect();
    let queue = Mutex::new(jobs.clone());
    let results = Mutex::new(Vec::new());
    render_each(
        || queue.lock().expect("queue").pop(),
        |n, result| results.lock().expect("results").push((n, result)),
    );
    let mut results = results.into_inner().expect("results");
    results.sort_by_key(|(n, _)| *n);
    assert_eq!(results.len(), jobs.len(), "every job is rendered once");
    for ((n, result), job) in results.iter().zip(&jobs) {
        assert_eq!(*n, job.tag);
        if *n == 3 {
            assert!(matches!(result, Err(RenderError::Template(_))), "{result:?}");
            continue;
        }
        let pdf = result.as_ref().expect("renders");
        assert_eq!(
            pdf,
            &render_pdf(STANDARD_TEMPLATE, &job.invoice).expect("renders"),
            "invoice {n}"
        );
        assert!(pdf_text(pdf).contains(&job.invoice.number), "invoice {n}");
    }
    // Nothing to do: returns at once.
    render_each(|| None::<PdfJob<()>>, |(), _| panic!("nothing was queued"));
}

#[test]
fn a_template_edited_between_renders_renders_as_edited() {
    let invoice = sample_invoice();
    let first = "#let invoice = json(\"invoice.json\")\nFirst #invoice.number\n";
    let second = "#let invoice = json(\"invoice.json\")\nSecond #invoice.number\n";
    assert!(pdf_text(&render_pdf(first, &invoice).expect("renders")).contains("First INV-000042"));
    assert!(pdf_text(&render_pdf(second, &invoice).expect("renders")).contains("Second INV-000042"));
    assert!(pdf_text(&render_pdf(first, &invoice).expect("renders")).contains("First INV-000042"));
}

#[test]
fn the_standard_template_passes_the_upload_check() {
    assert_eq!(check_template(STANDARD_TEMPLATE), Ok(()));
}

#[test]
fn a_syntax_error_names_its_line() {
    let errors = errors_of("#let invoice = json(\"invoice.json\")\n= Invoice\n#table(columns: 2,\n");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].line, Some(3));
    assert!(errors[0].message.contains("unclosed delimiter"), "{errors:?}");
}

#[test]
fn an_unknown_invoice_field_names_its_line() {
    let errors = errors_of("#let invoice = json(\"invoice.json\")\n\nTotal: #invoice.totals.grand_total\n");
    assert_eq!(errors[0].line, Some(3), "{errors:?}");
    assert!(errors[0].message.contains("grand_total"), "{errors:?}");
    assert_eq!(
        errors[0].to_string(),
        format!("line 3, column {}: {}", errors[0].column.unwrap(), errors[0].message)
    );
}

#[test]
fn an_error_inside_a_template_function_names_the_line_of_the_function() {
    let source =
        "#let invoice = json(\"invoice.json\")\n#let show-total(t) = {\n  t.missing\n}\n#show-total(invoice.totals)\n";
    let errors = errors_of(source);
    assert_eq!(errors[0].line, Some(3), "{errors:?}");
}

#[test]
fn a_template_reaches_no_other_file() {
    let errors = errors_of("#read(\"/etc/hostname\")\n");
    assert_eq!(errors[0].line, Some(1));
    assert!(errors[0].message.contains("not found"), "{errors:?}");
    let errors = errors_of("#import \"@preview/example:0.1.0\": *\n");
    assert_eq!(errors[0].line, Some(1), "{errors:?}");
}

#[test]
fn the_render_error_lists_every_syntax_error() {
    let Err(RenderError::Template(errors)) = render_pdf("#let = 1\n\n#let = 2\n", &sample_invoice()) else {
        panic!("the template is broken");
    };
    assert_eq!(
        errors.iter().map(|e| e.line).collect::<Vec<_>>(),
        [Some(1), Some(3)],
        "{errors:?}"
    );
}

#[test]
fn html_view_shows_the_invoice_and_escapes_its_text() {
    let mut invoice = sample_invoice();
    invoice.customer.name = "<script>alert(1)</script> & Co".to_owned();
    let html = render_html(&invoice).expect("renders");
    assert!(html.starts_with("<!doctype html>"), "{html}");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt; &amp; Co"),
        "{html}"
    );
    assert!(!html.contains("<script>"));
    for expected in [
        "INV-000042",
        "TRUNK-M",
        "66.34812",
        "78.96 EUR",
        "68.96 EUR",
        "C-2025-0042",
        "Sip trunk",
    ] {
        assert!(html.contains(expected), "{expected:?} missing from:\n{html}");
    }
}
