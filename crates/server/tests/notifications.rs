//! Notifications (customer-classes §5.13) end to end: `payment_received` written to the outbox with the payment,
//! delivered to a real SMTP receiver and a real webhook receiver on 127.0.0.1 by the delivery worker driven
//! with explicit instants, retries at base × 2ⁿ, dead letters, and the delivery log.

mod support;

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as HttpStatus};
use classbill_engine::notifications::{DeliveryConfig, DeliveryReport};
use classbill_testkit::SmtpReceiver;
use hmac::{Hmac, Mac};
use jiff::{SignedDuration, Timestamp};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::Sha256;
use support::TestApp;

/// A class sending `payment_received` by e-mail (and by webhook when asked), and its customer with an address.
async fn notified_customer(app: &TestApp, token: &str, webhook: bool) -> i64 {
    let class = app
        .class(
            token,
            json!({"name": "Notified", "currency": "EUR",
                   "notifications": {"events": {"payment_received": {"email": true, "webhook": webhook}}}}),
        )
        .await;
    let answer = app
        .post(
            "/api/v1/customers",
            token,
            json!({"name": "Customer 1001", "class_id": class["id"], "email": "c1001@example.com",
                   "activated_at": "2025-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}: {}", app.backend, answer.text);
    answer.body["id"].as_i64().expect("customer id")
}

async fn settings(app: &TestApp, patch: Value) {
    let answer = app
        .send(Method::PATCH, "/api/v1/settings", Some(&app.admin), Some(patch), None)
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}: {}", app.backend, answer.text);
}

async fn pay(app: &TestApp, token: &str, party: i64, amount: &str) -> i64 {
    let answer = app
        .post(
            "/api/v1/payments",
            token,
            json!({"party_id": party, "amount": amount, "currency": "EUR", "received_at": "2025-04-20T10:00:00Z"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}: {}", app.backend, answer.text);
    answer.body["xdr_id"].as_i64().expect("payment xDR id")
}

/// The delivery log as `token` sees it, newest first.
async fn log(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let answer = app.get(&format!("/api/v1/notifications{query}"), token).await;
    assert_eq!(answer.status, StatusCode::OK, "{}: {}", app.backend, answer.text);
    answer.body["items"].as_array().cloned().unwrap_or_default()
}

/// An instant safely after every message written so far (they are due when their cause commits).
/// Whole seconds, as stored instants keep microseconds only.
fn soon() -> Timestamp {
    Timestamp::from_second(Timestamp::now().as_second() + 60).expect("an instant")
}

async fn deliver(app: &TestApp, smtp_url: Option<String>, at: Timestamp) -> DeliveryReport {
    app.engine
        .deliver_outbox(&DeliveryConfig { smtp_url }, at)
        .await
        .expect("a delivery pass")
}

on_both_backends! {
    async fn payment_received_email_reaches_a_real_smtp_server_once(app) {
        let smtp = SmtpReceiver::start().await;
        settings(app, json!({"smtp_url": smtp.url(), "default_sender": {"name": "Billing", "address": "billing@example.com"}})).await;
        let party = notified_customer(app, &app.admin, false).await;
        let payment = pay(app, &app.admin, party, "30").await;

        let entries = log(app, &app.admin, &format!("?party_id={party}")).await;
        assert_eq!(entries.len(), 1, "{entries:?}");
        assert_eq!(entries[0]["event"], "payment_received");
        assert_eq!(entries[0]["channel"], "email");
        assert_eq!(entries[0]["recipient"], "c1001@example.com");
        assert_eq!(entries[0]["status"], "pending");

        let at = soon();
        let report = deliver(app, None, at).await;
        assert_eq!(report, DeliveryReport { sent: 1, retried: 0, dead: 0 }, "{}", app.backend);
        let mails = smtp.messages();
        assert_eq!(mails.len(), 1);
        let mail = &mails[0];
        assert_eq!(mail.from, "billing@example.com");
        assert_eq!(mail.to, ["c1001@example.com"]);
        assert_eq!(mail.header("Subject").as_deref(), Some("Payment received"));
        assert_eq!(mail.header("From").as_deref(), Some("Billing <billing@example.com>"));
        assert_eq!(mail.body(), "Dear Customer 1001,\n\nthank you, we received your payment.");

        // The worker running again, or the same occurrence written again, sends nothing more.
        assert_eq!(deliver(app, None, at + SignedDuration::from_hours(1)).await, DeliveryReport::default());
        let mut tx = app.engine.store.write().await.expect("transaction");
        classbill_engine::notifications::emit(
            &mut tx,
            &classbill_engine::notifications::Event::new("payment_received", party, payment),
            at,
        )
        .await
        .expect("emitted");
        tx.commit().await.expect("committed");
        assert_eq!(deliver(app, None, at + SignedDuration::from_hours(2)).await, DeliveryReport::default());
        assert_eq!(smtp.messages().len(), 1);

        let entry = &log(app, &app.admin, "?event=payment_received&status=sent").await[0];
        assert_eq!(entry["attempts"], 1);
        assert_eq!(entry["sent_at"], json!(at));
    }
}

on_both_backends! {
    async fn smtp_down_retries_at_base_times_two_to_the_n_then_dead_letters(app) {
        let smtp = SmtpReceiver::start().await;
        smtp.refuse(true);
        settings(app, json!({"outbox.retry_base_ms": 1000, "default_sender": {"address": "billing@example.com"}})).await;
        let party = notified_customer(app, &app.admin, false).await;
        pay(app, &app.admin, party, "30").await;
        let id = log(app, &app.admin, "").await[0]["id"].as_i64().expect("message id");

        // Attempt 1 at t0, then retries n = 0…4 each base × 2ⁿ after the failure before: +1 s, +2 s, +4 s, +8 s, +16 s.
        let t0 = soon();
        let mut at = t0;
        let mut expected_attempts = Vec::new();
        for retry in 0..5 {
            assert_eq!(deliver(app, Some(smtp.url()), at).await.retried, 1, "{} attempt at {at}", app.backend);
            expected_attempts.push(at);
            let next = at + SignedDuration::from_secs(1 << retry);
            // Not due a moment earlier.
            assert_eq!(deliver(app, Some(smtp.url()), next - SignedDuration::from_millis(1)).await, DeliveryReport::default());
            let message = app.get(&format!("/api/v1/notifications/{id}"), &app.admin).await.body;
            assert_eq!(message["next_attempt_at"], json!(next), "{}", app.backend);
            assert_eq!(message["status"], "pending");
            at = next;
        }
        assert_eq!(at, t0 + SignedDuration::from_secs(31));
        assert_eq!(deliver(app, Some(smtp.url()), at).await.dead, 1, "the 6th failure");
        expected_attempts.push(at);

        let message = app.get(&format!("/api/v1/notifications/{id}"), &app.admin).await.body;
        assert_eq!(message["status"], "dead");
        assert_eq!(message["attempts"], 6);
        assert!(message["last_error"].as_str().is_some_and(|e| e.contains("421")), "{message}");
        let attempts = message["attempt_log"].as_array().expect("attempts");
        let times: Vec<Value> = attempts.iter().map(|a| a["at"].clone()).collect();
        assert_eq!(times, expected_attempts.iter().map(|t| json!(t)).collect::<Vec<_>>());
        assert!(attempts.iter().all(|a| a["outcome"] == "failed"));

        // The operator learns of it in the log; nothing more is tried and nothing arrived.
        let operator = log(app, &app.admin, "?event=notification_dead_lettered").await;
        assert_eq!(operator.len(), 1, "{operator:?}");
        assert_eq!(operator[0]["status"], "skipped");
        smtp.refuse(false);
        assert_eq!(deliver(app, Some(smtp.url()), at + SignedDuration::from_hours(1)).await, DeliveryReport::default());
        assert!(smtp.messages().is_empty());
    }
}

on_both_backends! {
    async fn a_server_refusing_for_a_while_still_gets_every_message_exactly_once(app) {
        let smtp = SmtpReceiver::start().await;
        settings(app, json!({"outbox.retry_base_ms": 1000, "default_sender": {"address": "billing@example.com"}})).await;
        let party = notified_customer(app, &app.admin, false).await;
        for amount in ["1", "2", "3"] {
            pay(app, &app.admin, party, amount).await;
        }
        smtp.refuse(true);
        let t0 = soon();
        assert_eq!(deliver(app, Some(smtp.url()), t0).await.retried, 3);
        smtp.refuse(false);
        assert_eq!(deliver(app, Some(smtp.url()), t0 + SignedDuration::from_secs(1)).await.sent, 3);
        assert_eq!(deliver(app, Some(smtp.url()), t0 + SignedDuration::from_hours(1)).await, DeliveryReport::default());
        assert_eq!(smtp.messages().len(), 3);
        let attempts: Vec<Value> = log(app, &app.admin, "").await.iter().map(|m| m["attempts"].clone()).collect();
        assert_eq!(attempts, [json!(2), json!(2), json!(2)]);
    }
}

on_both_backends! {
    async fn concurrent_workers_send_each_message_once(app) {
        let smtp = SmtpReceiver::start().await;
        settings(app, json!({"default_sender": {"address": "billing@example.com"}})).await;
        let party = notified_customer(app, &app.admin, false).await;
        for n in 1..=12 {
            pay(app, &app.admin, party, &n.to_string()).await;
        }
        let at = soon();
        let (a, b) = tokio::join!(deliver(app, Some(smtp.url()), at), deliver(app, Some(smtp.url()), at));
        assert_eq!(a.sent + b.sent, 12, "{} {a:?} {b:?}", app.backend);
        let mut ids: Vec<String> = smtp.messages().iter().filter_map(|m| m.header("Message-ID")).collect();
        assert_eq!(ids.len(), 12);
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 12, "no message was sent twice");
    }
}

/// Webhook deliveries as received: headers and the exact body bytes.
#[derive(Clone, Default)]
struct Hooks {
    received: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
}

async fn receive_hook(State(hooks): State<Hooks>, headers: HeaderMap, body: Bytes) -> HttpStatus {
    hooks.received.lock().expect("lock").push((headers, body));
    HttpStatus::NO_CONTENT
}

/// A real HTTP receiver on 127.0.0.1; answers its URL.
async fn webhook_receiver(hooks: &Hooks) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("port");
    let addr = listener.local_addr().expect("address");
    let router = axum::Router::new()
        .route("/hook", axum::routing::post(receive_hook))
        .with_state(hooks.clone());
    tokio::spawn(async move { axum::serve(listener, router).await.expect("receiver runs") });
    format!("http://{addr}/hook")
}

on_both_backends! {
    async fn webhook_deliveries_carry_a_signature_that_verifies_byte_exactly(app) {
        let hooks = Hooks::default();
        let url = webhook_receiver(&hooks).await;
        let (reseller, token) = app.reseller_with_user("Rho").await;
        let secret = app
            .send(Method::PUT, "/api/v1/secrets/hook-key", Some(&token), Some(json!({"value": "whsec-Rho-1"})), None)
            .await;
        assert!(secret.status.is_success(), "{}", secret.text);
        let endpoint = app.post("/api/v1/webhook-endpoints", &token, json!({"url": url, "secret_ref": "hook-key"})).await;
        assert_eq!(endpoint.status, StatusCode::CREATED, "{}", endpoint.text);
        assert_eq!(endpoint.body["owner"], json!({"type": "reseller", "reseller_id": reseller}));

        let party = notified_customer(app, &token, true).await;
        let payment = pay(app, &token, party, "12.5").await;
        let at = soon();
        let report = deliver(app, None, at).await;
        assert_eq!(report.sent, 1, "{} {report:?}", app.backend);
        assert_eq!(report.retried, 1, "e-mail has no SMTP server here");

        let received = hooks.received.lock().expect("lock").clone();
        assert_eq!(received.len(), 1);
        let (headers, body) = &received[0];
        let signature = headers["classbill-signature"].to_str().expect("ASCII header");
        let t = at.as_second();
        let mut mac = Hmac::<Sha256>::new_from_slice(b"whsec-Rho-1").expect("key");
        mac.update(format!("{t}.").as_bytes());
        mac.update(body);
        assert_eq!(signature, format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes())));
        let payload: Value = serde_json::from_slice(body).expect("JSON body");
        assert_eq!(payload["event"], "payment_received");
        assert_eq!(payload["subject_id"], payment);
        assert_eq!(payload["party_id"], party);
        assert_eq!(payload["data"]["party_name"], "Customer 1001");

        // The reseller sees its endpoint and its messages; the operator's and another reseller's stay hidden.
        let (_, other) = app.reseller_with_user("Quebec").await;
        assert_eq!(log(app, &other, "").await, Vec::<Value>::new());
        assert_eq!(app.get(&format!("/api/v1/notifications?party_id={party}"), &other).await.status, StatusCode::NOT_FOUND);
        let id = endpoint.body["id"].as_i64().expect("endpoint id");
        assert_eq!(app.delete(&format!("/api/v1/webhook-endpoints/{id}"), &other).await.status, StatusCode::NOT_FOUND);
        assert_eq!(log(app, &token, "?status=sent").await.len(), 1);
        // By channel: the webhook went out, the e-mail waits for its retry.
        let webhooks = log(app, &token, "?channel=webhook").await;
        assert_eq!(webhooks.len(), 1, "{webhooks:?}");
        assert_eq!(webhooks[0]["status"], json!("sent"));
        assert_eq!(log(app, &token, "?channel=email").await[0]["status"], json!("pending"));
        let bad = app.get("/api/v1/notifications?channel=fax", &token).await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.text);
        assert_eq!(app.delete(&format!("/api/v1/webhook-endpoints/{id}"), &token).await.status, StatusCode::NO_CONTENT);
        assert_eq!(app.get("/api/v1/webhook-endpoints", &token).await.body["items"], json!([]));
    }
}

on_both_backends! {
    async fn webhook_endpoints_refuse_bad_urls_and_unknown_secrets(app) {
        let answer = app
            .post("/api/v1/webhook-endpoints", &app.admin, json!({"url": "ftp://hooks.example.com/x", "secret_ref": "nope"}))
            .await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", answer.text);
        assert!(answer.has_error("url", "invalid"), "{}", answer.text);
        assert!(answer.has_error("secret_ref", "not_found"), "{}", answer.text);
    }
}

on_both_backends! {
    async fn a_recipient_without_an_address_is_logged_as_skipped(app) {
        let class = app
            .class(&app.admin, json!({"name": "Notified", "currency": "EUR",
                "notifications": {"events": {"payment_received": {"email": true, "sms": true}}}}))
            .await;
        let answer = app
            .post("/api/v1/customers", &app.admin,
                json!({"name": "No address", "class_id": class["id"], "activated_at": "2025-01-01T00:00:00Z"}))
            .await;
        let party = answer.body["id"].as_i64().expect("customer id");
        pay(app, &app.admin, party, "5").await;
        let entries = log(app, &app.admin, &format!("?party_id={party}")).await;
        let mut found: Vec<(String, String, String)> = entries
            .iter()
            .map(|e| {
                (
                    e["channel"].as_str().unwrap_or_default().to_owned(),
                    e["status"].as_str().unwrap_or_default().to_owned(),
                    e["last_error"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        found.sort();
        assert_eq!(
            found,
            [
                ("email".to_owned(), "skipped".to_owned(), format!("party {party} has no e-mail address")),
                ("sms".to_owned(), "skipped".to_owned(), format!("party {party} has no phone number")),
            ]
        );
    }
}

on_both_backends! {
    async fn notification_set_templates_with_syntax_errors_or_unknown_variables_are_refused(app) {
        let answer = app
            .post(
                "/api/v1/notification-sets",
                &app.admin,
                json!({"name": "Mine", "events": {
                    "payment_received": {"subject": "Thanks {{ party_name }", "text": "{{ invoice_number }}"},
                    "invoice_overdue": {"subject": "{{ invoice_number }} is overdue", "text": "Pay {{ open_amount }} by {{ due_date }}"}}}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", answer.text);
        assert_eq!(
            answer.error_codes(),
            [
                ("events.payment_received.subject".to_owned(), "template_syntax".to_owned()),
                ("events.payment_received.text".to_owned(), "unknown_variable".to_owned()),
            ]
        );
        assert!(answer.text.contains("line 1: unknown variable `invoice_number`"), "{}", answer.text);

        let created = app
            .post("/api/v1/notification-sets", &app.admin,
                json!({"name": "Mine", "events": {"payment_received": {"subject": "Thanks, {{ party_name }}"}}}))
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
        let id = created.body["id"].as_i64().expect("set id");
        let patched = app
            .send(Method::PATCH, &format!("/api/v1/notification-sets/{id}"), Some(&app.admin),
                Some(json!({"events": {"payment_received": {"sms": "{% if %}"}}})), None)
            .await;
        assert_eq!(patched.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", patched.text);
        assert!(patched.has_error("events.payment_received.sms", "template_syntax"), "{}", patched.text);
    }
}

on_both_backends! {
    async fn sms_messages_are_posted_to_the_gateway(app) {
        let hooks = Hooks::default();
        let url = webhook_receiver(&hooks).await;
        settings(app, json!({"sms_gateway_url": url})).await;
        let class = app
            .class(&app.admin, json!({"name": "Texted", "currency": "EUR",
                   "notifications": {"events": {"payment_received": {"sms": true}}}}))
            .await;
        let answer = app
            .post("/api/v1/customers", &app.admin,
                  json!({"name": "Customer 1003", "class_id": class["id"], "phone": "+4915112345678",
                         "activated_at": "2025-01-01T00:00:00Z"}))
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
        let party = answer.body["id"].as_i64().expect("customer id");
        pay(app, &app.admin, party, "12.5").await;
        let report = deliver(app, None, soon()).await;
        assert_eq!(report.sent, 1, "{} {report:?}", app.backend);
        let received = hooks.received.lock().expect("lock").clone();
        assert_eq!(received.len(), 1);
        let body: Value = serde_json::from_slice(&received[0].1).expect("JSON");
        assert_eq!(body["to"], json!("+4915112345678"));
        assert!(body["text"].as_str().is_some_and(|text| !text.is_empty()), "{body}");
        let bad = app
            .send(Method::PATCH, "/api/v1/settings", Some(&app.admin), Some(json!({"sms_gateway_url": "ftp://x"})), None)
            .await;
        assert!(bad.has_error("sms_gateway_url", "invalid"), "{}", bad.text);
    }
}
