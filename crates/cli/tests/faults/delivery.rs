//! Fault 2: `serve` and `worker` killed with SIGKILL while they deliver e-mail; and the pieces the delivery
//! tests share: a delivering process, polling, and the outbox id of a received message.

use std::path::Path;
use std::time::{Duration, Instant};

use classbill_engine::notifications::DeliveryConfig;
use classbill_testkit::{Backend, SmtpReceiver};
use jiff::{SignedDuration, Timestamp};

use crate::common::block_on;
use crate::common::process::{Background, free_port};
use crate::{DUNNING_CUSTOMERS, Dataset, collections_ok, count, load_dunning, open_engine, query};

/// Waits (polling) until `done` holds, failing after `limit` with `what`.
pub(crate) async fn wait_until<F, Fut>(what: &str, limit: Duration, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !done().await {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until at most `unsent` e-mails are left unsent, failing if `process` ends meanwhile.
pub(crate) async fn wait_for_delivery(url: &str, process: &mut Background, unsent: i64, limit: Duration) {
    wait_until("the rest delivered", limit, || {
        process.assert_running();
        let url = url.to_owned();
        async move {
            count(
                &url,
                "SELECT count(*) FROM outbox WHERE channel = 'email' AND status <> 'sent'",
            )
            .await
                <= unsent
        }
    })
    .await;
}

/// The outbox id in a received message's `Message-ID: <outbox-ID@classbill>`.
pub(crate) fn outbox_id(mail: &classbill_testkit::ReceivedMail) -> i64 {
    let id = mail.header("Message-ID").expect("a Message-ID");
    id.trim_start_matches("<outbox-")
        .split('@')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("an outbox Message-ID: {id}"))
}

/// The e-mail messages of the outbox: `(id, status, attempts)`.
pub(crate) async fn emails(url: &str) -> Vec<(i64, String, i64)> {
    query(
        url,
        "SELECT id, status, attempts FROM outbox WHERE channel = 'email' ORDER BY id",
    )
    .await
}

/// After the kills: the messages claimed by a dead process go out once their claims have lapsed (the same
/// delivery pass, six minutes later). Then every one of `pending` has arrived and is recorded as sent, and no
/// more arrived twice than were `in_flight`. Answers how many arrived twice.
pub(crate) async fn deliver_held_and_check(url: &str, smtp: &SmtpReceiver, pending: &[i64], in_flight: i64) -> i64 {
    let (store, engine) = open_engine(url).await;
    let later = Timestamp::now() + SignedDuration::from_mins(6);
    engine
        .deliver_outbox(
            &DeliveryConfig {
                smtp_url: Some(smtp.url()),
            },
            later,
        )
        .await
        .expect("a delivery pass");
    store.close().await;

    let outbox = emails(url).await;
    assert!(outbox.iter().all(|(_, status, _)| status == "sent"), "{outbox:?}");
    let mut received: Vec<i64> = smtp.messages().iter().map(outbox_id).collect();
    let copies = received.len();
    received.sort_unstable();
    received.dedup();
    assert_eq!(received, pending, "every message arrived");
    let duplicates = i64::try_from(copies - received.len()).expect("a count");
    assert!(
        duplicates <= in_flight,
        "{duplicates} sent twice, {in_flight} in flight at the faults"
    );
    duplicates
}

/// A database where the collection run has written its notices, ready for delivery.
fn with_notices(dataset: &Dataset, name: &str) -> (String, Vec<i64>) {
    let url = dataset.copy(name);
    let pending = collect_notices(dataset.dir(), &url);
    (url, pending)
}

/// Runs the collections of the dunning dataset at `url`; answers the e-mails it left for delivery.
pub(crate) fn collect_notices(dir: &Path, url: &str) -> Vec<i64> {
    collections_ok(dir, url);
    let pending: Vec<i64> = block_on(emails(url))
        .into_iter()
        .filter(|(_, status, _)| status == "pending")
        .map(|(id, _, _)| id)
        .collect();
    assert!(
        pending.len() >= DUNNING_CUSTOMERS * 4,
        "the ladder wrote its notices: {}",
        pending.len()
    );
    pending
}

fn a_server_or_worker_killed_while_delivering_loses_no_message(backend: Backend) {
    let dataset = Dataset::prepare(backend, load_dunning);
    let (url, pending) = with_notices(&dataset, "delivery");
    let dir = dataset.dir().to_owned();
    block_on(async move {
        let smtp = SmtpReceiver::start().await;
        // `serve` is killed once a third of the messages have arrived, in the middle of its delivery pass; a
        // `worker` started in its place is killed at two thirds.
        let mut in_flight = 0;
        let mut at_kill = Vec::new();
        for (stage, command) in [(1, "serve"), (2, "worker")] {
            let mut process = match command {
                "serve" => Background::serve(&dir, &url, free_port(), &["--smtp-url", &smtp.url()], "serve-1"),
                _ => Background::start(&dir, &url, &["worker", "--smtp-url", &smtp.url()], "worker"),
            };
            let arrivals = pending.len() * stage / 3;
            wait_until("a third more delivered", Duration::from_secs(30), || {
                process.assert_running();
                let arrived = smtp.messages().len();
                async move { arrived >= arrivals }
            })
            .await;
            process.kill();
            at_kill.push(smtp.messages().len());
            // Claimed by a dead process and not recorded: what it may or may not have handed over.
            let held = count(
                &url,
                "SELECT count(*) FROM outbox WHERE status = 'pending' AND claimed_until IS NOT NULL",
            )
            .await;
            assert!(
                held - in_flight <= 1,
                "a worker holds one message at a time, so one at most waits for its claim to lapse: {}",
                held - in_flight
            );
            in_flight = held;
        }
        assert!(
            at_kill[1] < pending.len(),
            "the kills came before the end of the delivery"
        );

        // Restarted: everything not held by the dead process goes out at once.
        let mut server = Background::serve(&dir, &url, free_port(), &["--smtp-url", &smtp.url()], "serve-2");
        wait_for_delivery(&url, &mut server, in_flight, Duration::from_secs(30)).await;
        server.kill();
        let duplicates = deliver_held_and_check(&url, &smtp, &pending, in_flight).await;
        eprintln!(
            "{backend}: {} messages, {at_kill:?} arrived at the kills, {in_flight} in flight, {duplicates} sent twice",
            pending.len()
        );
    });
}

#[test]
fn a_server_or_worker_killed_while_delivering_loses_no_message_on_sqlite() {
    a_server_or_worker_killed_while_delivering_loses_no_message(Backend::Sqlite);
}

#[test]
fn a_server_or_worker_killed_while_delivering_loses_no_message_on_postgres() {
    a_server_or_worker_killed_while_delivering_loses_no_message(Backend::Postgres);
}
