//! `classbill backup` and `classbill restore`: a consistent copy of the whole database in one file, and that
//! file put back into a new SQLite file or an empty PostgreSQL database.
//!
//! SQLite is copied online with `VACUUM INTO`, which reads one snapshot while the server keeps writing.
//! PostgreSQL is dumped with `pg_dump --format=custom` and restored with `pg_restore`, found next to the server
//! binaries (`CLASSBILL_PG_BIN`), on `PATH` or under `/usr/lib/postgresql/*/bin`. Neither command ever
//! overwrites: a backup goes to a file that does not exist yet, a restore into a database that holds nothing.

use std::ffi::OsString;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{Context, bail};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection, SqliteConnection};

/// Where the PostgreSQL client programs of the server's own version live, as the test harness uses it.
const PG_BIN_ENV: &str = "CLASSBILL_PG_BIN";
/// Every SQLite database file starts with these bytes.
const SQLITE_MAGIC: &[u8] = b"SQLite format 3\0";
/// Every `pg_dump --format=custom` archive starts with these bytes.
const PG_DUMP_MAGIC: &[u8] = b"PGDMP";

#[derive(clap::Args)]
pub struct BackupArgs {
    /// The backup file to write; it must not exist yet.
    #[arg(long = "to", value_name = "FILE")]
    to: PathBuf,
}

#[derive(clap::Args)]
pub struct RestoreArgs {
    /// A file written by `classbill backup` for the same kind of database as --database.
    #[arg(long = "from", value_name = "FILE")]
    from: PathBuf,
}

/// The database a URL names, as far as copying it is concerned.
enum Target {
    Sqlite(PathBuf),
    Postgres,
}

fn target(url: &str) -> anyhow::Result<Target> {
    match url.split_once("://").map(|(scheme, _)| scheme) {
        Some("sqlite") => {
            let options = SqliteConnectOptions::from_str(url).with_context(|| format!("invalid database URL {url}"))?;
            let path = options.get_filename();
            if path.as_os_str().is_empty() || path.as_os_str() == ":memory:" {
                bail!("{url} names no database file");
            }
            Ok(Target::Sqlite(path.to_path_buf()))
        }
        Some("postgres" | "postgresql") => Ok(Target::Postgres),
        _ => bail!("unsupported database URL (expected sqlite://PATH or postgres://…)"),
    }
}

pub async fn backup(database: &str, args: BackupArgs) -> anyhow::Result<()> {
    let to = new_file_path(&args.to)?;
    let staging = staging_path(&to);
    let written = match target(database)? {
        Target::Sqlite(path) => backup_sqlite(&path, &staging).await,
        Target::Postgres => backup_postgres(database, &staging),
    };
    // The backup appears under its name only complete and synced, so a crash never leaves a torn file there.
    let published = written
        .and_then(|()| sync_file(&staging))
        .and_then(|()| publish(&staging, &to));
    if published.is_err() {
        let _ = std::fs::remove_file(&staging);
    }
    published?;
    let size = std::fs::metadata(&to).map(|m| m.len()).unwrap_or(0);
    eprintln!("backup written to {} ({size} bytes)", to.display());
    Ok(())
}

pub async fn restore(database: &str, args: RestoreArgs) -> anyhow::Result<()> {
    let from = &args.from;
    let magic = read_magic(from)?;
    match target(database)? {
        Target::Sqlite(path) => {
            if !magic.starts_with(SQLITE_MAGIC) {
                bail!(
                    "{} is not a SQLite backup; it cannot be restored into {database}",
                    from.display()
                );
            }
            restore_sqlite(from, &path).await?;
            eprintln!("restored {} into {}", from.display(), path.display());
        }
        Target::Postgres => {
            if !magic.starts_with(PG_DUMP_MAGIC) {
                bail!(
                    "{} is not a PostgreSQL backup (pg_dump custom format); it cannot be restored into a PostgreSQL database",
                    from.display()
                );
            }
            restore_postgres(database, from).await?;
            eprintln!("restored {} into the PostgreSQL database", from.display());
        }
    }
    Ok(())
}

/// The absolute path of a backup file that does not exist yet, in a directory that does.
fn new_file_path(path: &Path) -> anyhow::Result<PathBuf> {
    let name = path
        .file_name()
        .with_context(|| format!("{} names no file", path.display()))?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let parent = parent
        .canonicalize()
        .with_context(|| format!("the directory of {} does not exist", path.display()))?;
    let path = parent.join(name);
    if path.symlink_metadata().is_ok() {
        bail!("{} already exists; a backup never overwrites a file", path.display());
    }
    Ok(path)
}

/// A sibling of `to` that no other process writes, so that publishing it is a link within one directory.
fn staging_path(to: &Path) -> PathBuf {
    let mut name = OsString::from(".");
    name.push(to.file_name().unwrap_or_default());
    name.push(format!(".partial-{}", std::process::id()));
    to.with_file_name(name)
}

fn sync_file(path: &Path) -> anyhow::Result<()> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("cannot sync {}", path.display()))
}

/// Gives the finished file its name without ever replacing one that appeared meanwhile: a hard link fails when
/// the name is taken, where a rename would silently overwrite.
fn publish(staging: &Path, to: &Path) -> anyhow::Result<()> {
    match std::fs::hard_link(staging, to) {
        Ok(()) => {
            std::fs::remove_file(staging).with_context(|| format!("cannot remove {}", staging.display()))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            bail!("{} already exists; a backup never overwrites a file", to.display())
        }
        // File systems without hard links: the name was free a moment ago, so a rename is the next best thing.
        Err(_) => {
            if to.symlink_metadata().is_ok() {
                bail!("{} already exists; a backup never overwrites a file", to.display());
            }
            std::fs::rename(staging, to).with_context(|| format!("cannot create {}", to.display()))?;
        }
    }
    if let Some(dir) = to.parent() {
        // Makes the new directory entry durable; not every platform can open a directory, hence best effort.
        let _ = File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(())
}

fn read_magic(path: &Path) -> anyhow::Result<Vec<u8>> {
    let mut file = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut magic = vec![0; SQLITE_MAGIC.len()];
    let mut filled = 0;
    while filled < magic.len() {
        let n = file
            .read(&mut magic[filled..])
            .with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    magic.truncate(filled);
    Ok(magic)
}

/// Opens an existing SQLite file without creating, migrating or writing anything.
async fn open_sqlite_read_only(path: &Path) -> anyhow::Result<SqliteConnection> {
    if !path.is_file() {
        bail!("{}: no such database file", path.display());
    }
    SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .connect()
        .await
        .with_context(|| format!("cannot open {}", path.display()))
}

async fn backup_sqlite(source: &Path, staging: &Path) -> anyhow::Result<()> {
    let mut conn = open_sqlite_read_only(source).await?;
    let migrated: i64 =
        sqlx::query_scalar("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'")
            .fetch_one(&mut conn)
            .await
            .with_context(|| format!("{} is not a SQLite database", source.display()))?;
    if migrated == 0 {
        bail!("{} holds no Classbill schema; nothing to back up", source.display());
    }
    let staging_text = staging
        .to_str()
        .with_context(|| format!("{} is not a UTF-8 path", staging.display()))?;
    // The path is bound, never spliced into the SQL; it is absolute, so SQLite never reads it as a `file:` URI.
    sqlx::query("VACUUM INTO $1")
        .bind(staging_text)
        .execute(&mut conn)
        .await
        .with_context(|| format!("cannot back up {}", source.display()))?;
    conn.close().await?;
    Ok(())
}

async fn restore_sqlite(from: &Path, target: &Path) -> anyhow::Result<()> {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut name = target.as_os_str().to_owned();
        name.push(suffix);
        let file = PathBuf::from(name);
        // An empty file is an empty database (the state a fresh test database or `touch` leaves).
        if let Ok(meta) = file.symlink_metadata()
            && (!suffix.is_empty() || meta.len() > 0)
        {
            bail!(
                "{} already exists; restore only into a database file that does not exist yet",
                file.display()
            );
        }
    }
    let mut check = open_sqlite_read_only(from).await?;
    let verdict: String = sqlx::query_scalar("PRAGMA quick_check")
        .fetch_one(&mut check)
        .await
        .with_context(|| format!("{} is not a readable SQLite database", from.display()))?;
    check.close().await?;
    if verdict != "ok" {
        bail!("{} is damaged: {verdict}", from.display());
    }
    let target = match target.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir
            .canonicalize()
            .with_context(|| format!("the directory of {} does not exist", target.display()))?
            .join(target.file_name().unwrap_or_default()),
        _ => target.to_path_buf(),
    };
    let staging = staging_path(&target);
    let copied = std::fs::copy(from, &staging)
        .map(drop)
        .with_context(|| format!("cannot copy {} to {}", from.display(), staging.display()))
        .and_then(|()| sync_file(&staging))
        .and_then(|()| {
            // Only an empty placeholder can be in the way here; it was checked above.
            if target.is_file() {
                std::fs::remove_file(&target).with_context(|| format!("cannot replace {}", target.display()))?;
            }
            publish(&staging, &target)
        });
    if copied.is_err() {
        let _ = std::fs::remove_file(&staging);
    }
    copied
}

/// The directory of `pg_dump` and `pg_restore`: beside the server binaries first, since a client older than the
/// server cannot dump it, then `PATH`, then the newest Debian layout.
fn pg_tool(name: &str) -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os(PG_BIN_ENV).filter(|d| !d.is_empty()) {
        let tool = PathBuf::from(dir).join(name);
        if tool.is_file() {
            return Ok(tool);
        }
    }
    if let Some(path) = std::env::var_os("PATH")
        && let Some(tool) = std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|tool| tool.is_file())
    {
        return Ok(tool);
    }
    let mut debian: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let tool = entry.path().join("bin").join(name);
            tool.is_file().then_some((version, tool))
        })
        .collect();
    debian.sort();
    match debian.pop() {
        Some((_, tool)) => Ok(tool),
        None => bail!(
            "{name} not found: install the PostgreSQL client programs or set {PG_BIN_ENV} to the directory holding them"
        ),
    }
}

/// Splits the password off a PostgreSQL URL so that it reaches the client programs through their environment,
/// never their command line (which every user of the machine can read).
fn without_password(url: &str) -> (String, Option<String>) {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return (url.to_owned(), None);
    };
    let authority_end = url[scheme_end..].find(['/', '?']).map_or(url.len(), |i| scheme_end + i);
    let authority = &url[scheme_end..authority_end];
    let Some(at) = authority.rfind('@') else {
        return (url.to_owned(), None);
    };
    match authority[..at].split_once(':') {
        Some((user, password)) => (
            format!("{}{user}{}", &url[..scheme_end], &url[scheme_end + at..]),
            Some(percent_decode(password)),
        ),
        None => (url.to_owned(), None),
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(byte) = text.get(i + 1..i + 3).and_then(|hex| u8::from_str_radix(hex, 16).ok())
        {
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn pg_command(tool: &str, url: &str) -> anyhow::Result<(std::process::Command, String)> {
    let (url, password) = without_password(url);
    let mut command = std::process::Command::new(pg_tool(tool)?);
    if let Some(password) = password {
        command.env("PGPASSWORD", password);
    }
    command.stdin(std::process::Stdio::null());
    Ok((command, url))
}

fn run_pg_tool(tool: &str, mut command: std::process::Command) -> anyhow::Result<()> {
    let output = command.output().with_context(|| format!("cannot run {tool}"))?;
    if !output.status.success() {
        bail!(
            "{tool} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

fn backup_postgres(url: &str, staging: &Path) -> anyhow::Result<()> {
    let (mut command, url) = pg_command("pg_dump", url)?;
    command
        .arg("--format=custom")
        .arg("--no-owner")
        .arg("--file")
        .arg(staging)
        .arg("--dbname")
        .arg(url);
    run_pg_tool("pg_dump", command)
}

async fn restore_postgres(url: &str, from: &Path) -> anyhow::Result<()> {
    let mut conn = PgConnection::connect(url)
        .await
        .context("cannot connect to the target database")?;
    let relations: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%'
           AND n.nspname NOT LIKE 'pg\\_temp%'",
    )
    .fetch_one(&mut conn)
    .await
    .context("cannot inspect the target database")?;
    conn.close().await?;
    if relations > 0 {
        bail!("the target database is not empty ({relations} relations); restore only into a new, empty database");
    }
    let (mut command, url) = pg_command("pg_restore", url)?;
    command
        .arg("--no-owner")
        .arg("--no-privileges")
        .arg("--exit-on-error")
        .arg("--single-transaction")
        .arg("--dbname")
        .arg(url)
        .arg(from);
    run_pg_tool("pg_restore", command)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_leaves_the_url() {
        assert_eq!(
            without_password("postgres://bill:s%40cret@db:5432/cb?sslmode=disable"),
            (
                "postgres://bill@db:5432/cb?sslmode=disable".to_owned(),
                Some("s@cret".to_owned())
            )
        );
        assert_eq!(
            without_password("postgres://bill@db/cb"),
            ("postgres://bill@db/cb".to_owned(), None)
        );
        assert_eq!(
            without_password("postgres://db/cb"),
            ("postgres://db/cb".to_owned(), None)
        );
    }

    #[test]
    fn a_backup_never_targets_an_existing_file() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let taken = dir.path().join("taken.db");
        std::fs::write(&taken, b"x").expect("file written");
        let error = new_file_path(&taken).expect_err("an existing file is refused");
        assert!(error.to_string().contains("already exists"), "{error}");
        let missing = dir.path().join("nope").join("b.db");
        assert!(new_file_path(&missing).is_err());
        assert_eq!(
            new_file_path(&dir.path().join("new.db")).expect("a free name"),
            dir.path().canonicalize().expect("dir").join("new.db")
        );
    }
}
