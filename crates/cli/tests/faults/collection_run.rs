//! Fault 1: a collection run stopped after any commit, twice in a row, or by SIGKILL, then run again, ends
//! exactly as the run that was never interrupted.

use std::path::Path;
use std::process::Stdio;
use std::time::Instant;

use crate::common::{Outcome, assert_invoices_sound, block_on, describe};
use crate::{DUNNING_CUSTOMERS, Dataset, collections, collections_ok, count, load_dunning, query};
use classbill_testkit::Backend;

/// What a collection run leaves behind, without ids that differ between copies or clock readings: every
/// schedule item with its state, the late fees, every outbox message, every status change, and the ledger.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Collected {
    pub(crate) items: Vec<String>,
    late_fees: Vec<String>,
    outbox: Vec<String>,
    status_changes: Vec<String>,
    ledger: Outcome,
}

type ItemRow = (i64, String, String, String, Option<i64>);
type MessageKey = (String, i64, String, String, Option<String>, String);

pub(crate) async fn collected(url: &str) -> Collected {
    let items: Vec<ItemRow> = query(
        url,
        "SELECT party_id, event, local_date, state, fired_at FROM collection_items
         ORDER BY party_id, due_at, firing_rank, event, local_date",
    )
    .await;
    let late_fees: Vec<(i64, Option<String>, i64)> = query(
        url,
        "SELECT party_id, external_id, amount FROM xdrs WHERE kind = 'late_fee' ORDER BY party_id, external_id",
    )
    .await;
    let outbox: Vec<MessageKey> = query(
        url,
        "SELECT event_key, subject_id, occurrence, channel, recipient, status FROM outbox
         ORDER BY event_key, subject_id, occurrence, channel, recipient",
    )
    .await;
    let status_changes: Vec<(i64, String, String, i64, String)> = query(
        url,
        "SELECT party_id, from_status, to_status, at, cause FROM party_status_changes ORDER BY party_id, at, id",
    )
    .await;
    let text = |rows: Vec<_>| -> Vec<String> { rows.iter().map(|r| format!("{r:?}")).collect() };
    Collected {
        items: items.iter().map(|r| format!("{r:?}")).collect(),
        late_fees: text(late_fees),
        outbox: outbox.iter().map(|r| format!("{r:?}")).collect(),
        status_changes: status_changes.iter().map(|r| format!("{r:?}")).collect(),
        ledger: assert_invoices_sound(url).await,
    }
}

/// Every late fee fired once booked one xDR for its invoice, and no message is in the outbox twice.
async fn assert_each_effect_once(url: &str) {
    let fees_per_invoice: Vec<(String, i64)> = query(
        url,
        "SELECT external_id, count(*) FROM xdrs WHERE kind = 'late_fee' GROUP BY external_id ORDER BY 1",
    )
    .await;
    let fired = count(
        url,
        "SELECT count(*) FROM collection_items WHERE event = 'late_fee' AND state = 'fired'",
    )
    .await;
    assert_eq!(
        fees_per_invoice.len() as i64,
        fired,
        "one late fee per fired late_fee event"
    );
    assert!(fees_per_invoice.iter().all(|(_, n)| *n == 1), "{fees_per_invoice:?}");
    let repeated = count(
        url,
        "SELECT count(*) FROM (SELECT 1 FROM outbox GROUP BY event_key, subject_id, occurrence, channel,
             COALESCE(webhook_endpoint_id, 0) HAVING count(*) > 1) twice",
    )
    .await;
    assert_eq!(repeated, 0, "no notification is in the outbox twice");
}

/// Runs `collections` until the hook aborts it after `commits` commits; answers whether it was stopped.
fn collections_aborted_after(dir: &Path, url: &str, commits: u64) -> bool {
    let output = collections(dir, url)
        .env("CLASSBILL_TEST_ABORT_AFTER_COMMITS", commits.to_string())
        .output()
        .expect("the binary runs");
    !output.status.success()
}

/// Stops the run after every `every`-th commit (1 = each of them) and kills it at `kill_tenths` of the time an
/// uninterrupted run takes; the slower backend gets fewer points to stay within time.
fn a_killed_collection_run_fires_every_event_once(backend: Backend, every: u64, kill_tenths: &[u32]) {
    let dataset = Dataset::prepare(backend, load_dunning);
    let reference_url = dataset.copy("reference");
    let started = Instant::now();
    let first = collections_ok(dataset.dir(), &reference_url);
    let duration = started.elapsed();
    assert!(
        String::from_utf8_lossy(&first.stdout).contains("fired"),
        "{}",
        describe(&first)
    );
    block_on(assert_each_effect_once(&reference_url));
    let reference = block_on(collected(&reference_url));
    let fired = reference.items.iter().filter(|i| i.contains("\"fired\"")).count();
    assert!(fired >= DUNNING_CUSTOMERS * 4, "most of the ladder fired: {fired}");
    assert!(
        reference.late_fees.len() >= DUNNING_CUSTOMERS / 2,
        "{:?}",
        reference.late_fees
    );
    // A second run at the same instant finds nothing left to do.
    collections_ok(dataset.dir(), &reference_url);
    assert_eq!(
        block_on(collected(&reference_url)),
        reference,
        "a rerun changes nothing"
    );

    // Stopped right after a commit, then run again; the last point lies beyond the run's last commit.
    let mut stopped = 0;
    for commits in (1..).step_by(every as usize) {
        let url = dataset.copy(&format!("abort-{commits}"));
        if !collections_aborted_after(dataset.dir(), &url, commits) {
            break;
        }
        stopped += 1;
        collections_ok(dataset.dir(), &url);
        block_on(assert_each_effect_once(&url));
        assert_eq!(
            block_on(collected(&url)),
            reference,
            "{backend}: aborted after commit {commits}"
        );
    }
    assert!(
        stopped * every >= 5,
        "{backend}: the run had {stopped} commits to stop after"
    );

    // Stopped twice, the second time during the rerun itself.
    let url = dataset.copy("twice");
    assert!(collections_aborted_after(dataset.dir(), &url, 3));
    assert!(collections_aborted_after(dataset.dir(), &url, 1));
    collections_ok(dataset.dir(), &url);
    assert_eq!(block_on(collected(&url)), reference, "{backend}: aborted twice");

    // SIGKILL wherever the run happens to be, spread over the time an uninterrupted run takes.
    eprintln!(
        "{backend}: {fired} events, stopped after {stopped} different commits, twice in a row, and killed {} times \
         in a run of {duration:?}",
        kill_tenths.len()
    );
    for &tenths in kill_tenths {
        let url = dataset.copy(&format!("kill-{tenths}"));
        let mut child = collections(dataset.dir(), &url)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the binary starts");
        std::thread::sleep(duration * tenths / 10);
        let _ = child.kill();
        let _ = child.wait();
        collections_ok(dataset.dir(), &url);
        block_on(assert_each_effect_once(&url));
        assert_eq!(
            block_on(collected(&url)),
            reference,
            "{backend}: killed at {tenths}/10 of the run"
        );
    }
}

#[test]
fn a_killed_collection_run_fires_every_event_once_on_sqlite() {
    a_killed_collection_run_fires_every_event_once(Backend::Sqlite, 1, &[1, 3, 5, 7, 9]);
}

#[test]
fn a_killed_collection_run_fires_every_event_once_on_postgres() {
    a_killed_collection_run_fires_every_event_once(Backend::Postgres, 2, &[2, 5, 8]);
}
