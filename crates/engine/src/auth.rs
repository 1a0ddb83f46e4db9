//! Users and API tokens. Passwords are hashed with argon2; tokens are random and stored as SHA-256 hashes,
//! so a leaked database does not leak usable credentials.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use classbill_store::{instants, users, web_sessions};
use jiff::Timestamp;
use sha2::{Digest, Sha256};

use crate::Engine;
use crate::actor::{Actor, Role};
use crate::error::{EngineError, EngineResult};

const TOKEN_PREFIX: &str = "cb_";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewUserRole {
    Administrator,
    Reseller(i64),
}

pub(crate) fn hash_password(password: &str) -> EngineResult<String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| EngineError::forbidden(format!("no randomness available: {e}")))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| EngineError::invalid("password", "invalid", e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| EngineError::invalid("password", "invalid", e.to_string()))
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn actor_of(user: users::UserRow) -> EngineResult<Actor> {
    let role = match (user.role.as_str(), user.reseller_id) {
        ("admin", _) => Role::Administrator,
        ("reseller", Some(id)) => Role::Reseller(id),
        _ => {
            return Err(EngineError::Store(classbill_store::StoreError::Corrupt(format!(
                "user {} has role {} without a reseller",
                user.id, user.role
            ))));
        }
    };
    Ok(Actor {
        user_id: user.id,
        login: user.login,
        role,
    })
}

impl Engine {
    /// Creates a user; a reseller user must name an existing reseller.
    pub async fn add_user(&self, login: &str, password: &str, role: NewUserRole, now: Timestamp) -> EngineResult<i64> {
        let (login, hash) = crate::users::checked_credentials(login, password)?;
        let mut tx = self.store.write().await?;
        let id = crate::users::insert_user(&mut tx, &login, &hash, role, now).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Issues a new API token for a user and answers it; only its hash is kept.
    pub async fn create_token(&self, login: &str, now: Timestamp) -> EngineResult<String> {
        let token = format!("{TOKEN_PREFIX}{}", random_hex()?);
        let mut tx = self.store.write().await?;
        let user = users::by_login(&mut tx, login)
            .await?
            .filter(|u| !u.disabled)
            .ok_or_else(|| EngineError::NotFound(format!("user {login} not found")))?;
        users::insert_token(&mut tx, user.id, &token_hash(&token), instants::to_micros(now)).await?;
        tx.commit().await?;
        Ok(token)
    }

    /// The actor behind a bearer token. The lookup is by hash, so no comparison of secrets happens here. A
    /// token verified less than [`TOKEN_CACHE_TTL`] ago is answered from memory (see [`TokenCache`]).
    pub async fn authenticate_token(&self, token: &str) -> EngineResult<Actor> {
        if !token.starts_with(TOKEN_PREFIX) {
            return Err(EngineError::Unauthenticated);
        }
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let checked_at = Instant::now();
        let generation = match self.tokens.get(&hash, checked_at) {
            Ok(actor) => return Ok(actor),
            Err(generation) => generation,
        };
        let mut tx = self.store.read().await?;
        let user = users::by_token_hash(&mut tx, &hex::encode(hash))
            .await?
            .ok_or(EngineError::Unauthenticated)?;
        drop(tx);
        let actor = actor_of(user)?;
        self.tokens.put(hash, actor.clone(), generation, checked_at);
        Ok(actor)
    }

    /// Makes every token be checked against the database again at its next use. Called after a commit that
    /// revokes a token or changes what a token's user may do, so the change holds from the next request on.
    pub(crate) fn forget_verified_tokens(&self) {
        self.tokens.forget_all();
    }
}

/// How long a verified bearer token is trusted without asking the database again. Revocations and user changes
/// made through this process take effect at once ([`Engine::forget_verified_tokens`]); those made by another
/// process sharing the database (a second `serve`) take effect within this time.
pub const TOKEN_CACHE_TTL: Duration = Duration::from_secs(3);

/// Verified tokens kept at most; when full, expired entries are dropped, and if none had expired, all of them.
const TOKEN_CACHE_CAPACITY: usize = 4096;

/// Bearer tokens verified recently, by the SHA-256 of the token (the token itself is not kept). Every API
/// request authenticates, and asking the database each time cost a second transaction beside the request's own
/// read. Only tokens that passed the check are kept, so unknown tokens cannot fill the cache.
#[derive(Debug, Default)]
pub(crate) struct TokenCache {
    state: Mutex<TokenCacheState>,
}

#[derive(Debug, Default)]
struct TokenCacheState {
    /// Raised by every [`TokenCache::forget_all`]: a lookup that started before a revocation must not put
    /// back the answer it read before the revocation committed.
    generation: u64,
    verified: HashMap<[u8; 32], (Actor, Instant)>,
}

impl TokenCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, TokenCacheState> {
        // The state stays consistent even if a holder panicked: every change is a single insert or clear.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The actor of a token verified within [`TOKEN_CACHE_TTL`] before `now`, or the generation to hand to
    /// [`TokenCache::put`] after asking the database.
    fn get(&self, hash: &[u8; 32], now: Instant) -> Result<Actor, u64> {
        let state = self.lock();
        match state.verified.get(hash) {
            Some((actor, verified_at)) if now.saturating_duration_since(*verified_at) < TOKEN_CACHE_TTL => {
                Ok(actor.clone())
            }
            _ => Err(state.generation),
        }
    }

    /// Keeps a token the database confirmed at `verified_at`, unless tokens were forgotten since `generation`.
    fn put(&self, hash: [u8; 32], actor: Actor, generation: u64, verified_at: Instant) {
        let mut state = self.lock();
        if state.generation != generation {
            return;
        }
        if state.verified.len() >= TOKEN_CACHE_CAPACITY {
            state
                .verified
                .retain(|_, (_, at)| verified_at.saturating_duration_since(*at) < TOKEN_CACHE_TTL);
            if state.verified.len() >= TOKEN_CACHE_CAPACITY {
                state.verified.clear();
            }
        }
        state.verified.insert(hash, (actor, verified_at));
    }

    fn forget_all(&self) {
        let mut state = self.lock();
        state.generation += 1;
        state.verified.clear();
    }
}

/// How long a web session lives after login.
pub const WEB_SESSION_HOURS: i64 = 12;

/// A web session just opened: the id goes into the cookie (only its hash is stored), the CSRF token into forms.
#[derive(Debug, Clone)]
pub struct WebSession {
    pub id: String,
    pub csrf_token: String,
}

/// Verified against when a login is unknown.
static UNKNOWN_LOGIN_HASH: LazyLock<Option<String>> = LazyLock::new(|| hash_password("no such user").ok());

/// A pre-session for the login form: a random id for a cookie, before anyone has signed in.
pub fn new_login_form_id() -> EngineResult<String> {
    random_hex()
}

/// The CSRF token of the login form, bound to its pre-session cookie: a page on another site can neither read
/// the cookie nor compute the token, so it cannot sign a browser in under the attacker's account. Derived
/// instead of stored, so showing the login page writes nothing and works on every server process.
pub fn login_form_token(login_form_id: &str) -> String {
    token_hash(&format!("classbill login form\n{login_form_id}"))
}

pub(crate) fn random_hex() -> EngineResult<String> {
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw).map_err(|e| EngineError::forbidden(format!("no randomness available: {e}")))?;
    Ok(hex::encode(raw))
}

impl Engine {
    /// The actor behind a login and password; a wrong password and an unknown or disabled login look alike.
    /// This is the bare check: sign-ins from outside go through [`Engine::password_login`], which adds the
    /// limits on guessing.
    pub async fn authenticate_password(&self, login: &str, password: &str) -> EngineResult<Actor> {
        let mut tx = self.store.read().await?;
        let user = users::by_login(&mut tx, login.trim()).await?;
        drop(tx);
        let Some(user) = user.filter(|u| !u.disabled) else {
            // Spend the time a wrong password costs, so the answer does not tell which logins exist.
            if let Some(Ok(parsed)) = UNKNOWN_LOGIN_HASH.as_deref().map(PasswordHash::new) {
                let _ = Argon2::default().verify_password(password.as_bytes(), &parsed);
            }
            return Err(EngineError::Unauthenticated);
        };
        let parsed = PasswordHash::new(&user.password_hash)
            .map_err(|e| classbill_store::StoreError::Corrupt(format!("password hash of user {}: {e}", user.id)))?;
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .map_err(|_| EngineError::Unauthenticated)?;
        actor_of(user)
    }

    /// Opens a web session for `actor`, valid for [`WEB_SESSION_HOURS`]; drops sessions that have expired.
    pub async fn open_web_session(&self, actor: &Actor, now: Timestamp) -> EngineResult<WebSession> {
        let session = WebSession {
            id: random_hex()?,
            csrf_token: random_hex()?,
        };
        let now_us = instants::to_micros(now);
        let expires_us = now_us + WEB_SESSION_HOURS * 3_600_000_000;
        let mut tx = self.store.write().await?;
        web_sessions::delete_expired(&mut tx, now_us).await?;
        web_sessions::insert(
            &mut tx,
            &token_hash(&session.id),
            actor.user_id,
            &session.csrf_token,
            now_us,
            expires_us,
        )
        .await?;
        tx.commit().await?;
        Ok(session)
    }

    /// The actor and CSRF token of a live web session; `Unauthenticated` when it is unknown or expired.
    pub async fn web_session(&self, session_id: &str, now: Timestamp) -> EngineResult<(Actor, String)> {
        let mut tx = self.store.read().await?;
        let row = web_sessions::live(&mut tx, &token_hash(session_id), instants::to_micros(now))
            .await?
            .ok_or(EngineError::Unauthenticated)?;
        Ok((actor_of(row.user)?, row.csrf_token))
    }

    pub async fn close_web_session(&self, session_id: &str) -> EngineResult<()> {
        let mut tx = self.store.write().await?;
        web_sessions::delete(&mut tx, &token_hash(session_id)).await?;
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_hash_verifies_only_the_same_password() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        let parsed = PasswordHash::new(&hash).unwrap();
        assert!(Argon2::default().verify_password(b"correct horse", &parsed).is_ok());
        assert!(Argon2::default().verify_password(b"correct hors", &parsed).is_err());
    }

    fn admin(user_id: i64) -> Actor {
        Actor {
            user_id,
            login: format!("user{user_id}"),
            role: Role::Administrator,
        }
    }

    #[test]
    fn a_verified_token_is_trusted_for_the_ttl_only() {
        let cache = TokenCache::default();
        let start = Instant::now();
        let generation = cache.get(&[1; 32], start).expect_err("nothing verified yet");
        cache.put([1; 32], admin(1), generation, start);
        assert_eq!(cache.get(&[1; 32], start + Duration::from_millis(10)), Ok(admin(1)));
        assert!(cache.get(&[2; 32], start).is_err(), "another token is not trusted");
        assert!(cache.get(&[1; 32], start + TOKEN_CACHE_TTL).is_err(), "expired");
    }

    #[test]
    fn forgetting_drops_verified_tokens_and_refuses_answers_read_before() {
        let cache = TokenCache::default();
        let now = Instant::now();
        let before = cache.get(&[1; 32], now).expect_err("nothing verified yet");
        cache.put([1; 32], admin(1), before, now);
        cache.forget_all();
        assert!(cache.get(&[1; 32], now).is_err(), "forgotten");
        // A lookup that read the database before the revocation committed must not put its answer back.
        cache.put([1; 32], admin(1), before, now);
        assert!(cache.get(&[1; 32], now).is_err(), "stale answer refused");
        let after = cache.get(&[1; 32], now).expect_err("still unknown");
        cache.put([1; 32], admin(1), after, now);
        assert_eq!(cache.get(&[1; 32], now), Ok(admin(1)));
    }

    #[test]
    fn a_full_cache_makes_room() {
        let cache = TokenCache::default();
        let now = Instant::now();
        for n in 0..=TOKEN_CACHE_CAPACITY {
            let mut hash = [0u8; 32];
            hash[..8].copy_from_slice(&(n as u64).to_le_bytes());
            cache.put(hash, admin(1), 0, now);
        }
        assert!(cache.lock().verified.len() <= TOKEN_CACHE_CAPACITY);
    }

    #[test]
    fn token_hash_is_sha256_hex() {
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
