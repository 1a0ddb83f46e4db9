//! Failed password logins and the logins locked because of them. Instants are microseconds since the epoch,
//! passed in by the caller; nothing here reads a clock.

use crate::{StoreError, Tx, args};

#[derive(sqlx::FromRow)]
struct CountRow {
    n: i64,
}

#[derive(sqlx::FromRow)]
struct InstantRow {
    at: i64,
}

/// Records one failed attempt. `counts_for_login` is false for attempts refused while the login was locked:
/// they count against the client only, so a lock cannot be prolonged by whoever is guessing.
pub async fn record(
    tx: &mut Tx,
    login: &str,
    client_ip: &str,
    failed_at_us: i64,
    counts_for_login: bool,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO login_failures (login, client_ip, failed_at, counts_for_login) VALUES ($1, $2, $3, $4)",
        args![login, client_ip, failed_at_us, counts_for_login],
    )
    .await?;
    Ok(())
}

/// Failures of `login` after `since_us` that still count against it.
pub async fn count_for_login(tx: &mut Tx, login: &str, since_us: i64) -> Result<i64, StoreError> {
    let row: CountRow = tx
        .fetch_one(
            "SELECT COUNT(*) AS n FROM login_failures WHERE login = $1 AND failed_at > $2 AND counts_for_login",
            args![login, since_us],
        )
        .await?;
    Ok(row.n)
}

/// The instant of the `nth` newest failure (1 = the newest) from `client_ip` after `since_us`, if there are that
/// many: when it leaves the window, the client is below `nth` failures again.
pub async fn nth_newest_for_client(
    tx: &mut Tx,
    client_ip: &str,
    since_us: i64,
    nth: i64,
) -> Result<Option<i64>, StoreError> {
    let row: Option<InstantRow> = tx
        .fetch_optional(
            "SELECT failed_at AS at FROM login_failures WHERE client_ip = $1 AND failed_at > $2
             ORDER BY failed_at DESC LIMIT 1 OFFSET $3",
            args![client_ip, since_us, nth - 1],
        )
        .await?;
    Ok(row.map(|r| r.at))
}

/// Stops every recorded failure of `login` from counting against it (a successful login, a lock, an unlock).
pub async fn clear_for_login(tx: &mut Tx, login: &str) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE login_failures SET counts_for_login = FALSE WHERE login = $1 AND counts_for_login",
        args![login],
    )
    .await?;
    Ok(())
}

/// Forgets failures at or before `before_us` and locks that ended by then, so neither table grows without bound.
pub async fn delete_before(tx: &mut Tx, before_us: i64) -> Result<(), StoreError> {
    tx.execute("DELETE FROM login_failures WHERE failed_at <= $1", args![before_us])
        .await?;
    tx.execute("DELETE FROM login_lockouts WHERE locked_until <= $1", args![before_us])
        .await?;
    Ok(())
}

/// The end of the lock on `login`, if it is locked after `now_us`.
pub async fn locked_until(tx: &mut Tx, login: &str, now_us: i64) -> Result<Option<i64>, StoreError> {
    let row: Option<InstantRow> = tx
        .fetch_optional(
            "SELECT locked_until AS at FROM login_lockouts WHERE login = $1 AND locked_until > $2",
            args![login, now_us],
        )
        .await?;
    Ok(row.map(|r| r.at))
}

pub async fn lock(tx: &mut Tx, login: &str, until_us: i64) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO login_lockouts (login, locked_until) VALUES ($1, $2)
         ON CONFLICT (login) DO UPDATE SET locked_until = excluded.locked_until",
        args![login, until_us],
    )
    .await?;
    Ok(())
}

/// Lifts the lock on `login`; answers whether there was one.
pub async fn unlock(tx: &mut Tx, login: &str) -> Result<bool, StoreError> {
    Ok(tx
        .execute("DELETE FROM login_lockouts WHERE login = $1", args![login])
        .await?
        > 0)
}
