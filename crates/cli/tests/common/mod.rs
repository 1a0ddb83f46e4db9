//! The harness of the binary's end-to-end tests: runs the real `classbill` with none of the operator's settings
//! leaking in, loads datasets through the engine, and reads back what must survive any crash (invoices once,
//! numbers without a gap, every xDR).
#![allow(dead_code)] // each test binary uses a different part of the harness

pub mod process;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use classbill_engine::catalog::InvoiceTemplateKind;
use classbill_engine::{Actor, Engine, NewUserRole, PageRequest};
use classbill_store::Store;
use jiff::Timestamp;
use serde_json::{Value, json};

pub const BINARY: &str = env!("CARGO_BIN_EXE_classbill");

/// Environment variables that would steer the binary away from what a test asks for.
const OPERATOR_ENV: [&str; 4] = [
    "CLASSBILL_DATABASE_URL",
    "CLASSBILL_SMTP_URL",
    "CLASSBILL_LOG",
    "CLASSBILL_TEST_ABORT_AFTER_COMMITS",
];

pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(future)
}

/// The login of the administrator [`admin_token`] adds.
pub const ADMIN: &str = "admin";

/// Adds the administrator [`ADMIN`] to the engine's database; answers an API token of theirs.
pub async fn admin_token(engine: &Engine, now: Timestamp) -> String {
    engine
        .add_user(ADMIN, "a long enough password", NewUserRole::Administrator, now)
        .await
        .expect("administrator");
    engine.create_token(ADMIN, now).await.expect("token")
}

/// `classbill --database <url> <args>` in `dir`, stdout and stderr piped.
pub fn classbill(dir: &Path, url: &str, args: &[&str]) -> Command {
    let mut command = Command::new(BINARY);
    command.current_dir(dir);
    for name in OPERATOR_ENV {
        command.env_remove(name);
    }
    command
        .arg("--database")
        .arg(url)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

pub fn describe(output: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Runs the binary to completion.
pub fn run(dir: &Path, url: &str, args: &[&str]) -> Output {
    classbill(dir, url, args).output().expect("the binary runs")
}

pub fn run_ok(dir: &Path, url: &str, args: &[&str]) -> Output {
    let output = run(dir, url, args);
    assert!(output.status.success(), "classbill {args:?}: {}", describe(&output));
    output
}

/// Runs the binary and expects it to fail with `message` on stderr.
pub fn run_fails(dir: &Path, url: &str, args: &[&str], message: &str) -> Output {
    let output = run(dir, url, args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains(message),
        "classbill {args:?} should fail with {message:?}: {}",
        describe(&output)
    );
    output
}

/// The id of the built-in invoice template.
pub async fn builtin_template(engine: &Engine) -> i64 {
    engine
        .list_catalog::<InvoiceTemplateKind>(&Actor::system(), PageRequest::new(None, None).expect("page"))
        .await
        .expect("templates listed")
        .items
        .into_iter()
        .find(|t| t.builtin)
        .expect("the built-in template")
        .id
}

/// Creates a class that issues regular invoices with the built-in template and a fixed VAT of `rate` percent;
/// `regular` adds to (or replaces) its `regular_invoices` tab. Answers the class id.
pub async fn invoicing_class(engine: &Engine, name: &str, rate: &str, regular: Value, now: Timestamp) -> i64 {
    let mut tab = json!({"enabled": true, "template_id": builtin_template(engine).await});
    if let (Some(tab), Some(extra)) = (tab.as_object_mut(), regular.as_object()) {
        tab.extend(extra.clone());
    }
    let class = json!({"name": name, "currency": "EUR", "regular_invoices": tab,
        "taxation": {"method": "fixed_vat", "fixed_vat": {"rate_percent": rate}}});
    engine
        .create_class(&Actor::system(), class, now)
        .await
        .expect("class created")
        .class
        .id
}

/// A SQLite copy of the database file `template` (with its write-ahead log) named `name` in `dir`.
pub fn copy_of(template: &Path, dir: &Path, name: &str) -> String {
    let path = dir.join(name);
    std::fs::copy(template, &path).expect("dataset copied");
    // A write-ahead log left beside the file belongs to the copy too.
    let wal = wal_of(template);
    if wal.exists() {
        std::fs::copy(&wal, wal_of(&path)).expect("write-ahead log copied");
    }
    format!("sqlite://{}", path.display())
}

fn wal_of(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

/// Every owner's invoice numbers (`0` for the operator), ascending.
pub async fn numbers_by_owner(url: &str) -> Vec<(i64, Vec<String>)> {
    let store = Store::connect(url).await.expect("database opens");
    let mut tx = store.read().await.expect("read transaction");
    let rows: Vec<(i64, String)> = tx
        .fetch_all(
            "SELECT COALESCE(owner_reseller_id, 0), number FROM invoices ORDER BY 1, 2",
            Vec::new(),
        )
        .await
        .expect("numbers");
    drop(tx);
    store.close().await;
    let mut owners: Vec<(i64, Vec<String>)> = Vec::new();
    for (owner, number) in rows {
        match owners.last_mut() {
            Some((last, numbers)) if *last == owner => numbers.push(number),
            _ => owners.push((owner, vec![number])),
        }
    }
    owners
}

/// Every owner's invoice numbers run from 1 to the count without a gap or a repeat, and the owner's counter
/// (from `sequences`, `(owner_key, next_number)`) comes next.
pub fn assert_gapless(sequences: &[(i64, i64)], invoices_by_owner: &[(i64, Vec<String>)]) {
    for (owner, numbers) in invoices_by_owner {
        let mut values: Vec<i64> = numbers
            .iter()
            .map(|n| n.trim_start_matches("INV-").parse().expect("numeric invoice number"))
            .collect();
        values.sort_unstable();
        let expected: Vec<i64> = (1..=values.len() as i64).collect();
        assert_eq!(values, expected, "owner {owner}: numbers are gapless and unique");
        let next = sequences.iter().find(|(key, _)| key == owner).map(|(_, n)| *n);
        assert_eq!(
            next,
            Some(values.len() as i64 + 1),
            "owner {owner}: the counter follows the last number"
        );
    }
}

/// What must not depend on how often a run was interrupted, in a stable order and without ids, clock readings
/// or invoice numbers: invoices per party and period, every xDR with its period and the period and kind of its
/// invoice, every period's state. Which batch takes the next numbers depends on which commits first when batches
/// close side by side; [`assert_gapless`] checks the numbers.
#[derive(Debug, PartialEq, Eq)]
pub struct Outcome {
    pub invoices: Vec<String>,
    pub xdrs: Vec<String>,
    pub periods: Vec<String>,
    pub sequences: Vec<(i64, i64)>,
}

type InvoiceRow = (i64, i64, String, i64, i64, i64, i64, String, String, String);
type XdrRow = (
    i64,
    i64,
    String,
    String,
    i64,
    Option<String>,
    Option<i64>,
    Option<String>,
    bool,
);

pub async fn outcome(url: &str) -> Outcome {
    let store = Store::connect(url).await.expect("database opens");
    let mut tx = store.read().await.expect("read transaction");
    let invoices: Vec<InvoiceRow> = tx
        .fetch_all(
            "SELECT i.party_id, b.start_at, i.kind, i.net_total, i.total, i.rounding, i.amount_due,
                    i.issue_date, i.due_date, i.status
             FROM invoices i JOIN billing_periods b ON b.id = i.period_id ORDER BY i.party_id, b.start_at, i.kind",
            Vec::new(),
        )
        .await
        .expect("invoices");
    let xdrs: Vec<XdrRow> = tx
        .fetch_all(
            "SELECT x.party_id, b.start_at, x.kind, x.service, x.amount, x.external_id, ib.start_at, i.kind, x.hidden
             FROM xdrs x JOIN billing_periods b ON b.id = x.period_id LEFT JOIN invoices i ON i.id = x.invoice_id
             LEFT JOIN billing_periods ib ON ib.id = i.period_id
             ORDER BY x.party_id, b.start_at, x.kind, x.amount, x.external_id",
            Vec::new(),
        )
        .await
        .expect("xdrs");
    let periods: Vec<(i64, i64, i64, String, Option<i64>)> = tx
        .fetch_all(
            "SELECT party_id, start_at, end_at, status, close_at FROM billing_periods ORDER BY party_id, start_at",
            Vec::new(),
        )
        .await
        .expect("periods");
    let sequences: Vec<(i64, i64)> = tx
        .fetch_all(
            "SELECT owner_key, next_number FROM invoice_sequences ORDER BY owner_key",
            Vec::new(),
        )
        .await
        .expect("sequences");
    drop(tx);
    store.close().await;
    // Engine xDR keys name the period id, which depends on insertion order: keep the step and position only.
    let key = |external: &Option<String>| match external {
        Some(id) if id.starts_with("close:") => id.splitn(3, ':').nth(2).map(|rest| format!("close:*:{rest}")),
        other => other.clone(),
    };
    Outcome {
        invoices: invoices.iter().map(|r| format!("{r:?}")).collect(),
        xdrs: xdrs
            .iter()
            .map(
                |(party, start, kind, service, amount, external, invoice_start, invoice_kind, hidden)| {
                    format!(
                        "{party} {start} {kind} {service} {amount} {:?} {invoice_start:?} {invoice_kind:?} {hidden}",
                        key(external)
                    )
                },
            )
            .collect(),
        periods: periods.iter().map(|r| format!("{r:?}")).collect(),
        sequences,
    }
}

/// No invoice twice (one per party, period and kind), every owner's numbers gapless with the counter next.
pub async fn assert_invoices_sound(url: &str) -> Outcome {
    let outcome = outcome(url).await;
    let mut keys: Vec<String> = outcome
        .invoices
        .iter()
        .map(|row| row.splitn(4, ", ").take(3).collect::<Vec<_>>().join(", "))
        .collect();
    let all = keys.len();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), all, "one invoice per party, period and kind");
    assert_gapless(&outcome.sequences, &numbers_by_owner(url).await);
    outcome
}
