//! The external tax engine over HTTP (§5.5). The close asks it before planning, so the plan stays synchronous
//! and gets the engine's taxes as input; an out-of-turn invoice asks it between two passes of its transaction.
//! Timeouts, 5xx, 408 and 429 are retried with back-off; every other failure is permanent (`tax_engine_failed`).

use std::time::Duration;

use classbill_domain::class::{ClassSettings, TaxMethod, Taxation};
use classbill_domain::invoice_math::ChargeXdr;
use classbill_domain::tax::{ExternalLine, TaxLine, external_lines, read_external_answer};
use classbill_store::parties::PartyRow;
use classbill_store::{Tx, catalog, instants};
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::compute::{self, CloseInput};
use crate::error::EngineResult;

/// Attempts after the first one (§5.5: retried up to 5 times).
const RETRIES: u32 = 5;

fn failed(reason: impl std::fmt::Display) -> String {
    format!("tax_engine_failed: {reason}")
}

/// What one attempt came to.
enum Attempt {
    Answered(String),
    /// Worth asking again: a timeout, 5xx, 408 or 429.
    Transient(String),
    Permanent(String),
}

/// The document one request to the engine is about.
pub(crate) struct TaxDocument<'a> {
    /// `close-<party>-<period>[-recurring]` or `oot-<party>-<idempotency key>`: also the idempotency key.
    pub request_id: String,
    /// `regular_invoice`, `recurring_fees_invoice` or `oot_invoice`.
    pub document: &'static str,
    /// The local date the invoice is issued on.
    pub invoice_date: String,
    /// The billing period `[start, end)` in microseconds; none for an out-of-turn invoice.
    pub period: Option<(i64, i64)>,
    pub charges: &'a [ChargeXdr],
}

/// One request ready to send: where, with what, and the lines its answer must refer to. Two questions are equal
/// when an answer to one answers the other.
#[derive(Clone, PartialEq)]
pub(crate) struct TaxQuestion {
    url: String,
    secret: String,
    timeout: Duration,
    request_id: String,
    body: Value,
    lines: Vec<ExternalLine>,
    prices_include_tax: bool,
}

/// The question about `document` for `party` under `taxation` (method `external`); `Err` says why it cannot
/// be asked.
pub(crate) async fn question(
    tx: &mut Tx,
    party: &PartyRow,
    class: &ClassSettings,
    taxation: &Taxation,
    document: TaxDocument<'_>,
) -> EngineResult<Result<TaxQuestion, String>> {
    let Some(external) = taxation.external.as_ref() else {
        return Ok(Err("the taxation selects external without its settings".to_owned()));
    };
    let Some(secret) = catalog::secret_value(tx, party.owner_reseller_id, &external.secret_ref).await? else {
        return Ok(Err(format!("secret {} not found", external.secret_ref)));
    };
    let lines = match external_lines(document.charges) {
        Ok(lines) => lines,
        Err(error) => return Ok(Err(error.to_string())),
    };
    let instant = |us: i64| {
        instants::from_micros(us)
            .map(|at| at.to_string())
            .map_err(|e| e.to_string())
    };
    let period = match document.period {
        Some((start, end)) => match (instant(start), instant(end)) {
            (Ok(start), Ok(end)) => json!({"start": start, "end": end}),
            (Err(error), _) | (_, Err(error)) => return Ok(Err(error)),
        },
        None => Value::Null,
    };
    let body = json!({
        "request_id": document.request_id,
        "document": document.document,
        "currency": party.currency,
        "invoice_date": document.invoice_date,
        "period": period,
        "prices_include_tax": external.prices_include_tax,
        "party": {
            "id": party.id,
            "type": party.kind,
            "country": party.country,
            "postal_code": Value::Null,
            "tax_id": party.tax_id,
            "tax_registered": party.tax_registered,
            "business_model": class.business_model,
        },
        "lines": lines,
    });
    Ok(Ok(TaxQuestion {
        url: external.endpoint_url.clone(),
        secret,
        timeout: Duration::from_millis(u64::try_from(external.timeout_ms).unwrap_or(0)),
        request_id: document.request_id,
        body,
        lines,
        prices_include_tax: external.prices_include_tax,
    }))
}

impl TaxQuestion {
    /// Sends the question until it is answered and reads the answer; `Err` says why there is no answer.
    pub(crate) async fn ask(&self, retry_base_ms: i64) -> Result<Vec<TaxLine>, String> {
        let answer = ask(
            &self.url,
            &self.secret,
            &self.request_id,
            &self.body,
            self.timeout,
            retry_base_ms,
        )
        .await?;
        read_external_answer(&answer, &self.request_id, &self.lines, self.prices_include_tax).map_err(|e| e.to_string())
    }
}

/// The engine's taxes for a close: the regular invoice's and, with a separate recurring-fee invoice (§5.10
/// rule 6), that invoice's, asked separately so no charge is taxed twice.
#[derive(Default)]
pub(super) struct CloseTaxes {
    pub regular: Option<Vec<TaxLine>>,
    pub recurring: Option<Vec<TaxLine>>,
}

/// Asks the engine about a close when the period is taxed by one. The inner `Err` fails the close of this
/// period with a `tax_engine_failed` error.
pub(super) async fn taxes_for_close(
    tx: &mut Tx,
    input: &CloseInput<'_>,
    xdrs: &[classbill_store::xdrs::XdrRow],
    close_us: i64,
    retry_base_ms: i64,
) -> EngineResult<Result<CloseTaxes, String>> {
    if input.taxation.method != TaxMethod::External || !compute::taxes_apply(input) {
        return Ok(Ok(CloseTaxes::default()));
    }
    let charges = match compute::charges_to_tax(input, xdrs) {
        Ok(charges) => charges,
        Err(error) => return Ok(Err(failed(error))),
    };
    let invoice_date = match compute::issue_and_due(close_us, &input.party.time_zone, 0) {
        Ok((date, _)) => date,
        Err(error) => return Ok(Err(failed(error))),
    };
    let (party, period) = (input.party, input.period);
    let request_id = format!("close-{}-{}", party.id, period.id);
    let mut documents = vec![(
        TaxDocument {
            request_id: request_id.clone(),
            document: "regular_invoice",
            invoice_date: invoice_date.clone(),
            period: Some((period.start_at, period.end_at)),
            charges: &charges.regular,
        },
        false,
    )];
    if !charges.recurring.is_empty() {
        let document = TaxDocument {
            request_id: format!("{request_id}-recurring"),
            document: "recurring_fees_invoice",
            invoice_date,
            period: Some((period.start_at, period.end_at)),
            charges: &charges.recurring,
        };
        documents.push((document, true));
    }
    let mut taxes = CloseTaxes::default();
    for (document, recurring) in documents {
        let question = match question(tx, party, input.class, input.taxation, document).await? {
            Ok(question) => question,
            Err(error) => return Ok(Err(failed(error))),
        };
        let lines = match question.ask(retry_base_ms).await {
            Ok(lines) => lines,
            Err(error) => return Ok(Err(failed(error))),
        };
        if recurring {
            taxes.recurring = Some(lines);
        } else {
            taxes.regular = Some(lines);
        }
    }
    Ok(Ok(taxes))
}

/// Posts the request until it is answered, retrying transient failures after `base × 2ⁿ` milliseconds.
async fn ask(
    url: &str,
    secret: &str,
    request_id: &str,
    body: &Value,
    timeout: Duration,
    retry_base_ms: i64,
) -> Result<String, String> {
    let client = reqwest::Client::new();
    let base = u64::try_from(retry_base_ms).unwrap_or(0);
    let mut retry = 0;
    loop {
        match attempt(&client, url, secret, request_id, body, timeout).await {
            Attempt::Answered(text) => return Ok(text),
            Attempt::Permanent(error) => return Err(error),
            Attempt::Transient(error) if retry == RETRIES => {
                return Err(format!("{error} (after {} attempts)", RETRIES + 1));
            }
            Attempt::Transient(_) => {
                tokio::time::sleep(Duration::from_millis(base.saturating_mul(1 << retry))).await;
                retry += 1;
            }
        }
    }
}

async fn attempt(
    client: &reqwest::Client,
    url: &str,
    secret: &str,
    request_id: &str,
    body: &Value,
    timeout: Duration,
) -> Attempt {
    let sent = client
        .post(url)
        .timeout(timeout)
        .bearer_auth(secret)
        .header("Idempotency-Key", request_id)
        .json(body)
        .send()
        .await;
    let response = match sent {
        Ok(response) => response,
        Err(e) if e.is_timeout() => return Attempt::Transient(format!("no answer within {} ms", timeout.as_millis())),
        Err(e) => return Attempt::Permanent(format!("the request to the engine failed: {e}")),
    };
    let status = response.status();
    let transient =
        status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT || status == StatusCode::TOO_MANY_REQUESTS;
    if transient {
        return Attempt::Transient(format!("the engine answered HTTP {status}"));
    }
    if !status.is_success() {
        return Attempt::Permanent(format!("the engine answered HTTP {status}"));
    }
    match response.text().await {
        Ok(text) => Attempt::Answered(text),
        Err(e) if e.is_timeout() => Attempt::Transient(format!("no answer within {} ms", timeout.as_millis())),
        Err(e) => Attempt::Permanent(format!("the engine's answer could not be read: {e}")),
    }
}
