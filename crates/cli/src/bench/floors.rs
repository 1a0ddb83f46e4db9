//! The floors: what the database itself manages with the same data and no Classbill logic. The raw load writes the
//! file's rows into a scratch table of the ledger's shape and indexes (no foreign keys, no checks, one stand-in
//! period per party) in one transaction; the bill floor is one aggregate of the due periods' xDRs per party and,
//! in bulk, every row the bill run writes, into scratch tables (see [`bill`]); the collection floor a scan of the
//! due schedule ([`collections`]).

use std::path::Path;

use anyhow::{Context, bail};
use classbill_domain::Money;
use classbill_engine::Engine;
use classbill_store::xdrs::{self, NewXdr};
use classbill_store::{AssertSqlSafe, Backend, Tx, args, instants};
use jiff::Timestamp;

/// Rows parsed before they are sent; bounds the memory of the load.
const LOAD_CHUNK: usize = 20_000;

const FLOOR_XDRS: &str = "bench_floor_xdrs";

/// The scratch ledger: the columns and indexes of `xdrs`, without its foreign keys.
fn create_floor_xdrs(backend: Backend) -> Vec<&'static str> {
    let table = match backend {
        Backend::Postgres => "CREATE TABLE bench_floor_xdrs (LIKE xdrs INCLUDING DEFAULTS INCLUDING IDENTITY)",
        Backend::Sqlite => {
            "CREATE TABLE bench_floor_xdrs (
                id INTEGER PRIMARY KEY AUTOINCREMENT, party_id BIGINT NOT NULL, period_id BIGINT NOT NULL,
                occurred_at BIGINT NOT NULL, kind TEXT NOT NULL, service TEXT NOT NULL, rate_code TEXT,
                description TEXT, quantity BIGINT NOT NULL, amount BIGINT NOT NULL, external_id TEXT,
                invoice_id BIGINT, hidden BOOLEAN NOT NULL DEFAULT FALSE, late BOOLEAN NOT NULL DEFAULT FALSE,
                tax_name TEXT, tax_rate_percent BIGINT, tax_base BIGINT, tax_amount BIGINT, reverse_charge BOOLEAN,
                outside_scope BOOLEAN, created_at BIGINT NOT NULL)"
        }
    };
    vec![
        "DROP TABLE IF EXISTS bench_floor_xdrs",
        table,
        "CREATE UNIQUE INDEX bench_floor_xdrs_key ON bench_floor_xdrs (party_id, external_id)",
        "CREATE INDEX bench_floor_xdrs_period ON bench_floor_xdrs (period_id)",
    ]
}

async fn execute_all(tx: &mut Tx, statements: &[&'static str]) -> anyhow::Result<()> {
    for sql in statements {
        tx.execute(*sql, vec![]).await?;
    }
    Ok(())
}

fn cell(record: &csv::StringRecord, i: usize, line: u64) -> anyhow::Result<&str> {
    record
        .get(i)
        .with_context(|| format!("line {line}: column {} is missing", i + 1))
}

fn optional(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_owned())
}

/// One row of the benchmark file as the ledger stores it; the file is the generator's, so any fault is fatal.
/// The file spans one month, in which the ledger keeps one period per party: the party's id stands for it, so
/// that the floor's period index takes as many keys, as scattered, as the ledger's (one key for every row
/// would be appended in order, a cheaper index than the ledger's).
fn parse_row(record: &csv::StringRecord, line: u64) -> anyhow::Result<NewXdr> {
    let at: Timestamp = cell(record, 2, line)?.parse()?;
    let party_id = cell(record, 0, line)?.parse()?;
    Ok(NewXdr {
        party_id,
        period_id: party_id,
        occurred_at: instants::to_micros(at),
        kind: cell(record, 3, line)?.to_owned(),
        service: cell(record, 4, line)?.to_owned(),
        rate_code: optional(cell(record, 5, line)?),
        description: optional(cell(record, 6, line)?),
        quantity: Money::parse(cell(record, 7, line)?)?.0,
        amount: Money::parse(cell(record, 8, line)?)?.0,
        external_id: optional(cell(record, 1, line)?),
        late: false,
    })
}

/// Loads every row of `file` into the scratch ledger in one transaction; answers the rows loaded. The table is
/// made before the clock starts.
pub async fn raw_load(engine: &Engine, file: &Path) -> anyhow::Result<(u64, f64)> {
    let mut tx = engine.store.write().await?;
    let backend = tx.backend();
    execute_all(&mut tx, &create_floor_xdrs(backend)).await?;
    tx.commit().await?;

    let started = std::time::Instant::now();
    let mut reader = csv::Reader::from_path(file).with_context(|| format!("cannot read {}", file.display()))?;
    let mut tx = engine.store.write().await?;
    let mut rows = Vec::with_capacity(LOAD_CHUNK);
    let mut loaded = 0;
    let created_at = instants::to_micros(Timestamp::now());
    for (n, record) in reader.records().enumerate() {
        let line = u64::try_from(n)? + 2;
        rows.push(parse_row(&record?, line)?);
        if rows.len() == LOAD_CHUNK {
            xdrs::bulk_load(&mut tx, FLOOR_XDRS, &rows, created_at).await?;
            loaded += rows.len();
            rows.clear();
        }
    }
    xdrs::bulk_load(&mut tx, FLOOR_XDRS, &rows, created_at).await?;
    loaded += rows.len();
    tx.commit().await?;
    Ok((u64::try_from(loaded)?, started.elapsed().as_secs_f64()))
}

/// Periods closed per batch by the bill run (`DEFAULT_BATCH_SIZE`): the floor records its close steps per batch
/// of as many periods.
const FLOOR_BATCH: i64 = classbill_engine::DEFAULT_BATCH_SIZE as i64;

/// The scratch tables of the bill floor, each with the columns of the rows the bill run writes there.
fn create_floor_bill(backend: Backend) -> Vec<String> {
    let id = match backend {
        Backend::Postgres => "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
        Backend::Sqlite => "INTEGER PRIMARY KEY AUTOINCREMENT",
    };
    let mut statements: Vec<String> = FLOOR_BILL_TABLES
        .iter()
        .map(|table| format!("DROP TABLE IF EXISTS {table}"))
        .collect();
    statements.extend([
        format!(
            "CREATE TABLE bench_floor_periods (id {id}, party_id BIGINT NOT NULL, start_at BIGINT NOT NULL, \
             end_at BIGINT NOT NULL, status TEXT NOT NULL, settings_snapshot TEXT, created_at BIGINT NOT NULL, \
             UNIQUE (party_id, start_at))"
        ),
        "CREATE INDEX bench_floor_periods_status ON bench_floor_periods (status, end_at)".to_owned(),
        format!(
            "CREATE TABLE bench_floor_ledger (id {id}, party_id BIGINT NOT NULL, period_id BIGINT NOT NULL, \
             kind TEXT NOT NULL, amount BIGINT NOT NULL, external_id TEXT, invoice_id BIGINT)"
        ),
        "CREATE INDEX bench_floor_ledger_period ON bench_floor_ledger (period_id)".to_owned(),
        "CREATE INDEX bench_floor_ledger_invoice ON bench_floor_ledger (invoice_id) WHERE invoice_id IS NOT NULL"
            .to_owned(),
        format!(
            "CREATE TABLE bench_floor_invoices (id {id}, party_id BIGINT NOT NULL, period_id BIGINT NOT NULL \
             UNIQUE, settings_snapshot TEXT NOT NULL, net_total BIGINT NOT NULL, xdr_count BIGINT NOT NULL, \
             open_amount BIGINT NOT NULL, status TEXT NOT NULL, created_at BIGINT NOT NULL)"
        ),
        "CREATE INDEX bench_floor_invoices_party ON bench_floor_invoices (party_id)".to_owned(),
        format!(
            "CREATE TABLE bench_floor_schedule (id {id}, invoice_id BIGINT NOT NULL, party_id BIGINT NOT NULL, \
             event TEXT NOT NULL, due_at BIGINT NOT NULL, state TEXT NOT NULL)"
        ),
        "CREATE INDEX bench_floor_schedule_invoice ON bench_floor_schedule (invoice_id, due_at)".to_owned(),
        "CREATE TABLE bench_floor_pdf_jobs (invoice_id BIGINT PRIMARY KEY, pass_key TEXT NOT NULL, \
         ready BOOLEAN NOT NULL, created_at BIGINT NOT NULL)"
            .to_owned(),
        "CREATE TABLE bench_floor_statistics (period_id BIGINT PRIMARY KEY, full_csv TEXT NOT NULL, \
         created_at BIGINT NOT NULL)"
            .to_owned(),
        "CREATE TABLE bench_floor_close_steps (batch BIGINT NOT NULL, step TEXT NOT NULL, \
         period_ids TEXT NOT NULL, completed_at BIGINT NOT NULL, PRIMARY KEY (batch, step))"
            .to_owned(),
        // The scratch copies start as the due periods and their xDRs are before the bill run.
        "INSERT INTO bench_floor_periods (party_id, start_at, end_at, status, created_at)
         SELECT party_id, start_at, end_at, status, created_at FROM billing_periods
         WHERE end_at <= $1 AND status = 'open' ORDER BY id"
            .to_owned(),
        "INSERT INTO bench_floor_ledger (party_id, period_id, kind, amount, external_id)
         SELECT x.party_id, p.id, x.kind, x.amount, x.external_id
         FROM xdrs x
         JOIN billing_periods b ON b.id = x.period_id
         JOIN bench_floor_periods p ON p.party_id = b.party_id AND p.start_at = b.start_at
         ORDER BY x.id"
            .to_owned(),
    ]);
    statements
}

const FLOOR_BILL_TABLES: [&str; 7] = [
    "bench_floor_invoices",
    "bench_floor_periods",
    "bench_floor_ledger",
    "bench_floor_schedule",
    "bench_floor_pdf_jobs",
    "bench_floor_statistics",
    "bench_floor_close_steps",
];

/// The set-based statements of the bill floor, in the order the bill run writes the same rows; `$1` is the run
/// instant.
fn floor_bill_statements(backend: Backend) -> Vec<String> {
    let (list_of_ids, list_of_lines) = match backend {
        Backend::Postgres => (
            "string_agg(CAST(p.id AS TEXT), ',' ORDER BY p.id)",
            "string_agg(CONCAT(l.external_id, ',', l.kind, ',', l.amount), E'\\n' ORDER BY l.id)",
        ),
        Backend::Sqlite => (
            "group_concat(p.id, ',')",
            "group_concat(l.external_id || ',' || l.kind || ',' || l.amount, char(10))",
        ),
    };
    vec![
        // S1: every due period frozen with its class document, and its successor opened.
        "UPDATE bench_floor_periods SET status = 'closing', settings_snapshot = (
             SELECT c.document FROM parties a JOIN customer_classes c ON c.id = a.class_id
             WHERE a.id = bench_floor_periods.party_id)
         WHERE status = 'open' AND end_at <= $1"
            .to_owned(),
        "INSERT INTO bench_floor_periods (party_id, start_at, end_at, status, created_at)
         SELECT party_id, end_at, end_at + (end_at - start_at), 'open', $1 FROM bench_floor_periods
         WHERE status = 'closing'"
            .to_owned(),
        // S3/S6: one invoice per period from one aggregate of its xDRs, open for its total.
        // Aggregated before the join: grouped by the snapshot too, the sort carried a class document with every
        // xDR and filled the 30 GB left on this disk at 20 million xDRs.
        "INSERT INTO bench_floor_invoices (party_id, period_id, settings_snapshot, net_total, xdr_count,
             open_amount, status, created_at)
         SELECT p.party_id, p.id, p.settings_snapshot, t.net_total, t.xdr_count, t.net_total, 'unpaid', $1
         FROM (SELECT period_id, SUM(amount) AS net_total, COUNT(*) AS xdr_count FROM bench_floor_ledger
               GROUP BY period_id) t
         JOIN bench_floor_periods p ON p.id = t.period_id
         WHERE p.status = 'closing'
         ORDER BY p.id"
            .to_owned(),
        // S3/S4: a tax record on the invoice of each taxed party, a rounding record where the net total is not
        // in whole cents.
        "INSERT INTO bench_floor_ledger (party_id, period_id, kind, amount, external_id)
         SELECT i.party_id, i.period_id, 'tax', i.net_total * 19 / 100, 'tax-' || CAST(i.period_id AS TEXT)
         FROM bench_floor_invoices i JOIN parties a ON a.id = i.party_id
         JOIN customer_classes c ON c.id = a.class_id
         WHERE c.taxation_method <> 'none'
         ORDER BY i.id"
            .to_owned(),
        "INSERT INTO bench_floor_ledger (party_id, period_id, kind, amount, external_id)
         SELECT party_id, period_id, 'rounding', -(net_total % 1000), 'rounding-' || CAST(period_id AS TEXT)
         FROM bench_floor_invoices WHERE net_total % 1000 <> 0
         ORDER BY id"
            .to_owned(),
        // S6: every xDR of the period attached to its invoice.
        "UPDATE bench_floor_ledger SET invoice_id = (
             SELECT i.id FROM bench_floor_invoices i WHERE i.period_id = bench_floor_ledger.period_id)"
            .to_owned(),
        // The frozen schedule (an `overdue` and a `late_fee` event under the benchmark classes' policies) and the
        // postponed PDF job of every invoice.
        "INSERT INTO bench_floor_schedule (invoice_id, party_id, event, due_at, state)
         SELECT i.id, i.party_id, e.event, i.created_at, 'pending' FROM bench_floor_invoices i
         CROSS JOIN (SELECT 'overdue' AS event UNION ALL SELECT 'late_fee') e
         WHERE i.net_total > 0 ORDER BY i.id, e.event"
            .to_owned(),
        "INSERT INTO bench_floor_pdf_jobs (invoice_id, pass_key, ready, created_at)
         SELECT id, 'floor', FALSE, $1 FROM bench_floor_invoices ORDER BY id"
            .to_owned(),
        // S5: the archived statistics of every period, its xDRs as CSV text.
        format!(
            "INSERT INTO bench_floor_statistics (period_id, full_csv, created_at)
             SELECT l.period_id, {list_of_lines}, $1 FROM bench_floor_ledger l GROUP BY l.period_id"
        ),
        // S12, and the eight close steps of each batch of periods with the ids they covered.
        "UPDATE bench_floor_periods SET status = 'closed' WHERE status = 'closing'".to_owned(),
        format!(
            "INSERT INTO bench_floor_close_steps (batch, step, period_ids, completed_at)
             SELECT (p.id - 1) / {FLOOR_BATCH}, s.step, {list_of_ids}, $1
             FROM bench_floor_periods p CROSS JOIN (
                 SELECT 'S1' AS step UNION ALL SELECT 'S2' UNION ALL SELECT 'S3' UNION ALL SELECT 'S4'
                 UNION ALL SELECT 'S11' UNION ALL SELECT 'S6' UNION ALL SELECT 'S12' UNION ALL SELECT 'S5') s
             WHERE p.status = 'closed'
             GROUP BY (p.id - 1) / {FLOOR_BATCH}, s.step"
        ),
    ]
}

/// The bill floor (issue 9): one aggregate of the due periods' xDRs per party and, in bulk, every row the bill
/// run writes for the benchmark data, into scratch tables of the same columns: the frozen and the next periods,
/// the invoices, the tax and rounding records, the invoice of every xDR, the schedules, the PDF jobs, the
/// statistics and the close steps, with set-based statements in one transaction. Left out, being nothing or a
/// handful of rows here: outbox messages and allocations (the benchmark classes announce nothing, and no party
/// has credit), the number reservation of each batch and the run's audit records. The scratch copies of the due
/// periods and their xDRs are made before the clock starts. Answers the invoices written.
pub async fn bill(engine: &Engine, run_at: Timestamp) -> anyhow::Result<(u64, f64)> {
    let run_us = instants::to_micros(run_at);
    let mut tx = engine.store.write().await?;
    let backend = tx.backend();
    for sql in create_floor_bill(backend) {
        let values = if sql.contains("$1") { args![run_us] } else { vec![] };
        tx.execute(AssertSqlSafe(sql), values).await?;
    }
    tx.commit().await?;

    let started = std::time::Instant::now();
    let mut tx = engine.store.write().await?;
    let mut invoices = 0;
    for sql in floor_bill_statements(backend) {
        let values = if sql.contains("$1") { args![run_us] } else { vec![] };
        let written = tx.execute(AssertSqlSafe(sql.clone()), values).await?;
        if sql.contains("INSERT INTO bench_floor_invoices") {
            invoices = written;
        }
    }
    tx.commit().await?;
    if invoices == 0 {
        bail!("the bill floor found no due period; was the import run?");
    }
    Ok((invoices, started.elapsed().as_secs_f64()))
}

/// The collection floor (issue 9): one scan of the schedule table for the events due at `at`, joined with their
/// invoices (what a collection run must read at the least), counted in the database. Answers the events found.
pub async fn collections(engine: &Engine, at: Timestamp) -> anyhow::Result<(u64, f64)> {
    let started = std::time::Instant::now();
    let mut tx = engine.store.read().await?;
    let (due, _largest_open): (i64, Option<i64>) = tx
        .fetch_one(
            "SELECT COUNT(*), MAX(i.open_amount) FROM collection_items c JOIN invoices i ON i.id = c.invoice_id
             WHERE c.state = 'pending' AND c.due_at <= $1",
            args![instants::to_micros(at)],
        )
        .await?;
    drop(tx);
    if due == 0 {
        bail!("the collection floor found no due event; was the bill run run?");
    }
    Ok((u64::try_from(due)?, started.elapsed().as_secs_f64()))
}
