//! A counter of the writes to parties and billing periods (SQLite migration 0028), so that a reader holding
//! their rows across transactions can tell whether they are still as stored.

use crate::{Backend, StoreError, Tx};

#[derive(sqlx::FromRow)]
struct Count {
    changes: i64,
}

/// The counter, read inside `tx`; `None` on PostgreSQL, where writers run side by side and a counter read now
/// could not speak for transactions still open.
pub async fn count(tx: &mut Tx) -> Result<Option<i64>, StoreError> {
    match tx.backend() {
        Backend::Postgres => Ok(None),
        Backend::Sqlite => Ok(Some(
            tx.fetch_one::<Count>("SELECT changes FROM billing_changes WHERE id = 1", vec![])
                .await?
                .changes,
        )),
    }
}
