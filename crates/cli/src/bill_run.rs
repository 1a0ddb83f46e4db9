//! `classbill bill-run`: closes due periods in-process, with a progress bar and a summary.
//!
//! For crash tests, `CLASSBILL_TEST_ABORT_AFTER_COMMITS=N` makes the process abort (as a `kill -9` would stop
//! it) right after the close has committed its N-th transaction; unset, it does nothing. Each batch commits
//! twice (S1, then the other steps of §5.3), so N picks an exact point between two commits. `classbill
//! collections` honours the same hook, counting one commit per batch of parties.

use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::bail;
use classbill_engine::{BillingRunSummary, CloseOptions, CloseProgress, Engine, EngineError};
use indicatif::{ProgressBar, ProgressStyle};
use jiff::Timestamp;

/// The environment variable of the crash-test hook.
pub const ABORT_AFTER_COMMITS_ENV: &str = "CLASSBILL_TEST_ABORT_AFTER_COMMITS";

/// Counts the commits of a whole `bill-run` or `collections` run and aborts after the one the hook names.
pub(crate) struct AbortHook {
    after: Option<u64>,
    commits: AtomicU64,
}

impl AbortHook {
    pub(crate) fn from_env() -> anyhow::Result<AbortHook> {
        let after = match std::env::var(ABORT_AFTER_COMMITS_ENV) {
            Ok(text) => match text.trim().parse::<u64>() {
                Ok(n) => Some(n),
                Err(_) => bail!("{ABORT_AFTER_COMMITS_ENV} must be a number of commits, not {text:?}"),
            },
            Err(_) => None,
        };
        Ok(AbortHook {
            after,
            commits: AtomicU64::new(0),
        })
    }

    pub(crate) fn committed(&self) {
        let commits = self.commits.fetch_add(1, Ordering::SeqCst) + 1;
        if self.after == Some(commits) {
            std::process::abort();
        }
    }
}

/// A bar counting the parties a close pass has claimed.
fn progress_bar(label: &'static str) -> ProgressBar {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{msg} {bar:40} {pos}/{len} parties")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(label);
    bar
}

fn show(bar: &ProgressBar, progress: &CloseProgress) {
    bar.set_length(progress.parties_total.max(progress.parties_claimed));
    bar.set_position(progress.parties_claimed);
}

/// Prints a close pass's counts on stdout and its failures on stderr; answers how many periods stay `closing`.
fn report(label: &str, summary: &BillingRunSummary) -> i64 {
    println!(
        "{label} due {}, closed {}, failed {}; invoices issued {}",
        summary.periods_due, summary.periods_closed, summary.periods_failed, summary.invoices_issued
    );
    for failure in &summary.failures {
        eprintln!(
            "party {} period {}: {}",
            failure.party_id, failure.period_id, failure.error
        );
    }
    summary.periods_failed
}

/// A pass that ended in an error (the database went away, say) may have left its batch `closing`: say how to
/// finish the run rather than only why it stopped.
fn stopped(e: EngineError) -> anyhow::Error {
    crate::explain(e).context("the bill run stopped; run it again with --retry and the same --as-of to finish it")
}

/// `--retry` first resumes the periods left `closing`, then `--as-of` closes the due ones; fails when a period
/// is left `closing`.
pub async fn run(engine: &Engine, as_of: Option<Timestamp>, retry: bool, batch_size: usize) -> anyhow::Result<()> {
    let hook = AbortHook::from_env()?;
    let mut left_closing = 0;
    if retry {
        let bar = progress_bar("retrying");
        let on_commit = |p: &CloseProgress| {
            show(&bar, p);
            hook.committed();
        };
        let options = CloseOptions {
            batch_size,
            on_commit: Some(&on_commit),
        };
        let summary = engine.retry_closing_with(Timestamp::now(), options).await;
        bar.finish_and_clear();
        left_closing = report("retried", &summary.map_err(stopped)?);
    }
    if let Some(as_of) = as_of {
        let bar = progress_bar("closing");
        let on_commit = |p: &CloseProgress| {
            show(&bar, p);
            hook.committed();
        };
        let options = CloseOptions {
            batch_size,
            on_commit: Some(&on_commit),
        };
        let summary = engine.run_billing_with(as_of, Timestamp::now(), options).await;
        bar.finish_and_clear();
        left_closing = report("periods", &summary.map_err(stopped)?);
    }
    if left_closing > 0 {
        bail!("{left_closing} period(s) are left closing");
    }
    Ok(())
}
