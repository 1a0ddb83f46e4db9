//! The test databases really work: a private server starts and stops, and
//! every database handed out is new, empty and independent of the others.

use std::net::{Ipv4Addr, TcpStream};

use classbill_testkit::{Backend, PgCluster, database_url, postgres_url};
use sqlx::{Connection, PgConnection, SqliteConnection};

#[tokio::test]
async fn a_private_cluster_starts_answers_and_cleans_up() {
    let cluster = tokio::task::spawn_blocking(PgCluster::start)
        .await
        .unwrap()
        .unwrap_or_else(|err| panic!("PostgreSQL did not start: {err}"));
    let port = cluster.port();
    let data_dir = cluster.data_dir();
    assert!(data_dir.join("PG_VERSION").is_file());

    let mut conn = PgConnection::connect(&cluster.admin_url()).await.unwrap();
    let (answer, fsync): (i32, String) = sqlx::query_as("SELECT 41 + 1, current_setting('fsync')")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(answer, 42);
    assert_eq!(fsync, "off");
    let encoding: String = sqlx::query_scalar("SHOW server_encoding")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(encoding, "UTF8");
    conn.close().await.unwrap();

    tokio::task::spawn_blocking(move || drop(cluster)).await.unwrap();
    assert!(
        TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err(),
        "the server still listens after the cluster was dropped"
    );
    assert!(!data_dir.exists(), "the cluster's directory was left behind");
}

#[tokio::test]
async fn each_postgres_database_is_new_empty_and_independent() {
    let first = postgres_url().await;
    let second = postgres_url().await;
    assert_ne!(first, second);

    let mut a = PgConnection::connect(&first).await.unwrap();
    sqlx::query("CREATE TABLE marker (value TEXT NOT NULL)")
        .execute(&mut a)
        .await
        .unwrap();
    sqlx::query("INSERT INTO marker (value) VALUES ('first')")
        .execute(&mut a)
        .await
        .unwrap();

    let mut b = PgConnection::connect(&second).await.unwrap();
    let tables: i64 =
        sqlx::query_scalar("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'")
            .fetch_one(&mut b)
            .await
            .unwrap();
    assert_eq!(tables, 0, "a fresh database already had tables");
    sqlx::query("CREATE TABLE marker (value TEXT NOT NULL)")
        .execute(&mut b)
        .await
        .unwrap();

    let values: Vec<String> = sqlx::query_scalar("SELECT value FROM marker")
        .fetch_all(&mut a)
        .await
        .unwrap();
    assert_eq!(values, ["first"]);
    let values: Vec<String> = sqlx::query_scalar("SELECT value FROM marker")
        .fetch_all(&mut b)
        .await
        .unwrap();
    assert!(values.is_empty());

    a.close().await.unwrap();
    b.close().await.unwrap();
}

#[tokio::test]
async fn every_backend_hands_out_a_usable_database() {
    for backend in Backend::ALL {
        let db = database_url(backend).await;
        assert_eq!(db.backend, backend);
        let answer: i64 = match backend {
            Backend::Sqlite => {
                assert!(db.url.starts_with("sqlite://"), "{}", db.url);
                let mut conn = SqliteConnection::connect(&db.url).await.unwrap();
                sqlx::query("CREATE TABLE t (x INTEGER)")
                    .execute(&mut conn)
                    .await
                    .unwrap();
                let answer = sqlx::query_scalar("SELECT count(*) + 7 FROM t")
                    .fetch_one(&mut conn)
                    .await
                    .unwrap();
                conn.close().await.unwrap();
                answer
            }
            Backend::Postgres => {
                assert!(db.url.starts_with("postgres://"), "{}", db.url);
                let mut conn = PgConnection::connect(&db.url).await.unwrap();
                let answer = sqlx::query_scalar("SELECT 7::bigint")
                    .fetch_one(&mut conn)
                    .await
                    .unwrap();
                conn.close().await.unwrap();
                answer
            }
        };
        assert_eq!(answer, 7, "{backend}");
    }
}

#[tokio::test]
async fn many_tests_can_ask_for_databases_at_once() {
    let handles: Vec<_> = (0..8).map(|_| tokio::spawn(postgres_url())).collect();
    let mut urls = Vec::new();
    for handle in handles {
        urls.push(handle.await.unwrap());
    }
    urls.sort();
    urls.dedup();
    assert_eq!(urls.len(), 8);
}
