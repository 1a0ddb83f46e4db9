//! E-mail over SMTP with TLS: STARTTLS (`?tls=required`) and TLS from the first byte (`smtps://`) to a real
//! receiver on 127.0.0.1 whose certificate a private authority issued (`ca=`). A server that cannot give TLS,
//! or whose certificate is not trusted, gets nothing, and the message waits for its retry with the reason.

mod support;

use classbill_engine::notifications::{DeliveryConfig, DeliveryReport};
use classbill_testkit::{SmtpReceiver, SmtpTls};
use jiff::{SignedDuration, Timestamp};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::TestApp;

/// The `smtp_url` setting of the receiver, with the extra query it is given and its authority as `ca=`.
fn url_trusting(smtp: &SmtpReceiver, query: &str) -> String {
    let ca = smtp.ca_file().expect("a TLS receiver").display();
    let url = smtp.url();
    if query.is_empty() {
        format!("{url}?ca={ca}")
    } else {
        format!("{url}?{query}&ca={ca}")
    }
}

async fn patch_settings(app: &TestApp, patch: Value) -> support::Answer {
    app.send(Method::PATCH, "/api/v1/settings", Some(&app.admin), Some(patch), None)
        .await
}

/// Sets the SMTP URL and a sender, and makes one `payment_received` e-mail due for a customer.
async fn one_email_due(app: &TestApp, smtp_url: &str) {
    let answer = patch_settings(
        app,
        json!({"smtp_url": smtp_url, "default_sender": {"address": "billing@example.com"}}),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}: {}", app.backend, answer.text);
    let class = app
        .class(
            &app.admin,
            json!({"name": "Notified", "currency": "EUR",
                   "notifications": {"events": {"payment_received": {"email": true}}}}),
        )
        .await;
    let customer = app
        .post(
            "/api/v1/customers",
            &app.admin,
            json!({"name": "Customer 1001", "class_id": class["id"], "email": "c1001@example.com",
                   "activated_at": "2025-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(
        customer.status,
        StatusCode::CREATED,
        "{}: {}",
        app.backend,
        customer.text
    );
    let payment = app
        .post(
            "/api/v1/payments",
            &app.admin,
            json!({"party_id": customer.body["id"], "amount": "30", "currency": "EUR",
                   "received_at": "2025-04-20T10:00:00Z"}),
        )
        .await;
    assert_eq!(payment.status, StatusCode::CREATED, "{}: {}", app.backend, payment.text);
}

/// An instant after every message written so far, in whole seconds.
fn soon() -> Timestamp {
    Timestamp::from_second(Timestamp::now().as_second() + 60).expect("an instant")
}

/// One delivery pass with the `smtp_url` setting (no `--smtp-url` override).
async fn deliver(app: &TestApp, at: Timestamp) -> DeliveryReport {
    app.engine
        .deliver_outbox(&DeliveryConfig { smtp_url: None }, at)
        .await
        .expect("a delivery pass")
}

/// The one e-mail of the delivery log.
async fn the_email(app: &TestApp) -> Value {
    let answer = app.get("/api/v1/notifications?channel=email", &app.admin).await;
    assert_eq!(answer.status, StatusCode::OK, "{}: {}", app.backend, answer.text);
    let items = answer.body["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 1, "{}: {items:?}", app.backend);
    items[0].clone()
}

/// Sends the due e-mail through `smtp_url` and checks it arrived once, over TLS, and is logged as sent.
async fn arrives_once_over_tls(app: &TestApp, smtp: &SmtpReceiver, smtp_url: &str) {
    one_email_due(app, smtp_url).await;
    let at = soon();
    let report = deliver(app, at).await;
    let email = the_email(app).await;
    assert_eq!(
        report,
        DeliveryReport {
            sent: 1,
            retried: 0,
            dead: 0
        },
        "{}: {email}",
        app.backend
    );
    assert_eq!(
        deliver(app, at + SignedDuration::from_hours(1)).await,
        DeliveryReport::default()
    );

    let mails = smtp.messages();
    assert_eq!(mails.len(), 1, "{}", app.backend);
    assert!(mails[0].tls, "the message came in the clear");
    assert_eq!(mails[0].from, "billing@example.com");
    assert_eq!(mails[0].to, ["c1001@example.com"]);
    assert_eq!(mails[0].header("Subject").as_deref(), Some("Payment received"));
    assert_eq!(email["status"], "sent");
    assert_eq!(email["attempts"], 1);
}

/// Runs one delivery pass that must fail, and answers the logged error of the e-mail, which waits for a retry.
async fn fails_and_waits(app: &TestApp, smtp: &SmtpReceiver) -> String {
    let report = deliver(app, soon()).await;
    assert_eq!(
        report,
        DeliveryReport {
            sent: 0,
            retried: 1,
            dead: 0
        },
        "{}",
        app.backend
    );
    assert!(smtp.messages().is_empty(), "{}: nothing may arrive", app.backend);
    let email = the_email(app).await;
    assert_eq!(email["status"], "pending", "{email}");
    assert_eq!(email["attempts"], 1, "{email}");
    assert!(email["next_attempt_at"].is_string(), "{email}");
    email["last_error"].as_str().expect("the reason is logged").to_owned()
}

on_both_backends! {
    async fn an_email_arrives_once_over_required_starttls_with_a_private_ca(app) {
        let smtp = SmtpReceiver::start_with(SmtpTls::StartTls).await;
        arrives_once_over_tls(app, &smtp, &url_trusting(&smtp, "tls=required")).await;
    }
}

on_both_backends! {
    async fn an_email_arrives_once_over_implicit_tls_with_a_private_ca(app) {
        let smtp = SmtpReceiver::start_with(SmtpTls::Implicit).await;
        assert!(smtp.url().starts_with("smtps://"));
        arrives_once_over_tls(app, &smtp, &url_trusting(&smtp, "")).await;
    }
}

on_both_backends! {
    async fn opportunistic_starttls_upgrades_when_offered(app) {
        let smtp = SmtpReceiver::start_with(SmtpTls::StartTls).await;
        arrives_once_over_tls(app, &smtp, &url_trusting(&smtp, "tls=opportunistic")).await;
    }
}

on_both_backends! {
    async fn required_starttls_sends_nothing_to_a_server_without_it(app) {
        let smtp = SmtpReceiver::start().await;
        one_email_due(app, &format!("{}?tls=required", smtp.url())).await;
        let error = fails_and_waits(app, &smtp).await;
        assert!(error.contains("STARTTLS"), "{}: {error}", app.backend);
    }
}

on_both_backends! {
    async fn a_certificate_from_an_unknown_authority_is_refused(app) {
        // The receiver's authority is not passed as `ca=`: only the web PKI roots are trusted.
        let smtp = SmtpReceiver::start_with(SmtpTls::Implicit).await;
        one_email_due(app, &smtp.url()).await;
        let error = fails_and_waits(app, &smtp).await;
        assert!(error.contains("certificate"), "{}: {error}", app.backend);

        let starttls = SmtpReceiver::start_with(SmtpTls::StartTls).await;
        let answer = patch_settings(app, json!({"smtp_url": format!("{}?tls=required", starttls.url())})).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        let report = deliver(app, soon() + SignedDuration::from_hours(1)).await;
        assert_eq!(report.retried, 1, "{} {report:?}", app.backend);
        assert!(starttls.messages().is_empty());
        let error = the_email(app).await["last_error"].as_str().unwrap_or_default().to_owned();
        assert!(error.contains("certificate"), "{}: {error}", app.backend);
    }
}

on_both_backends! {
    async fn a_missing_ca_file_is_named_in_the_error(app) {
        let smtp = SmtpReceiver::start_with(SmtpTls::Implicit).await;
        let missing = smtp.ca_file().expect("a TLS receiver").with_file_name("missing.pem");
        one_email_due(app, &format!("{}?ca={}", smtp.url(), missing.display())).await;
        let error = fails_and_waits(app, &smtp).await;
        assert!(error.contains("missing.pem") && error.contains("ca="), "{}: {error}", app.backend);
    }
}

on_both_backends! {
    async fn unknown_tls_modes_and_options_are_refused_as_smtp_url(app) {
        for url in [
            "smtp://mail.example.com?tls=bogus",
            "smtp://mail.example.com?tls=required&insecure=true",
            "smtp://mail.example.com?ca=/etc/classbill/ca.pem",
            "smtps://mail.example.com?tls=required",
        ] {
            let answer = patch_settings(app, json!({"smtp_url": url})).await;
            assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {}", answer.text);
            assert_eq!(answer.error_codes(), [("smtp_url".to_owned(), "invalid".to_owned())], "{url}");
        }
        let answer = patch_settings(app, json!({"smtp_url": "smtp://h?tls=bogus"})).await;
        assert!(answer.text.contains("required, opportunistic or none"), "{}", answer.text);
        let settings = app.get("/api/v1/settings", &app.admin).await;
        assert_eq!(settings.body["smtp_url"]["value"], Value::Null, "nothing was stored");
    }
}

on_both_backends! {
    async fn the_password_of_a_tls_url_stays_hidden(app) {
        let url = "smtps://mailer:tls-pw-4f3e2d@mail.example.com:465?ca=/etc/classbill/ca.pem";
        let answer = patch_settings(app, json!({"smtp_url": url})).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        let shown = "smtps://mailer:***@mail.example.com:465?ca=/etc/classbill/ca.pem";
        assert_eq!(answer.body["smtp_url"]["value"], shown);
        let settings = app.get("/api/v1/settings", &app.admin).await;
        assert_eq!(settings.body["smtp_url"]["value"], shown);
        assert!(!settings.text.contains("tls-pw-4f3e2d"), "{}", settings.text);

        // Sent back as shown, with STARTTLS in place of implicit TLS, it keeps the stored password.
        let answer = patch_settings(
            app,
            json!({"smtp_url": "smtp://mailer:***@mail.example.com:587?tls=required&ca=/etc/classbill/ca.pem"}),
        )
        .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        let mut tx = app.engine.store.read().await.expect("transaction");
        let stored = classbill_engine::installation::InstallationSettings::load(&mut tx)
            .await
            .expect("settings");
        assert_eq!(
            stored.smtp_url.as_deref(),
            Some("smtp://mailer:tls-pw-4f3e2d@mail.example.com:587?tls=required&ca=/etc/classbill/ca.pem")
        );
    }
}
