//! One SQL text, two backends. Queries are written once with `$n` placeholders and run on whichever
//! pool the database URL selected (on SQLite rewritten to positional `?`, see [`positional`]); only DDL and bulk
//! paths differ per backend.
//!
//! A bound `LIMIT` is written behind a unary plus (`LIMIT +$3`). SQLite reads a value bound straight into a
//! `LIMIT` while planning, so it plans the statement again every time it runs with a new binding, and a list
//! read then costs a parse and a plan per request; the plus turns the value into an expression evaluated at run
//! time, and the prepared plan is kept. PostgreSQL reads both forms alike.

use std::fmt::Write as _;
use std::str::FromStr;
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{FromRow, Postgres, SqlSafeStr, Sqlite, Transaction};

use crate::StoreError;
use crate::checkpoints::{Checkpoints, WRITER_AUTOCHECKPOINT_PAGES};
use crate::sqlite_params::positional;

pub use sqlx::AssertSqlSafe;

/// A bound parameter. Every value the project stores is one of these shapes.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Int(Option<i64>),
    Text(Option<String>),
    Bool(Option<bool>),
    Bytes(Option<Vec<u8>>),
}

impl From<i64> for Arg {
    fn from(v: i64) -> Self {
        Arg::Int(Some(v))
    }
}
impl From<Option<i64>> for Arg {
    fn from(v: Option<i64>) -> Self {
        Arg::Int(v)
    }
}
impl From<bool> for Arg {
    fn from(v: bool) -> Self {
        Arg::Bool(Some(v))
    }
}
impl From<Vec<u8>> for Arg {
    fn from(v: Vec<u8>) -> Self {
        Arg::Bytes(Some(v))
    }
}
impl From<&str> for Arg {
    fn from(v: &str) -> Self {
        Arg::Text(Some(v.to_owned()))
    }
}
impl From<String> for Arg {
    fn from(v: String) -> Self {
        Arg::Text(Some(v))
    }
}
impl From<&String> for Arg {
    fn from(v: &String) -> Self {
        Arg::Text(Some(v.clone()))
    }
}
impl From<Option<String>> for Arg {
    fn from(v: Option<String>) -> Self {
        Arg::Text(v)
    }
}
impl From<Option<&str>> for Arg {
    fn from(v: Option<&str>) -> Self {
        Arg::Text(v.map(str::to_owned))
    }
}

/// Builds a `Vec<Arg>` from heterogeneous values.
#[macro_export]
macro_rules! args {
    ($($value:expr),* $(,)?) => { vec![$($crate::Arg::from($value)),*] };
}

/// Rows decode the same way from both backends.
pub trait Record: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin {}
impl<T> Record for T where T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
enum Pools {
    /// SQLite allows one writer: writes go through a single connection, reads through several.
    Sqlite {
        writer: SqlitePool,
        reader: SqlitePool,
        checkpoints: std::sync::Arc<Checkpoints>,
    },
    Postgres(PgPool),
}

/// How many connections a store pools and how long a transaction waits for a free one before failing with
/// `PoolTimedOut` (which the API answers with 503). SQLite always writes through one connection; the limit
/// there applies to its readers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolLimits {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

impl PoolLimits {
    fn sqlite_default() -> Self {
        PoolLimits {
            max_connections: 4,
            acquire_timeout: Duration::from_secs(30),
        }
    }

    fn postgres_default() -> Self {
        PoolLimits {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(30),
        }
    }
}

/// The database behind a URL: `sqlite://PATH` (created on first use) or `postgres://…`.
#[derive(Clone)]
pub struct Store {
    pools: Pools,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Store({:?})", self.backend())
    }
}

impl Store {
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        Self::connect_with(url, None).await
    }

    /// [`Store::connect`] with other pool limits than the defaults (4 SQLite readers, 16 PostgreSQL
    /// connections, 30 s to wait for one).
    pub async fn connect_with(url: &str, limits: Option<PoolLimits>) -> Result<Store, StoreError> {
        let scheme = url.split_once("://").map(|(s, _)| s).unwrap_or("");
        match scheme {
            "sqlite" => Self::connect_sqlite(url, limits.unwrap_or_else(PoolLimits::sqlite_default)).await,
            "postgres" | "postgresql" => {
                Self::connect_postgres(url, limits.unwrap_or_else(PoolLimits::postgres_default)).await
            }
            _ => Err(StoreError::UnsupportedUrl(redact(url))),
        }
    }

    async fn connect_sqlite(url: &str, limits: PoolLimits) -> Result<Store, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Connect(format!("{}: {e}", redact(url))))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            .row_buffer_size(SQLITE_ROW_BUFFER);
        let connect_error = |e: sqlx::Error| StoreError::Connect(format!("{}: {e}", redact(url)));
        let checkpoints = Checkpoints::start(options.clone()).await.map_err(connect_error)?;
        let wake = checkpoints.waker();
        // A connection to a local file cannot go stale the way a network connection can, so the pools skip the
        // round trip to the connection's worker thread that checks it before every use.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .acquire_timeout(limits.acquire_timeout)
            .after_release(move |_, _| {
                wake.notify_one();
                Box::pin(std::future::ready(Ok(true)))
            })
            .connect_with(
                options
                    .clone()
                    .pragma("cache_size", SQLITE_WRITER_CACHE)
                    .pragma("wal_autocheckpoint", WRITER_AUTOCHECKPOINT_PAGES),
            )
            .await
            .map_err(connect_error)?;
        let reader = SqlitePoolOptions::new()
            .max_connections(limits.max_connections)
            .test_before_acquire(false)
            .acquire_timeout(limits.acquire_timeout)
            .connect_with(options.read_only(true))
            .await
            .map_err(connect_error)?;
        Ok(Store {
            pools: Pools::Sqlite {
                writer,
                reader,
                checkpoints: std::sync::Arc::new(checkpoints),
            },
        })
    }

    async fn connect_postgres(url: &str, limits: PoolLimits) -> Result<Store, StoreError> {
        let options =
            PgConnectOptions::from_str(url).map_err(|e| StoreError::Connect(format!("{}: {e}", redact(url))))?;
        let pool = PgPoolOptions::new()
            .max_connections(limits.max_connections)
            .acquire_timeout(limits.acquire_timeout)
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Connect(format!("{}: {e}", redact(url))))?;
        Ok(Store {
            pools: Pools::Postgres(pool),
        })
    }

    pub fn backend(&self) -> Backend {
        match self.pools {
            Pools::Sqlite { .. } => Backend::Sqlite,
            Pools::Postgres(_) => Backend::Postgres,
        }
    }

    /// How many write transactions are worth running side by side for one bulk job (an import, a billing
    /// run). PostgreSQL takes concurrent writers, so one transaction's rows are computed while the server
    /// stores another's, on another core; SQLite has a single writer.
    pub fn writers(&self) -> usize {
        match self.backend() {
            Backend::Postgres => 2,
            Backend::Sqlite => 1,
        }
    }

    /// Creates or upgrades the schema.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match &self.pools {
            Pools::Sqlite { writer, .. } => sqlx::migrate!("migrations/sqlite").run(writer).await?,
            Pools::Postgres(pool) => sqlx::migrate!("migrations/postgres").run(pool).await?,
        }
        Ok(())
    }

    /// A read-write transaction. On SQLite it takes the write lock at once so concurrent writers queue
    /// on `busy_timeout` instead of failing when a read lock would have to be upgraded.
    pub async fn write(&self) -> Result<Tx, StoreError> {
        Ok(match &self.pools {
            Pools::Sqlite { writer, .. } => Tx::Sqlite(writer.begin_with("BEGIN IMMEDIATE").await?),
            Pools::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        })
    }

    /// A read-only transaction: one consistent snapshot for a request.
    pub async fn read(&self) -> Result<Tx, StoreError> {
        Ok(match &self.pools {
            Pools::Sqlite { reader, .. } => Tx::Sqlite(reader.begin().await?),
            Pools::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        })
    }

    /// A read connection outside any transaction, for a read that is one statement: a single statement sees
    /// one consistent state by itself, and the `BEGIN` and `ROLLBACK` around it would cost two more round trips
    /// (on SQLite, two more hand-overs to the connection's thread, which dominate a short read). Every further
    /// statement on it sees the latest commit, so a read of several statements that must agree uses
    /// [`Store::read`].
    pub async fn read_single(&self) -> Result<Tx, StoreError> {
        Ok(match &self.pools {
            Pools::Sqlite { reader, .. } => Tx::SqliteSingle(reader.acquire().await?),
            Pools::Postgres(pool) => Tx::PostgresSingle(pool.acquire().await?),
        })
    }

    pub async fn close(&self) {
        match &self.pools {
            Pools::Sqlite {
                writer,
                reader,
                checkpoints,
            } => {
                reader.close().await;
                writer.close().await;
                checkpoints.close().await;
            }
            Pools::Postgres(pool) => pool.close().await,
        }
    }
}

/// Hides the password of a URL before it appears in an error message.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..scheme_end + 3], user, &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

pub enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
    /// A connection without a transaction ([`Store::read_single`]).
    SqliteSingle(PoolConnection<Sqlite>),
    PostgresSingle(PoolConnection<Postgres>),
}

/// The statement and its values as SQLite binds them in linear time ([`positional`]).
fn for_sqlite(sql: impl SqlSafeStr, args: Vec<Arg>) -> Result<(AssertSqlSafe<String>, Vec<Arg>), StoreError> {
    let (sql, args) = positional(sql.into_sql_str().as_str(), args)?;
    Ok((AssertSqlSafe(sql), args))
}

macro_rules! bind_all {
    ($query:expr, $args:expr) => {{
        let mut query = $query;
        for arg in $args {
            query = match arg {
                Arg::Int(v) => query.bind(v),
                Arg::Text(v) => query.bind(v),
                Arg::Bool(v) => query.bind(v),
                Arg::Bytes(v) => query.bind(v),
            };
        }
        query
    }};
}

impl Tx {
    pub fn backend(&self) -> Backend {
        match self {
            Tx::Sqlite(_) | Tx::SqliteSingle(_) => Backend::Sqlite,
            Tx::Postgres(_) | Tx::PostgresSingle(_) => Backend::Postgres,
        }
    }

    /// Commits a transaction; a connection without one has nothing to commit.
    pub async fn commit(self) -> Result<(), StoreError> {
        match self {
            Tx::Sqlite(tx) => tx.commit().await?,
            Tx::Postgres(tx) => tx.commit().await?,
            Tx::SqliteSingle(_) | Tx::PostgresSingle(_) => {}
        }
        Ok(())
    }

    /// Undoes the transaction now. Dropping it would also undo it, but only when its connection is next
    /// used, so its locks could outlive it and refuse a transaction that follows at once.
    pub async fn rollback(self) -> Result<(), StoreError> {
        match self {
            Tx::Sqlite(tx) => tx.rollback().await?,
            Tx::Postgres(tx) => tx.rollback().await?,
            Tx::SqliteSingle(_) | Tx::PostgresSingle(_) => {}
        }
        Ok(())
    }

    pub async fn fetch_all<T: Record>(&mut self, sql: impl SqlSafeStr, args: Vec<Arg>) -> Result<Vec<T>, StoreError> {
        Ok(match self {
            Tx::Sqlite(tx) => {
                let (sql, args) = for_sqlite(sql, args)?;
                bind_all!(sqlx::query_as::<_, T>(sql), args)
                    .fetch_all(&mut **tx)
                    .await?
            }
            Tx::Postgres(tx) => {
                bind_all!(sqlx::query_as::<_, T>(sql), args)
                    .fetch_all(&mut **tx)
                    .await?
            }
            Tx::SqliteSingle(conn) => {
                let (sql, args) = for_sqlite(sql, args)?;
                bind_all!(sqlx::query_as::<_, T>(sql), args)
                    .fetch_all(&mut **conn)
                    .await?
            }
            Tx::PostgresSingle(conn) => {
                bind_all!(sqlx::query_as::<_, T>(sql), args)
                    .fetch_all(&mut **conn)
                    .await?
            }
        })
    }

    pub async fn fetch_optional<T: Record>(
        &mut self,
        sql: impl SqlSafeStr,
        args: Vec<Arg>,
    ) -> Result<Option<T>, StoreError> {
        Ok(match self {
            Tx::Sqlite(tx) => {
                let (sql, args) = for_sqlite(sql, args)?;
                bind_all!(sqlx::query_as::<_, T>(sql), args)
                    .fetch_optional(&mut **tx)
                    .await?
            }
            Tx::Postgres(tx) => {
                bind_all!(sqlx::query_as::<_, T>(sql), args)
                    .fetch_optional(&mut **tx)
                    .await?
            }
            Tx::SqliteSingle(conn) => {
                let (sql, args) = for_sqlite(sql, args)?;
                bind_all!(sqlx::query_as::<_, T>(sql), args)
                    .fetch_optional(&mut **conn)
                    .await?
            }
            Tx::PostgresSingle(conn) => {
                bind_all!(sqlx::query_as::<_, T>(sql), args)
                    .fetch_optional(&mut **conn)
                    .await?
            }
        })
    }

    pub async fn fetch_one<T: Record>(&mut self, sql: impl SqlSafeStr, args: Vec<Arg>) -> Result<T, StoreError> {
        Ok(match self {
            Tx::Sqlite(tx) => {
                let (sql, args) = for_sqlite(sql, args)?;
                bind_all!(sqlx::query_as::<_, T>(sql), args)
                    .fetch_one(&mut **tx)
                    .await?
            }
            Tx::Postgres(tx) => {
                bind_all!(sqlx::query_as::<_, T>(sql), args)
                    .fetch_one(&mut **tx)
                    .await?
            }
            Tx::SqliteSingle(conn) => {
                let (sql, args) = for_sqlite(sql, args)?;
                bind_all!(sqlx::query_as::<_, T>(sql), args)
                    .fetch_one(&mut **conn)
                    .await?
            }
            Tx::PostgresSingle(conn) => {
                bind_all!(sqlx::query_as::<_, T>(sql), args)
                    .fetch_one(&mut **conn)
                    .await?
            }
        })
    }

    /// Runs a multi-row `INSERT` (without `RETURNING`) into a table whose `id` the database assigns, and answers
    /// the new ids in VALUES order. Rows of one statement take ascending ids in that order; on SQLite, whose
    /// single writer gives an `AUTOINCREMENT` table's rows of one statement consecutive rowids, they follow from
    /// the last rowid and the row count instead of coming back one result row each.
    pub async fn insert_ids(&mut self, sql: impl SqlSafeStr, args: Vec<Arg>) -> Result<Vec<i64>, StoreError> {
        let done = match self {
            Tx::Sqlite(tx) => {
                let (sql, args) = for_sqlite(sql, args)?;
                bind_all!(sqlx::query(sql), args).execute(&mut **tx).await?
            }
            Tx::SqliteSingle(conn) => {
                let (sql, args) = for_sqlite(sql, args)?;
                bind_all!(sqlx::query(sql), args).execute(&mut **conn).await?
            }
            Tx::Postgres(_) | Tx::PostgresSingle(_) => {
                let returning = format!("{} RETURNING id", sql.into_sql_str().as_str());
                let rows: Vec<(i64,)> = self.fetch_all(AssertSqlSafe(returning), args).await?;
                let mut ids: Vec<i64> = rows.into_iter().map(|(id,)| id).collect();
                ids.sort_unstable();
                return Ok(ids);
            }
        };
        let count = i64::try_from(done.rows_affected()).unwrap_or(i64::MAX);
        let last = done.last_insert_rowid();
        Ok((last - count + 1..=last).collect())
    }

    /// Runs a statement and answers the number of rows it touched.
    pub async fn execute(&mut self, sql: impl SqlSafeStr, args: Vec<Arg>) -> Result<u64, StoreError> {
        Ok(match self {
            Tx::Sqlite(tx) => {
                let (sql, args) = for_sqlite(sql, args)?;
                bind_all!(sqlx::query(sql), args)
                    .execute(&mut **tx)
                    .await?
                    .rows_affected()
            }
            Tx::Postgres(tx) => bind_all!(sqlx::query(sql), args)
                .execute(&mut **tx)
                .await?
                .rows_affected(),
            Tx::SqliteSingle(conn) => {
                let (sql, args) = for_sqlite(sql, args)?;
                bind_all!(sqlx::query(sql), args)
                    .execute(&mut **conn)
                    .await?
                    .rows_affected()
            }
            Tx::PostgresSingle(conn) => bind_all!(sqlx::query(sql), args)
                .execute(&mut **conn)
                .await?
                .rows_affected(),
        })
    }
}

/// Rows a SQLite connection's worker thread may read ahead of the task that takes them. Each time the buffer runs
/// full or empty one thread sleeps and the other wakes; with the driver's 50 a read of 10,000 rows switched threads
/// hundreds of times.
const SQLITE_ROW_BUFFER: usize = 4_096;

/// The page cache of the one writing connection, in KiB when negative (SQLite's default is 2 MiB). A close batch
/// dirties some 6 MiB of pages (frozen periods, invoices, statistics files, the attached xDRs): in 2 MiB the
/// pages spilled to the WAL before the commit and were read back by the batch's later steps. With 32 MiB the bill
/// run of 100,000 customers took 9 % less time; the cache grows only as far as it is used.
const SQLITE_WRITER_CACHE: &str = "-32768";

/// `$first, $first+1, …`: the placeholders of an `IN (…)` list of `count` bound values.
pub(crate) fn in_list(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Bound values per multi-row statement: one statement replaces dozens of round trips, while a longer text
/// would only cost more to parse (SQLite binds these by position, see [`positional`]).
const VALUES_PER_STATEMENT: usize = 1_000;

/// Rows of `columns` bound values each that one multi-row statement takes.
pub(crate) fn rows_per_statement(columns: usize) -> usize {
    (VALUES_PER_STATEMENT / columns.max(1)).max(1)
}

/// `($1, $2), ($3, $4), …`: the placeholders of `rows` tuples of `columns` bound values, for a multi-row
/// `VALUES` list.
pub(crate) fn value_rows(rows: usize, columns: usize) -> String {
    // Written into one string: bulk loads build one of these per statement of hundreds of rows.
    let mut text = String::with_capacity(rows * columns * 7);
    for row in 0..rows {
        text.push_str(if row == 0 { "(" } else { "), (" });
        for n in row * columns + 1..=(row + 1) * columns {
            if n > row * columns + 1 {
                text.push_str(", ");
            }
            let _ = write!(text, "${n}");
        }
    }
    if rows > 0 {
        text.push(')');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn value_rows_number_the_placeholders_row_by_row() {
        assert_eq!(super::value_rows(2, 3), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(super::value_rows(1, 1), "($1)");
        assert_eq!(super::rows_per_statement(7), 142);
        assert_eq!(super::rows_per_statement(5_000), 1);
    }

    #[test]
    fn redact_hides_the_password_only() {
        assert_eq!(
            redact("postgres://bill:secret@db:5432/cb"),
            "postgres://bill:***@db:5432/cb"
        );
        assert_eq!(redact("postgres://bill@db/cb"), "postgres://bill@db/cb");
        assert_eq!(redact("sqlite://classbill.db"), "sqlite://classbill.db");
    }
}
