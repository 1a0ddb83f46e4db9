//! Fault 6: `serve` killed with SIGKILL while it executes a billing run requested over its API, then started
//! again on the same database. The restarted server takes the run over by itself (no `classbill worker`
//! runs): it finishes what is left at once, and completes the run once the dead server's lease has lapsed.

use std::time::{Duration, Instant};

use classbill_engine::workers::worker_name_of;
use classbill_testkit::Backend;
use jiff::Timestamp;
use serde_json::{Value, json};

use crate::common::process::{Background, free_port, request};
use crate::common::{admin_token as add_admin, assert_invoices_sound, block_on, run_ok};
use crate::{Dataset, count, load_usage, open_engine};

/// Customers of the run: more than two batches of the run's 500 parties, so that the kill falls between the
/// commits of one batch and those of the next.
const CUSTOMERS: usize = 1_200;
/// The January periods are due then (6 h close delay), February's not: one invoice per customer.
const JANUARY_BILLED_AT: &str = "2025-02-02T00:00:00Z";
/// Longer than the run's lease (20 s) plus both passes in a debug build.
const RUN_DEADLINE: Duration = Duration::from_secs(180);

/// An administrator on the database at `url`; answers its API token.
async fn admin_token(url: &str) -> String {
    let (store, engine) = open_engine(url).await;
    let token = add_admin(&engine, Timestamp::now()).await;
    store.close().await;
    token
}

fn billing_run(port: u16, token: &str, id: i64) -> Value {
    let (status, run) =
        request(port, "GET", &format!("/api/v1/billing-runs/{id}"), token, None).expect("the server answers");
    assert_eq!(status, 200, "{run}");
    run
}

fn a_server_killed_during_a_requested_bill_run_finishes_it_when_restarted(backend: Backend) {
    let dataset = Dataset::prepare(backend, |url| load_usage(url, CUSTOMERS));
    let dir = dataset.dir();
    // The same run, uninterrupted and from the command line, is the reference.
    let reference_url = dataset.copy("serve_reference");
    run_ok(dir, &reference_url, &["bill-run", "--as-of", JANUARY_BILLED_AT]);
    let expected = block_on(assert_invoices_sound(&reference_url));
    assert_eq!(expected.invoices.len(), CUSTOMERS, "one January invoice per customer");

    let url = dataset.copy("serve_killed");
    let token = block_on(admin_token(&url));
    let port = free_port();
    let mut first = Background::serve(dir, &url, port, &[], "serve-killed");
    let started = Instant::now();
    let (status, accepted) = request(
        port,
        "POST",
        "/api/v1/billing-runs",
        &token,
        Some(&json!({"as_of": JANUARY_BILLED_AT})),
    )
    .expect("the server answers");
    assert_eq!(status, 202, "{accepted}");
    let id = accepted["id"].as_i64().expect("run id");

    // Killed once the first batch's invoices are out, while the next batches are still to come.
    while block_on(count(&url, "SELECT count(*) FROM invoices")) == 0 {
        first.assert_running();
        assert!(started.elapsed() < RUN_DEADLINE, "the run issues invoices");
        std::thread::sleep(Duration::from_millis(20));
    }
    let killed = worker_name_of(first.pid());
    first.kill();
    let killed_after = started.elapsed();
    let at_kill = block_on(count(&url, "SELECT count(*) FROM invoices"));
    assert!(
        at_kill < CUSTOMERS as i64,
        "{backend}: the kill came before the end of the run ({at_kill} invoices)"
    );

    let port = free_port();
    let mut second = Background::serve(dir, &url, port, &[], "serve-restarted");
    let restarted = Instant::now();
    let run = billing_run(port, &token, id);
    assert_eq!(
        run["status"], "running",
        "{backend}: the dead server's lease still holds the run: {run:#}"
    );
    let run = loop {
        let run = billing_run(port, &token, id);
        if run["status"] != "running" {
            break run;
        }
        second.assert_running();
        assert!(
            restarted.elapsed() < RUN_DEADLINE,
            "{backend}: the restarted server completes the run: {run:#}; logs in {}",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let completed_after = restarted.elapsed();
    second.kill();
    assert_eq!(run["status"], "completed", "{backend}: {run:#}");
    assert_eq!(run["error"], Value::Null, "{backend}: {run:#}");
    assert_eq!(run["failures"], json!([]), "{backend}: {run:#}");
    let successor = worker_name_of(second.pid());
    let mut participants: Vec<(String, String)> = run["workers"]
        .as_array()
        .expect("workers")
        .iter()
        .map(|w| {
            (
                w["worker"].as_str().expect("name").to_owned(),
                w["status"].as_str().expect("status").to_owned(),
            )
        })
        .collect();
    // Its first share at once, its last when the dead server's lease has lapsed.
    let shares = participants.iter().filter(|(name, _)| *name == successor).count();
    participants.sort();
    participants.dedup();
    let mut expected_participants = vec![
        (killed.clone(), "lapsed".to_owned()),
        (successor, "finished".to_owned()),
    ];
    expected_participants.sort();
    assert_eq!(
        participants, expected_participants,
        "{backend}: the killed server's share lapsed, the restarted one finished the run: {run:#}"
    );
    // The run counts everything once: what the dead server committed before the kill, with the batches that
    // issued it, and what the restarted one did after it, the frozen batch included.
    let n = CUSTOMERS as i64;
    let counts = |view: &Value| {
        ["periods_due", "periods_closed", "periods_failed", "invoices_issued"].map(|field| {
            view[field]
                .as_i64()
                .unwrap_or_else(|| panic!("{backend}: {field} in {view:#}"))
        })
    };
    assert_eq!(counts(&run), [n, n, 0, n], "{backend}: {run:#}");
    let workers = run["workers"].as_array().expect("workers");
    let sums = workers.iter().map(counts).fold([0; 4], |sum, w| {
        [sum[0] + w[0], sum[1] + w[1], sum[2] + w[2], sum[3] + w[3]]
    });
    assert_eq!(
        sums,
        counts(&run),
        "{backend}: the workers' counts add up to the run's: {run:#}"
    );
    let dead = workers
        .iter()
        .find(|w| w["worker"] == json!(killed))
        .expect("the killed server's share");
    assert_eq!(
        counts(dead),
        [at_kill, at_kill, 0, at_kill],
        "{backend}: the killed server keeps the counts of what it had committed: {run:#}"
    );

    // Every due period closed once, every invoice once with gapless numbers as without the kill, no engine xDR twice.
    let resumed = block_on(assert_invoices_sound(&url));
    assert_eq!(
        resumed, expected,
        "{backend}: the restarted server ends where the uninterrupted run ends"
    );
    eprintln!(
        "{backend}: killed after {:.1} s with {at_kill} of {CUSTOMERS} invoices out; the restarted server \
         completed the run {:.1} s after it came up, in {shares} shares",
        killed_after.as_secs_f64(),
        completed_after.as_secs_f64()
    );
}

#[test]
fn a_server_killed_during_a_requested_bill_run_finishes_it_when_restarted_on_sqlite() {
    a_server_killed_during_a_requested_bill_run_finishes_it_when_restarted(Backend::Sqlite);
}

#[test]
fn a_server_killed_during_a_requested_bill_run_finishes_it_when_restarted_on_postgres() {
    a_server_killed_during_a_requested_bill_run_finishes_it_when_restarted(Backend::Postgres);
}
