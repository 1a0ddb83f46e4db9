//! The stable fuzz driver: runs every target (or those named) for a bounded time with inputs made from the
//! seed corpus by a xorshift mutator, on the stable toolchain where libFuzzer's instrumentation is missing.
//!
//! ```text
//! classbill-fuzz [--seconds N] [--seed S] [TARGET...]     fuzz each target for N seconds (default 60)
//! classbill-fuzz --replay TARGET FILE...                  run saved inputs once, e.g. a crash found earlier
//! ```
//!
//! A panic is a finding: the input is saved under `fuzz/artifacts/<target>/crash-<hash>` and the driver exits
//! non-zero after the summary. An input running longer than the hang limit is saved as `hang-<hash>` and ends
//! the run at once, since the thread running it cannot be stopped.

use std::collections::BTreeMap;
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use classbill_fuzz::{TARGETS, Target};

/// One input running this long is reported as a hang.
const HANG_LIMIT: Duration = Duration::from_secs(60);
/// Inputs slower than this are kept as `slow-<hash>` for a look: validation should answer quickly.
const SLOW_LIMIT: Duration = Duration::from_secs(2);
/// Generated inputs stay below this size, like libFuzzer's default `-max_len` on a small corpus.
const MAX_LEN: usize = 8 * 1024;

/// Byte strings that the parsers treat specially, spliced into inputs to reach deeper branches.
#[rustfmt::skip]
const DICTIONARY: &[&[u8]] = &[
    b"{", b"}", b"[", b"]", b"\"", b",", b":", b"null", b"true", b"false", b"-", b".", b"0", b"-0", b"1e400",
    b"99999999999999999999", b"92233720368547758079", b"0.000001", b"\n", b"\r\n", b"\"\"", b"{{", b"}}",
    b"{%", b"%}", b"{#", b"#}", b"|", b"#", b"#let", b"#for", b"#while", b"#import", b"#include", b"$",
    b"\\", b"\xff", b"\xc3\xa9", b"\xf0\x9f\x92\xb6", b"2025-02-30T25:61:00Z", b"9999-12-31T23:59:59Z",
    b"usage", b"credit", b"EUR", b"XXX", b"\"managed_by\"", b"\"taxation\"", b"\"currency\"", b"\"name\"",
];

/// xorshift64*: small, fast and reproducible from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next() % n as u64) as usize }
    }

    fn byte(&mut self) -> u8 {
        self.next().to_le_bytes()[0]
    }
}

fn mutate(rng: &mut Rng, input: &mut Vec<u8>, corpus: &[Vec<u8>]) {
    for _ in 0..=rng.below(4) {
        let len = input.len();
        match rng.below(10) {
            0 if len > 0 => {
                let at = rng.below(len);
                input[at] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let at = rng.below(len);
                input[at] = rng.byte();
            }
            2 => {
                let at = rng.below(len + 1);
                let count = 1 + rng.below(8);
                let bytes: Vec<u8> = (0..count).map(|_| rng.byte()).collect();
                input.splice(at..at, bytes);
            }
            3 if len > 0 => {
                let at = rng.below(len);
                let end = (at + 1 + rng.below(16)).min(len);
                input.drain(at..end);
            }
            4 if len > 0 => {
                let at = rng.below(len);
                let end = (at + 1 + rng.below(64)).min(len);
                let copy = input[at..end].to_vec();
                let to = rng.below(len + 1);
                input.splice(to..to, copy);
            }
            5 | 6 => {
                let token = DICTIONARY[rng.below(DICTIONARY.len())];
                let at = rng.below(len + 1);
                input.splice(at..at, token.iter().copied());
            }
            7 if !corpus.is_empty() => {
                let other = &corpus[rng.below(corpus.len())];
                if !other.is_empty() {
                    let from = rng.below(other.len());
                    let end = (from + 1 + rng.below(128)).min(other.len());
                    let at = rng.below(len + 1);
                    input.splice(at..at, other[from..end].iter().copied());
                }
            }
            8 if len > 0 => {
                // Replace a run of digits by an extreme number: parsers of amounts meet their limits here.
                let at = rng.below(len);
                if input[at].is_ascii_digit() {
                    let end = input[at..]
                        .iter()
                        .position(|b| !b.is_ascii_digit())
                        .map_or(len, |i| at + i);
                    let extreme: &[u8] = match rng.below(3) {
                        0 => b"9223372036854775807",
                        1 => b"99999999999999999999999999999",
                        _ => b"0000000000000000000000000000001",
                    };
                    input.splice(at..end, extreme.iter().copied());
                }
            }
            _ if len > 1 => {
                let at = rng.below(len);
                input.truncate(at.max(1));
            }
            _ => input.push(rng.byte()),
        }
    }
    input.truncate(MAX_LEN);
}

fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn load_corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = fuzz_dir().join("corpus").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|entries| entries.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files.iter().filter_map(|f| std::fs::read(f).ok()).collect()
}

/// FNV-1a: a stable name for an input file and a per-target seed, not a security measure.
fn fnv(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn hash(data: &[u8]) -> String {
    format!("{:016x}", fnv(data))
}

fn save(target: &str, kind: &str, data: &[u8]) -> PathBuf {
    let dir = fuzz_dir().join("artifacts").join(target);
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(format!("{kind}-{}", hash(data)));
    let _ = std::fs::write(&path, data);
    path
}

/// What the input currently running is, for the hang watchdog.
struct Running {
    target: Mutex<&'static str>,
    input: Mutex<Vec<u8>>,
    /// Milliseconds since `epoch` when the input started; 0 when none is running.
    started: AtomicU64,
    epoch: Instant,
}

impl Running {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .max(1)
    }
}

fn watchdog(running: Arc<Running>) {
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(Duration::from_millis(500));
            let started = running.started.load(Ordering::Relaxed);
            if started != 0 && running.now_ms().saturating_sub(started) > HANG_LIMIT.as_millis() as u64 {
                let target = *running.target.lock().unwrap_or_else(|e| e.into_inner());
                let input = running.input.lock().unwrap_or_else(|e| e.into_inner()).clone();
                let path = save(target, "hang", &input);
                eprintln!(
                    "HANG in {target}: one input ran longer than {} s; saved to {}",
                    HANG_LIMIT.as_secs(),
                    path.display()
                );
                std::process::exit(3);
            }
        }
    });
}

thread_local! {
    static LAST_PANIC: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Runs one input; answers the panic's location and message, if it panicked.
fn execute(target: &Target, running: &Running, data: &[u8]) -> (Option<String>, Duration) {
    {
        let mut input = running.input.lock().unwrap_or_else(|e| e.into_inner());
        input.clear();
        input.extend_from_slice(data);
    }
    let start = Instant::now();
    running.started.store(running.now_ms(), Ordering::Relaxed);
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| (target.check)(data)));
    running.started.store(0, Ordering::Relaxed);
    let elapsed = start.elapsed();
    match outcome {
        Ok(()) => (None, elapsed),
        Err(_) => (
            Some(
                LAST_PANIC
                    .with(|p| p.borrow_mut().take())
                    .unwrap_or_else(|| "panic".to_owned()),
            ),
            elapsed,
        ),
    }
}

#[derive(Default)]
struct Report {
    executed: u64,
    seconds: f64,
    /// Distinct panics by location and message, with the first input that caused each.
    crashes: BTreeMap<String, PathBuf>,
    slowest: Duration,
    slow_saved: Option<PathBuf>,
}

fn fuzz(target: &Target, running: &Running, seconds: u64, seed: u64) -> Report {
    *running.target.lock().unwrap_or_else(|e| e.into_inner()) = target.name;
    let corpus = load_corpus(target.name);
    let mut rng = Rng((seed ^ fnv(target.name.as_bytes())) | 1);
    let mut report = Report::default();
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    let mut queue: Vec<Vec<u8>> = corpus.clone();
    let mut input = Vec::new();
    let mut first = true;
    while first || Instant::now() < deadline {
        first = false;
        input.clear();
        if let Some(seed_input) = queue.pop() {
            input.extend_from_slice(&seed_input);
        } else if corpus.is_empty() || rng.below(8) == 0 {
            let len = rng.below(256);
            input.extend((0..len).map(|_| rng.byte()));
        } else {
            input.extend_from_slice(&corpus[rng.below(corpus.len())]);
            mutate(&mut rng, &mut input, &corpus);
        }
        let (panicked, elapsed) = execute(target, running, &input);
        report.executed += 1;
        if let Some(message) = panicked {
            report
                .crashes
                .entry(message)
                .or_insert_with(|| save(target.name, "crash", &input));
        }
        if elapsed > report.slowest {
            report.slowest = elapsed;
            if elapsed > SLOW_LIMIT {
                report.slow_saved = Some(save(target.name, "slow", &input));
            }
        }
    }
    report.seconds = start.elapsed().as_secs_f64();
    report
}

fn replay(target: &Target, running: &Running, files: &[String]) -> ExitCode {
    let mut failed = false;
    for file in files {
        let data = match std::fs::read(file) {
            Ok(data) => data,
            Err(e) => {
                eprintln!("cannot read {file}: {e}");
                return ExitCode::from(2);
            }
        };
        let (panicked, elapsed) = execute(target, running, &data);
        match panicked {
            Some(message) => {
                failed = true;
                println!("{file}: PANIC after {elapsed:?}: {message}");
            }
            None => println!("{file}: ok in {elapsed:?}"),
        }
    }
    if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

fn usage() -> ExitCode {
    let names: Vec<&str> = TARGETS.iter().map(|t| t.name).collect();
    eprintln!(
        "usage: classbill-fuzz [--seconds N] [--seed S] [TARGET...] | classbill-fuzz --replay TARGET FILE...\ntargets: {}",
        names.join(", ")
    );
    ExitCode::from(2)
}

fn find(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

fn main() -> ExitCode {
    panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let first_line = message.lines().next().unwrap_or_default().to_owned();
        LAST_PANIC.with(|p| *p.borrow_mut() = Some(format!("{location}: {first_line}")));
    }));
    let running = Arc::new(Running {
        target: Mutex::new(""),
        input: Mutex::new(Vec::new()),
        started: AtomicU64::new(0),
        epoch: Instant::now(),
    });
    watchdog(Arc::clone(&running));

    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--replay") {
        return match (args.get(1).and_then(|n| find(n)), args.get(2..)) {
            (Some(target), Some(files)) if !files.is_empty() => replay(target, &running, files),
            _ => usage(),
        };
    }
    let mut seconds = 60;
    let mut seed = 0x5eed_c1a5_5b11_u64;
    let mut selected = Vec::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => match args.next().and_then(|v| v.parse().ok()) {
                Some(v) => seconds = v,
                None => return usage(),
            },
            "--seed" => match args.next().and_then(|v| v.parse().ok()) {
                Some(v) => seed = v,
                None => return usage(),
            },
            name => match find(name) {
                Some(target) => selected.push(target),
                None => return usage(),
            },
        }
    }
    if selected.is_empty() {
        selected = TARGETS.iter().collect();
    }

    let mut found = false;
    println!("target                  seconds      inputs    inputs/s  crashes  slowest");
    for target in selected {
        let report = fuzz(target, &running, seconds, seed);
        println!(
            "{:<22} {:>8.1} {:>11} {:>11.0} {:>8}  {:?}",
            target.name,
            report.seconds,
            report.executed,
            report.executed as f64 / report.seconds.max(0.001),
            report.crashes.len(),
            report.slowest
        );
        for (message, path) in &report.crashes {
            found = true;
            println!("  CRASH {message}\n        input saved to {}", path.display());
        }
        if let Some(path) = &report.slow_saved {
            println!("  SLOW  slowest input saved to {}", path.display());
        }
    }
    if found { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mutator_is_reproducible_and_bounded() {
        let corpus = vec![b"12.5,EUR".to_vec()];
        let run = |seed| {
            let mut rng = Rng(seed);
            let mut input = corpus[0].clone();
            for _ in 0..1000 {
                mutate(&mut rng, &mut input, &corpus);
            }
            input
        };
        assert_eq!(run(7), run(7));
        assert!(run(7).len() <= MAX_LEN);
    }
}
