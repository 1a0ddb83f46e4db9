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
