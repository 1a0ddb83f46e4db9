//! Limits on password guessing. Every failed password login is stored with its login and client address, so
//! the limits hold across restarts and across several server processes:
//!
//! - a login with [`LOGIN_FAILURES_BEFORE_LOCK`] failures within [`LOGIN_WINDOW`] is locked for [`LOGIN_LOCK`];
//!   while locked even the right password is refused. Logins that do not exist are counted and locked exactly
//!   like real ones, so the answers never tell which logins exist;
//! - a client address with [`CLIENT_FAILURES_PER_WINDOW`] failures within [`LOGIN_WINDOW`] is refused before any
//!   password is checked, until the oldest of those failures leaves the window.
//!
//! A successful login clears its login's count; an administrator can lift a lock early.

use classbill_store::{instants, login_failures, users};
use jiff::{SignedDuration, Timestamp};
use serde_json::json;

use crate::Engine;
use crate::actor::{Actor, Role};
use crate::audit::{self, Change};
use crate::error::{EngineError, EngineResult};

/// Failures of one login within [`LOGIN_WINDOW`] that lock it.
pub const LOGIN_FAILURES_BEFORE_LOCK: i64 = 5;
/// Failures from one client address within [`LOGIN_WINDOW`] after which it is refused for a while.
pub const CLIENT_FAILURES_PER_WINDOW: i64 = 20;
/// How far back failures count.
pub const LOGIN_WINDOW: SignedDuration = SignedDuration::from_mins(15);
/// How long a locked login stays locked.
pub const LOGIN_LOCK: SignedDuration = SignedDuration::from_mins(15);

/// Logins are at most 100 characters; the key of a longer one is cut there, so typing a huge login stores no
/// huge row.
const LOGIN_KEY_CHARS: usize = 100;

/// The outcome of a password login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordLogin {
    SignedIn(Actor),
    /// Wrong login or password (or a disabled user); the answer does not say which.
    Refused,
    /// The login is locked until `until`, whatever the password.
    Locked {
        until: Timestamp,
    },
    /// Too many failures from this client address; it may try again after `retry_after`.
    Throttled {
        retry_after: SignedDuration,
    },
}

fn login_key(login: &str) -> String {
    login.trim().chars().take(LOGIN_KEY_CHARS).collect()
}

impl Engine {
    /// Checks a login and password from `client` (its address) at `now`, within the limits of this module.
    pub async fn password_login(
        &self,
        login: &str,
        password: &str,
        client: &str,
        now: Timestamp,
    ) -> EngineResult<PasswordLogin> {
        let key = login_key(login);
        let now_us = instants::to_micros(now);
        let since_us = instants::to_micros(now - LOGIN_WINDOW);
        {
            let mut tx = self.store.write().await?;
            let nth =
                login_failures::nth_newest_for_client(&mut tx, client, since_us, CLIENT_FAILURES_PER_WINDOW).await?;
            if let Some(oldest_counted_us) = nth {
                let free_at = instants::from_micros(oldest_counted_us)? + LOGIN_WINDOW;
                let retry_after = free_at.duration_since(now).max(SignedDuration::from_secs(1));
                return Ok(PasswordLogin::Throttled { retry_after });
            }
            if let Some(until_us) = login_failures::locked_until(&mut tx, &key, now_us).await? {
                login_failures::record(&mut tx, &key, client, now_us, false).await?;
                tx.commit().await?;
                return Ok(PasswordLogin::Locked {
                    until: instants::from_micros(until_us)?,
                });
            }
        }
        // The password is checked outside any transaction: hashing is slow and must not hold the write lock.
        match self.authenticate_password(&key, password).await {
            Ok(actor) => {
                let mut tx = self.store.write().await?;
                login_failures::clear_for_login(&mut tx, &key).await?;
                tx.commit().await?;
                Ok(PasswordLogin::SignedIn(actor))
            }
            Err(EngineError::Unauthenticated) => self.record_failure(&key, client, now).await,
            Err(e) => Err(e),
        }
    }

    /// Stores a failed attempt and locks the login when it reaches the limit; the lock is audited.
    async fn record_failure(&self, key: &str, client: &str, now: Timestamp) -> EngineResult<PasswordLogin> {
        let now_us = instants::to_micros(now);
        let since_us = instants::to_micros(now - LOGIN_WINDOW);
        let mut tx = self.store.write().await?;
        login_failures::delete_before(&mut tx, since_us).await?;
        login_failures::record(&mut tx, key, client, now_us, true).await?;
        if login_failures::count_for_login(&mut tx, key, since_us).await? < LOGIN_FAILURES_BEFORE_LOCK {
            tx.commit().await?;
            return Ok(PasswordLogin::Refused);
        }
        let until = now + LOGIN_LOCK;
        login_failures::lock(&mut tx, key, instants::to_micros(until)).await?;
        login_failures::clear_for_login(&mut tx, key).await?;
        let user = users::by_login(&mut tx, key).await?;
        audit::record(
            &mut tx,
            &Actor::system(),
            now,
            Change {
                action: "lock_out",
                object_type: "login",
                object_id: key.to_owned(),
                owner_reseller_id: user.as_ref().and_then(|u| u.reseller_id),
                details: json!({
                    "login": key,
                    "user_id": user.as_ref().map(|u| u.id),
                    "client_ip": client,
                    "failures": LOGIN_FAILURES_BEFORE_LOCK,
                    "locked_until": until.to_string(),
                }),
            },
        )
        .await?;
        tx.commit().await?;
        tracing::warn!(login = key, client, %until, "login locked after repeated failures");
        Ok(PasswordLogin::Locked { until })
    }

    /// `POST /users/{id}/unlock`: lifts a lock-out of the user's login at once and clears its failure count.
    /// Administrators only; a reseller user seeing the user is refused, one not seeing it gets 404.
    pub async fn unlock_user(&self, actor: &Actor, id: i64, now: Timestamp) -> EngineResult<()> {
        let mut tx = self.store.write().await?;
        let user = crate::users::visible_user(&mut tx, actor, id).await?;
        if actor.role != Role::Administrator {
            return Err(EngineError::forbidden("only administrators unlock users"));
        }
        let was_locked = login_failures::unlock(&mut tx, &user.login).await?;
        login_failures::clear_for_login(&mut tx, &user.login).await?;
        audit::record(
            &mut tx,
            actor,
            now,
            Change {
                action: "unlock",
                object_type: "user",
                object_id: id.to_string(),
                owner_reseller_id: user.reseller_id,
                details: json!({"login": user.login, "was_locked": was_locked}),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
