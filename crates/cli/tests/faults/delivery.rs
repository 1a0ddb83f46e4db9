//! Fault 2: `serve` and `worker` killed with SIGKILL while they deliver e-mail; and the pieces the delivery
//! tests share: a delivering process, polling, and the outbox id of a received message.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use classbill_engine::notifications::DeliveryConfig;
use classbill_testkit::{Backend, SmtpReceiver};
use jiff::{SignedDuration, Timestamp};

use crate::common::{block_on, classbill};
use crate::{DUNNING_CUSTOMERS, Dataset, collections_ok, count, load_dunning, open_engine, query};

/// A port nobody listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// A delivering process (`serve` or `worker`), its output in a log file; killed when dropped.
pub(crate) struct Delivering {
    child: Child,
    log: PathBuf,
}

impl Delivering {
    pub(crate) fn start(dir: &Path, url: &str, command: &[&str], smtp_url: &str, name: &str) -> Delivering {
        let log = dir.join(format!("{name}.log"));
        let child = classbill(dir, url, command)
            .args(["--smtp-url", smtp_url])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("the binary starts");
        Delivering { child, log }
    }

    fn serve(dir: &Path, url: &str, smtp_url: &str, name: &str) -> Delivering {
        let listen = format!("127.0.0.1:{}", free_port());
        Delivering::start(
            dir,
            url,
            &["serve", "--no-scheduler", "--listen", &listen],
            smtp_url,
            name,
        )
    }

    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Fails the test when the process ended on its own.
    pub(crate) fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().expect("child status") {
            panic!(
                "the process exited with {status}:\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
        }
    }
}

impl Drop for Delivering {
    fn drop(&mut self) {
        self.kill();
    }
}

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
async fn emails(url: &str) -> Vec<(i64, String, i64)> {
    query(
        url,
        "SELECT id, status, attempts FROM outbox WHERE channel = 'email' ORDER BY id",
    )
    .await
}

/// A database where the collection run has written its notices, ready for delivery.
fn with_notices(dataset: &Dataset, name: &str) -> (String, Vec<i64>) {
    let url = dataset.copy(name);
    collections_ok(dataset.dir(), &url);
    let pending: Vec<i64> = block_on(emails(&url))
        .into_iter()
        .filter(|(_, status, _)| status == "pending")
        .map(|(id, _, _)| id)
        .collect();
    assert!(
        pending.len() >= DUNNING_CUSTOMERS * 4,
        "the ladder wrote its notices: {}",
        pending.len()
    );
    (url, pending)
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
                "serve" => Delivering::serve(&dir, &url, &smtp.url(), "serve-1"),
                _ => Delivering::start(&dir, &url, &["worker"], &smtp.url(), "worker"),
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
        let mut server = Delivering::serve(&dir, &url, &smtp.url(), "serve-2");
        wait_until("the rest delivered", Duration::from_secs(30), || {
            server.assert_running();
            let url = url.clone();
            async move {
                count(
                    &url,
                    "SELECT count(*) FROM outbox WHERE channel = 'email' AND status <> 'sent'",
                )
                .await
                    <= in_flight
            }
        })
        .await;
        server.kill();
        // The held messages go out once their claims have lapsed: the same delivery pass, five minutes later.
        let (store, engine) = open_engine(&url).await;
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

        let outbox = emails(&url).await;
        assert!(outbox.iter().all(|(_, status, _)| status == "sent"), "{outbox:?}");
        let mut received: Vec<i64> = smtp.messages().iter().map(outbox_id).collect();
        let copies = received.len();
        received.sort_unstable();
        received.dedup();
        assert_eq!(received, pending, "{backend}: every message arrived");
        let duplicates = copies - received.len();
        assert!(
            duplicates as i64 <= in_flight,
            "{backend}: {duplicates} sent twice, {in_flight} in flight at the kills"
        );
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
