//! The `classbill` binary as an operator uses it (interfaces.md, "Command line"): exit statuses, what goes to
//! stdout and stderr, and a token made on the command line opening the API that `serve` and `demo` answer.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use classbill_store::Store;
use classbill_testkit::{Backend, TestDatabase, database_url};
use serde_json::Value;
use tempfile::TempDir;

const BINARY: &str = env!("CARGO_BIN_EXE_classbill");
const PASSWORD: &str = "a long enough password";

/// The binary in `dir`, with none of the operator's settings leaking in from the environment.
fn classbill(dir: &Path) -> Command {
    let mut command = Command::new(BINARY);
    command
        .current_dir(dir)
        .env_remove("CLASSBILL_DATABASE_URL")
        .env_remove("CLASSBILL_SMTP_URL")
        .env_remove("CLASSBILL_LOG")
        .stdin(Stdio::null());
    command
}

/// Runs the binary to completion, feeding `stdin`.
fn run(dir: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = classbill(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    {
        let mut input = child.stdin.take().expect("stdin");
        // A command that does not read its input may already have exited; that is its business.
        let _ = input.write_all(stdin.as_bytes());
    }
    child.wait_with_output().expect("the binary finishes")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn describe(output: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        output.status.code(),
        stdout(output),
        stderr(output)
    )
}

/// Asserts exit status `code` and answers the output for further checks.
fn expect_exit(output: Output, code: i32, what: &str) -> Output {
    assert_eq!(output.status.code(), Some(code), "{what}: {}", describe(&output));
    output
}

/// A runtime failure: exit 1, nothing on stdout, and the reason as one sentence on one line of stderr.
fn expect_one_sentence_failure(output: Output, what: &str) -> String {
    let output = expect_exit(output, 1, what);
    assert_eq!(stdout(&output), "", "{what}: stdout must stay empty");
    let text = stderr(&output);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{what}: expected one line on stderr, got {text:?}");
    assert!(
        lines[0].len() > 10,
        "{what}: the reason is too short to be clear: {text:?}"
    );
    lines[0].to_owned()
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(future)
}

/// A fresh, empty database of `backend` (kept alive by the returned guard).
fn fresh_database(backend: Backend) -> TestDatabase {
    block_on(database_url(backend))
}

/// Rows of one table, read directly from the store.
fn count_rows(url: &str, table: &str) -> i64 {
    block_on(async {
        let store = Store::connect(url).await.expect("database opens");
        let mut tx = store.read().await.expect("read transaction");
        let (n,): (i64,) = tx
            .fetch_one(
                classbill_store::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")),
                Vec::new(),
            )
            .await
            .unwrap_or_else(|e| panic!("table {table} is readable: {e}"));
        drop(tx);
        store.close().await;
        n
    })
}

/// A port nobody listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// A plain HTTP/1.1 GET; answers the status and the body.
fn http_get(port: u16, path: &str, token: Option<&str>) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    if let Some(token) = token {
        request.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text.as_str(), ""));
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let chunked = head
        .lines()
        .any(|line| line.to_ascii_lowercase().replace(' ', "") == "transfer-encoding:chunked");
    let body = if chunked { dechunk(body) } else { body.to_owned() };
    Ok((status, body))
}

fn dechunk(mut rest: &str) -> String {
    let mut body = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16).unwrap_or(0);
        if size == 0 || after.len() < size {
            break;
        }
        body.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
    body
}

/// A server started by a test; killed when the test ends, however it ends.
struct Server {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Server {
    /// Waits until `/healthz` answers 200, failing early when the process dies.
    fn wait_until_healthy(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Some(status) = self.child.try_wait().expect("child status") {
                panic!("the server exited with {status} before serving:\n{}", self.log_text());
            }
            if let Ok((200, _)) = http_get(self.port, "/healthz", None) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no healthy server on port {} after 120 s:\n{}",
                self.port,
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The classes the token lists.
    fn classes(&self, token: &str) -> Vec<Value> {
        let (status, body) =
            http_get(self.port, "/api/v1/customer-classes?limit=1000", Some(token)).expect("the API answers");
        assert_eq!(status, 200, "GET /api/v1/customer-classes: {body}");
        let list: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("JSON list ({e}): {body}"));
        list["items"].as_array().cloned().expect("items")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `classbill <args> --listen 127.0.0.1:<port>` in `dir`, stderr to a log file, stdout piped.
fn start_server(dir: &Path, args: &[&str]) -> Server {
    let port = free_port();
    let log = dir.join(format!("server-{port}.log"));
    let listen = format!("127.0.0.1:{port}");
    let child = classbill(dir)
        .args(args)
        .args(["--listen", &listen])
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("the server starts");
    Server { child, port, log }
}

fn migrate(dir: &Path, url: &str) {
    expect_exit(run(dir, &["--database", url, "migrate"], ""), 0, "migrate");
}

fn add_admin(dir: &Path, url: &str, login: &str) {
    let output = run(
        dir,
        &[
            "--database",
            url,
            "users",
            "add",
            "--login",
            login,
            "--role",
            "admin",
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    );
    expect_exit(output, 0, "users add");
}

/// `tokens create`: exactly one line on stdout, the token.
fn create_token(dir: &Path, url: &str, login: &str) -> String {
    let output = expect_exit(
        run(dir, &["--database", url, "tokens", "create", "--login", login], ""),
        0,
        "tokens create",
    );
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "one line on stdout: {text:?}");
    assert!(text.ends_with('\n'), "the line is terminated: {text:?}");
    let token = lines[0];
    assert!(
        !token.is_empty() && token == token.trim(),
        "the token alone on its line: {text:?}"
    );
    assert!(
        token.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
        "a token is one word: {token:?}"
    );
    token.to_owned()
}

fn temp_dir() -> TempDir {
    tempfile::Builder::new()
        .prefix("classbill-cli-")
        .tempdir()
        .expect("temp dir")
}

fn sqlite_in(dir: &Path, file: &str) -> String {
    format!("sqlite://{}", dir.join(file).display())
}

// ---- migrate ----

fn migrate_creates_the_schema_and_runs_twice(backend: Backend) {
    let dir = temp_dir();
    let db = fresh_database(backend);
    for round in ["first", "second"] {
        let output = expect_exit(run(dir.path(), &["--database", &db.url, "migrate"], ""), 0, round);
        assert_eq!(
            stdout(&output),
            "",
            "{backend} migrate ({round}) prints nothing on stdout"
        );
    }
    // The schema is there, with the administrator's Default class, and only once.
    assert_eq!(count_rows(&db.url, "customer_classes"), 1, "{backend}");
    assert_eq!(count_rows(&db.url, "users"), 0, "{backend}");
}

#[test]
fn migrate_creates_the_schema_and_runs_twice_on_sqlite() {
    migrate_creates_the_schema_and_runs_twice(Backend::Sqlite);
}

#[test]
fn migrate_creates_the_schema_and_runs_twice_on_postgres() {
    migrate_creates_the_schema_and_runs_twice(Backend::Postgres);
}

#[test]
fn a_missing_sqlite_file_is_created_on_first_use() {
    let dir = temp_dir();
    let url = sqlite_in(dir.path(), "new.db");
    assert!(!dir.path().join("new.db").exists());
    migrate(dir.path(), &url);
    assert!(dir.path().join("new.db").exists());
    assert_eq!(count_rows(&url, "customer_classes"), 1);
}

#[test]
fn without_any_setting_the_database_is_classbill_db_in_the_working_directory() {
    let dir = temp_dir();
    expect_exit(run(dir.path(), &["migrate"], ""), 0, "migrate with defaults");
    assert!(
        dir.path().join("classbill.db").exists(),
        "sqlite://classbill.db is the default"
    );
}

// ---- users and tokens ----

fn users_and_tokens(backend: Backend) {
    let dir = temp_dir();
    let db = fresh_database(backend);
    migrate(dir.path(), &db.url);

    let output = run(
        dir.path(),
        &[
            "--database",
            &db.url,
            "users",
            "add",
            "--login",
            "L",
            "--role",
            "admin",
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    );
    let output = expect_exit(output, 0, "users add");
    assert_eq!(stdout(&output), "", "{backend}: users add keeps stdout empty");
    assert!(
        !stderr(&output).contains(PASSWORD),
        "{backend}: the password is never echoed"
    );
    assert_eq!(count_rows(&db.url, "users"), 1, "{backend}");

    let first = create_token(dir.path(), &db.url, "L");
    let second = create_token(dir.path(), &db.url, "L");
    assert_ne!(first, second, "{backend}: every call issues a new token");
    assert_eq!(count_rows(&db.url, "api_tokens"), 2, "{backend}");

    // The same login twice is a runtime failure with a reason.
    let output = run(
        dir.path(),
        &[
            "--database",
            &db.url,
            "users",
            "add",
            "--login",
            "L",
            "--role",
            "admin",
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    );
    let reason = expect_one_sentence_failure(output, "duplicate login");
    assert!(reason.contains('L'), "{backend}: the reason names the login: {reason}");
    assert_eq!(count_rows(&db.url, "users"), 1, "{backend}");

    // A token for nobody.
    let output = run(
        dir.path(),
        &["--database", &db.url, "tokens", "create", "--login", "nobody"],
        "",
    );
    let reason = expect_one_sentence_failure(output, "token for an unknown login");
    assert!(reason.contains("nobody"), "{backend}: {reason}");
}

#[test]
fn users_and_tokens_on_sqlite() {
    users_and_tokens(Backend::Sqlite);
}

#[test]
fn users_and_tokens_on_postgres() {
    users_and_tokens(Backend::Postgres);
}

#[test]
fn the_password_is_read_from_standard_input() {
    let dir = temp_dir();
    let url = sqlite_in(dir.path(), "users.db");
    migrate(dir.path(), &url);
    let add = |login: &str, input: &str| {
        run(
            dir.path(),
            &[
                "--database",
                &url,
                "users",
                "add",
                "--login",
                login,
                "--role",
                "admin",
                "--password-stdin",
            ],
            input,
        )
    };
    // Seven characters and a newline: the line end is not part of the password, so it is too short.
    let reason = expect_one_sentence_failure(add("short", "1234567\n"), "seven-character password");
    assert!(reason.contains("password"), "{reason}");
    let reason = expect_one_sentence_failure(add("empty", ""), "empty standard input");
    assert!(reason.contains("password"), "{reason}");
    assert_eq!(count_rows(&url, "users"), 0);
    // Eight characters are enough, with a Windows line end too.
    expect_exit(add("eight", "12345678\r\n"), 0, "eight-character password");
    assert_eq!(count_rows(&url, "users"), 1);
    // The password is kept only as a hash.
    let hash: String = block_on(async {
        let store = Store::connect(&url).await.expect("opens");
        let mut tx = store.read().await.expect("read");
        let (hash,): (String,) = tx
            .fetch_one("SELECT password_hash FROM users WHERE login = 'eight'", Vec::new())
            .await
            .expect("the user exists");
        drop(tx);
        store.close().await;
        hash
    });
    assert!(hash.starts_with("$argon2"), "{hash}");
    assert!(!hash.contains("12345678"));
    // Without --password-stdin the command is misused.
    let output = run(
        dir.path(),
        &["--database", &url, "users", "add", "--login", "x", "--role", "admin"],
        "12345678\n",
    );
    expect_exit(output, 2, "users add without --password-stdin");
}

#[test]
fn a_reseller_user_needs_a_reseller_id() {
    let dir = temp_dir();
    let url = sqlite_in(dir.path(), "reseller.db");
    migrate(dir.path(), &url);
    let output = run(
        dir.path(),
        &[
            "--database",
            &url,
            "users",
            "add",
            "--login",
            "r",
            "--role",
            "reseller",
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    );
    let reason = expect_one_sentence_failure(output, "reseller without --reseller-id");
    assert!(
        reason.contains("--reseller-id"),
        "the reason names the missing flag: {reason}"
    );
    assert_eq!(count_rows(&url, "users"), 0);

    // A reseller id that does not exist is refused too.
    let output = run(
        dir.path(),
        &[
            "--database",
            &url,
            "users",
            "add",
            "--login",
            "r",
            "--role",
            "reseller",
            "--reseller-id",
            "4242",
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    );
    let reason = expect_one_sentence_failure(output, "unknown reseller");
    assert!(reason.contains("4242"), "{reason}");
    assert_eq!(count_rows(&url, "users"), 0);
}

// ---- database URLs and usage ----

#[test]
fn an_unknown_url_scheme_is_refused_without_creating_anything() {
    let dir = temp_dir();
    for args in [
        vec!["--database", "mysql://x", "migrate"],
        vec!["--database", "mysql://x", "tokens", "create", "--login", "L"],
        vec!["--database", "classbill.db", "migrate"],
    ] {
        let output = run(dir.path(), &args, "");
        let reason = expect_one_sentence_failure(output, &format!("{args:?}"));
        assert!(
            reason.contains("sqlite://") && reason.contains("postgres://"),
            "{args:?}: the reason names both schemes: {reason}"
        );
    }
    let left: Vec<_> = std::fs::read_dir(dir.path()).expect("dir").collect();
    assert!(left.is_empty(), "nothing was created: {left:?}");
}

#[test]
fn bad_usage_exits_with_2() {
    let dir = temp_dir();
    for args in [
        vec!["frobnicate"],
        vec![],
        vec!["users", "add", "--role", "admin", "--password-stdin"],
        vec![
            "users",
            "add",
            "--login",
            "L",
            "--role",
            "superuser",
            "--password-stdin",
        ],
        vec!["serve", "--listen", "not-an-address"],
        vec!["tokens", "create"],
        vec!["migrate", "--no-such-flag"],
    ] {
        let output = run(dir.path(), &args, "");
        let output = expect_exit(output, 2, &format!("{args:?}"));
        assert!(!stderr(&output).trim().is_empty(), "{args:?}: usage goes to stderr");
    }
    assert!(!dir.path().join("classbill.db").exists(), "bad usage opens no database");
    // Help is not an error.
    let output = run(dir.path(), &["--help"], "");
    let output = expect_exit(output, 0, "--help");
    assert!(stdout(&output).contains("migrate"));
}

fn the_environment_names_the_database(backend: Backend) {
    let dir = temp_dir();
    let db = fresh_database(backend);
    let with_env = |args: &[&str], input: &str| {
        let mut child = classbill(dir.path())
            .env("CLASSBILL_DATABASE_URL", &db.url)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starts");
        let _ = child.stdin.take().expect("stdin").write_all(input.as_bytes());
        child.wait_with_output().expect("finishes")
    };
    expect_exit(with_env(&["migrate"], ""), 0, "migrate from the environment");
    expect_exit(
        with_env(
            &["users", "add", "--login", "env", "--role", "admin", "--password-stdin"],
            &format!("{PASSWORD}\n"),
        ),
        0,
        "users add from the environment",
    );
    let output = expect_exit(with_env(&["tokens", "create", "--login", "env"], ""), 0, "token");
    assert_eq!(stdout(&output).lines().count(), 1);
    assert_eq!(
        count_rows(&db.url, "users"),
        1,
        "{backend}: the user is in the named database"
    );
    assert!(
        !dir.path().join("classbill.db").exists(),
        "{backend}: the default database was not used"
    );
    // `--database` wins over the environment.
    let other = sqlite_in(dir.path(), "flag.db");
    let mut child = classbill(dir.path())
        .env("CLASSBILL_DATABASE_URL", &db.url)
        .args(["--database", &other, "migrate"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    let status = child.wait().expect("finishes");
    assert!(status.success());
    assert!(dir.path().join("flag.db").exists());
}

#[test]
fn the_environment_names_the_database_on_sqlite() {
    the_environment_names_the_database(Backend::Sqlite);
}

#[test]
fn the_environment_names_the_database_on_postgres() {
    the_environment_names_the_database(Backend::Postgres);
}

// ---- serve and demo ----

fn a_command_line_token_opens_the_served_api(backend: Backend) {
    let dir = temp_dir();
    let db = fresh_database(backend);
    migrate(dir.path(), &db.url);
    add_admin(dir.path(), &db.url, "L");
    let token = create_token(dir.path(), &db.url, "L");

    let mut server = start_server(dir.path(), &["--database", &db.url, "serve"]);
    server.wait_until_healthy();
    let classes = server.classes(&token);
    assert!(
        classes
            .iter()
            .any(|c| c["name"] == "Default" && c["is_default"] == true),
        "{backend}: the Default class is listed: {classes:?}"
    );
    let (status, _) = http_get(server.port, "/api/v1/customer-classes", Some("cb_not-a-token")).expect("answers");
    assert_eq!(status, 401, "{backend}: a made-up token is refused");
    let (status, _) = http_get(server.port, "/api/v1/customer-classes", None).expect("answers");
    assert_eq!(status, 401, "{backend}: no token is refused");
}

#[test]
fn a_command_line_token_opens_the_served_api_on_sqlite() {
    a_command_line_token_opens_the_served_api(Backend::Sqlite);
}

#[test]
fn a_command_line_token_opens_the_served_api_on_postgres() {
    a_command_line_token_opens_the_served_api(Backend::Postgres);
}

#[test]
fn serve_refuses_an_unknown_url_scheme() {
    let dir = temp_dir();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let output = run(
        dir.path(),
        &["--database", "mysql://x", "serve", "--listen", &listen],
        "",
    );
    let reason = expect_one_sentence_failure(output, "serve on mysql://");
    assert!(
        reason.contains("sqlite://") && reason.contains("postgres://"),
        "{reason}"
    );
}

#[test]
fn demo_prints_a_token_and_serves_its_classes() {
    let dir = temp_dir();
    let mut server = start_server(dir.path(), &["demo"]);
    let stdout = server.child.stdout.take().expect("stdout");
    let (lines_tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut printed = Vec::new();
    let token = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => {
                let token = line
                    .split_once("token:")
                    .and_then(|(_, rest)| rest.split_whitespace().next())
                    .map(str::to_owned);
                printed.push(line);
                if let Some(token) = token {
                    break token;
                }
            }
            Err(_) => panic!(
                "demo printed no token:\n{}\n--- stderr\n{}",
                printed.join("\n"),
                server.log_text()
            ),
        }
    };
    server.wait_until_healthy();
    let address = format!("127.0.0.1:{}", server.port);
    assert!(
        printed.iter().any(|line| line.contains(&format!("http://{address}"))),
        "the demo prints its URL: {printed:?}"
    );
    assert!(
        printed.iter().any(|line| line.contains("admin")),
        "the demo prints its logins: {printed:?}"
    );
    let classes = server.classes(&token);
    assert!(
        classes.len() >= 6,
        "the demo token lists {} classes: {classes:?}",
        classes.len()
    );
    let summary = printed
        .iter()
        .find(|line| line.starts_with("Demo: "))
        .unwrap_or_else(|| panic!("the demo reports what it created: {printed:?}"));
    assert!(
        summary.contains("1000 customers") && summary.contains("1000 invoices issued"),
        "about a thousand customers, a month of usage and one closed billing run: {summary}"
    );
    assert!(
        dir.path().join("classbill-demo.db").exists(),
        "the demo keeps its own database in the working directory"
    );
    assert!(
        !dir.path().join("classbill.db").exists(),
        "the demo leaves the default database alone"
    );
}

// ---- import xdrs ----

/// A customer activated 2025-02-10 in Berlin, created directly through the engine; answers its id.
fn import_customer(url: &str) -> i64 {
    block_on(async {
        let store = Store::connect(url).await.expect("database opens");
        let engine = classbill_engine::Engine::new(store.clone());
        let customer = engine
            .create_customer(
                &classbill_engine::Actor::system(),
                classbill_engine::NewCustomer {
                    name: "Importer".to_owned(),
                    currency: Some("EUR".to_owned()),
                    time_zone: Some("Europe/Berlin".to_owned()),
                    activated_at: Some("2025-02-09T23:00:00Z".parse().expect("instant")),
                    ..classbill_engine::NewCustomer::default()
                },
                jiff::Timestamp::now(),
            )
            .await
            .expect("customer created");
        store.close().await;
        customer.id
    })
}

/// A migrated fresh database on `backend` holding the import customer: answers a scratch directory, the
/// database and the customer's id.
fn import_setup(backend: Backend) -> (TempDir, TestDatabase, i64) {
    let dir = temp_dir();
    let db = fresh_database(backend);
    migrate(dir.path(), &db.url);
    let party = import_customer(&db.url);
    (dir, db, party)
}

fn import_xdrs_keeps_good_lines_and_reports_the_others(backend: Backend) {
    let (dir, db, party) = import_setup(backend);
    let file = dir.path().join("march.csv");
    let lines = [
        "party_id,external_id,occurred_at,kind,service,rate_code,description,quantity,amount".to_owned(),
        format!("{party},a-1,2025-03-05T10:00:00Z,usage,voice,DE,\"calls, long\",1.5,0.25"),
        format!("{party},a-2,2025-03-05T10:00:00Z,tax,voice,,,1,1"),
        format!("{party},a-3,2025-03-06T10:00:00+01:00,credit,goodwill,,,1,-2"),
        format!("{party},a-4,2025-03-07T10:00:00Z,usage,data,,\"two\nlines\",3,0.1"),
        "999999,a-5,2025-03-05T10:00:00Z,usage,voice,,,1,1".to_owned(),
        format!("{party},a-6,2025-01-01T00:00:00Z,usage,voice,,,1,1"),
        format!("{party},a-7,2025-03-05T10:00:00Z"),
        String::new(),
        format!("{party},a-1,2025-03-05T10:00:00Z,usage,voice,DE,\"calls, long\",1.50,0.250"),
        format!("{party},a-1,2025-03-05T10:00:00Z,usage,voice,DE,\"calls, long\",1.5,9"),
    ];
    std::fs::write(&file, lines.join("\r\n") + "\r\n").expect("file written");

    let output = expect_exit(
        run(dir.path(), &["--database", &db.url, "import", "xdrs", "march.csv"], ""),
        0,
        "import xdrs",
    );
    assert_eq!(
        stdout(&output).trim(),
        "accepted 4, rejected 5",
        "{backend}: {}",
        describe(&output)
    );
    assert_eq!(count_rows(&db.url, "xdrs"), 3, "{backend}: a-1 is stored once");

    let rejects = std::fs::read_to_string(dir.path().join("march.rejects.csv")).expect("rejects file");
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(rejects.as_bytes());
    let header: Vec<String> = reader.headers().expect("header").iter().map(str::to_owned).collect();
    assert_eq!(
        header.join(","),
        "line,reason,party_id,external_id,occurred_at,kind,service,rate_code,description,quantity,amount"
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("record")).collect();
    let found: Vec<(String, String)> = rows.iter().map(|r| (r[0].to_owned(), r[1].to_owned())).collect();
    let expected = [
        ("3", "not_importable"),
        ("7", "not_found"),
        ("8", "before_activation"),
        ("9", "columns"),
        ("12", "conflict"),
    ];
    assert_eq!(found.len(), expected.len(), "{backend}: {rejects}");
    for ((line, reason), (want_line, want_reason)) in found.iter().zip(expected) {
        assert_eq!(line, want_line, "{backend}: {rejects}");
        assert!(reason.contains(want_reason), "{backend}: line {line} reason {reason:?}");
    }
    // The original cells follow, empty ones and quoted commas as they were.
    let cells = |row: &csv::StringRecord| row.iter().skip(2).collect::<Vec<_>>().join("|");
    assert_eq!(
        cells(&rows[0]),
        format!("{party}|a-2|2025-03-05T10:00:00Z|tax|voice|||1|1")
    );
    assert_eq!(cells(&rows[3]), format!("{party}|a-7|2025-03-05T10:00:00Z"));
    assert_eq!(
        cells(&rows[4]),
        format!("{party}|a-1|2025-03-05T10:00:00Z|usage|voice|DE|calls, long|1.5|9")
    );
}

#[test]
fn import_xdrs_keeps_good_lines_and_reports_the_others_on_sqlite() {
    import_xdrs_keeps_good_lines_and_reports_the_others(Backend::Sqlite);
}

#[test]
fn import_xdrs_keeps_good_lines_and_reports_the_others_on_postgres() {
    import_xdrs_keeps_good_lines_and_reports_the_others(Backend::Postgres);
}

/// A file of three batches, with a bad line in each: the batches may be stored side by side (PostgreSQL), yet
/// the rejects file keeps the order of the file, every good line is stored once, and a second import of the same
/// file stores nothing new.
fn import_xdrs_of_several_batches_reports_them_in_file_order(backend: Backend) {
    let (dir, db, party) = import_setup(backend);
    let file = dir.path().join("many.csv");
    let rows = 25_000;
    let bad = [2_500, 12_500, 22_500];
    let mut lines =
        vec!["party_id,external_id,occurred_at,kind,service,rate_code,description,quantity,amount".to_owned()];
    for i in 0..rows {
        let second = i % 86_400;
        let amount = if bad.contains(&i) { "x" } else { "0.01" };
        lines.push(format!(
            "{party},m-{i},2025-03-10T{:02}:{:02}:{:02}Z,usage,voice,,,1,{amount}",
            second / 3600,
            second / 60 % 60,
            second % 60
        ));
    }
    std::fs::write(&file, lines.join("\n") + "\n").expect("file written");

    for attempt in ["first", "second"] {
        let output = expect_exit(
            run(dir.path(), &["--database", &db.url, "import", "xdrs", "many.csv"], ""),
            0,
            "import xdrs",
        );
        assert_eq!(
            stdout(&output).trim(),
            format!("accepted {}, rejected {}", rows - bad.len(), bad.len()),
            "{backend}, {attempt} import: {}",
            describe(&output)
        );
        assert_eq!(
            count_rows(&db.url, "xdrs"),
            (rows - bad.len()) as i64,
            "{backend}, {attempt} import: every good line stored once"
        );
        let rejects = std::fs::read_to_string(dir.path().join("many.rejects.csv")).expect("rejects file");
        let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(rejects.as_bytes());
        let found: Vec<String> = reader.records().map(|r| r.expect("record")[0].to_owned()).collect();
        // The header is line 1, so the row numbered i is on line i + 2.
        let expected: Vec<String> = bad.iter().map(|i| (i + 2).to_string()).collect();
        assert_eq!(found, expected, "{backend}, {attempt} import: {rejects}");
    }
}

#[test]
fn import_xdrs_of_several_batches_reports_them_in_file_order_on_sqlite() {
    import_xdrs_of_several_batches_reports_them_in_file_order(Backend::Sqlite);
}

#[test]
fn import_xdrs_of_several_batches_reports_them_in_file_order_on_postgres() {
    import_xdrs_of_several_batches_reports_them_in_file_order(Backend::Postgres);
}

// ---- bill-run ----

#[test]
fn bill_run_closes_due_periods_and_fails_when_one_is_left_closing() {
    let dir = temp_dir();
    let url = sqlite_in(dir.path(), "bill.db");
    migrate(dir.path(), &url);
    let party = import_customer(&url);
    let file = dir.path().join("feb.csv");
    let lines = [
        "party_id,external_id,occurred_at,kind,service,rate_code,description,quantity,amount".to_owned(),
        format!("{party},b-1,2025-02-20T10:00:00Z,usage,voice,DE,,1,0.25"),
    ];
    std::fs::write(&file, lines.join("\n") + "\n").expect("file written");
    expect_exit(
        run(dir.path(), &["--database", &url, "import", "xdrs", "feb.csv"], ""),
        0,
        "import",
    );

    let early = expect_exit(
        run(
            dir.path(),
            &["--database", &url, "bill-run", "--as-of", "2025-03-01T04:59:59Z"],
            "",
        ),
        0,
        "early bill-run",
    );
    assert!(stdout(&early).contains("closed 0"), "{}", describe(&early));
    let nothing_to_retry = expect_exit(
        run(dir.path(), &["--database", &url, "bill-run", "--retry"], ""),
        0,
        "retry with nothing left closing",
    );
    assert_eq!(
        stdout(&nothing_to_retry).trim(),
        "retried due 0, closed 0, failed 0; invoices issued 0",
        "{}",
        describe(&nothing_to_retry)
    );
    let output = expect_exit(
        run(
            dir.path(),
            &["--database", &url, "bill-run", "--as-of", "2025-03-01T05:00:00Z"],
            "",
        ),
        0,
        "bill-run",
    );
    assert_eq!(
        stdout(&output).trim(),
        "periods due 1, closed 1, failed 0; invoices issued 0",
        "{}",
        describe(&output)
    );

    // A class asking an external tax engine cannot close yet: the period stays closing and the run says so.
    block_on(async {
        let store = Store::connect(&url).await.expect("database opens");
        let engine = classbill_engine::Engine::new(store.clone());
        let system = classbill_engine::Actor::system();
        let now = jiff::Timestamp::now();
        engine
            .put_secret(&system, "tax-engine", "very-secret-value-123", now)
            .await
            .expect("secret stored");
        let class = engine
            .create_class(
                &system,
                serde_json::json!({"name": "External", "currency": "EUR", "taxation": {"method": "external",
                    "external": {"endpoint_url": "https://tax.example.com/v1", "timeout_ms": 5000,
                                 "secret_ref": "tax-engine", "prices_include_tax": false}}}),
                now,
            )
            .await
            .expect("class created");
        engine
            .create_customer(
                &system,
                classbill_engine::NewCustomer {
                    name: "Taxed elsewhere".to_owned(),
                    currency: Some("EUR".to_owned()),
                    class_id: Some(class.class.id),
                    activated_at: Some("2025-03-01T00:00:00Z".parse().expect("instant")),
                    ..classbill_engine::NewCustomer::default()
                },
                now,
            )
            .await
            .expect("customer created");
        store.close().await;
    });
    let failed = run(
        dir.path(),
        &["--database", &url, "bill-run", "--as-of", "2025-04-02T00:00:00Z"],
        "",
    );
    assert_eq!(failed.status.code(), Some(1), "{}", describe(&failed));
    assert!(stdout(&failed).contains("failed 1"), "{}", describe(&failed));
    assert!(
        String::from_utf8_lossy(&failed.stderr).contains("left closing"),
        "{}",
        describe(&failed)
    );

    // --retry resumes only the period left closing; its class still asks the external engine, so it fails again
    // and names why, while nothing else is closed or created.
    let retried = run(dir.path(), &["--database", &url, "bill-run", "--retry"], "");
    assert_eq!(retried.status.code(), Some(1), "{}", describe(&retried));
    assert_eq!(
        stdout(&retried).trim(),
        "retried due 1, closed 0, failed 1; invoices issued 0",
        "{}",
        describe(&retried)
    );
    assert!(
        String::from_utf8_lossy(&retried.stderr).contains("tax_engine_failed"),
        "{}",
        describe(&retried)
    );
    let usage = run(dir.path(), &["--database", &url, "bill-run"], "");
    assert_eq!(
        usage.status.code(),
        Some(2),
        "neither --as-of nor --retry: {}",
        describe(&usage)
    );
}

#[test]
fn import_xdrs_refuses_a_missing_file_or_a_wrong_header_in_one_sentence() {
    let dir = temp_dir();
    let url = sqlite_in(dir.path(), "import.db");
    migrate(dir.path(), &url);
    expect_one_sentence_failure(
        run(dir.path(), &["--database", &url, "import", "xdrs", "missing.csv"], ""),
        "missing file",
    );
    std::fs::write(dir.path().join("wrong.csv"), "party,amount\n1,2\n").expect("file written");
    let reason = expect_one_sentence_failure(
        run(dir.path(), &["--database", &url, "import", "xdrs", "wrong.csv"], ""),
        "wrong header",
    );
    assert!(reason.contains("header"), "{reason}");
    expect_exit(
        run(dir.path(), &["--database", &url, "import", "xdrs"], ""),
        2,
        "no file",
    );
}
