//! Crash and resume of `classbill bill-run` (customer-classes §5.3, issue 5): a run killed at any point and
//! rerun with `--retry --as-of` leaves exactly the invoices, numbers and xDRs of an uninterrupted run, and two
//! runs at once on PostgreSQL issue every invoice once with gapless numbers.
//!
//! The kill points come from the binary's `CLASSBILL_TEST_ABORT_AFTER_COMMITS` hook (abort right after the
//! N-th commit of the close, which is what `kill -9` at that moment does) and from SIGKILL after a delay.

mod common;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use classbill_engine::{Actor, Engine, NewCustomer};
use classbill_store::Store;
use classbill_testkit::{Backend, database_url};
use common::{Outcome, assert_gapless, block_on, classbill, copy_of, describe, numbers_by_owner, outcome};
use jiff::Timestamp;
use serde_json::json;
use tempfile::TempDir;

const CUSTOMERS: usize = 300;
const BATCH_SIZE: &str = "10";
/// Every January and February period of the dataset is due then (monthly and semimonthly, 6 h close delay).
const AS_OF: &str = "2025-03-02T00:00:00Z";

fn bill_run(dir: &Path, url: &str, extra: &[&str]) -> Output {
    let mut args = vec!["bill-run", "--batch-size", BATCH_SIZE];
    args.extend_from_slice(extra);
    classbill(dir, url, &args).output().expect("the binary runs")
}

fn bill_run_ok(dir: &Path, url: &str, extra: &[&str]) {
    let output = bill_run(dir, url, extra);
    assert!(output.status.success(), "bill-run {extra:?}: {}", describe(&output));
}

/// The dataset: customers in three zones with monthly and semimonthly periods from mid-January, each with a
/// few usage xDRs per period, some of them credits.
async fn load_dataset(url: &str) {
    let store = Store::connect(url).await.expect("database opens");
    let engine = Engine::new(store.clone());
    let now = Timestamp::now();
    engine.initialize(now).await.expect("schema");
    let system = Actor::system();
    // The Default class issues no invoices; this one does, with a tax, so every close books engine xDRs.
    let class_id = common::invoicing_class(&engine, "Invoiced", "19", json!({}), now).await;
    let zones = ["UTC", "Europe/Berlin", "America/New_York"];
    let mut xdrs = Vec::new();
    for n in 0..CUSTOMERS {
        let customer = engine
            .create_customer(
                &system,
                NewCustomer {
                    name: format!("Customer {n}"),
                    currency: Some("EUR".to_owned()),
                    class_id: Some(class_id),
                    time_zone: Some(zones[n % zones.len()].to_owned()),
                    billing_period: Some(if n % 4 == 0 { "semimonthly" } else { "monthly" }.to_owned()),
                    activated_at: Some("2025-01-15T12:00:00Z".parse().expect("instant")),
                    ..NewCustomer::default()
                },
                now,
            )
            .await
            .expect("customer created");
        for (k, day) in ["2025-01-20", "2025-02-03", "2025-02-17", "2025-02-25"]
            .iter()
            .enumerate()
        {
            let amount = if (n + k) % 7 == 0 {
                "-1.5".to_owned()
            } else {
                format!("{}.{:05}", (n * 3 + k) % 40, (n * 7919 + k * 104_729) % 100_000)
            };
            xdrs.push(json!({
                "party_id": customer.id,
                "external_id": format!("u-{n}-{k}"),
                "occurred_at": format!("{day}T10:00:00Z"),
                "kind": if amount.starts_with('-') { "credit" } else { "usage" },
                "service": "voice",
                "quantity": "1",
                "amount": amount,
            }));
        }
    }
    for chunk in xdrs.chunks(1_000) {
        engine
            .ingest_xdrs(&system, &json!({ "xdrs": chunk }), now)
            .await
            .expect("xDRs stored");
    }
    store.close().await;
}

/// Where the uninterrupted reference run and the template live.
struct Fixture {
    dir: TempDir,
    template: std::path::PathBuf,
    reference: Outcome,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("temporary directory");
    let template = dir.path().join("template.db");
    let url = format!("sqlite://{}", template.display());
    block_on(load_dataset(&url));
    let reference_url = copy_of(&template, dir.path(), "reference.db");
    bill_run_ok(dir.path(), &reference_url, &["--as-of", AS_OF]);
    let reference = block_on(outcome(&reference_url));
    assert!(
        reference.invoices.len() >= CUSTOMERS * 2,
        "every customer has at least two closed periods with an invoice: {}",
        reference.invoices.len()
    );
    assert_gapless(&reference.sequences, &block_on(numbers_by_owner(&reference_url)));
    Fixture {
        dir,
        template,
        reference,
    }
}

/// Runs bill-run until the hook aborts it after `commits` commits; answers whether it was stopped (false when
/// the run had fewer commits and finished).
fn run_and_abort(dir: &Path, url: &str, commits: u64, retry: bool) -> bool {
    let mut args = vec!["bill-run", "--batch-size", BATCH_SIZE, "--as-of", AS_OF];
    if retry {
        args.push("--retry");
    }
    let output = classbill(dir, url, &args)
        .env("CLASSBILL_TEST_ABORT_AFTER_COMMITS", commits.to_string())
        .output()
        .expect("the binary runs");
    !output.status.success()
}

#[test]
fn a_killed_bill_run_resumes_to_the_uninterrupted_result_on_sqlite() {
    let f = fixture();
    // 300 parties in batches of 10 are 30 batches of two commits each: stop after many different ones.
    let points: Vec<u64> = (1..=60).step_by(3).chain([2, 59, 60]).collect();
    assert!(points.len() >= 20);
    for (n, commits) in points.iter().enumerate() {
        let url = copy_of(&f.template, f.dir.path(), &format!("abort-{n}.db"));
        assert!(
            run_and_abort(f.dir.path(), &url, *commits, false),
            "the run stopped after commit {commits}"
        );
        bill_run_ok(f.dir.path(), &url, &["--retry", "--as-of", AS_OF]);
        let resumed = block_on(outcome(&url));
        assert_eq!(resumed, f.reference, "aborted after commit {commits}, then resumed");
        assert_gapless(&resumed.sequences, &block_on(numbers_by_owner(&url)));
    }

    // Killed twice in a row, the second time during the resumption itself.
    for (first, second) in [(7, 3), (20, 1), (41, 2)] {
        let url = copy_of(&f.template, f.dir.path(), &format!("twice-{first}-{second}.db"));
        assert!(run_and_abort(f.dir.path(), &url, first, false));
        run_and_abort(f.dir.path(), &url, second, true);
        bill_run_ok(f.dir.path(), &url, &["--retry", "--as-of", AS_OF]);
        assert_eq!(
            block_on(outcome(&url)),
            f.reference,
            "aborted after {first}, then {second}"
        );
    }

    // SIGKILL after varying delays, wherever the run happens to be.
    for (n, millis) in [0_u64, 40, 90, 150, 250, 400, 700].iter().enumerate() {
        let url = copy_of(&f.template, f.dir.path(), &format!("kill-{n}.db"));
        let mut child = classbill(
            f.dir.path(),
            &url,
            &["bill-run", "--batch-size", BATCH_SIZE, "--as-of", AS_OF],
        )
        .spawn()
        .expect("the binary starts");
        std::thread::sleep(Duration::from_millis(*millis));
        let _ = child.kill();
        let _ = child.wait();
        bill_run_ok(f.dir.path(), &url, &["--retry", "--as-of", AS_OF]);
        assert_eq!(block_on(outcome(&url)), f.reference, "killed after {millis} ms");
    }
}

#[test]
fn a_rerun_after_completion_changes_nothing() {
    let f = fixture();
    let url = copy_of(&f.template, f.dir.path(), "rerun.db");
    bill_run_ok(f.dir.path(), &url, &["--as-of", AS_OF]);
    bill_run_ok(f.dir.path(), &url, &["--retry", "--as-of", AS_OF]);
    bill_run_ok(f.dir.path(), &url, &["--as-of", AS_OF]);
    assert_eq!(block_on(outcome(&url)), f.reference);
}

#[test]
fn two_concurrent_bill_runs_on_postgresql_issue_each_invoice_once_without_gaps() {
    let f = fixture();
    let db = block_on(database_url(Backend::Postgres));
    block_on(load_dataset(&db.url));
    let children: Vec<_> = (0..2)
        .map(|_| {
            classbill(
                f.dir.path(),
                &db.url,
                &["bill-run", "--batch-size", "5", "--as-of", AS_OF],
            )
            .spawn()
            .expect("the binary starts")
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().expect("the run finishes");
        assert!(output.status.success(), "{}", describe(&output));
    }
    let concurrent = block_on(outcome(&db.url));
    assert_gapless(&concurrent.sequences, &block_on(numbers_by_owner(&db.url)));
    // Which run numbered which invoice depends on who committed first; everything else is the reference.
    assert_eq!(concurrent, f.reference);
}
