//! `classbill`: the one binary. Every command opens the database named by `--database`.

mod backup;
mod bench;
mod bill_run;
mod demo;
mod import;
mod purge;
mod report;
mod scheduler;
mod worker;

use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
use classbill_engine::notifications::DeliveryConfig;
use classbill_engine::{Engine, EngineError, NewUserRole};
use classbill_server::TrustedProxies;
use classbill_store::Store;
use jiff::Timestamp;

#[derive(Parser)]
#[command(
    name = "classbill",
    version,
    about = "Billing core for telecom, VoIP and Internet operators"
)]
struct Cli {
    /// Database URL: sqlite://PATH (created on first use) or postgres://USER@HOST/DB.
    #[arg(
        long,
        global = true,
        env = "CLASSBILL_DATABASE_URL",
        default_value = "sqlite://classbill.db"
    )]
    database: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create or upgrade the schema and the built-in objects.
    Migrate,
    /// Serve the HTTP API.
    Serve {
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Only queue requested runs and do not deliver notifications in this process (a `classbill worker` does).
        #[arg(long)]
        no_worker: bool,
        /// Do not close due periods on the real clock (runs requested by API or CLI still execute).
        #[arg(long)]
        no_scheduler: bool,
        #[command(flatten)]
        smtp: SmtpArg,
        #[command(flatten)]
        proxies: ProxyArg,
    },
    /// Create a fresh demo installation and serve it.
    Demo {
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        #[command(flatten)]
        smtp: SmtpArg,
        #[command(flatten)]
        proxies: ProxyArg,
    },
    /// Execute queued billing and collection runs, render queued PDFs and deliver notifications, without HTTP.
    Worker {
        #[command(flatten)]
        smtp: SmtpArg,
    },
    /// Manage users.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// Manage API tokens.
    Tokens {
        #[command(subcommand)]
        command: TokensCommand,
    },
    /// Bulk-load data from files.
    Import {
        #[command(subcommand)]
        command: ImportCommand,
    },
    /// Close every billing period that is due at an instant.
    BillRun {
        /// The instant the run acts at (RFC 3339): every period due then is closed.
        #[arg(long, required_unless_present = "retry")]
        as_of: Option<Timestamp>,
        /// First resume every period a crashed or failed close left `closing`, at its first unfinished step.
        #[arg(long)]
        retry: bool,
        /// Parties per batch: each batch commits its freeze, then its invoices.
        #[arg(long, default_value_t = classbill_engine::DEFAULT_BATCH_SIZE)]
        batch_size: usize,
    },
    /// Fire every reminder and collection-ladder event due at an instant.
    Collections {
        /// The instant the run acts at (RFC 3339); every event fires with its own date.
        #[arg(long)]
        as_of: Timestamp,
        /// Parties per transaction.
        #[arg(long, default_value_t = classbill_engine::collections::DEFAULT_COLLECTION_BATCH)]
        batch_size: usize,
    },
    /// Generate a seeded dataset in an empty database and measure import and bill run beside their floors.
    Bench(bench::BenchArgs),
    /// Write an accounting export (invoice journal, payments, ageing, tax) to standard output.
    Report(report::ReportArgs),
    /// Write a consistent copy of the database to a new file (SQLite: VACUUM INTO; PostgreSQL: pg_dump).
    Backup(backup::BackupArgs),
    /// Restore a backup into a new SQLite file or an empty PostgreSQL database.
    Restore(backup::RestoreArgs),
    /// Replace the xDR detail of closed, fully paid periods by summary records, keeping every total.
    Purge(purge::PurgeArgs),
}

/// `--smtp-url` of the commands that deliver notifications.
#[derive(clap::Args)]
struct SmtpArg {
    /// SMTP server for notification e-mail: smtp://[USER[:PASSWORD]@]HOST[:PORT] in the clear, with
    /// ?tls=required or ?tls=opportunistic for STARTTLS, smtps://… for TLS from the start, and &ca=FILE.pem to
    /// trust a private authority; takes precedence over the smtp_url setting.
    #[arg(long = "smtp-url", env = "CLASSBILL_SMTP_URL")]
    url: Option<String>,
}

impl SmtpArg {
    fn delivery(self) -> DeliveryConfig {
        DeliveryConfig { smtp_url: self.url }
    }
}

/// `--trusted-proxies` of the commands that serve HTTP.
#[derive(clap::Args)]
struct ProxyArg {
    /// Reverse proxies in front of the server, as addresses and networks (10.0.0.0/8,::1): for connections from
    /// them the client is taken from X-Forwarded-For when counting failed logins. Without it the header is
    /// ignored.
    #[arg(long = "trusted-proxies", env = "CLASSBILL_TRUSTED_PROXIES", default_value = "")]
    list: TrustedProxies,
}

#[derive(Subcommand)]
enum ImportCommand {
    /// Import rated xDRs from a CSV file; rejected lines go to FILE.rejects.csv with their reasons.
    Xdrs {
        /// RFC 4180 CSV with the header party_id,external_id,occurred_at,kind,service,rate_code,description,
        /// quantity,amount[,currency].
        file: PathBuf,
        /// The instant whose open period late xDRs join; default now.
        #[arg(long)]
        as_of: Option<Timestamp>,
    },
}

#[derive(Subcommand)]
enum UsersCommand {
    /// Create a user; the password is read from standard input.
    Add {
        #[arg(long)]
        login: String,
        #[arg(long, value_enum)]
        role: RoleArg,
        /// Required for reseller users: the reseller they act for.
        #[arg(long)]
        reseller_id: Option<i64>,
        /// Read the password from standard input (the only way; it never appears in the process list).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

#[derive(Subcommand)]
enum TokensCommand {
    /// Print a new API token for a user on standard output.
    Create {
        #[arg(long)]
        login: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum RoleArg {
    Admin,
    Reseller,
}

/// Opens the database and brings the schema up to date, as every command needs.
async fn open(url: &str) -> anyhow::Result<Engine> {
    let store = Store::connect(url).await?;
    let engine = Engine::new(store);
    engine.initialize(Timestamp::now()).await?;
    Ok(engine)
}

/// Turns an engine refusal into one clear sentence.
pub(crate) fn explain(e: EngineError) -> anyhow::Error {
    match e {
        EngineError::Invalid(errors) => anyhow::anyhow!(
            "{}",
            errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; ")
        ),
        other => anyhow::anyhow!("{other}"),
    }
}

/// Serves the API; with `delivery`, notifications are delivered, requested runs executed and queued or abandoned
/// runs taken over in-process meanwhile, without it requested runs are only queued.
pub(crate) async fn serve(
    engine: Engine,
    listen: SocketAddr,
    delivery: Option<DeliveryConfig>,
    trusted_proxies: TrustedProxies,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let queue_runs_only = delivery.is_none();
    let _delivery = delivery.map(|config| AbortOnDrop(tokio::spawn(worker::deliver_forever(engine.clone(), config))));
    // A task of its own, so that a long run holds up neither delivery nor PDFs.
    let _runs = (!queue_runs_only).then(|| AbortOnDrop(tokio::spawn(worker::run_queued_forever(engine.clone()))));
    tracing::info!(%listen, "serving");
    let options = classbill_server::ServeOptions {
        trusted_proxies,
        queue_runs_only,
        ..Default::default()
    };
    classbill_server::serve_with(engine, options, listener, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Migrate => {
            open(&cli.database).await?;
            eprintln!("schema is up to date");
        }
        Command::Serve {
            listen,
            no_worker,
            no_scheduler,
            smtp,
            proxies,
        } => {
            let engine = open(&cli.database).await?;
            let _scheduler = (!no_scheduler).then(|| AbortOnDrop(tokio::spawn(scheduler::run(engine.clone()))));
            eprintln!("Classbill API on http://{listen}/api/v1");
            serve(engine, listen, (!no_worker).then(|| smtp.delivery()), proxies.list).await?;
        }
        Command::Demo { listen, smtp, proxies } => {
            demo::run(&cli.database, listen, smtp.delivery(), proxies.list).await?
        }
        Command::Worker { smtp } => worker::run(open(&cli.database).await?, smtp.delivery()).await,
        Command::Bench(args) => bench::run(&cli.database, args).await?,
        Command::Report(args) => report::run(&open(&cli.database).await?, args).await?,
        Command::Backup(args) => backup::backup(&cli.database, args).await?,
        Command::Restore(args) => backup::restore(&cli.database, args).await?,
        Command::Purge(args) => purge::run(&open(&cli.database).await?, args).await?,
        Command::Users {
            command:
                UsersCommand::Add {
                    login,
                    role,
                    reseller_id,
                    password_stdin: _,
                },
        } => {
            let role = match (role, reseller_id) {
                (RoleArg::Admin, None) => NewUserRole::Administrator,
                (RoleArg::Reseller, Some(id)) => NewUserRole::Reseller(id),
                (RoleArg::Admin, Some(_)) => bail!("administrators are not bound to a reseller; drop --reseller-id"),
                (RoleArg::Reseller, None) => bail!("reseller users need --reseller-id"),
            };
            let mut password = String::new();
            std::io::stdin()
                .read_to_string(&mut password)
                .context("cannot read the password from standard input")?;
            let password = password.trim_end_matches(['\n', '\r']);
            let engine = open(&cli.database).await?;
            let id = engine
                .add_user(&login, password, role, Timestamp::now())
                .await
                .map_err(explain)?;
            eprintln!("user {login} created (id {id})");
        }
        Command::Tokens {
            command: TokensCommand::Create { login },
        } => {
            let engine = open(&cli.database).await?;
            let token = engine.create_token(&login, Timestamp::now()).await.map_err(explain)?;
            println!("{token}");
        }
        Command::Import {
            command: ImportCommand::Xdrs { file, as_of },
        } => {
            if !file.is_file() {
                bail!("cannot read {}: no such file", file.display());
            }
            let engine = open(&cli.database).await?;
            let summary = import::import_xdrs(&engine, &file, as_of.unwrap_or_else(Timestamp::now)).await?;
            println!("accepted {}, rejected {}", summary.accepted, summary.rejected);
            if summary.rejected > 0 {
                eprintln!("rejected lines and their reasons: {}", summary.rejects_file.display());
            }
        }
        Command::BillRun {
            as_of,
            retry,
            batch_size,
        } => bill_run::run(&open(&cli.database).await?, as_of, retry, batch_size).await?,
        Command::Collections { as_of, batch_size } => {
            let engine = open(&cli.database).await?;
            let hook = bill_run::AbortHook::from_env()?;
            let on_commit = || hook.committed();
            let options = classbill_engine::collections::CollectionOptions {
                batch_size,
                on_commit: Some(&on_commit),
            };
            let summary = engine
                .run_collections_with(as_of, Timestamp::now(), options)
                .await
                .map_err(|e| {
                    // Every batch commits on its own, so a rerun at the same instant fires only what is left.
                    explain(e).context("the collection run stopped; run it again with the same --as-of to finish it")
                })?;
            println!(
                "events due {}, fired {}, dropped {}",
                summary.events_due, summary.events_fired, summary.events_dropped
            );
        }
    }
    Ok(())
}

/// Stops a background task when the command that started it ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Rendering a PDF allocates and frees many small objects; this allocator keeps that cheaper than the
/// system's and also serves the close's many short-lived rows (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CLASSBILL_LOG").unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
