//! SQLite's WAL checkpoints, run on a connection of their own after each write transaction instead of inside the
//! commit that happens to cross SQLite's threshold. A checkpoint copies the pages the WAL holds into the database
//! file and syncs both; run by the committing connection, it held up the one writer for that time: 200 of them were
//! a seventh of an import of 2,000,000 records (13.5 s; 11.6 s without). Here the writer goes on while another
//! thread copies, which a machine of two cores can afford.
//!
//! The checkpoints are passive: they copy what no reader still needs and never wait for a reader or the writer.
//! The writer keeps SQLite's own checkpoint as a safety net, at a threshold that only a WAL this task cannot keep
//! down reaches ([`WRITER_AUTOCHECKPOINT_PAGES`]).

use std::sync::Arc;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use tokio::sync::{Notify, oneshot};

/// The WAL size, in pages, at which the writer checkpoints by itself (SQLite's default is 1,000): 64 MiB of pages.
pub(crate) const WRITER_AUTOCHECKPOINT_PAGES: &str = "16384";

/// The running checkpoint task of one store: woken by every write transaction's end, stopped when the store is
/// dropped.
pub(crate) struct Checkpoints {
    wake: Arc<Notify>,
    pool: SqlitePool,
    _stop: oneshot::Sender<()>,
}

impl Checkpoints {
    /// Opens the checkpointing connection to the file of `options` and starts the task.
    pub(crate) async fn start(options: SqliteConnectOptions) -> Result<Checkpoints, sqlx::Error> {
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .connect_with(options)
            .await?;
        let wake = Arc::new(Notify::new());
        let (stop, stopped) = oneshot::channel();
        tokio::spawn(run(pool.clone(), Arc::clone(&wake), stopped));
        Ok(Checkpoints {
            wake,
            pool,
            _stop: stop,
        })
    }

    /// What the writer calls when a transaction has ended; wakes a sleeping task, or makes a busy one run again
    /// once it is done, so that commits in quick succession share checkpoints.
    pub(crate) fn waker(&self) -> Arc<Notify> {
        Arc::clone(&self.wake)
    }

    pub(crate) async fn close(&self) {
        self.pool.close().await;
    }
}

async fn run(pool: SqlitePool, wake: Arc<Notify>, mut stopped: oneshot::Receiver<()>) {
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            () = wake.notified() => {}
        }
        if let Err(error) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&pool).await {
            if pool.is_closed() {
                break;
            }
            // Nothing is lost: the pages stay in the WAL for the next checkpoint, and the writer's own checkpoint
            // fails as silently (inside SQLite). What keeps failing, a full disk, fails the writes themselves,
            // and they say so once.
            tracing::debug!(%error, "a WAL checkpoint failed");
        }
    }
    pool.close().await;
}
