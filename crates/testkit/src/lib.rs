//! Databases for Classbill's tests.
//!
//! Every storage test runs against both backends: a fresh SQLite file and a
//! fresh, empty PostgreSQL database. PostgreSQL is never optional: when it
//! cannot be found or started the test fails with a message saying how to
//! get it (`bash scripts/test.sh` installs and starts everything).
//!
//! Where the PostgreSQL databases live:
//!
//! * with `CLASSBILL_TEST_PG_URL` set (the test script does this), on that
//!   server, for example `postgres://postgres@127.0.0.1:5432/postgres`;
//! * otherwise on a private server that the first caller in the test process
//!   starts from the installed binaries (see [`PgCluster`]) and that goes away
//!   with the process.
//!
//! ```no_run
//! use classbill_testkit::{Backend, database_url};
//!
//! # async fn story() {
//! for backend in Backend::ALL {
//!     let db = database_url(backend).await;
//!     // Connect to `db.url`; keep `db` alive for as long as the test uses it.
//!     # let _ = &db.url;
//! }
//! # }
//! ```

mod pg;
mod smtp;

use std::fmt;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::{AssertSqlSafe, Connection, PgConnection};
use tempfile::TempDir;

pub use pg::{PG_BIN_ENV, PgCluster, PgError, SUPERUSER, find_bin_dir};
pub use smtp::{ReceivedMail, SmtpReceiver, SmtpTls};

/// Environment variable with the URL of a PostgreSQL server to create test
/// databases on, instead of starting a private one.
pub const PG_URL_ENV: &str = "CLASSBILL_TEST_PG_URL";

/// The command that prepares the machine and runs every check.
pub const TEST_COMMAND: &str = "bash scripts/test.sh";

/// A storage backend the tests run against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// Every backend, for tests that must pass on each of them.
    pub const ALL: [Backend; 2] = [Backend::Sqlite, Backend::Postgres];

    /// A short lowercase name, handy in assertion messages.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A fresh, empty database for one test.
///
/// Keep it alive while the database is used: for SQLite it owns the
/// temporary directory holding the file.
#[derive(Debug)]
pub struct TestDatabase {
    pub backend: Backend,
    pub url: String,
    _guard: Option<TempDir>,
}

/// A fresh, empty database on `backend`.
///
/// Panics when the backend cannot be provided (see [`postgres_url`]).
pub async fn database_url(backend: Backend) -> TestDatabase {
    match backend {
        Backend::Sqlite => {
            let (dir, url) = sqlite_url();
            TestDatabase {
                backend,
                url,
                _guard: Some(dir),
            }
        }
        Backend::Postgres => TestDatabase {
            backend,
            url: postgres_url().await,
            _guard: None,
        },
    }
}

/// A fresh SQLite database file, as `sqlite://<dir>/classbill.db`.
///
/// The file exists and is empty (an empty file is a valid SQLite database),
/// so the URL opens whether or not the caller asks for missing files to be
/// created. The file lives as long as the returned directory.
pub fn sqlite_url() -> (TempDir, String) {
    let dir = tempfile::Builder::new()
        .prefix("classbill-sqlite-")
        .tempdir()
        .unwrap_or_else(|err| panic!("could not create a temporary directory for SQLite: {err}"));
    let path = dir.path().join("classbill.db");
    std::fs::File::create(&path).unwrap_or_else(|err| panic!("could not create {}: {err}", path.display()));
    let url = format!("sqlite://{}", path.display());
    (dir, url)
}

/// URL of a new, empty PostgreSQL database (`cb_test_…`).
///
/// The database is created on the server named by `CLASSBILL_TEST_PG_URL`,
/// or else on a private server shared by the whole test process and started
/// on first use.
///
/// Panics with instructions when PostgreSQL cannot be found, started or
/// reached; tests are never skipped for want of it.
pub async fn postgres_url() -> String {
    let server_url = match server_url().await {
        Ok(url) => url,
        Err(err) => postgres_unavailable(&err.to_string()),
    };
    let name = unique_database_name();
    if let Err(err) = create_database(&server_url, &name).await {
        postgres_unavailable(&format!("could not create database {name} on {server_url}: {err}"));
    }
    with_database(&server_url, &name)
}

/// The server to create databases on, starting the shared one if needed.
async fn server_url() -> Result<String, PgError> {
    if let Some(url) = std::env::var(PG_URL_ENV).ok().filter(|u| !u.is_empty()) {
        return Ok(url);
    }
    // Starting a server blocks for a second or two; keep that off the runtime.
    tokio::task::spawn_blocking(shared_cluster_url)
        .await
        .unwrap_or_else(|err| Err(PgError::new(format!("server start-up failed: {err}"))))
}

fn shared_cluster_url() -> Result<String, PgError> {
    // Never dropped: the cluster's watchdog stops it when the process ends.
    static CLUSTER: OnceLock<Result<PgCluster, PgError>> = OnceLock::new();
    match CLUSTER.get_or_init(PgCluster::start) {
        Ok(cluster) => Ok(cluster.admin_url()),
        Err(err) => Err(err.clone()),
    }
}

async fn create_database(server_url: &str, name: &str) -> Result<(), sqlx::Error> {
    let mut conn = PgConnection::connect(server_url).await?;
    // `name` is built by `unique_database_name` from digits, lowercase
    // letters and underscores only, so quoting it is enough.
    sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut conn)
        .await?;
    conn.close().await
}

/// A database name no other test, process or earlier run has used.
fn unique_database_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("cb_test_{}_{n}_{nanos}", std::process::id())
}

/// Replaces the database in a PostgreSQL URL, keeping any query parameters.
fn with_database(server_url: &str, database: &str) -> String {
    let (base, query) = match server_url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (server_url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    let mut url = format!("{}/{database}", &base[..path_start]);
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    url
}

fn running_in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
}

/// Fails the test: PostgreSQL is required, never skipped.
fn postgres_unavailable(reason: &str) -> ! {
    if running_in_ci() {
        panic!(
            "PostgreSQL is required by Classbill's tests and CI never skips them, \
             but it could not be used: {reason}"
        );
    }
    panic!(
        "PostgreSQL is required by Classbill's tests, but it could not be used: {reason}\n\
         Run the project's test command from the repository root: `{TEST_COMMAND}` \
         (it installs PostgreSQL when missing and starts a server for the run). \
         Alternatively set {PG_BIN_ENV} to a directory holding `initdb` and `postgres`, \
         or {PG_URL_ENV} to the URL of a server where databases may be created."
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_database_in_a_url() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "cb_x"),
            "postgres://postgres@127.0.0.1:5432/cb_x"
        );
        assert_eq!(
            with_database("postgres://u:p@localhost:5433", "cb_x"),
            "postgres://u:p@localhost:5433/cb_x"
        );
        assert_eq!(
            with_database("postgresql://u@h/db?sslmode=disable", "cb_x"),
            "postgresql://u@h/cb_x?sslmode=disable"
        );
    }

    #[test]
    fn database_names_are_unique_and_plain() {
        let a = unique_database_name();
        let b = unique_database_name();
        assert_ne!(a, b);
        for name in [a, b] {
            assert!(name.len() <= 63, "{name} is longer than PostgreSQL allows");
            assert!(
                name.bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
            );
        }
    }

    #[test]
    fn sqlite_urls_point_at_an_existing_file() {
        let (dir, url) = sqlite_url();
        let path = url.strip_prefix("sqlite://").unwrap();
        assert!(std::path::Path::new(path).is_file());
        assert!(path.starts_with(dir.path().to_str().unwrap()));
        assert!(path.ends_with("/classbill.db"));
    }
}
