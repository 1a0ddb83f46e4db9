//! Both backends carry the same migrations, and each opens, migrates and refuses what it should.

use classbill_store::{Backend, Store, StoreError};
use classbill_testkit::database_url;

fn migration_names(backend: &str) -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            entry
                .expect("directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

#[test]
fn both_backends_have_the_same_migration_files() {
    let sqlite = migration_names("sqlite");
    assert!(!sqlite.is_empty());
    assert_eq!(sqlite, migration_names("postgres"));
}

#[tokio::test]
async fn an_unknown_url_scheme_is_refused_with_the_supported_ones_named() {
    let error = Store::connect("mysql://user@host/db")
        .await
        .expect_err("mysql is not supported");
    assert!(matches!(error, StoreError::UnsupportedUrl(_)));
    let message = error.to_string();
    assert!(
        message.contains("sqlite://") && message.contains("postgres://"),
        "{message}"
    );
}

#[tokio::test]
async fn migrations_run_twice_on_both_backends() {
    for backend in classbill_testkit::Backend::ALL {
        let db = database_url(backend).await;
        let store = Store::connect(&db.url).await.expect("opens");
        let expected = match backend {
            classbill_testkit::Backend::Sqlite => Backend::Sqlite,
            classbill_testkit::Backend::Postgres => Backend::Postgres,
        };
        assert_eq!(store.backend(), expected);
        store.migrate().await.expect("first migration");
        store.migrate().await.expect("second migration is a no-op");
        let mut tx = store.read().await.expect("read transaction");
        let classes: Vec<CountRow> = tx
            .fetch_all("SELECT COUNT(*) AS n FROM customer_classes", vec![])
            .await
            .expect("the schema has the class table");
        assert_eq!(
            classes[0].n, 0,
            "{backend}: a fresh schema has no classes until the engine creates Default"
        );
    }
}

#[derive(sqlx::FromRow)]
struct CountRow {
    n: i64,
}

/// One connection to the SQLite file at `url`, with foreign keys enforced or not.
async fn sqlite_pool(url: &str, foreign_keys: bool) -> sqlx::SqlitePool {
    use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
    use std::str::FromStr;

    let options = SqliteConnectOptions::from_str(url)
        .expect("sqlite url")
        .create_if_missing(true)
        .foreign_keys(foreign_keys);
    SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .expect("opens")
}

/// A SQLite file at `url` migrated up to the migration before `version`, opened with foreign keys off so that a
/// fixture may leave out what is beside its point.
async fn sqlite_migrated_before(url: &str, version: i64) -> sqlx::SqlitePool {
    let pool = sqlite_pool(url, false).await;
    let mut before = sqlx::migrate!("migrations/sqlite");
    before.migrations = before
        .migrations
        .iter()
        .filter(|m| m.version < version)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    before.run(&pool).await.expect("migrates");
    // A migration that rebuilds a table turns foreign keys back on when it is done (0018).
    sqlx::query("PRAGMA foreign_keys = OFF")
        .execute(&pool)
        .await
        .expect("foreign keys off");
    pool
}

/// A SQLite file at `url` migrated up to the migration before `version`, given the rows of `fixture`, then upgraded
/// by the store through every migration; answers a connection to it with foreign keys enforced.
async fn sqlite_upgraded_from(url: &str, version: i64, fixture: &[&'static str]) -> sqlx::SqlitePool {
    let pool = sqlite_migrated_before(url, version).await;
    for statement in fixture {
        sqlx::query(*statement).execute(&pool).await.expect(statement);
    }
    pool.close().await;
    let store = Store::connect(url).await.expect("opens");
    store.migrate().await.expect("upgrades");
    drop(store);
    sqlite_pool(url, true).await
}

/// Party 3, a customer of class 1, as the rebuild fixtures give it; the class is left out (its document is beside
/// the point there), which is why the fixtures run with foreign keys off.
const PARTY_3: &str = "INSERT INTO parties (id, kind, name, currency, class_id, billing_period, time_zone,
    activated_at, created_at, updated_at) VALUES (3, 'customer', 'C', 'EUR', 1, 'monthly', 'UTC', 0, 0, 0)";

/// No row of `table` refers to a row that is not there.
async fn assert_no_dangling_rows(pool: &sqlx::SqlitePool, table: &str) {
    let dangling: Vec<(String, i64)> = sqlx::query_as("SELECT \"table\", rowid FROM pragma_foreign_key_check($1)")
        .bind(table)
        .fetch_all(pool)
        .await
        .expect("foreign key check");
    assert!(dangling.is_empty(), "{table}: {dangling:?}");
}

/// 0018 rebuilds SQLite's `invoices` table to admit credit notes: an installation upgraded from 0017 keeps
/// every invoice under its id, the rows that refer to invoices still match, and foreign keys stay enforced.
#[tokio::test]
async fn the_sqlite_invoice_rebuild_keeps_invoices_and_what_refers_to_them() {
    let db = database_url(classbill_testkit::Backend::Sqlite).await;
    let fixture = [
        PARTY_3,
        "INSERT INTO invoices (id, number, kind, party_id, class_id, class_revision, settings_snapshot, issue_date,
             due_date, net_total, tax_total, rounding, total, previous_balance, payments, out_of_turn, amount_due,
             credit_carried, open_amount, status, review_state, created_at, review_due_at)
         VALUES (7, 'INV-000007', 'regular', 3, 1, 1, '{}', '2025-04-01', '2025-04-16', 100, 19, 0, 119, 0, 0, 0,
             119, 0, 19, 'partially_paid', 'not_required', 5, 9)",
        "INSERT INTO invoices (id, number, kind, party_id, class_id, class_revision, settings_snapshot, issue_date,
             due_date, net_total, tax_total, rounding, total, previous_balance, payments, out_of_turn, amount_due,
             credit_carried, open_amount, status, review_state, created_at)
         VALUES (8, 'INV-000008', 'oot', 3, 1, 1, '{}', '2025-04-02', '2025-04-02', -100, 0, 0, -100, 0, 0, 0, 0, 0,
             0, 'nothing_due', 'not_required', 6)",
        "INSERT INTO allocations (id, party_id, source_invoice_id, invoice_id, amount, at, created_at)
         VALUES (11, 3, 8, 7, 100, 6, 6)",
    ];
    let pool = sqlite_upgraded_from(&db.url, 18, &fixture).await;
    let kept: Vec<(i64, String, i64, Option<i64>)> =
        sqlx::query_as("SELECT id, kind, total, review_due_at FROM invoices ORDER BY id")
            .fetch_all(&pool)
            .await
            .expect("invoices");
    assert_eq!(
        kept,
        vec![
            (7, "regular".to_owned(), 119, Some(9)),
            (8, "oot".to_owned(), -100, None)
        ]
    );
    assert_no_dangling_rows(&pool, "allocations").await;
    sqlx::query(
        "INSERT INTO invoices (number, kind, party_id, class_id, class_revision, settings_snapshot, issue_date,
             due_date, net_total, tax_total, rounding, total, previous_balance, payments, out_of_turn, amount_due,
             credit_carried, open_amount, status, review_state, created_at)
         VALUES ('CN-000001', 'credit_note', 3, 1, 1, '{}', '2025-04-03', '2025-04-03', -10, 0, 0, -10, 0, 0, 0, 0,
             0, 0, 'nothing_due', 'not_required', 7)",
    )
    .execute(&pool)
    .await
    .expect("a credit note is an invoice kind now");
    let orphan = sqlx::query("INSERT INTO allocations (party_id, source_invoice_id, invoice_id, amount, at, created_at) VALUES (3, 8, 999, 1, 0, 0)")
        .execute(&pool)
        .await;
    assert!(orphan.is_err(), "foreign keys are enforced on the rebuilt table");
}

/// 0034 rebuilds SQLite's ledger without its foreign keys: the records keep their ids, the AUTOINCREMENT counter
/// goes on where it stood (an id given out once is not given out again), the payments that refer to records still
/// match, and a record naming no stored party or period is no longer refused by the table itself (its writer
/// vouches for the periods it names: `xdrs::insert_many`).
#[tokio::test]
async fn the_sqlite_ledger_rebuild_keeps_records_ids_and_what_refers_to_them() {
    let db = database_url(classbill_testkit::Backend::Sqlite).await;
    let fixture = [
        PARTY_3,
        "INSERT INTO billing_periods (id, party_id, start_at, end_at, created_at) VALUES (4, 3, 0, 10, 0)",
        "INSERT INTO xdrs (id, party_id, period_id, occurred_at, kind, service, quantity, amount, external_id,
             created_at) VALUES (5, 3, 4, 1, 'usage', 'voice', 1, 100, 'a', 0)",
        "INSERT INTO xdrs (id, party_id, period_id, occurred_at, kind, service, quantity, amount, external_id,
             created_at) VALUES (9, 3, 4, 2, 'payment', 'payment', 1, -100, 'b', 0)",
        "INSERT INTO xdrs (id, party_id, period_id, occurred_at, kind, service, quantity, amount, external_id,
             created_at) VALUES (12, 3, 4, 3, 'usage', 'voice', 1, 7, 'c', 0)",
        "DELETE FROM xdrs WHERE id = 12",
        "INSERT INTO payments (xdr_id, party_id, result, created_at) VALUES (9, 3, '{}', 0)",
    ];
    let pool = sqlite_upgraded_from(&db.url, 34, &fixture).await;
    let kept: Vec<(i64, String, i64)> = sqlx::query_as("SELECT id, external_id, amount FROM xdrs ORDER BY id")
        .fetch_all(&pool)
        .await
        .expect("records");
    assert_eq!(kept, vec![(5, "a".to_owned(), 100), (9, "b".to_owned(), -100)]);
    assert_no_dangling_rows(&pool, "payments").await;
    let (next,): (i64,) = sqlx::query_as(
        "INSERT INTO xdrs (party_id, period_id, occurred_at, kind, service, quantity, amount, external_id, created_at)
         VALUES (3, 4, 4, 'usage', 'voice', 1, 1, 'd', 0) RETURNING id",
    )
    .fetch_one(&pool)
    .await
    .expect("a new record");
    assert_eq!(next, 13, "the counter goes on after the highest id ever given out");
    sqlx::query(
        "INSERT INTO xdrs (party_id, period_id, occurred_at, kind, service, quantity, amount, external_id, created_at)
         VALUES (77, 78, 4, 'usage', 'voice', 1, 1, 'e', 0)",
    )
    .execute(&pool)
    .await
    .expect("the table itself no longer checks the party and the period");
    let duplicate = sqlx::query(
        "INSERT INTO xdrs (party_id, period_id, occurred_at, kind, service, quantity, amount, external_id, created_at)
         VALUES (3, 4, 4, 'usage', 'voice', 1, 1, 'a', 0)",
    )
    .execute(&pool)
    .await;
    assert!(duplicate.is_err(), "the key index is back on the rebuilt table");
}
