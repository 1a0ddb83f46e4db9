//! The external tax engine over HTTP (§5.5): the close asks it before planning, so the plan stays synchronous
//! and gets the engine's taxes as input. Timeouts, 5xx, 408 and 429 are retried with back-off; every other
//! failure is permanent and fails the close with `tax_engine_failed`.

use std::str::FromStr;
use std::time::Duration;

use classbill_domain::class::TaxMethod;
use classbill_domain::tax::{ExternalLine, TaxLine, XdrKind, external_lines, read_external_answer};
use classbill_store::xdrs::XdrRow;
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

/// The engine's taxes for the regular invoice of a close, or `None` when the period is not taxed by an external
/// engine. The inner `Err` fails the close of this period with a `tax_engine_failed` error.
pub(super) async fn taxes_for_close(
    tx: &mut Tx,
    input: &CloseInput<'_>,
    xdrs: &[XdrRow],
    close_us: i64,
    retry_base_ms: i64,
) -> EngineResult<Result<Option<Vec<TaxLine>>, String>> {
    if input.taxation.method != TaxMethod::External || !compute::taxes_apply(input) {
        return Ok(Ok(None));
    }
    let Some(external) = input.taxation.external.as_ref() else {
        return Ok(Err(failed("the taxation selects external without its settings")));
    };
    let party = input.party;
    let Some(secret) = catalog::secret_value(tx, party.owner_reseller_id, &external.secret_ref).await? else {
        return Ok(Err(failed(format!("secret {} not found", external.secret_ref))));
    };
    let request_id = format!("close-{}-{}", party.id, input.period.id);
    let (body, lines) = match request(input, xdrs, close_us, &request_id, external.prices_include_tax) {
        Ok(request) => request,
        Err(error) => return Ok(Err(failed(error))),
    };
    let timeout = Duration::from_millis(u64::try_from(external.timeout_ms).unwrap_or(0));
    let answer = match ask(
        &external.endpoint_url,
        &secret,
        &request_id,
        &body,
        timeout,
        retry_base_ms,
    )
    .await
    {
        Ok(answer) => answer,
        Err(error) => return Ok(Err(failed(error))),
    };
    Ok(
        read_external_answer(&answer, &request_id, &lines, external.prices_include_tax)
            .map(Some)
            .map_err(failed),
    )
}

/// The request body of §5.5 for the close's regular invoice, with the lines it sends.
fn request(
    input: &CloseInput,
    xdrs: &[XdrRow],
    close_us: i64,
    request_id: &str,
    prices_include_tax: bool,
) -> Result<(Value, Vec<ExternalLine>), String> {
    let mut charges = Vec::new();
    for row in xdrs.iter().filter(|row| row.invoice_id.is_none()) {
        let kind = XdrKind::from_str(&row.kind).map_err(|e| format!("xDR {}: {e}", row.id))?;
        charges.push(super::compute::charge_of(row, kind)?);
    }
    let lines = external_lines(&charges).map_err(|e| e.to_string())?;
    let (invoice_date, _) = compute::issue_and_due(close_us, &input.party.time_zone, 0)?;
    let instant = |us: i64| {
        instants::from_micros(us)
            .map(|at| at.to_string())
            .map_err(|e| e.to_string())
    };
    let party = input.party;
    let body = json!({
        "request_id": request_id,
        "document": "regular_invoice",
        "currency": party.currency,
        "invoice_date": invoice_date,
        "period": {"start": instant(input.period.start_at)?, "end": instant(input.period.end_at)?},
        "prices_include_tax": prices_include_tax,
        "party": {
            "id": party.id,
            "type": party.kind,
            "country": party.country,
            "postal_code": Value::Null,
            "tax_id": party.tax_id,
            "tax_registered": party.tax_registered,
            "business_model": input.class.business_model,
        },
        "lines": lines,
    });
    Ok((body, lines))
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
