//! Migration 0025 on PostgreSQL: an installation upgraded from 0024 keeps every xDR under its id, each in the
//! partition of its month, with its key in `xdr_keys`; the id sequence goes on where it stopped, and a key
//! stored before the upgrade still refuses a second record.

use classbill_store::Tx;
use classbill_store::xdrs::{NewXdr, find_by_keys, insert_many};
use classbill_testkit::{Backend, database_url};
use sqlx::Executor;
use sqlx::postgres::PgPoolOptions;

/// 2025-01-01T00:00:00Z and 2025-02-01T00:00:00Z in microseconds.
const JANUARY: i64 = 1_735_689_600_000_000;
const FEBRUARY: i64 = 1_738_368_000_000_000;

fn record(external_id: Option<&str>, occurred_at: i64) -> NewXdr {
    NewXdr {
        party_id: 3,
        period_id: 4,
        occurred_at,
        kind: "usage".to_owned(),
        service: "voice".to_owned(),
        rate_code: None,
        description: None,
        quantity: 100_000,
        amount: 1,
        external_id: external_id.map(str::to_owned),
        late: false,
    }
}

#[tokio::test]
async fn postgres_ledger_rows_from_before_0025_move_into_month_partitions_with_their_keys() {
    let db = database_url(Backend::Postgres).await;
    // The classes are beside the point here, so the fixture's connection skips the foreign key triggers.
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .after_connect(|conn, _| {
            Box::pin(async move {
                conn.execute("SET session_replication_role = replica").await?;
                Ok(())
            })
        })
        .connect(&db.url)
        .await
        .expect("opens");
    let all = sqlx::migrate!("migrations/postgres");
    let mut before = sqlx::migrate!("migrations/postgres");
    before.migrations = before
        .migrations
        .iter()
        .filter(|m| m.version < 25)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    before.run(&pool).await.expect("migrates to 0024");
    for statement in [
        "INSERT INTO parties (id, kind, name, currency, class_id, billing_period, time_zone, activated_at, created_at,
             updated_at) VALUES (3, 'customer', 'C', 'EUR', 1, 'monthly', 'UTC', 0, 0, 0)"
            .to_owned(),
        // The records written after the upgrade lock their party and period (migration 0029), so both exist.
        "INSERT INTO billing_periods (id, party_id, start_at, end_at, created_at) VALUES (4, 3, 0, 4102444800000000, 0)"
            .to_owned(),
        format!(
            "INSERT INTO xdrs (id, party_id, period_id, occurred_at, kind, service, quantity, amount, external_id,
                 created_at)
             VALUES (5, 3, 4, {JANUARY}, 'usage', 'voice', 1, 1, 'a', 0),
                    (6, 3, 4, {} , 'usage', 'voice', 1, 1, 'b', 0),
                    (9, 3, 4, {FEBRUARY}, 'payment', 'payment', 1, -1, NULL, 0),
                    (12, 3, 4, -5, 'usage', 'voice', 1, 1, 'c', 0)",
            FEBRUARY - 1
        ),
        "INSERT INTO payments (xdr_id, party_id, result, created_at) VALUES (9, 3, '{}', 0)".to_owned(),
        "SELECT setval(pg_get_serial_sequence('xdrs', 'id'), 20)".to_owned(),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(statement.clone()))
            .execute(&pool)
            .await
            .expect(&statement);
    }

    all.run(&pool).await.expect("upgrades through 0025");

    let placed: Vec<(i64, String)> =
        sqlx::query_as("SELECT id, CAST(CAST(tableoid AS regclass) AS TEXT) FROM xdrs ORDER BY id")
            .fetch_all(&pool)
            .await
            .expect("rows");
    let placed: Vec<(i64, &str)> = placed.iter().map(|(id, t)| (*id, t.as_str())).collect();
    assert_eq!(
        placed,
        [
            (5, "xdrs_2025_01"),
            (6, "xdrs_2025_01"),
            (9, "xdrs_2025_02"),
            (12, "xdrs_default")
        ]
    );
    let keys: Vec<(i64, String, i64)> =
        sqlx::query_as("SELECT party_id, external_id, xdr_id FROM xdr_keys ORDER BY xdr_id")
            .fetch_all(&pool)
            .await
            .expect("keys");
    assert_eq!(
        keys,
        [(3, "a".to_owned(), 5), (3, "b".to_owned(), 6), (3, "c".to_owned(), 12)]
    );
    let payments: Vec<(i64,)> = sqlx::query_as("SELECT xdr_id FROM payments")
        .fetch_all(&pool)
        .await
        .expect("payments");
    assert_eq!(payments, [(9,)], "the rows that named an xDR still do");

    let mut tx = Tx::Postgres(pool.begin().await.expect("transaction"));
    let found = find_by_keys(&mut tx, &[(3, "b".to_owned())]).await.expect("lookup");
    assert_eq!(found.iter().map(|r| r.id).collect::<Vec<_>>(), [6]);
    let ids = insert_many(&mut tx, &[record(Some("d"), FEBRUARY + 1)], FEBRUARY)
        .await
        .expect("stored");
    assert_eq!(ids, [21], "ids go on from the old sequence");
    let refused = insert_many(&mut tx, &[record(Some("a"), FEBRUARY + 2)], FEBRUARY)
        .await
        .expect_err("a key stored before the upgrade");
    assert!(refused.is_unique_violation(), "{refused}");
    tx.rollback().await.expect("rollback");
}
