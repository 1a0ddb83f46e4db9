//! The API under load (issue 9): the server runs in this process on 127.0.0.1 over the benchmark's data, and
//! wrk, a second process, drives one endpoint at a time for a fixed time over a fixed number of connections.
//! `/healthz`, which answers without touching the database, is the floor the other endpoints are compared with.

use std::path::Path;
use std::process::Stdio;

use anyhow::{Context, bail, ensure};
use classbill_engine::{Engine, NewUserRole};
use jiff::{Timestamp, ToSpan};
use serde::Serialize;
use serde_json::{Value, json};

use super::dataset::Month;

/// wrk's own threads; the server gets the cores in between.
const WRK_THREADS: &str = "2";
/// How long wrk waits for an answer before it counts a timeout. Its default of 2 s is shorter than the queue of
/// 32 batches of xDRs waiting for SQLite's one writer, and a request counted as a timeout drops out of the
/// latencies, which would then show only the lucky ones.
const WRK_TIMEOUT: &str = "60s";
/// xDRs per `POST /api/v1/xdrs` request.
const XDR_BATCH: usize = 1_000;

/// Throughput and latency of one endpoint.
#[derive(Debug, Clone, Serialize)]
pub struct ApiFigure {
    pub endpoint: String,
    pub requests_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Answers that were not 2xx or 3xx, and socket errors: a run with any is not a valid measurement.
    pub errors: u64,
}

/// How long and how hard each endpoint is driven.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub seconds: u64,
    pub connections: u64,
}

/// Serves the benchmark's database and measures every endpoint under `load`.
pub async fn measure(database: &str, dir: &Path, load: Load) -> anyhow::Result<Vec<ApiFigure>> {
    which_wrk()?;
    let engine: Engine = crate::open(database).await?;
    let now = Timestamp::now();
    let login = format!("bench-api-{}", now.as_microsecond());
    engine
        .add_user(&login, &format!("{login}-password"), NewUserRole::Administrator, now)
        .await
        .map_err(crate::explain)?;
    let token = engine.create_token(&login, now).await.map_err(crate::explain)?;
    let mut tx = engine.store.read().await?;
    let customers: Vec<(i64,)> = tx
        .fetch_all(
            "SELECT id FROM parties WHERE kind = 'customer' ORDER BY id LIMIT 1000",
            vec![],
        )
        .await?;
    drop(tx);
    let customer = customers.first().context("the benchmark has no customers")?.0;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(classbill_server::serve(engine.clone(), listener, async {
        let _ = stopped.await;
    }));

    // The month after the billed one is open, so the posted xDRs land in a period like fresh usage does.
    let at = Month::benchmark()?.end.checked_add(240.hours())?;
    let ids: Vec<String> = customers.iter().map(|(id,)| id.to_string()).collect();
    let script = dir.join("bench-api-xdrs.lua");
    std::fs::write(&script, xdr_script(&token, &ids, at, now))
        .with_context(|| format!("cannot write {}", script.display()))?;

    let targets = [
        ("GET /healthz", "/healthz".to_owned(), None),
        (
            "GET /api/v1/customer-classes",
            "/api/v1/customer-classes".to_owned(),
            None,
        ),
        (
            "GET /api/v1/customers/{id}",
            format!("/api/v1/customers/{customer}"),
            None,
        ),
        (
            "GET /api/v1/customers/{id}/effective-settings",
            format!("/api/v1/customers/{customer}/effective-settings"),
            None,
        ),
        (
            "POST /api/v1/xdrs (1,000 per request)",
            "/api/v1/xdrs".to_owned(),
            Some(&script),
        ),
    ];
    let mut figures = Vec::new();
    for (endpoint, path, script) in targets {
        let url = format!("{base}{path}");
        let mut command = tokio::process::Command::new("wrk");
        command
            .args(["-t", WRK_THREADS, "-c", &load.connections.to_string()])
            .args([
                "-d",
                &format!("{}s", load.seconds),
                "--latency",
                "--timeout",
                WRK_TIMEOUT,
            ])
            .args(["-H", &format!("Authorization: Bearer {token}")])
            .stdin(Stdio::null());
        if let Some(script) = script {
            command.arg("-s").arg(script);
        }
        let output = command.arg(&url).output().await.context("cannot run wrk")?;
        let text = String::from_utf8_lossy(&output.stdout);
        ensure!(
            output.status.success(),
            "wrk failed on {endpoint}: {text}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        figures.push(parse_wrk(endpoint, &text).with_context(|| format!("wrk said, for {endpoint}:\n{text}"))?);
    }
    let _ = stop.send(());
    server.await??;
    engine.store.close().await;
    Ok(figures)
}

fn which_wrk() -> anyhow::Result<()> {
    match std::process::Command::new("wrk").arg("--version").output() {
        Ok(_) => Ok(()),
        Err(_) => {
            bail!("the API measurement drives the server with wrk: apt-get install wrk (or pass --api-seconds 0)")
        }
    }
}

/// A wrk script posting batches of `XDR_BATCH` usage xDRs over the given customers, each under an
/// `external_id` no other request of this run uses, so every batch is stored rather than answered as a re-send.
fn xdr_script(token: &str, customers: &[String], at: Timestamp, run: Timestamp) -> String {
    format!(
        r#"-- Generated by `classbill bench`: POST /api/v1/xdrs with {XDR_BATCH} new xDRs per request.
local customers = {{{customers}}}
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
local sent = 0
function request()
  sent = sent + 1
  local rows = {{}}
  for i = 1, {XDR_BATCH} do
    rows[i] = string.format('{{"party_id":%d,"external_id":"load-{run}-%d-%d-%d","occurred_at":"{at}",' ..
      '"kind":"usage","service":"voice","rate_code":"LOAD","quantity":"1","amount":"0.01"}}',
      customers[(i % #customers) + 1], tid, sent, i)
  end
  return wrk.format("POST", "/api/v1/xdrs",
    {{["Content-Type"] = "application/json", ["Authorization"] = "Bearer {token}"}},
    '{{"xdrs":[' .. table.concat(rows, ",") .. ']}}')
end
"#,
        customers = customers.join(","),
        run = run.as_microsecond(),
    )
}

/// Reads requests per second, the 50th and 99th latency percentiles and the errors from wrk's report.
fn parse_wrk(endpoint: &str, text: &str) -> anyhow::Result<ApiFigure> {
    let field = |prefix: &str| {
        text.lines()
            .map(str::trim)
            .find_map(|line| line.strip_prefix(prefix).map(str::trim))
    };
    let requests_per_second: f64 = field("Requests/sec:")
        .context("no Requests/sec line")?
        .parse()
        .context("Requests/sec is not a number")?;
    let p50_ms = duration_ms(field("50%").context("no 50% line (wrk --latency)")?)?;
    let p99_ms = duration_ms(field("99%").context("no 99% line (wrk --latency)")?)?;
    let non_2xx: u64 = field("Non-2xx or 3xx responses:").map_or(Ok(0), str::parse)?;
    // "Socket errors: connect 0, read 0, write 0, timeout 3"
    let socket_errors: u64 = field("Socket errors:").map_or(0, |counts| {
        counts
            .split(',')
            .filter_map(|part| part.split_whitespace().last()?.parse::<u64>().ok())
            .sum()
    });
    Ok(ApiFigure {
        endpoint: endpoint.to_owned(),
        requests_per_second,
        p50_ms,
        p99_ms,
        errors: non_2xx + socket_errors,
    })
}

/// wrk prints durations as `812.00us`, `1.23ms` or `1.05s`.
fn duration_ms(text: &str) -> anyhow::Result<f64> {
    let (number, scale) = if let Some(us) = text.strip_suffix("us") {
        (us, 0.001)
    } else if let Some(ms) = text.strip_suffix("ms") {
        (ms, 1.0)
    } else if let Some(s) = text.strip_suffix('s') {
        (s, 1000.0)
    } else {
        bail!("`{text}` is not a wrk duration")
    };
    Ok(number
        .parse::<f64>()
        .with_context(|| format!("`{text}` is not a wrk duration"))?
        * scale)
}

/// Throughput of each endpoint as a fraction of `/healthz`'s.
fn ratio(figure: &ApiFigure, floor: f64) -> f64 {
    if floor > 0.0 {
        figure.requests_per_second / floor
    } else {
        0.0
    }
}

/// The reads issue 9 sets a target for: at least half the floor's throughput with p99 under 20 ms.
fn has_read_target(endpoint: &str) -> bool {
    endpoint.starts_with("GET /api/v1/customer")
}

fn read_target_met(figure: &ApiFigure, floor: f64) -> bool {
    ratio(figure, floor) >= 0.5 && figure.p99_ms < 20.0 && figure.errors == 0
}

/// The figures as a table like the phases', each endpoint's throughput beside the floor's.
pub fn table(figures: &[ApiFigure], load: Load) -> String {
    let floor = figures.first().map_or(0.0, |f| f.requests_per_second);
    let mut out = format!(
        "\nAPI under load: wrk, {} connections, {} s per endpoint\n{:<48}{:>12}{:>9}{:>9}{:>11}{:>8}\n",
        load.connections, load.seconds, "endpoint", "requests/s", "p50 ms", "p99 ms", "/ healthz", "errors"
    );
    for figure in figures {
        let target = if !has_read_target(&figure.endpoint) {
            ""
        } else if read_target_met(figure, floor) {
            "  target >= 0.5 and p99 < 20 ms met"
        } else {
            "  target >= 0.5 and p99 < 20 ms NOT met"
        };
        out.push_str(&format!(
            "{:<48}{:>12.0}{:>9.2}{:>9.2}{:>11.2}{:>8}{target}\n",
            figure.endpoint,
            figure.requests_per_second,
            figure.p50_ms,
            figure.p99_ms,
            ratio(figure, floor),
            figure.errors
        ));
    }
    out
}

pub fn to_json(figures: &[ApiFigure], load: Load) -> Value {
    let floor = figures.first().map_or(0.0, |f| f.requests_per_second);
    json!({
        "seconds": load.seconds,
        "connections": load.connections,
        "endpoints": figures.iter().map(|f| {
            let mut value = serde_json::to_value(f).unwrap_or(Value::Null);
            value["healthz_ratio"] = json!(ratio(f, floor));
            if has_read_target(&f.endpoint) {
                value["target_met"] = json!(read_target_met(f, floor));
            }
            value
        }).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = "Running 2s test @ http://127.0.0.1:4000/healthz
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   812.41us  301.12us   9.87ms   88.12%
    Req/Sec    19.61k     1.02k   21.45k    71.00%
  Latency Distribution
     50%  760.00us
     75%    0.95ms
     90%    1.20ms
     99%    2.31ms
  78053 requests in 2.00s, 9.23MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:  39012.44
Transfer/sec:      4.61MB
";

    #[test]
    fn wrk_reports_are_read_with_their_units() {
        let figure = parse_wrk("GET /healthz", REPORT).expect("a report");
        assert_eq!(figure.requests_per_second, 39012.44);
        assert!((figure.p50_ms - 0.76).abs() < 1e-9, "{}", figure.p50_ms);
        assert!((figure.p99_ms - 2.31).abs() < 1e-9, "{}", figure.p99_ms);
        assert_eq!(figure.errors, 7);
        assert!((duration_ms("1.05s").expect("seconds") - 1050.0).abs() < 1e-9);
        assert!(duration_ms("12").is_err());
        assert!(parse_wrk("x", "nothing useful").is_err());
    }
}
