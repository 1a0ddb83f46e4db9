//! The delivery worker: claims due outbox messages, sends them, and records every attempt. A failed send is
//! retried up to 5 times, retry n (0…4) after `outbox.retry_base_ms` × 2ⁿ; the 6th failure makes it a dead
//! letter and raises `notification_dead_lettered` (§5.13).
//!
//! A message is claimed for five minutes before it is sent, in its own short transaction (PostgreSQL skips
//! rows another worker is claiming; SQLite has a single writer), so no database lock is held while talking to
//! a mail server, and two workers never send the same message. Should a worker die between sending and
//! recording, the claim expires and the message is sent again: delivery is at least once, and e-mails carry
//! their outbox id in `Message-ID` so a receiver can recognise that copy.

use std::time::Duration;

use classbill_store::outbox::{self, AttemptOutcome, MessageRow};
use classbill_store::{StoreError, instants, webhooks};
use jiff::Timestamp;
use serde_json::json;

use super::smtp::Mailer;
use crate::Actor;
use crate::documents::InvoicePdf;

/// The events whose e-mail carries the invoice as a PDF attachment.
const PDF_EVENTS: [&str; 3] = ["invoice_issued", "oot_invoice_issued", "invoice_resent"];
use super::{DeadLetter, SIGNATURE_HEADER, dead_lettered, signature_header};
use crate::error::EngineResult;
use crate::installation::InstallationSettings;

/// Attempts before a message becomes a dead letter: the first send and 5 retries.
pub const MAX_ATTEMPTS: i64 = 6;
/// How long a worker holds a claimed message while it sends it: five minutes, in microseconds.
const CLAIM_LEASE_US: i64 = 5 * 60 * 1_000_000;
/// Messages claimed per transaction: one, sent before the next is claimed. A worker that dies then leaves at
/// most the message it was sending under its claim (to be sent again when the lease lapses), where a batch
/// would hold back every message of the batch for the whole lease; and a slow mail server cannot make a lease
/// lapse while the worker still has claimed messages queued behind the current one, which would let a second
/// worker send them as well.
const CLAIM_BATCH: i64 = 1;
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// What the worker is told from outside the database.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryConfig {
    /// `--smtp-url` / `CLASSBILL_SMTP_URL`: takes precedence over the `smtp_url` setting.
    pub smtp_url: Option<String>,
}

/// The counts of one delivery pass.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    pub sent: u64,
    /// Failed and scheduled again.
    pub retried: u64,
    /// Given up on.
    pub dead: u64,
}

/// Why a send failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Failure {
    /// Worth trying again later (server down, timeout, 5xx, configuration not there yet).
    Transient(String),
    /// Will never succeed as written: a dead letter at once.
    Permanent(String),
}

/// Retry n (0-based) comes `base_ms` × 2ⁿ after the failure.
fn retry_delay_us(base_ms: i64, retry: i64) -> i64 {
    base_ms.saturating_mul(1000).saturating_mul(1 << retry.clamp(0, 32))
}

/// The outcome of attempt number `attempt` (1-based) that ended in `result`.
fn outcome_of(result: Result<(), Failure>, attempt: i64, base_ms: i64, now_us: i64) -> AttemptOutcome {
    match result {
        Ok(()) => AttemptOutcome::Sent,
        Err(Failure::Permanent(error)) => AttemptOutcome::Dead { error },
        Err(Failure::Transient(error)) if attempt >= MAX_ATTEMPTS => AttemptOutcome::Dead { error },
        Err(Failure::Transient(error)) => AttemptOutcome::Retry {
            error,
            next_attempt_at: now_us.saturating_add(retry_delay_us(base_ms, attempt - 1)),
        },
    }
}

/// The channels' senders for one pass.
struct Channels {
    mailer: Result<Mailer, String>,
    http: reqwest::Client,
    sms_gateway: Option<String>,
}

/// Hands one SMS to the gateway: `{"to", "text", "sender"}` as JSON; any 2xx answer accepts it.
async fn post_sms(http: &reqwest::Client, url: &str, message: &MessageRow) -> Result<(), Failure> {
    let body = json!({
        "to": message.recipient,
        "text": message.sms_text,
        "sender": message.sender,
    });
    let response = http
        .post(url)
        .json(&body)
        .send()
        .await
        .map_err(|e| Failure::Transient(format!("SMS gateway POST failed: {e}")))?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(Failure::Transient(format!(
            "SMS gateway answered HTTP {}",
            response.status()
        )))
    }
}

impl crate::Engine {
    /// Sends every outbox message due at `now` that no other worker holds, and records each attempt. The
    /// `serve` loop passes the clock; tests pass explicit instants.
    pub async fn deliver_outbox(&self, config: &DeliveryConfig, now: Timestamp) -> EngineResult<DeliveryReport> {
        let settings = {
            let mut tx = self.store.read().await?;
            InstallationSettings::load(&mut tx).await?
        };
        let channels = Channels {
            mailer: match settings.smtp_url_for_delivery(config.smtp_url.as_deref()) {
                Some(url) => Mailer::new(url),
                None => Err("no SMTP server configured: set the smtp_url setting or --smtp-url".to_owned()),
            },
            http: reqwest::Client::builder()
                .timeout(WEBHOOK_TIMEOUT)
                .build()
                .unwrap_or_default(),
            sms_gateway: settings.sms_gateway_url.clone(),
        };
        let now_us = instants::to_micros(now);
        let lease_end = now_us.saturating_add(CLAIM_LEASE_US);
        let mut report = DeliveryReport::default();
        loop {
            let claimed = {
                let mut tx = self.store.write().await?;
                let claimed = outbox::claim_due(&mut tx, now_us, lease_end, CLAIM_BATCH).await?;
                tx.commit().await?;
                claimed
            };
            if claimed.is_empty() {
                return Ok(report);
            }
            for message in claimed {
                let result = self.send(&channels, &message, now).await;
                let attempt = message.attempts + 1;
                let outcome = outcome_of(result, attempt, settings.outbox_retry_base_ms, now_us);
                let mut tx = self.store.write().await?;
                outbox::record_attempt(&mut tx, message.id, attempt, &outcome, now_us).await?;
                match &outcome {
                    AttemptOutcome::Sent => report.sent += 1,
                    AttemptOutcome::Retry { error, .. } => {
                        tracing::info!(message = message.id, attempt, %error, "notification will be retried");
                        report.retried += 1;
                    }
                    AttemptOutcome::Dead { error } => {
                        let dead = DeadLetter {
                            outbox_id: message.id,
                            party_id: message.party_id,
                            event_key: &message.event_key,
                            channel: &message.channel,
                            recipient: message.recipient.as_deref(),
                            error,
                        };
                        dead_lettered(&mut tx, &dead, now).await?;
                        report.dead += 1;
                    }
                }
                tx.commit().await?;
            }
        }
    }

    async fn send(&self, channels: &Channels, message: &MessageRow, now: Timestamp) -> Result<(), Failure> {
        match message.channel.as_str() {
            "email" => match &channels.mailer {
                Ok(mailer) => {
                    let attachment = self.invoice_attachment(message, now).await?;
                    mailer.send(message, attachment.as_ref(), now).await
                }
                Err(reason) => Err(Failure::Transient(reason.clone())),
            },
            "webhook" => self.post_webhook(&channels.http, message, now).await,
            _ => match &channels.sms_gateway {
                Some(url) => post_sms(&channels.http, url, message).await,
                None => Err(Failure::Permanent(
                    "no SMS gateway configured: set the sms_gateway_url setting".to_owned(),
                )),
            },
        }
    }

    /// The invoice PDF that e-mails of the invoice events carry (§2.4, §5.9 `resend`): the kept one, or rendered
    /// now and kept (`on_demand`).
    async fn invoice_attachment(&self, message: &MessageRow, now: Timestamp) -> Result<Option<InvoicePdf>, Failure> {
        if !PDF_EVENTS.contains(&message.event_key.as_str()) {
            return Ok(None);
        }
        self.invoice_pdf(&Actor::system(), message.subject_id, now)
            .await
            .map(Some)
            .map_err(|e| Failure::Transient(format!("the invoice PDF is not available: {e}")))
    }

    /// POSTs the stored JSON body, signed with the endpoint's secret as it is now.
    async fn post_webhook(&self, http: &reqwest::Client, message: &MessageRow, now: Timestamp) -> Result<(), Failure> {
        let secret = self
            .signing_secret(message.webhook_endpoint_id.unwrap_or_default())
            .await?;
        let body = message.json_body.clone().unwrap_or_default().into_bytes();
        let url = message.recipient.as_deref().unwrap_or_default();
        let response = http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature_header(secret.as_bytes(), now, &body))
            .body(body)
            .send()
            .await
            .map_err(|e| Failure::Transient(format!("webhook POST failed: {e}")))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(Failure::Transient(format!(
                "webhook answered HTTP {}",
                response.status()
            )))
        }
    }
}

impl crate::Engine {
    /// The secret an endpoint names, as stored now.
    async fn signing_secret(&self, endpoint_id: i64) -> Result<String, Failure> {
        let unavailable = |e: StoreError| Failure::Transient(e.to_string());
        let mut tx = self.store.read().await.map_err(unavailable)?;
        let endpoint = webhooks::get(&mut tx, endpoint_id)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| Failure::Permanent(format!("webhook endpoint {endpoint_id} was deleted")))?;
        webhooks::signing_secret(&mut tx, endpoint.owner_reseller_id, &endpoint.secret_ref)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| {
                Failure::Transient(format!(
                    "the signing secret {} of webhook endpoint {endpoint_id} is not stored",
                    endpoint.secret_ref
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_double_from_the_base_and_the_sixth_failure_is_dead() {
        let failed = || Err(Failure::Transient("down".to_owned()));
        let next: Vec<i64> = (1..MAX_ATTEMPTS)
            .map(|attempt| match outcome_of(failed(), attempt, 100, 0) {
                AttemptOutcome::Retry { next_attempt_at, .. } => next_attempt_at,
                other => panic!("attempt {attempt}: {other:?}"),
            })
            .collect();
        assert_eq!(next, [100_000, 200_000, 400_000, 800_000, 1_600_000]);
        assert_eq!(
            outcome_of(failed(), MAX_ATTEMPTS, 100, 0),
            AttemptOutcome::Dead {
                error: "down".to_owned()
            }
        );
        assert_eq!(
            outcome_of(Err(Failure::Permanent("no".to_owned())), 1, 100, 0),
            AttemptOutcome::Dead { error: "no".to_owned() }
        );
    }
}
