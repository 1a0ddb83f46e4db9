//! `classbill bench` at a tiny scale: every phase appears in the table and the JSON, and the counts add up on both
//! backends. The figures themselves are never asserted; they belong in docs/benchmarks.md.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use classbill_store::Store;
use classbill_testkit::{Backend, TestDatabase, database_url};
use serde_json::Value;

const BINARY: &str = env!("CARGO_BIN_EXE_classbill");
const CUSTOMERS: u64 = 12;
const XDRS_PER_CUSTOMER: u64 = 5;

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(future)
}

fn fresh_database(backend: Backend) -> TestDatabase {
    block_on(database_url(backend))
}

/// The single number `sql` answers on the database at `url`.
fn count_rows(url: &str, sql: &'static str) -> i64 {
    block_on(async {
        let store = Store::connect(url).await.expect("database opens");
        let mut tx = store.read().await.expect("read transaction");
        let (n,): (i64,) = tx.fetch_one(sql, Vec::new()).await.expect("count");
        drop(tx);
        store.close().await;
        n
    })
}

fn bench(dir: &Path, url: &str, extra: &[&str]) -> Output {
    let output = Command::new(BINARY)
        .current_dir(dir)
        .env_remove("CLASSBILL_DATABASE_URL")
        .env_remove("CLASSBILL_LOG")
        .args(["--database", url, "bench", "--seed", "7", "--dir"])
        .arg(dir)
        .args(["--customers", &CUSTOMERS.to_string()])
        .args(["--xdrs-per-customer", &XDRS_PER_CUSTOMER.to_string()])
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .expect("the binary runs");
    assert!(
        output.status.success(),
        "bench failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn bench_reports_every_phase_with_matching_counts(backend: Backend) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let database = fresh_database(backend);
    let output = bench(dir.path(), &database.url, &["--json", "--api-seconds", "1"]);
    let report: Value = serde_json::from_slice(&output.stdout).expect("the report is JSON");
    assert_eq!(report["backend"], backend.name());
    assert_eq!(report["scale"]["xdrs"], CUSTOMERS * XDRS_PER_CUSTOMER);
    let phases = report["phases"].as_array().expect("phases");
    let names: Vec<&str> = phases.iter().map(|p| p["phase"].as_str().expect("name")).collect();
    assert_eq!(
        names,
        [
            "raw-load",
            "import",
            "bill-floor",
            "bill-run",
            "pdf-render",
            "collection-floor",
            "collection-run"
        ]
    );
    let expected_rows = [
        CUSTOMERS * XDRS_PER_CUSTOMER,
        CUSTOMERS * XDRS_PER_CUSTOMER,
        CUSTOMERS,
        CUSTOMERS,
        CUSTOMERS,
        2 * CUSTOMERS,
        2 * CUSTOMERS,
    ];
    for (phase, rows) in phases.iter().zip(expected_rows) {
        assert_eq!(phase["rows"], rows, "{phase}");
        assert_eq!(phase["rejected"], 0, "{phase}");
        assert!(phase["peak_memory_kib"].as_u64().expect("memory") > 0, "{phase}");
    }
    let ratios = report["ratios"].as_array().expect("ratios");
    assert_eq!(ratios.len(), 5);
    assert!(ratios.iter().all(|r| r["value"].is_number()), "{ratios:?}");
    // Every invoice became overdue and carries its late fee in the next period.
    let late_fees = count_rows(&database.url, "SELECT COUNT(*) FROM xdrs WHERE kind = 'late_fee'");
    assert_eq!(late_fees, i64::try_from(CUSTOMERS).expect("count"));
    // wrk drove every endpoint through the server, and every answer was a success.
    let endpoints = report["api"]["endpoints"].as_array().expect("API figures");
    let names: Vec<&str> = endpoints
        .iter()
        .map(|e| e["endpoint"].as_str().expect("name"))
        .collect();
    assert_eq!(names.len(), 5, "{names:?}");
    assert_eq!(names[0], "GET /healthz");
    for endpoint in endpoints {
        assert_eq!(endpoint["errors"], 0, "{endpoint}");
    }
    // A debug build may not finish one batch of 1,000 xDRs within the second; every read answers many times.
    for endpoint in &endpoints[..4] {
        assert!(
            endpoint["requests_per_second"].as_f64().expect("rate") > 0.0,
            "{endpoint}"
        );
    }

    // The same scale on a used database is refused rather than mixed with what is there.
    let again = Command::new(BINARY)
        .args(["--database", &database.url, "bench", "--customers", "1", "--dir"])
        .arg(dir.path())
        .output()
        .expect("the binary runs");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("needs an empty database"));

    // The API alone, on the database the run filled: no phase runs again, every endpoint answers.
    let api_only = bench(
        dir.path(),
        &database.url,
        &["--json", "--api-only", "--api-seconds", "1"],
    );
    let api: Value = serde_json::from_slice(&api_only.stdout).expect("the API figures are JSON");
    let endpoints = api["endpoints"].as_array().expect("API figures");
    assert_eq!(endpoints.len(), 5, "{api}");
    assert!(endpoints.iter().all(|e| e["errors"] == 0), "{api}");
    assert!(api.get("phases").is_none(), "{api}");
    let invoices = count_rows(&database.url, "SELECT COUNT(*) FROM invoices");
    assert_eq!(invoices, i64::try_from(CUSTOMERS).expect("count"), "no second bill run");
}

#[test]
fn bench_reports_every_phase_with_matching_counts_on_sqlite() {
    bench_reports_every_phase_with_matching_counts(Backend::Sqlite);
}

#[test]
fn bench_reports_every_phase_with_matching_counts_on_postgres() {
    bench_reports_every_phase_with_matching_counts(Backend::Postgres);
}

#[test]
fn bench_table_names_every_phase_and_ratio() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let database = fresh_database(Backend::Sqlite);
    let output = bench(dir.path(), &database.url, &["--api-seconds", "1"]);
    let table = String::from_utf8_lossy(&output.stdout);
    for row in [
        "raw-load",
        "import",
        "bill-floor",
        "bill-run",
        "pdf-render",
        "import rate / raw load rate",
        "bill run time / SQL floor time",
        "hours for 1M PDFs on 2 cores",
        "collection-run",
        "collection run / schedule scan",
        "API under load",
        "GET /api/v1/customers/{id}/effective-settings",
        "target >= 0.5 and p99 < 20 ms",
    ] {
        assert!(table.contains(row), "{row} missing from\n{table}");
    }
}
