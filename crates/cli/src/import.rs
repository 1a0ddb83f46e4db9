//! `classbill import xdrs FILE.csv`: the rows of an RFC 4180 file checked like `POST /xdrs` items, the good ones
//! stored batch by batch, every other line written with its reason to `FILE.rejects.csv`.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use classbill_engine::ledger::XDR_FIELDS;
use classbill_engine::{Actor, Engine, EngineError, ImportOutcome, ImportRow, IngestMemo, XdrText};
use classbill_store::xdrs;
use indicatif::{ProgressBar, ProgressStyle};
use jiff::Timestamp;

/// Rows checked and stored per transaction: large batches mean few round trips per row, while the memory stays
/// bounded by the batch, not the file.
const BATCH_ROWS: usize = 10_000;

/// What an import did.
#[derive(Debug, Default)]
pub struct Summary {
    pub accepted: usize,
    pub rejected: usize,
    pub rejects_file: PathBuf,
}

/// `data.csv` → `data.rejects.csv`; a name without `.csv` gets `.rejects.csv` appended.
pub fn rejects_path(file: &Path) -> PathBuf {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name
        .strip_suffix(".csv")
        .or_else(|| name.strip_suffix(".CSV"))
        .unwrap_or(&name);
    file.with_file_name(format!("{stem}.rejects.csv"))
}

fn expected_header(with_currency: bool) -> Vec<&'static str> {
    let columns = if with_currency {
        XDR_FIELDS.len()
    } else {
        XDR_FIELDS.len() - 1
    };
    XDR_FIELDS[..columns].to_vec()
}

/// The file's columns: the nine of the format, optionally followed by `currency`.
fn check_header(file: &Path, header: &csv::StringRecord) -> anyhow::Result<Vec<&'static str>> {
    let found: Vec<&str> = header.iter().map(str::trim).collect();
    for with_currency in [false, true] {
        let expected = expected_header(with_currency);
        if found == expected {
            return Ok(expected);
        }
    }
    bail!(
        "{} does not start with the header {}[,currency] (found {:?})",
        file.display(),
        expected_header(false).join(","),
        found.join(",")
    )
}

struct Rejects {
    writer: csv::Writer<File>,
    /// The file's columns, in which a rejected row's cells are written back.
    columns: Vec<&'static str>,
    count: usize,
}

impl Rejects {
    fn write(&mut self, line: u64, reason: &str, cells: &[String]) -> anyhow::Result<()> {
        let mut record = vec![line.to_string(), reason.to_owned()];
        record.extend(cells.iter().cloned());
        self.writer
            .write_record(&record)
            .context("cannot write the rejects file")?;
        self.count += 1;
        Ok(())
    }
}

/// Line numbers of records. The CSV reader's own line count goes astray on CRLF line ends and skipped blank
/// lines, but its byte offsets are exact: a record's position is at most a few line breaks before its first
/// byte. A second, sequential pass over the file counts the `\n` bytes before each record's first byte.
struct LineCounter {
    input: BufReader<File>,
    offset: u64,
    newlines: u64,
}

impl LineCounter {
    fn open(file: &Path) -> std::io::Result<LineCounter> {
        Ok(LineCounter {
            input: BufReader::new(File::open(file)?),
            offset: 0,
            newlines: 0,
        })
    }

    /// The line (1-based) of the record whose position is `start`.
    fn line_of(&mut self, start: u64) -> std::io::Result<u64> {
        loop {
            let buffer = self.input.fill_buf()?;
            if buffer.is_empty() {
                break;
            }
            // Up to `start` only line breaks count; from there on, the blank lines the reader skipped.
            let before =
                usize::try_from(start.saturating_sub(self.offset)).map_or(buffer.len(), |n| n.min(buffer.len()));
            self.newlines += memchr::memchr_iter(b'\n', &buffer[..before]).count() as u64;
            let blank = buffer[before..]
                .iter()
                .take_while(|&&b| b == b'\n' || b == b'\r')
                .count();
            self.newlines += buffer[before..before + blank].iter().filter(|&&b| b == b'\n').count() as u64;
            let used = before + blank;
            let done = used < buffer.len();
            self.offset += used as u64;
            self.input.consume(used);
            if done {
                break;
            }
        }
        Ok(self.newlines + 1)
    }
}

/// The rows read since the last commit: those to check, and those refused while reading, with their cells.
#[derive(Default)]
struct Batch {
    rows: Vec<ImportRow>,
    refused: Vec<(u64, String, Vec<String>)>,
}

/// A batch that was stored or failed, with the memo it used.
struct Stored {
    batch: Batch,
    memo: IngestMemo,
    outcome: Result<ImportOutcome, EngineError>,
}

/// Stores one batch in a transaction of its own.
async fn store(engine: Engine, batch: Batch, mut memo: IngestMemo, as_of: Timestamp) -> Stored {
    let outcome = if batch.rows.is_empty() {
        Ok(ImportOutcome::default())
    } else {
        engine
            .import_xdrs(&Actor::system(), &batch.rows, &mut memo, (as_of, Timestamp::now()))
            .await
    };
    Stored { batch, memo, outcome }
}

/// Counts a stored batch and writes its rejected lines in line order.
fn report(stored: Stored, rejects: &mut Rejects, summary: &mut Summary) -> anyhow::Result<IngestMemo> {
    let Stored { batch, memo, outcome } = stored;
    let mut refused = batch.refused;
    let outcome = outcome.map_err(|e| {
        let first = batch.rows.first().map_or(0, |row| row.line);
        anyhow::anyhow!(
            "the import stopped in the batch starting at line {first}: {e} (nothing of this batch was stored; \
             importing the file again adds only what is missing)"
        )
    })?;
    summary.accepted += outcome.accepted;
    for rejected in outcome.rejected {
        if let Ok(i) = batch.rows.binary_search_by_key(&rejected.line, |row| row.line) {
            // An empty cell was read as an absent field, so the row's cells come back from its fields.
            let text = &batch.rows[i].text;
            let cells = rejects
                .columns
                .iter()
                .map(|c| text.get(c).unwrap_or_default().to_owned())
                .collect();
            refused.push((rejected.line, rejected.reason, cells));
        }
    }
    refused.sort_by_key(|(line, _, _)| *line);
    for (line, reason, cells) in &refused {
        rejects.write(*line, reason, cells)?;
    }
    Ok(memo)
}

/// Stores the batches as they arrive, as many at a time as the database takes writers (`Store::writers`), and reports them in the order of the file. When one
/// fails, those still running are abandoned: their transactions roll back unless they had committed.
async fn store_all(
    engine: &Engine,
    batches: &mut tokio::sync::mpsc::Receiver<anyhow::Result<Batch>>,
    as_of: Timestamp,
    rejects: &mut Rejects,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    let mut memos: Vec<IngestMemo> = (0..engine.store.writers()).map(|_| IngestMemo::default()).collect();
    let mut running = VecDeque::new();
    loop {
        while let Some(memo) = memos.pop() {
            let Some(batch) = batches.recv().await else {
                break;
            };
            running.push_back(tokio::spawn(store(engine.clone(), batch?, memo, as_of)));
        }
        let Some(oldest) = running.pop_front() else {
            return Ok(());
        };
        let stored = oldest.await.context("a batch's writer stopped");
        match stored.and_then(|stored| report(stored, rejects, summary)) {
            Ok(memo) => memos.push(memo),
            Err(e) => {
                for other in running {
                    other.abort();
                }
                return Err(e);
            }
        }
    }
}

/// Reads the rows of an import file and hands them on in batches of [`BATCH_ROWS`].
struct BatchSource {
    file: PathBuf,
    reader: csv::Reader<BufReader<File>>,
    columns: Vec<&'static str>,
    lines: LineCounter,
    progress: ProgressBar,
}

impl BatchSource {
    /// Sends every batch of the file, the last one however short, or the error that stopped the reading; stops
    /// early when the receiver is gone.
    fn send_all(mut self, sender: &tokio::sync::mpsc::Sender<anyhow::Result<Batch>>) {
        loop {
            let (batch, more) = match self.next_batch() {
                Ok(next) => next,
                Err(e) => {
                    let _ = sender.blocking_send(Err(e));
                    return;
                }
            };
            if sender.blocking_send(Ok(batch)).is_err() || !more {
                return;
            }
        }
    }

    /// The next batch, and whether the file goes on after it.
    fn next_batch(&mut self) -> anyhow::Result<(Batch, bool)> {
        let file = &self.file;
        let mut batch = Batch {
            rows: Vec::with_capacity(BATCH_ROWS),
            refused: Vec::new(),
        };
        let mut record = csv::StringRecord::new();
        while batch.rows.len() + batch.refused.len() < BATCH_ROWS {
            let next_start = self.reader.position().byte();
            match self.reader.read_record(&mut record) {
                Ok(false) => return Ok((batch, false)),
                Ok(true) => {
                    let start = record.position().map_or(next_start, |p| p.byte());
                    let line = self
                        .lines
                        .line_of(start)
                        .with_context(|| format!("cannot read {}", file.display()))?;
                    if record.len() != self.columns.len() {
                        let reason = format!("expected {} columns, found {}", self.columns.len(), record.len());
                        batch
                            .refused
                            .push((line, reason, record.iter().map(str::to_owned).collect()));
                    } else {
                        let mut text = XdrText::default();
                        for (column, cell) in self.columns.iter().zip(record.iter()) {
                            text.set(column, cell);
                        }
                        batch.rows.push(ImportRow { line, text });
                    }
                }
                Err(e) if matches!(e.kind(), csv::ErrorKind::Utf8 { .. }) => {
                    let start = e.position().map_or(next_start, |p| p.byte());
                    let line = self
                        .lines
                        .line_of(start)
                        .with_context(|| format!("cannot read {}", file.display()))?;
                    let reason = "the line is not valid UTF-8".to_owned();
                    batch.refused.push((line, reason, Vec::new()));
                }
                Err(e) => bail!("cannot read {}: {e}", file.display()),
            }
            self.progress.set_position(self.reader.position().byte());
        }
        Ok((batch, true))
    }
}

/// Imports `file`; `as_of` picks the open period that late records join.
pub async fn import_xdrs(engine: &Engine, file: &Path, as_of: Timestamp) -> anyhow::Result<Summary> {
    let input = File::open(file).with_context(|| format!("cannot read {}", file.display()))?;
    let size = input.metadata().map(|m| m.len()).unwrap_or(0);
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(true)
        .from_reader(BufReader::new(input));
    let header = reader
        .headers()
        .map_err(|e| anyhow::anyhow!("cannot read the header of {}: {e}", file.display()))?
        .clone();
    if header.is_empty() {
        bail!("{} is empty; it needs at least the header line", file.display());
    }
    let columns = check_header(file, &header)?;

    let rejects_file = rejects_path(file);
    let writer = csv::WriterBuilder::new()
        .flexible(true)
        .from_path(&rejects_file)
        .with_context(|| format!("cannot create {}", rejects_file.display()))?;
    let mut rejects = Rejects {
        writer,
        columns: columns.clone(),
        count: 0,
    };
    let mut rejects_header = vec!["line".to_owned(), "reason".to_owned()];
    rejects_header.extend(header.iter().map(str::to_owned));
    rejects
        .writer
        .write_record(&rejects_header)
        .context("cannot write the rejects file")?;

    let progress = ProgressBar::new(size);
    progress.set_style(
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut summary = Summary {
        rejects_file,
        ..Summary::default()
    };
    let lines = LineCounter::open(file).with_context(|| format!("cannot read {}", file.display()))?;
    // The file is read and split into batches on a thread of its own, so that reading the next batch overlaps
    // the database's work on this one; at most two batches wait, which bounds the memory.
    let (sender, mut batches) = tokio::sync::mpsc::channel(2);
    let source = BatchSource {
        file: file.to_owned(),
        reader,
        columns,
        lines,
        progress: progress.clone(),
    };
    let reading = tokio::task::spawn_blocking(move || source.send_all(&sender));
    let stored = store_all(engine, &mut batches, as_of, &mut rejects, &mut summary).await;
    // An early stop drops the receiver, which ends the reader at its next batch.
    drop(batches);
    stored?;
    reading.await.context("the file reader stopped")?;
    xdrs::refresh_statistics(&engine.store)
        .await
        .context("the records are stored, but the database's statistics could not be refreshed")?;
    progress.finish_and_clear();
    rejects.writer.flush().context("cannot write the rejects file")?;
    summary.rejected = rejects.count;
    Ok(summary)
}
