//! On SQLite, what the writer commits reaches the database file while the store stays open: a task of the store
//! checkpoints the WAL after write transactions, well before the writer's own threshold (64 MiB of WAL) would.

use std::time::{Duration, Instant};

use classbill_store::Store;
use classbill_testkit::{Backend, database_url};

/// Less than the schema takes.
const SCHEMA_BYTES: u64 = 50 * 4096;

fn file_size(path: &str) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

#[tokio::test]
async fn the_schema_reaches_the_database_file_while_the_store_is_open() {
    let db = database_url(Backend::Sqlite).await;
    let path = db.url.strip_prefix("sqlite://").expect("sqlite url").to_owned();
    let store = Store::connect(&db.url).await.expect("opens");
    store.migrate().await.expect("migrates");

    // The schema is a few hundred pages, written to the WAL by the migrations, far below the writer's threshold:
    // only a checkpoint puts it in the file, which held at most its first page before.
    let deadline = Instant::now() + Duration::from_secs(20);
    while file_size(&path) < SCHEMA_BYTES && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let copied = file_size(&path);
    assert!(
        copied >= SCHEMA_BYTES,
        "the database file holds the schema while the store is open ({copied} bytes)"
    );

    // A later write is checkpointed too: the pages it changes leave the WAL for the file, which then holds them.
    let mut tx = store.write().await.expect("write");
    tx.execute(
        "CREATE TABLE checkpoint_probe (id INTEGER PRIMARY KEY, body TEXT NOT NULL)",
        vec![],
    )
    .await
    .expect("table");
    tx.execute(
        "WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200) \
         INSERT INTO checkpoint_probe (body) SELECT hex(randomblob(2000)) FROM n",
        vec![],
    )
    .await
    .expect("rows");
    tx.commit().await.expect("commit");
    let deadline = Instant::now() + Duration::from_secs(20);
    while file_size(&path) <= copied && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        file_size(&path) > copied,
        "the new table reached the database file ({} bytes, {copied} before)",
        file_size(&path)
    );
    store.close().await;
}
