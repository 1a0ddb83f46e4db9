//! `classbill bench`: generates a seeded dataset in an empty database and measures each operation beside its
//! floor on the same backend and data (docs/benchmarks.md). Every measured phase runs as a child process of the
//! same binary (`bench --phase …`), so its peak memory is its own.

mod api_load;
mod dataset;
mod floors;
mod report;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail, ensure};
use clap::{Args, ValueEnum};
use classbill_engine::Engine;
use classbill_store::{Backend, Tx};

use dataset::{Month, Scale};
use report::{Measurement, Report};

#[derive(Args)]
pub struct BenchArgs {
    /// Customers to create.
    #[arg(long, default_value_t = 1_000)]
    customers: u64,
    /// xDRs of the billed month per customer.
    #[arg(long, default_value_t = 20)]
    xdrs_per_customer: u64,
    /// Seed of the generated data; the same seed and scale give the same data.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Directory for the generated CSV file (and its rejects file).
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// Print the figures as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Seconds wrk drives each API endpoint for, after the other phases; 0 leaves the API out.
    #[arg(long, default_value_t = 10)]
    api_seconds: u64,
    /// Concurrent connections wrk keeps open to the API.
    #[arg(long, default_value_t = 32)]
    api_connections: u64,
    /// Measure the API alone on a database that an earlier run filled (at a scale where its phases are run one by
    /// one): no setup, no other phase.
    #[arg(long)]
    api_only: bool,
    /// The phases to run, comma-separated, in their fixed order (all when absent); at a scale where rendering every
    /// PDF takes hours, `--phases raw-load,import,bill-floor,bill-run,collection-floor,collection-run` leaves it out.
    #[arg(long, value_enum, value_delimiter = ',')]
    phases: Vec<Phase>,
    /// Run one measured phase in this process and print its measurement (used by the benchmark itself).
    #[arg(long, value_enum, hide = true)]
    phase: Option<Phase>,
}

/// The measured operations, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Phase {
    RawLoad,
    Import,
    BillFloor,
    BillRun,
    /// The invoice PDFs the bill run queued in postponed mode, rendered by one worker, which renders on every
    /// core of the machine.
    PdfRender,
    CollectionFloor,
    /// A collection run after every invoice's due date: each fires the invoice's `overdue` and `late_fee` events.
    CollectionRun,
}

impl Phase {
    const ALL: [Phase; 7] = [
        Phase::RawLoad,
        Phase::Import,
        Phase::BillFloor,
        Phase::BillRun,
        Phase::PdfRender,
        Phase::CollectionFloor,
        Phase::CollectionRun,
    ];

    fn name(self) -> &'static str {
        match self {
            Phase::RawLoad => "raw-load",
            Phase::Import => "import",
            Phase::BillFloor => "bill-floor",
            Phase::BillRun => "bill-run",
            Phase::PdfRender => "pdf-render",
            Phase::CollectionFloor => "collection-floor",
            Phase::CollectionRun => "collection-run",
        }
    }

    /// The phases after the loads start on a settled database ([`settle`]); the loads start on the one setup
    /// leaves, whose tables have not been analyzed yet, as on a fresh installation.
    fn settles_first(self) -> bool {
        !matches!(self, Phase::RawLoad | Phase::Import)
    }
}

fn csv_path(dir: &Path, scale: Scale) -> PathBuf {
    dir.join(format!(
        "bench-{}x{}-seed{}.csv",
        scale.customers, scale.xdrs_per_customer, scale.seed
    ))
}

pub async fn run(database: &str, args: BenchArgs) -> anyhow::Result<()> {
    let scale = Scale {
        customers: args.customers,
        xdrs_per_customer: args.xdrs_per_customer,
        seed: args.seed,
    };
    ensure!(
        scale.customers > 0 && scale.xdrs_per_customer > 0,
        "--customers and --xdrs-per-customer must be at least 1"
    );
    let file = csv_path(&args.dir, scale);
    let load = api_load::Load {
        seconds: args.api_seconds,
        connections: args.api_connections,
    };
    if args.api_only {
        ensure!(load.seconds > 0, "--api-only needs --api-seconds above 0");
        let api = api_load::measure(database, &args.dir, load).await?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&api_load::to_json(&api, load))?);
        } else {
            print!("{}", api_load::table(&api, load));
        }
        return Ok(());
    }
    if let Some(phase) = args.phase {
        let measurement = run_phase(database, phase, &file).await?;
        println!("{}", serde_json::to_string(&measurement)?);
        return Ok(());
    }

    let engine = crate::open(database).await?;
    let mut tx = engine.store.read().await?;
    let parties = count(&mut tx, "SELECT COUNT(*) AS n FROM parties").await?;
    drop(tx);
    ensure!(
        parties == 0,
        "the benchmark needs an empty database; this one holds {parties} parties"
    );
    let month = Month::benchmark()?;
    let started = Instant::now();
    let ids = dataset::create_parties(&engine, scale, &month).await?;
    let setup_seconds = started.elapsed().as_secs_f64();
    std::fs::create_dir_all(&args.dir).with_context(|| format!("cannot create {}", args.dir.display()))?;
    let written =
        dataset::write_xdrs(&file, &ids, scale, &month).with_context(|| format!("cannot write {}", file.display()))?;
    engine.store.close().await;

    let mut report = Report::new(backend_name(database), scale, setup_seconds);
    let chosen = |phase: &Phase| args.phases.is_empty() || args.phases.contains(phase);
    for phase in Phase::ALL.into_iter().filter(chosen) {
        if phase.settles_first() {
            settle(database).await?;
        }
        report.push(spawn_phase(database, phase, &args.dir, scale)?);
    }
    check_counts(database, &report, written, scale).await?;
    let api = if load.seconds > 0 {
        api_load::measure(database, &args.dir, load).await?
    } else {
        Vec::new()
    };
    if args.json {
        let mut json = report.to_json();
        if !api.is_empty() {
            json["api"] = api_load::to_json(&api, load);
        }
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        print!("{}", report.table());
        if !api.is_empty() {
            print!("{}", api_load::table(&api, load));
        }
    }
    Ok(())
}

fn backend_name(database: &str) -> &'static str {
    if database.starts_with("sqlite:") {
        "sqlite"
    } else {
        "postgres"
    }
}

async fn count(tx: &mut Tx, sql: &'static str) -> anyhow::Result<i64> {
    Ok(tx.fetch_one::<(i64,)>(sql, vec![]).await?.0)
}

/// Before a phase, untimed, on PostgreSQL: vacuums and analyzes what the phases before wrote. Autovacuum would
/// otherwise take up the tables a phase filled (the floors' scratch tables among them, which an installation does
/// not have) at a moment of its own, in the middle of the next phase, on a machine of two cores: the same bill run
/// measured 22 s or 27 s depending on it.
async fn settle(database: &str) -> anyhow::Result<()> {
    let engine = crate::open(database).await?;
    let mut connection = engine.store.read_single().await?;
    if connection.backend() == Backend::Postgres {
        connection.execute("VACUUM ANALYZE", vec![]).await?;
    }
    drop(connection);
    engine.store.close().await;
    Ok(())
}

/// Runs one phase in a child process and reads its measurement from the child's standard output.
fn spawn_phase(database: &str, phase: Phase, dir: &Path, scale: Scale) -> anyhow::Result<Measurement> {
    let binary = std::env::current_exe().context("cannot find the running binary")?;
    let output = Command::new(binary)
        .args(["--database", database, "bench", "--phase", phase.name()])
        .args(["--customers", &scale.customers.to_string()])
        .args(["--xdrs-per-customer", &scale.xdrs_per_customer.to_string()])
        .args(["--seed", &scale.seed.to_string()])
        .arg("--dir")
        .arg(dir)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("cannot start the {} phase", phase.name()))?;
    if !output.status.success() {
        bail!("the {} phase failed ({})", phase.name(), output.status);
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let last = text.lines().last().unwrap_or_default();
    serde_json::from_str(last).with_context(|| format!("the {} phase answered {last:?}", phase.name()))
}

/// The largest resident set of this process so far, in KiB (`VmHWM`), or 0 where /proc does not tell.
fn peak_memory_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// One measured phase, timed around the operation alone (not the connection or the schema check).
async fn run_phase(database: &str, phase: Phase, file: &Path) -> anyhow::Result<Measurement> {
    let engine: Engine = crate::open(database).await?;
    let month = Month::benchmark()?;
    let run_at = month.run_at()?;
    let collect_at = month.collect_at()?;
    let (rows, rejected, seconds) = match phase {
        Phase::RawLoad => {
            let (rows, seconds) = floors::raw_load(&engine, file).await?;
            (rows, 0, seconds)
        }
        Phase::Import => {
            let started = Instant::now();
            let summary = crate::import::import_xdrs(&engine, file, month.end).await?;
            let seconds = started.elapsed().as_secs_f64();
            (
                u64::try_from(summary.accepted)?,
                u64::try_from(summary.rejected)?,
                seconds,
            )
        }
        Phase::BillFloor => {
            let (rows, seconds) = floors::bill(&engine, run_at).await?;
            (rows, 0, seconds)
        }
        Phase::BillRun => {
            let started = Instant::now();
            let summary = engine.run_billing(run_at, run_at).await.map_err(crate::explain)?;
            let seconds = started.elapsed().as_secs_f64();
            (
                u64::try_from(summary.invoices_issued)?,
                u64::try_from(summary.periods_failed)?,
                seconds,
            )
        }
        Phase::PdfRender => {
            let started = Instant::now();
            let mut rendered = 0;
            loop {
                let pass = engine.render_queued_pdfs(run_at).await.map_err(crate::explain)?;
                if pass == 0 {
                    break;
                }
                rendered += pass;
            }
            (rendered, 0, started.elapsed().as_secs_f64())
        }
        Phase::CollectionFloor => {
            let (rows, seconds) = floors::collections(&engine, collect_at).await?;
            (rows, 0, seconds)
        }
        Phase::CollectionRun => {
            let started = Instant::now();
            let summary = engine
                .run_collections(collect_at, collect_at)
                .await
                .map_err(crate::explain)?;
            let seconds = started.elapsed().as_secs_f64();
            (
                u64::try_from(summary.events_due)?,
                u64::try_from(summary.events_dropped)?,
                seconds,
            )
        }
    };
    engine.store.close().await;
    Ok(Measurement {
        phase: phase.name().to_owned(),
        rows,
        rejected,
        seconds,
        peak_memory_kib: peak_memory_kib(),
    })
}

/// The counts every run must reproduce, for the phases it ran: all rows loaded by both paths, one invoice per
/// customer from both the engine and the floor, two events fired per invoice, nothing rejected, failed or dropped.
async fn check_counts(database: &str, report: &Report, written: u64, scale: Scale) -> anyhow::Result<()> {
    let engine = crate::open(database).await?;
    let mut tx = engine.store.read().await?;
    let stored = count(&mut tx, "SELECT COUNT(*) AS n FROM xdrs WHERE kind = 'usage'").await?;
    let invoices = count(&mut tx, "SELECT COUNT(*) AS n FROM invoices").await?;
    drop(tx);
    engine.store.close().await;
    let expect = |phase: Phase, rows: u64| -> anyhow::Result<()> {
        let Some(m) = report.get(phase.name()) else {
            return Ok(());
        };
        ensure!(
            m.rows == rows && m.rejected == 0,
            "{}: {} rows ({} rejected or failed), expected {rows}",
            m.phase,
            m.rows,
            m.rejected
        );
        Ok(())
    };
    expect(Phase::RawLoad, written)?;
    expect(Phase::Import, written)?;
    expect(Phase::BillFloor, scale.customers)?;
    expect(Phase::BillRun, scale.customers)?;
    expect(Phase::PdfRender, scale.customers)?;
    expect(Phase::CollectionFloor, 2 * scale.customers)?;
    expect(Phase::CollectionRun, 2 * scale.customers)?;
    let ran = |phase: Phase| report.get(phase.name()).is_some();
    ensure!(
        !ran(Phase::Import) || u64::try_from(stored)? == written,
        "the database holds {stored} usage xDRs, expected {written}"
    );
    ensure!(
        !ran(Phase::BillRun) || u64::try_from(invoices)? == scale.customers,
        "the database holds {invoices} invoices, expected {}",
        scale.customers
    );
    Ok(())
}
