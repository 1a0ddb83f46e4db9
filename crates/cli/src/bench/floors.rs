//! The floors: what the database itself manages with the same data and no Classbill logic. The raw load writes the
//! file's rows into a scratch table of the ledger's shape and indexes (no foreign keys, no checks, no periods) in
//! one transaction; the bill floor is one aggregate of the due periods' xDRs per party inserted as one row per
//! party into a scratch invoice table.

use std::path::Path;

use anyhow::{Context, bail};
use classbill_domain::Money;
use classbill_engine::Engine;
use classbill_store::xdrs::{self, NewXdr};
use classbill_store::{Backend, Tx, args, instants};
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
        "CREATE UNIQUE INDEX bench_floor_xdrs_key ON bench_floor_xdrs (party_id, external_id) \
         WHERE external_id IS NOT NULL",
        "CREATE INDEX bench_floor_xdrs_party_period ON bench_floor_xdrs (party_id, period_id)",
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
fn parse_row(record: &csv::StringRecord, line: u64) -> anyhow::Result<NewXdr> {
    let at: Timestamp = cell(record, 2, line)?.parse()?;
    Ok(NewXdr {
        party_id: cell(record, 0, line)?.parse()?,
        period_id: 0,
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

/// One aggregate of the due periods' xDRs per party and one invoice row per party, as a single statement in one
/// transaction; answers the rows written.
pub async fn bill(engine: &Engine, run_at: Timestamp) -> anyhow::Result<(u64, f64)> {
    let mut tx = engine.store.write().await?;
    execute_all(
        &mut tx,
        &[
            "DROP TABLE IF EXISTS bench_floor_invoices",
            "CREATE TABLE bench_floor_invoices (party_id BIGINT NOT NULL, period_id BIGINT NOT NULL, \
             total BIGINT NOT NULL, xdr_count BIGINT NOT NULL, PRIMARY KEY (party_id, period_id))",
        ],
    )
    .await?;
    tx.commit().await?;

    let started = std::time::Instant::now();
    let mut tx = engine.store.write().await?;
    let written = tx
        .execute(
            "INSERT INTO bench_floor_invoices (party_id, period_id, total, xdr_count)
             SELECT x.party_id, x.period_id, SUM(x.amount), COUNT(*)
             FROM xdrs x JOIN billing_periods b ON b.id = x.period_id
             WHERE b.end_at <= $1 AND b.status <> 'closed'
             GROUP BY x.party_id, x.period_id",
            args![instants::to_micros(run_at)],
        )
        .await?;
    tx.commit().await?;
    if written == 0 {
        bail!("the bill floor found no due period; was the import run?");
    }
    Ok((written, started.elapsed().as_secs_f64()))
}
