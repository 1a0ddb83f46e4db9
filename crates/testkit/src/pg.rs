//! A private, throwaway PostgreSQL server built from the installed binaries.
//!
//! The server lives in a temporary directory (data, unix socket and log all
//! inside it), listens only on 127.0.0.1 on a free port, trusts every local
//! connection and runs with durability switched off, since nothing it holds
//! needs to survive a crash.
//!
//! PostgreSQL refuses to run as root. When the tests run as root, `initdb`
//! and `postgres` are started as the `postgres` system user and the
//! directory is handed over to that user first.

use std::fmt;
use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::fs::chown;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::{Pid, User, geteuid};
use tempfile::TempDir;

/// Environment variable naming the directory that holds `initdb` and `postgres`.
pub const PG_BIN_ENV: &str = "CLASSBILL_PG_BIN";

/// The system account PostgreSQL runs as when the tests run as root.
const SYSTEM_USER: &str = "postgres";

/// Name of the superuser role created by `initdb`.
pub const SUPERUSER: &str = "postgres";

/// How long a fresh server gets to start accepting connections.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a server gets to exit after an immediate-shutdown request.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// How many ports are tried when the chosen one was taken in the meantime.
const PORT_ATTEMPTS: usize = 5;

/// Lines of the server log quoted in error messages.
const LOG_TAIL_LINES: usize = 40;

/// Connection settings that would steer the client tools elsewhere.
const CLIENT_ENV: &[&str] = &[
    "PGHOST",
    "PGHOSTADDR",
    "PGPORT",
    "PGUSER",
    "PGDATABASE",
    "PGPASSWORD",
    "PGSERVICE",
    "PGOPTIONS",
    "PGDATA",
];

/// Why a PostgreSQL server could not be found or started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgError {
    message: String,
}

impl PgError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

impl fmt::Display for PgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for PgError {}

/// Finds the directory holding the PostgreSQL server binaries.
///
/// Looks, in order, at `$CLASSBILL_PG_BIN`, at the highest version under
/// `/usr/lib/postgresql/*/bin` (where Debian installs them) and at `PATH`.
pub fn find_bin_dir() -> Result<PathBuf, PgError> {
    if let Some(dir) = std::env::var_os(PG_BIN_ENV).filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        return if has_server_binaries(&dir) {
            Ok(dir)
        } else {
            Err(PgError::new(format!(
                "{PG_BIN_ENV}={} does not contain both `initdb` and `postgres`",
                dir.display()
            )))
        };
    }

    if let Some(dir) = newest_debian_bin_dir(Path::new("/usr/lib/postgresql")) {
        return Ok(dir);
    }

    if let Some(path) = std::env::var_os("PATH")
        && let Some(dir) = std::env::split_paths(&path).find(|d| has_server_binaries(d))
    {
        return Ok(dir);
    }

    Err(PgError::new(
        "no PostgreSQL server binaries found: looked at $CLASSBILL_PG_BIN, \
         /usr/lib/postgresql/*/bin and PATH for a directory holding `initdb` and `postgres`",
    ))
}

fn has_server_binaries(dir: &Path) -> bool {
    dir.join("initdb").is_file() && dir.join("postgres").is_file()
}

/// Picks `<root>/<version>/bin` with the highest version that holds the binaries.
fn newest_debian_bin_dir(root: &Path) -> Option<PathBuf> {
    let entries = fs::read_dir(root).ok()?;
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = parse_version(entry.file_name().to_str()?)?;
            let bin = entry.path().join("bin");
            has_server_binaries(&bin).then_some((version, bin))
        })
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, bin)| bin)
}

/// Parses a directory name such as `15` or `9.6` into comparable numbers.
fn parse_version(name: &str) -> Option<Vec<u32>> {
    name.split('.').map(|part| part.parse().ok()).collect()
}

/// The account the server processes are started as, when it differs from ours.
#[derive(Debug, Clone, Copy)]
struct RunAs {
    uid: u32,
    gid: u32,
}

fn run_as() -> Result<Option<RunAs>, PgError> {
    if !geteuid().is_root() {
        return Ok(None);
    }
    match User::from_name(SYSTEM_USER) {
        Ok(Some(user)) => Ok(Some(RunAs {
            uid: user.uid.as_raw(),
            gid: user.gid.as_raw(),
        })),
        Ok(None) => Err(PgError::new(format!(
            "running as root, but PostgreSQL refuses to run as root and there is no \
             `{SYSTEM_USER}` system user to run it as (installing the `postgresql` \
             package creates it)"
        ))),
        Err(err) => Err(PgError::new(format!(
            "could not look up the `{SYSTEM_USER}` system user: {err}"
        ))),
    }
}

/// A running PostgreSQL server in a temporary directory.
///
/// Dropping it shuts the server down and deletes the directory. Should the
/// process end without running `Drop` (a static, a crash, a kill), a small
/// watchdog process notices and does the same.
pub struct PgCluster {
    bin_dir: PathBuf,
    port: u16,
    server: Child,
    watchdog: Watchdog,
    // Dropped last, after the server stopped and the watchdog cleaned up;
    // removes whatever might still be left.
    root: TempDir,
}

impl fmt::Debug for PgCluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgCluster")
            .field("bin_dir", &self.bin_dir)
            .field("port", &self.port)
            .field("pid", &self.server.id())
            .field("root", &self.root.path())
            .finish_non_exhaustive()
    }
}

impl PgCluster {
    /// Creates and starts a new server, waiting until it accepts connections.
    pub fn start() -> Result<Self, PgError> {
        let bin_dir = find_bin_dir()?;
        Self::start_with(bin_dir)
    }

    /// Like [`PgCluster::start`], with the binaries taken from `bin_dir`.
    pub fn start_with(bin_dir: PathBuf) -> Result<Self, PgError> {
        let run_as = run_as()?;
        let root = make_root(run_as)?;
        // Watch from the start, so that even a process killed during initdb
        // leaves nothing behind.
        let mut watchdog = Watchdog::spawn(root.path())?;
        init_data_dir(&bin_dir, root.path(), run_as, &mut watchdog)?;

        let mut last_error = None;
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port()?;
            let mut server = spawn_server(&bin_dir, root.path(), port, run_as)?;
            watchdog.watch(server.id());
            match wait_until_ready(&bin_dir, root.path(), port, &mut server) {
                Ok(()) => {
                    return Ok(Self {
                        bin_dir,
                        port,
                        server,
                        watchdog,
                        root,
                    });
                }
                Err(failure) => {
                    stop_server(&mut server);
                    watchdog.unwatch();
                    match failure {
                        StartFailure::PortTaken(err) => last_error = Some(err),
                        StartFailure::Fatal(err) => return Err(err),
                    }
                }
            }
        }
        Err(last_error.unwrap_or_else(|| PgError::new("PostgreSQL did not start")))
    }

    /// The TCP port the server listens on (on 127.0.0.1 only).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory that holds the PostgreSQL binaries used.
    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    /// The directory holding the server's unix socket.
    pub fn socket_dir(&self) -> &Path {
        self.root.path()
    }

    /// The directory holding the server's data files.
    pub fn data_dir(&self) -> PathBuf {
        self.root.path().join("data")
    }

    /// URL of the server's `postgres` maintenance database, as the superuser.
    pub fn admin_url(&self) -> String {
        self.database_url("postgres")
    }

    /// URL of database `name` on this server, as the superuser.
    pub fn database_url(&self, name: &str) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{name}", self.port)
    }

    /// Restarts the server as an operator would (fast shutdown, like `pg_ctl restart`: every session is cut
    /// off and its open transaction rolled back), keeps it down for `down_for`, then starts it again on the same
    /// port and data directory; answers once it accepts connections again.
    ///
    /// Not an immediate shutdown: this server runs with `synchronous_commit=off`, so a crash would lose commits
    /// it had already acknowledged, which a durable production server never does.
    pub fn restart(&mut self, down_for: Duration) -> Result<(), PgError> {
        if let Ok(pid) = i32::try_from(self.server.id()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGINT);
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        while matches!(self.server.try_wait(), Ok(None)) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
        stop_server(&mut self.server);
        self.watchdog.unwatch();
        thread::sleep(down_for);
        let mut server = spawn_server(&self.bin_dir, self.root.path(), self.port, run_as()?)?;
        self.watchdog.watch(server.id());
        if let Err(StartFailure::PortTaken(err) | StartFailure::Fatal(err)) =
            wait_until_ready(&self.bin_dir, self.root.path(), self.port, &mut server)
        {
            stop_server(&mut server);
            self.watchdog.unwatch();
            return Err(err);
        }
        self.server = server;
        Ok(())
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        stop_server(&mut self.server);
        self.watchdog.unwatch();
        // The watchdog is dropped next and deletes the directory; `root`
        // then finds nothing left to remove.
    }
}

/// A shell that waits for this process to go away and then takes the server
/// down and deletes its directory.
///
/// The shell reads from a pipe whose writing end only this process holds.
/// Each line names the process to stop (or `none`); the end of input comes
/// when that end closes, which the kernel does however the process ends.
struct Watchdog {
    child: Child,
}

impl Watchdog {
    const SCRIPT: &str = r#"
# A zombie is as good as gone: its parent may no longer be there to reap it.
alive() {
    kill -0 "$1" 2>/dev/null && ! grep -qs '^State:[[:space:]]*Z' "/proc/$1/status"
}
pid=none
while read -r line; do pid=$line; done
case $pid in
    '' | *[!0-9]*) ;;
    *)
        kill -QUIT "$pid" 2>/dev/null || :
        n=0
        while alive "$pid" && [ "$n" -lt 100 ]; do
            sleep 0.1
            n=$((n + 1))
        done
        kill -KILL "$pid" 2>/dev/null || :
        ;;
esac
rm -rf -- "$1"
"#;

    fn spawn(root: &Path) -> Result<Self, PgError> {
        let child = Command::new("/bin/sh")
            .arg("-c")
            .arg(Self::SCRIPT)
            .arg("classbill-pg-watchdog")
            .arg(root)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Out of the terminal's process group, so that Ctrl-C on the tests
            // leaves it alive to clean up after them.
            .process_group(0)
            .spawn()
            .map_err(|err| PgError::new(format!("could not start the server watchdog: {err}")))?;
        Ok(Self { child })
    }

    /// Makes `pid` the process to stop when this process ends.
    fn watch(&mut self, pid: u32) {
        self.tell(&pid.to_string());
    }

    /// There is no process to stop any more (it was stopped and reaped).
    fn unwatch(&mut self) {
        self.tell("none");
    }

    fn tell(&mut self, line: &str) {
        if let Some(stdin) = self.child.stdin.as_mut() {
            // A watchdog that died can no longer help; nothing to do about it.
            let _ = writeln!(stdin, "{line}").and_then(|()| stdin.flush());
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        // Closing the pipe sets it to work; waiting lets it finish.
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// Creates the temporary directory, owned by the account the server runs as.
fn make_root(run_as: Option<RunAs>) -> Result<TempDir, PgError> {
    // Under root the directory must be reachable by the `postgres` user, which
    // a private TMPDIR (such as one below /root) may not be.
    let base = match run_as {
        Some(_) => PathBuf::from("/tmp"),
        None => std::env::temp_dir(),
    };
    let root = tempfile::Builder::new()
        .prefix("classbill-pg-")
        .tempdir_in(&base)
        .map_err(|err| {
            PgError::new(format!(
                "could not create a temporary directory in {}: {err}",
                base.display()
            ))
        })?;
    if let Some(user) = run_as {
        chown(root.path(), Some(user.uid), Some(user.gid)).map_err(|err| {
            PgError::new(format!(
                "could not hand {} over to the `{SYSTEM_USER}` user: {err}",
                root.path().display()
            ))
        })?;
    }
    Ok(root)
}

/// A command for one of the PostgreSQL binaries, run as the server account.
fn pg_command(bin_dir: &Path, program: &str, root: &Path, run_as: Option<RunAs>) -> Command {
    let mut command = Command::new(bin_dir.join(program));
    command.current_dir(root).env("LC_ALL", "C").stdin(Stdio::null());
    for name in CLIENT_ENV {
        command.env_remove(name);
    }
    if let Some(user) = run_as {
        command.uid(user.uid).gid(user.gid);
    }
    command
}

fn init_data_dir(bin_dir: &Path, root: &Path, run_as: Option<RunAs>, watchdog: &mut Watchdog) -> Result<(), PgError> {
    let data_dir = root.join("data");
    let initdb = bin_dir.join("initdb");
    let child = pg_command(bin_dir, "initdb", root, run_as)
        .arg("--pgdata")
        .arg(&data_dir)
        .args([
            "--username",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|err| PgError::new(format!("could not run {}: {err}", initdb.display())))?;
    watchdog.watch(child.id());
    let output = child.wait_with_output();
    watchdog.unwatch();
    let output = output.map_err(|err| PgError::new(format!("could not wait for {}: {err}", initdb.display())))?;
    if output.status.success() {
        return Ok(());
    }
    Err(PgError::new(format!(
        "initdb failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )))
}

/// Asks the kernel for a port that is free right now.
fn free_port() -> Result<u16, PgError> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|err| PgError::new(format!("could not find a free TCP port: {err}")))?;
    listener
        .local_addr()
        .map(|addr| addr.port())
        .map_err(|err| PgError::new(format!("could not find a free TCP port: {err}")))
}

fn log_path(root: &Path) -> PathBuf {
    root.join("server.log")
}

fn spawn_server(bin_dir: &Path, root: &Path, port: u16, run_as: Option<RunAs>) -> Result<Child, PgError> {
    // Each attempt starts a fresh log, so its tail speaks of this attempt only.
    let log =
        File::create(log_path(root)).map_err(|err| PgError::new(format!("could not open the server log: {err}")))?;
    let log_err = log
        .try_clone()
        .map_err(|err| PgError::new(format!("could not open the server log: {err}")))?;

    let mut command = pg_command(bin_dir, "postgres", root, run_as);
    command
        .arg("-D")
        .arg(root.join("data"))
        .arg("-k")
        .arg(root)
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args([
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "max_connections=200",
        ])
        .stdout(log)
        .stderr(log_err)
        // Keep terminal signals away: shutdown goes through `Drop` or the watchdog.
        .process_group(0);
    command
        .spawn()
        .map_err(|err| PgError::new(format!("could not run {}: {err}", bin_dir.join("postgres").display())))
}

enum StartFailure {
    /// Someone else took the port between choosing and binding it.
    PortTaken(PgError),
    Fatal(PgError),
}

fn wait_until_ready(bin_dir: &Path, root: &Path, port: u16, server: &mut Child) -> Result<(), StartFailure> {
    let deadline = Instant::now() + START_TIMEOUT;
    let pg_isready = bin_dir.join("pg_isready");
    loop {
        match server.try_wait() {
            Ok(Some(status)) => {
                let log = log_tail(root);
                let err = PgError::new(format!(
                    "PostgreSQL exited during startup ({status}); server log:\n{log}"
                ));
                return Err(if log.contains("could not bind") {
                    StartFailure::PortTaken(err)
                } else {
                    StartFailure::Fatal(err)
                });
            }
            Ok(None) => {}
            Err(err) => {
                return Err(StartFailure::Fatal(PgError::new(format!(
                    "could not check on the PostgreSQL process: {err}"
                ))));
            }
        }

        if accepts_connections(&pg_isready, root, port) {
            return Ok(());
        }

        if Instant::now() >= deadline {
            return Err(StartFailure::Fatal(PgError::new(format!(
                "PostgreSQL did not accept connections on 127.0.0.1:{port} within {} s; \
                 server log:\n{}",
                START_TIMEOUT.as_secs(),
                log_tail(root)
            ))));
        }
        thread::sleep(Duration::from_millis(50));
    }
}

fn accepts_connections(pg_isready: &Path, root: &Path, port: u16) -> bool {
    if !pg_isready.is_file() {
        // Without the client tool a listening socket is the best sign available.
        return TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok();
    }
    let mut command = Command::new(pg_isready);
    for name in CLIENT_ENV {
        command.env_remove(name);
    }
    command
        .current_dir(root)
        .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string()])
        .args(["-U", SUPERUSER, "-d", "postgres", "-t", "2"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// The last lines of the server log, for error messages.
fn log_tail(root: &Path) -> String {
    let mut file = match File::open(log_path(root)) {
        Ok(file) => file,
        Err(err) => return format!("(no server log: {err})"),
    };
    // The tail of a runaway log is all that is wanted.
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)));
    let mut bytes = Vec::new();
    if let Err(err) = file.read_to_end(&mut bytes) {
        return format!("(could not read the server log: {err})");
    }
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(LOG_TAIL_LINES);
    let tail = lines[start..].join("\n");
    if tail.is_empty() {
        "(server log is empty)".to_owned()
    } else {
        tail
    }
}

/// Asks for an immediate shutdown, and insists if it does not come.
fn stop_server(server: &mut Child) {
    if matches!(server.try_wait(), Ok(Some(_))) {
        return;
    }
    if let Ok(pid) = i32::try_from(server.id()) {
        let _ = kill(Pid::from_raw(pid), Signal::SIGQUIT);
    }
    let deadline = Instant::now() + STOP_TIMEOUT;
    while Instant::now() < deadline {
        match server.try_wait() {
            Ok(None) => thread::sleep(Duration::from_millis(20)),
            _ => return,
        }
    }
    let _ = server.kill();
    let _ = server.wait();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_numerically() {
        assert!(parse_version("15").unwrap() > parse_version("9.6").unwrap());
        assert!(parse_version("16").unwrap() > parse_version("15").unwrap());
        assert_eq!(parse_version("main"), None);
    }

    #[test]
    fn picks_the_newest_version_with_binaries() {
        let root = tempfile::tempdir().unwrap();
        for (version, complete) in [("9.6", true), ("15", true), ("17", false)] {
            let bin = root.path().join(version).join("bin");
            fs::create_dir_all(&bin).unwrap();
            File::create(bin.join("initdb")).unwrap();
            if complete {
                File::create(bin.join("postgres")).unwrap();
            }
        }
        fs::create_dir_all(root.path().join("common")).unwrap();

        assert_eq!(
            newest_debian_bin_dir(root.path()),
            Some(root.path().join("15").join("bin"))
        );
    }
}
