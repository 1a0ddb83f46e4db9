//! Users and API tokens. Passwords are hashed with argon2; tokens are random and stored as SHA-256 hashes,
//! so a leaked database does not leak usable credentials.

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, SaltString};
use classbill_store::{instants, users};
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

fn hash_password(password: &str) -> EngineResult<String> {
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
        let login = login.trim();
        if login.is_empty() || login.chars().count() > 100 || login.chars().any(char::is_control) {
            return Err(EngineError::invalid(
                "login",
                "invalid_length",
                "must be 1 to 100 characters",
            ));
        }
        if password.chars().count() < 8 {
            return Err(EngineError::invalid(
                "password",
                "too_short",
                "must be at least 8 characters",
            ));
        }
        let hash = hash_password(password)?;
        let mut tx = self.store.write().await?;
        let (role_name, reseller_id) = match role {
            NewUserRole::Administrator => ("admin", None),
            NewUserRole::Reseller(id) => {
                let party = classbill_store::parties::get(&mut tx, id).await?;
                if party.is_none_or(|p| p.kind != "reseller") {
                    return Err(EngineError::invalid(
                        "reseller_id",
                        "not_found",
                        format!("reseller {id} not found"),
                    ));
                }
                ("reseller", Some(id))
            }
        };
        if users::by_login(&mut tx, login).await?.is_some() {
            return Err(EngineError::Conflict {
                code: "login_taken".into(),
                message: format!("a user with login {login} already exists"),
                errors: vec![classbill_domain::FieldError::new(
                    "login",
                    "login_taken",
                    format!("a user with login {login} already exists"),
                )],
            });
        }
        let id = users::insert(&mut tx, login, &hash, role_name, reseller_id, instants::to_micros(now)).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Issues a new API token for a user and answers it; only its hash is kept.
    pub async fn create_token(&self, login: &str, now: Timestamp) -> EngineResult<String> {
        let mut raw = [0u8; 32];
        getrandom::fill(&mut raw).map_err(|e| EngineError::forbidden(format!("no randomness available: {e}")))?;
        let token = format!("{TOKEN_PREFIX}{}", hex::encode(raw));
        let mut tx = self.store.write().await?;
        let user = users::by_login(&mut tx, login)
            .await?
            .filter(|u| !u.disabled)
            .ok_or_else(|| EngineError::NotFound(format!("user {login} not found")))?;
        users::insert_token(&mut tx, user.id, &token_hash(&token), instants::to_micros(now)).await?;
        tx.commit().await?;
        Ok(token)
    }

    /// The actor behind a bearer token. The lookup is by hash, so no comparison of secrets happens here.
    pub async fn authenticate_token(&self, token: &str) -> EngineResult<Actor> {
        if !token.starts_with(TOKEN_PREFIX) {
            return Err(EngineError::Unauthenticated);
        }
        let mut tx = self.store.read().await?;
        let user = users::by_token_hash(&mut tx, &token_hash(token))
            .await?
            .ok_or(EngineError::Unauthenticated)?;
        actor_of(user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use argon2::password_hash::{PasswordHash, PasswordVerifier};

    #[test]
    fn password_hash_verifies_only_the_same_password() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        let parsed = PasswordHash::new(&hash).unwrap();
        assert!(Argon2::default().verify_password(b"correct horse", &parsed).is_ok());
        assert!(Argon2::default().verify_password(b"correct hors", &parsed).is_err());
    }

    #[test]
    fn token_hash_is_sha256_hex() {
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
