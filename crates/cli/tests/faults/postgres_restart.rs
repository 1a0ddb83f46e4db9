//! Faults 4 and 7: a private PostgreSQL restarted (fast shutdown: sessions cut off, open transactions rolled
//! back) in the middle of a bill run, of a collection run, and of an outbox delivery pass.

use std::process::{Child, Output};
use std::time::{Duration, Instant};

use classbill_testkit::{Backend, PgCluster, SmtpReceiver};

use crate::collection_run::collected;
use crate::common::process::Background;
use crate::common::{assert_invoices_sound, block_on, classbill, describe, run_ok};
use crate::delivery::{collect_notices, deliver_held_and_check, wait_for_delivery, wait_until};
use crate::{BILLED_AT, Dataset, collections, collections_ok, count, load_dunning, load_usage};

/// Customers of the bill-run dataset: enough batches of `RESTART_BATCH` for the restart to fall in the middle.
const USAGE_CUSTOMERS: usize = 120;
const RESTART_BATCH: &str = "4";

#[test]
fn a_bill_run_across_a_postgresql_restart_issues_every_invoice_once() {
    // The uninterrupted run, on SQLite, is the reference: both backends close the same dataset alike.
    let reference = Dataset::prepare(Backend::Sqlite, |url| load_usage(url, USAGE_CUSTOMERS));
    let reference_url = reference.copy("reference");
    run_ok(
        reference.dir(),
        &reference_url,
        &["bill-run", "--batch-size", RESTART_BATCH, "--as-of", BILLED_AT],
    );
    let expected = block_on(assert_invoices_sound(&reference_url));
    assert_eq!(expected.invoices.len(), USAGE_CUSTOMERS * 2, "January and February");

    // A private server, since this one goes down and comes back: once early in the run, once late.
    let mut cluster = PgCluster::start().unwrap_or_else(|e| panic!("a private PostgreSQL: {e}"));
    for (name, fraction) in [("early", 10), ("late", 60)] {
        let url = block_on(database(&cluster, name));
        block_on(load_usage(url.clone(), USAGE_CUSTOMERS));
        let dir = reference.dir();
        let run = classbill(
            dir,
            &url,
            &["bill-run", "--batch-size", RESTART_BATCH, "--as-of", BILLED_AT],
        )
        .spawn()
        .expect("the binary starts");
        let issued = (USAGE_CUSTOMERS * 2 * fraction / 100) as i64;
        restart_during(
            &mut cluster,
            run,
            Progress {
                url: &url,
                sql: "SELECT count(*) FROM invoices",
                at_least: issued,
            },
            &format!("bill run, restarted {name}"),
            "error: the bill run stopped; run it again with --retry",
        );
        run_ok(
            dir,
            &url,
            &[
                "bill-run",
                "--retry",
                "--batch-size",
                RESTART_BATCH,
                "--as-of",
                BILLED_AT,
            ],
        );
        let resumed = block_on(assert_invoices_sound(&url));
        assert_eq!(
            resumed, expected,
            "restarted {name}: every invoice once, with gapless numbers, as without the restart"
        );
    }
}

#[test]
fn a_collection_run_across_a_postgresql_restart_fires_every_event_once() {
    let mut cluster = PgCluster::start().unwrap_or_else(|e| panic!("a private PostgreSQL: {e}"));
    let dir = tempfile::tempdir().expect("temporary directory");
    // The uninterrupted run on the same server is the reference.
    let reference_url = block_on(database(&cluster, "collect_reference"));
    block_on(load_dunning(reference_url.clone()));
    collections_ok(dir.path(), &reference_url);
    let expected = block_on(collected(&reference_url));
    let fired = expected.items.iter().filter(|i| i.contains("\"fired\"")).count() as i64;

    let url = block_on(database(&cluster, "collect_restarted"));
    block_on(load_dunning(url.clone()));
    let run = collections(dir.path(), &url).spawn().expect("the binary starts");
    restart_during(
        &mut cluster,
        run,
        Progress {
            url: &url,
            sql: "SELECT count(*) FROM collection_items WHERE state = 'fired'",
            at_least: fired / 3,
        },
        "collection run",
        "error: the collection run stopped; run it again with the same --as-of",
    );
    collections_ok(dir.path(), &url);
    assert_eq!(
        block_on(collected(&url)),
        expected,
        "every event fired once, every effect once, as without the restart"
    );
}

#[test]
fn delivery_across_a_postgresql_restart_loses_no_message() {
    let mut cluster = PgCluster::start().unwrap_or_else(|e| panic!("a private PostgreSQL: {e}"));
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = block_on(database(&cluster, "deliver_restarted"));
    block_on(load_dunning(url.clone()));
    let pending = collect_notices(dir.path(), &url);
    let third = pending.len() / 3;
    block_on(async {
        let smtp = SmtpReceiver::start().await;
        let mut worker = Background::start(dir.path(), &url, &["worker", "--smtp-url", &smtp.url()], "worker");
        wait_until("a third delivered", Duration::from_secs(30), || {
            worker.assert_running();
            let arrived = smtp.messages().len();
            async move { arrived >= third }
        })
        .await;
        // The worker is in the middle of its pass: between two claims, or sending one message.
        let at_restart = smtp.messages().len();
        cluster
            .restart(Duration::from_millis(500))
            .unwrap_or_else(|e| panic!("PostgreSQL comes back: {e}"));
        assert!(
            at_restart < pending.len(),
            "the restart came before the end of the pass"
        );
        // The same worker carries on once the server is back; only a message it sent but could not record
        // stays claimed.
        wait_for_delivery(&url, &mut worker, 1, Duration::from_secs(60)).await;
        worker.kill();
        let in_flight = count(
            &url,
            "SELECT count(*) FROM outbox WHERE status = 'pending' AND claimed_until IS NOT NULL",
        )
        .await;
        // A message held that way goes out once its claim has lapsed.
        let duplicates = deliver_held_and_check(&url, &smtp, &pending, in_flight).await;
        eprintln!(
            "delivery: {} messages, {at_restart} arrived at the restart, {in_flight} in flight, {duplicates} sent twice",
            pending.len()
        );
    });
}

/// How far a run has come: `sql` counts its work in `url`; the restart waits for `at_least`.
struct Progress<'a> {
    url: &'a str,
    sql: &'static str,
    at_least: i64,
}

/// Restarts the cluster once `run` has done `progress`, then waits for the run to end: cleanly, or with an error
/// that starts with `stopped` (which says how to finish).
fn restart_during(cluster: &mut PgCluster, run: Child, progress: Progress, what: &str, stopped: &str) {
    let mut run = KillOnDrop(Some(run));
    let started = Instant::now();
    while block_on(count(progress.url, progress.sql)) < progress.at_least {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{what}: the run makes progress"
        );
        assert!(run.running(), "{what}: the run is still going");
        std::thread::sleep(Duration::from_millis(2));
    }
    cluster
        .restart(Duration::from_millis(500))
        .unwrap_or_else(|e| panic!("PostgreSQL comes back: {e}"));
    let output = run.wait();
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!(
        "{what}: exit {:?}, {}",
        output.status.code(),
        stderr.lines().last().unwrap_or_default()
    );
    assert!(
        !stderr.contains("panicked"),
        "{what}: a clean failure or success: {}",
        describe(&output)
    );
    if !output.status.success() {
        assert!(
            stderr.contains(stopped),
            "{what}: the error says how to finish: {}",
            describe(&output)
        );
    }
}

/// A new, empty database on the private cluster.
async fn database(cluster: &PgCluster, name: &str) -> String {
    use sqlx::Connection;
    let mut admin = sqlx::PgConnection::connect(&cluster.admin_url()).await.expect("server");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .expect("database");
    admin.close().await.expect("closed");
    cluster.database_url(name)
}

/// A child process killed if the test fails while it runs.
struct KillOnDrop(Option<Child>);

impl KillOnDrop {
    fn running(&mut self) -> bool {
        self.0
            .as_mut()
            .is_some_and(|child| child.try_wait().expect("status").is_none())
    }

    fn wait(&mut self) -> Output {
        self.0
            .take()
            .expect("a child")
            .wait_with_output()
            .expect("the run ends")
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
