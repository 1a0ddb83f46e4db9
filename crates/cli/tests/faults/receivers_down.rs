//! Fault 3: the SMTP server and a webhook receiver down for a while under a running `classbill worker`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use classbill_engine::Actor;
use classbill_testkit::{Backend, SmtpReceiver};
use jiff::Timestamp;
use serde_json::json;

use crate::common::process::Background;
use crate::common::{block_on, describe};
use crate::delivery::{outbox_id, wait_until};
use crate::{DUNNING_CUSTOMERS, Dataset, collections, count, load_dunning, open_engine, query};

/// A webhook receiver on 127.0.0.1 that answers 503 while it is down and 204 otherwise, keeping the body of
/// every request it accepted.
struct WebhookReceiver {
    url: String,
    down: Arc<AtomicBool>,
    bodies: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl WebhookReceiver {
    async fn start() -> WebhookReceiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let url = format!("http://{}/hook", listener.local_addr().expect("address"));
        let down = Arc::new(AtomicBool::new(false));
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let (serving_down, serving_bodies) = (down.clone(), bodies.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (down, bodies) = (serving_down.clone(), serving_bodies.clone());
                tokio::spawn(async move {
                    // A client that hangs up early only ends its own request.
                    let _ = answer_hook(stream, &down, &bodies).await;
                });
            }
        });
        WebhookReceiver {
            url,
            down,
            bodies,
            task,
        }
    }

    fn down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    fn bodies(&self) -> Vec<String> {
        self.bodies.lock().expect("receiver lock").clone()
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads one HTTP request (headers, then `Content-Length` bytes) and answers it.
async fn answer_hook(
    stream: tokio::net::TcpStream,
    down: &AtomicBool,
    bodies: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    let mut reader = BufReader::new(stream);
    let mut length = 0;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        if line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).await?;
    let status = if down.load(Ordering::SeqCst) {
        "503 Service Unavailable"
    } else {
        bodies
            .lock()
            .expect("receiver lock")
            .push(String::from_utf8_lossy(&body).into_owned());
        "204 No Content"
    };
    let answer = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    reader.get_mut().write_all(answer.as_bytes()).await
}

/// The messages of the outbox on every channel: `(id, channel, status, attempts)`.
async fn messages(url: &str) -> Vec<(i64, String, String, i64)> {
    query(
        url,
        "SELECT id, channel, status, attempts FROM outbox WHERE status <> 'skipped' ORDER BY id",
    )
    .await
}

fn messages_wait_while_the_smtp_server_and_the_webhook_receiver_are_down(backend: Backend) {
    let dataset = Dataset::prepare(backend, load_dunning);
    let url = dataset.copy("down");
    let dir = dataset.dir().to_owned();
    block_on(async move {
        let smtp = SmtpReceiver::start().await;
        smtp.refuse(true);
        let hooks = WebhookReceiver::start().await;
        hooks.down(true);
        // The operator's endpoint receives every status change (limitation, suspension) of its customers.
        let (store, engine) = open_engine(&url).await;
        let now = Timestamp::now();
        engine
            .put_secret(&Actor::system(), "hook-key", "whsec-operator", now)
            .await
            .expect("secret stored");
        engine
            .create_webhook_endpoint(
                &Actor::system(),
                json!({"url": hooks.url, "secret_ref": "hook-key"}),
                now,
            )
            .await
            .expect("endpoint created");
        store.close().await;
        let output = collections(&dir, &url).output().expect("the binary runs");
        assert!(output.status.success(), "{}", describe(&output));
        let pending = messages(&url).await;
        let emails: Vec<i64> = pending.iter().filter(|m| m.1 == "email").map(|m| m.0).collect();
        let webhooks = pending.iter().filter(|m| m.1 == "webhook").count();
        assert!(
            emails.len() >= DUNNING_CUSTOMERS * 4,
            "e-mail notices: {}",
            emails.len()
        );
        assert!(
            webhooks >= DUNNING_CUSTOMERS,
            "status changes for the webhook: {webhooks}"
        );
        assert!(pending.iter().all(|m| m.2 == "pending"), "{pending:?}");

        let mut worker = Background::start(&dir, &url, &["worker", "--smtp-url", &smtp.url()], "worker");
        // Down for two delivery passes at least: every message is tried twice and kept.
        wait_until("two attempts each", Duration::from_secs(30), || {
            worker.assert_running();
            let url = url.clone();
            async move { messages(&url).await.iter().all(|m| m.3 >= 2) }
        })
        .await;
        let waiting = messages(&url).await;
        assert!(waiting.iter().all(|m| m.2 == "pending"), "{waiting:?}");
        assert!(smtp.messages().is_empty() && hooks.bodies().is_empty());
        let failures = count(&url, "SELECT count(*) FROM outbox_attempts WHERE outcome = 'failed'").await;
        assert!(
            failures >= 2 * pending.len() as i64,
            "{failures} failed attempts logged"
        );

        // Back up: the retries go through, each message once.
        smtp.refuse(false);
        hooks.down(false);
        wait_until("every message delivered", Duration::from_secs(30), || {
            worker.assert_running();
            let url = url.clone();
            async move { messages(&url).await.iter().all(|m| m.2 == "sent") }
        })
        .await;
        worker.kill();
        // The secret signs every webhook, yet the log of all those failed attempts never shows it.
        let log = std::fs::read_to_string(dir.join("worker.log")).expect("the worker's log");
        assert!(
            log.contains("notification will be retried"),
            "{backend}: failures are logged:\n{log}"
        );
        assert!(
            !log.contains("whsec-operator"),
            "{backend}: the webhook secret is not in the log"
        );
        let mut received: Vec<i64> = smtp.messages().iter().map(outbox_id).collect();
        received.sort_unstable();
        assert_eq!(received, emails, "{backend}: every e-mail once");
        let mut posted = hooks.bodies();
        posted.sort_unstable();
        let mut stored: Vec<(String,)> = query(
            &url,
            "SELECT json_body FROM outbox WHERE channel = 'webhook' ORDER BY id",
        )
        .await;
        stored.sort_unstable();
        let stored: Vec<String> = stored.into_iter().map(|(body,)| body).collect();
        assert_eq!(posted, stored, "{backend}: every webhook once");
        let attempts: Vec<(i64, i64, i64)> = query(
            &url,
            "SELECT o.attempts, sum(CASE WHEN a.outcome = 'failed' THEN 1 ELSE 0 END),
                    sum(CASE WHEN a.outcome = 'sent' THEN 1 ELSE 0 END)
             FROM outbox o JOIN outbox_attempts a ON a.outbox_id = o.id
             WHERE o.status <> 'skipped' GROUP BY o.id, o.attempts",
        )
        .await;
        assert_eq!(attempts.len(), pending.len());
        for (total, failed, sent) in attempts {
            assert!(
                failed >= 2 && sent == 1 && total == failed + 1,
                "{total} {failed} {sent}"
            );
        }
        eprintln!(
            "{backend}: {} e-mails and {webhooks} webhooks held back by {failures} failed attempts, then delivered",
            emails.len()
        );
    });
}

#[test]
fn messages_wait_while_the_smtp_server_and_the_webhook_receiver_are_down_on_sqlite() {
    messages_wait_while_the_smtp_server_and_the_webhook_receiver_are_down(Backend::Sqlite);
}

#[test]
fn messages_wait_while_the_smtp_server_and_the_webhook_receiver_are_down_on_postgres() {
    messages_wait_while_the_smtp_server_and_the_webhook_receiver_are_down(Backend::Postgres);
}
