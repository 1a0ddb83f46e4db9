//! Long-running `classbill` processes (`serve`, `worker`) started by a test, and plain HTTP/1.1 to them.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::classbill;

/// A `classbill` process in the background, its standard error in a log file; killed when dropped, so that no
/// process outlives a failed test.
pub struct Background {
    child: Child,
    log: PathBuf,
}

impl Background {
    /// Starts `classbill <args>`, logging to `dir/<name>.log`.
    pub fn start(dir: &Path, url: &str, args: &[&str], name: &str) -> Background {
        let log = dir.join(format!("{name}.log"));
        let child = classbill(dir, url, args)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("the binary starts");
        Background { child, log }
    }

    /// `serve` on `port` with `options`, without its real-clock scheduler (which would close the periods due
    /// today), once it answers `/healthz`.
    pub fn serve(dir: &Path, url: &str, port: u16, options: &[&str], name: &str) -> Background {
        let listen = format!("127.0.0.1:{port}");
        let mut args = vec!["serve", "--no-scheduler", "--listen", &listen];
        args.extend_from_slice(options);
        let mut server = Background::start(dir, url, &args, name);
        let started = Instant::now();
        while request(port, "GET", "/healthz", "", None).map(|(status, _)| status) != Some(200) {
            server.assert_running();
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the server did not come up"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    /// The process id, which names the process among the participants of a run.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, then waits until the process is gone.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Fails the test, showing the log, when the process ended on its own.
    pub fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().expect("child status") {
            panic!(
                "the process exited with {status}:\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// One HTTP/1.1 request with the bearer token to the server on `port`; answers the status and the JSON body
/// (`null` when the body is not JSON), or `None` while nothing listens there.
pub fn request(port: u16, method: &str, path: &str, token: &str, body: Option<&Value>) -> Option<(u16, Value)> {
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("request sent");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response read");
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"));
    let json = response
        .split_once("\r\n\r\n")
        .and_then(|(_, body)| serde_json::from_str(body).ok())
        .unwrap_or(Value::Null);
    Some((status, json))
}
