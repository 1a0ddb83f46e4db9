//! Migration 0026 on both backends: an installation upgraded from 0025 finds each class's member count filled
//! in, and from then on every insert, move and delete of a party keeps it.

use std::str::FromStr;

use classbill_store::{AssertSqlSafe, Store};
use classbill_testkit::{Backend, database_url};
use sqlx::migrate::Migrator;
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

fn before_0026(mut migrator: Migrator) -> Migrator {
    migrator.migrations = migrator
        .migrations
        .iter()
        .filter(|m| m.version < 26)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    migrator
}

fn party(id: i64, class_id: i64) -> String {
    format!(
        "INSERT INTO parties (id, kind, name, currency, class_id, billing_period, time_zone, activated_at, created_at,
             updated_at) VALUES ({id}, 'customer', 'C{id}', 'EUR', {class_id}, 'monthly', 'UTC', 0, 0, 0)"
    )
}

fn class(name: &str) -> String {
    format!(
        "INSERT INTO customer_classes (name, name_key, business_model, description, archive_xdrs, invoices,
             taxation_method, revision, document, created_at, updated_at)
         VALUES ('{name}', '{name}', 'postpaid', '', FALSE, 'regular', 'none', 1, '{{}}', 0, 0)"
    )
}

/// Migrates a new database of `backend` up to 0025 and runs `statements` there.
async fn at_0025(backend: Backend, url: &str, statements: &[String]) {
    match backend {
        Backend::Sqlite => {
            let options = SqliteConnectOptions::from_str(url)
                .expect("sqlite url")
                .create_if_missing(true);
            let pool = SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(options)
                .await
                .expect("opens");
            before_0026(sqlx::migrate!("migrations/sqlite"))
                .run(&pool)
                .await
                .expect("migrates to 0025");
            for statement in statements {
                sqlx::query(sqlx::AssertSqlSafe(statement.clone()))
                    .execute(&pool)
                    .await
                    .expect(statement);
            }
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = PgPoolOptions::new()
                .max_connections(1)
                .connect(url)
                .await
                .expect("opens");
            before_0026(sqlx::migrate!("migrations/postgres"))
                .run(&pool)
                .await
                .expect("migrates to 0025");
            for statement in statements {
                sqlx::query(sqlx::AssertSqlSafe(statement.clone()))
                    .execute(&pool)
                    .await
                    .expect(statement);
            }
            pool.close().await;
        }
    }
}

#[derive(sqlx::FromRow, Debug, PartialEq)]
struct CountRow {
    id: i64,
    member_count: i64,
}

async fn after(store: &Store, statement: &str) -> Vec<(i64, i64)> {
    let mut tx = store.write().await.expect("transaction");
    if !statement.is_empty() {
        tx.execute(AssertSqlSafe(statement.to_owned()), Vec::new())
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
    let rows: Vec<CountRow> = tx
        .fetch_all("SELECT id, member_count FROM customer_classes ORDER BY id", Vec::new())
        .await
        .expect("classes");
    tx.commit().await.expect("commit");
    rows.into_iter().map(|r| (r.id, r.member_count)).collect()
}

#[tokio::test]
async fn member_counts_are_filled_in_by_the_upgrade_and_kept_by_every_party_write() {
    for backend in Backend::ALL {
        let db = database_url(backend).await;
        let mut fixture: Vec<String> = ["a", "b", "c"].iter().map(|n| class(n)).collect();
        fixture.extend([(1, 1), (2, 1), (3, 2)].map(|(id, class_id)| party(id, class_id)));
        at_0025(backend, &db.url, &fixture).await;

        let store = Store::connect(&db.url).await.expect("opens");
        store.migrate().await.expect("upgrades through 0026");
        assert_eq!(
            after(&store, "").await,
            [(1, 2), (2, 1), (3, 0)],
            "{backend}: filled in"
        );
        assert_eq!(
            after(&store, &party(4, 3)).await,
            [(1, 2), (2, 1), (3, 1)],
            "{backend}: insert"
        );
        let moved = after(&store, "UPDATE parties SET class_id = 3 WHERE id IN (1, 3)").await;
        assert_eq!(moved, [(1, 1), (2, 0), (3, 3)], "{backend}: moves");
        let kept = after(
            &store,
            "UPDATE parties SET class_id = 3, name = 'same class' WHERE id = 4",
        )
        .await;
        assert_eq!(kept, [(1, 1), (2, 0), (3, 3)], "{backend}: no move");
        let deleted = after(&store, "DELETE FROM parties WHERE id = 2").await;
        assert_eq!(deleted, [(1, 0), (2, 0), (3, 3)], "{backend}: delete");
    }
}
