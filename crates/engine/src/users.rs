//! Managing users and their API tokens (`/users`): administrators manage everyone, a reseller user the users
//! of its own reseller only. Every change is audited; disabling a user or revoking a token takes effect at the
//! next request, since every request looks its token or session up again.

use classbill_domain::FieldError;
use classbill_store::users::{self, TokenRow, UserRow};
use classbill_store::{Tx, instants};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::Engine;
use crate::actor::{Actor, Role};
use crate::audit::{self, Change};
use crate::auth::{NewUserRole, hash_password, random_hex};
use crate::error::{EngineError, EngineResult};
use crate::page::{Page, PageRequest};

/// A user as the API shows it; never its password hash.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserView {
    pub id: i64,
    pub login: String,
    /// `admin` or `reseller`.
    pub role: String,
    /// The reseller a reseller user acts for.
    pub reseller_id: Option<i64>,
    /// May read personal-data custom-field values.
    pub personal_data_access: bool,
    pub disabled: bool,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// Only in the answer to a creation without a password, or to a password reset: shown this once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

impl UserView {
    fn from_row(row: UserRow) -> EngineResult<Self> {
        Ok(UserView {
            id: row.id,
            login: row.login,
            role: row.role,
            reseller_id: row.reseller_id,
            personal_data_access: row.personal_data_access,
            disabled: row.disabled,
            created_at: instants::from_micros(row.created_at)?,
            password: None,
        })
    }
}

/// `POST /users` body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub login: String,
    /// At least 8 characters; absent = the server chooses one and answers it once.
    pub password: Option<String>,
    /// `admin` or `reseller`; reseller users can create reseller users only.
    pub role: String,
    /// Required for `reseller` (a reseller user's own reseller by default).
    pub reseller_id: Option<i64>,
    #[serde(default)]
    pub personal_data_access: bool,
}

/// `PATCH /users/{id}` body: the fields to change.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    pub disabled: Option<bool>,
    /// `admin` or `reseller`; administrators only.
    pub role: Option<String>,
    /// The reseller of a `reseller` user; administrators only.
    pub reseller_id: Option<i64>,
    pub personal_data_access: Option<bool>,
}

/// An API token as listed: never its value.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TokenView {
    pub id: i64,
    pub user_id: i64,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// Set once revoked; a revoked token authenticates no request.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<Timestamp>,
}

impl TokenView {
    fn from_row(row: TokenRow) -> EngineResult<Self> {
        Ok(TokenView {
            id: row.id,
            user_id: row.user_id,
            created_at: instants::from_micros(row.created_at)?,
            revoked_at: row.revoked_at.map(instants::from_micros).transpose()?,
        })
    }
}

/// The login trimmed and the password's argon2 hash, checked before any transaction opens (hashing is slow).
pub(crate) fn checked_credentials(login: &str, password: &str) -> EngineResult<(String, String)> {
    let login = login.trim();
    let mut errors = Vec::new();
    if login.is_empty() || login.chars().count() > 100 || login.chars().any(char::is_control) {
        errors.push(FieldError::new(
            "login",
            "invalid_length",
            "must be 1 to 100 characters",
        ));
    }
    if password.chars().count() < 8 {
        errors.push(FieldError::new(
            "password",
            "too_short",
            "must be at least 8 characters",
        ));
    }
    if !errors.is_empty() {
        return Err(EngineError::Invalid(errors));
    }
    Ok((login.to_owned(), hash_password(password)?))
}

/// Stores a new user: a reseller user must name an existing reseller, and logins are unique.
pub(crate) async fn insert_user(
    tx: &mut Tx,
    login: &str,
    password_hash: &str,
    role: NewUserRole,
    now: Timestamp,
) -> EngineResult<i64> {
    let (role_name, reseller_id) = match role {
        NewUserRole::Administrator => ("admin", None),
        NewUserRole::Reseller(id) => {
            check_reseller(tx, id).await?;
            ("reseller", Some(id))
        }
    };
    if users::by_login(tx, login).await?.is_some() {
        let message = format!("a user with login {login} already exists");
        return Err(EngineError::Conflict {
            code: "login_taken".into(),
            message: message.clone(),
            errors: vec![FieldError::new("login", "login_taken", message)],
        });
    }
    Ok(users::insert(
        tx,
        login,
        password_hash,
        role_name,
        reseller_id,
        instants::to_micros(now),
    )
    .await?)
}

async fn check_reseller(tx: &mut Tx, id: i64) -> EngineResult<()> {
    let party = classbill_store::parties::get(tx, id).await?;
    if party.is_none_or(|p| p.kind != "reseller") {
        return Err(EngineError::invalid(
            "reseller_id",
            "not_found",
            format!("reseller {id} not found"),
        ));
    }
    Ok(())
}

/// A password the server chooses: 128 random bits as 32 hex digits.
fn random_password() -> EngineResult<String> {
    Ok(random_hex()?[..32].to_owned())
}

fn forbidden(field: &str, message: &str) -> EngineError {
    EngineError::Forbidden {
        message: message.to_owned(),
        errors: vec![FieldError::new(field, "forbidden", message)],
    }
}

/// The role a body asks for, resolved against what the actor may create or assign.
fn requested_role(actor: &Actor, role: &str, reseller_id: Option<i64>) -> EngineResult<NewUserRole> {
    match (role, actor.role) {
        ("admin", Role::Administrator) if reseller_id.is_some() => Err(EngineError::invalid(
            "reseller_id",
            "not_allowed",
            "administrators are not bound to a reseller",
        )),
        ("admin", Role::Administrator) => Ok(NewUserRole::Administrator),
        ("admin", Role::Reseller(_)) => Err(forbidden("role", "reseller users cannot manage administrators")),
        ("reseller", Role::Administrator) => reseller_id
            .map(NewUserRole::Reseller)
            .ok_or_else(|| EngineError::invalid("reseller_id", "required", "required for reseller users")),
        ("reseller", Role::Reseller(own)) => match reseller_id {
            None => Ok(NewUserRole::Reseller(own)),
            Some(id) if id == own => Ok(NewUserRole::Reseller(own)),
            Some(_) => Err(forbidden(
                "reseller_id",
                "reseller users manage their own reseller's users only",
            )),
        },
        _ => Err(EngineError::invalid("role", "invalid", "must be admin or reseller")),
    }
}

/// Users the actor may see: everyone for administrators, its reseller's users for a reseller user.
fn visible(actor: &Actor, user: &UserRow) -> bool {
    match actor.role {
        Role::Administrator => true,
        Role::Reseller(own) => user.role == "reseller" && user.reseller_id == Some(own),
    }
}

pub(crate) async fn visible_user(tx: &mut Tx, actor: &Actor, id: i64) -> EngineResult<UserRow> {
    users::get(tx, id)
        .await?
        .filter(|user| visible(actor, user))
        .ok_or_else(|| EngineError::NotFound(format!("user {id} not found")))
}

/// Granting personal-data access takes holding it (administrators always may).
async fn may_grant_personal_data(tx: &mut Tx, actor: &Actor) -> EngineResult<bool> {
    Ok(actor.is_administrator() || users::personal_data_access(tx, actor.user_id).await?)
}

fn details_of(user: &UserRow) -> serde_json::Value {
    json!({
        "login": user.login,
        "role": user.role,
        "reseller_id": user.reseller_id,
        "personal_data_access": user.personal_data_access,
        "disabled": user.disabled,
    })
}

impl Engine {
    /// `GET /users`, in id order.
    pub async fn list_users(&self, actor: &Actor, page: PageRequest) -> EngineResult<Page<UserView>> {
        let reseller = match actor.role {
            Role::Administrator => None,
            Role::Reseller(own) => Some(own),
        };
        let mut tx = self.store.read().await?;
        let rows = users::list(&mut tx, reseller, page.cursor_id()?, page.limit + 1).await?;
        let views = rows
            .into_iter()
            .map(UserView::from_row)
            .collect::<EngineResult<Vec<_>>>()?;
        Ok(Page::from_rows(views, page.limit, |v| v.id.to_string()))
    }

    /// `GET /users/{id}`.
    pub async fn get_user(&self, actor: &Actor, id: i64) -> EngineResult<UserView> {
        let mut tx = self.store.read().await?;
        UserView::from_row(visible_user(&mut tx, actor, id).await?)
    }

    /// `POST /users`: without a password the server chooses one and answers it this once.
    pub async fn create_user(&self, actor: &Actor, body: NewUser, now: Timestamp) -> EngineResult<UserView> {
        let role = requested_role(actor, &body.role, body.reseller_id)?;
        let chosen = match body.password {
            Some(_) => None,
            None => Some(random_password()?),
        };
        let password = body.password.as_deref().or(chosen.as_deref()).unwrap_or_default();
        let (login, hash) = checked_credentials(&body.login, password)?;
        let mut tx = self.store.write().await?;
        if body.personal_data_access && !may_grant_personal_data(&mut tx, actor).await? {
            return Err(forbidden(
                "personal_data_access",
                "only a user with personal-data access may grant it",
            ));
        }
        let id = insert_user(&mut tx, &login, &hash, role, now).await?;
        let mut row = users::get(&mut tx, id)
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("user {id} not found")))?;
        if body.personal_data_access {
            row.personal_data_access = true;
            users::update(&mut tx, &row).await?;
        }
        audit::record(
            &mut tx,
            actor,
            now,
            Change {
                action: "create",
                object_type: "user",
                object_id: id.to_string(),
                owner_reseller_id: row.reseller_id,
                details: details_of(&row),
            },
        )
        .await?;
        tx.commit().await?;
        let mut view = UserView::from_row(row)?;
        view.password = chosen;
        Ok(view)
    }

    /// `PATCH /users/{id}`: disable or enable, change the role or personal-data access. Nobody changes their
    /// own role, access or disabled flag, so an installation cannot lock out the user fixing it.
    pub async fn patch_user(&self, actor: &Actor, id: i64, patch: UserPatch, now: Timestamp) -> EngineResult<UserView> {
        let mut tx = self.store.write().await?;
        let before = visible_user(&mut tx, actor, id).await?;
        let mut user = before.clone();
        if id == actor.user_id {
            let field = [
                ("disabled", patch.disabled.is_some_and(|d| d != user.disabled)),
                (
                    "role",
                    patch.role.as_ref().is_some_and(|r| *r != user.role)
                        || patch.reseller_id.is_some_and(|r| Some(r) != user.reseller_id),
                ),
                (
                    "personal_data_access",
                    patch
                        .personal_data_access
                        .is_some_and(|p| p != user.personal_data_access),
                ),
            ]
            .into_iter()
            .find_map(|(field, changed)| changed.then_some(field));
            if let Some(field) = field {
                return Err(EngineError::invalid(
                    field,
                    "own_account",
                    "cannot be changed on one's own account",
                ));
            }
        }
        if patch.role.is_some() || patch.reseller_id.is_some() {
            let role_name = patch.role.clone().unwrap_or_else(|| user.role.clone());
            let reseller_id = match role_name.as_str() {
                "reseller" => patch.reseller_id.or(user.reseller_id),
                _ => patch.reseller_id,
            };
            match requested_role(actor, &role_name, reseller_id)? {
                NewUserRole::Administrator => {
                    user.role = "admin".to_owned();
                    user.reseller_id = None;
                }
                NewUserRole::Reseller(reseller) => {
                    check_reseller(&mut tx, reseller).await?;
                    user.role = "reseller".to_owned();
                    user.reseller_id = Some(reseller);
                }
            }
        }
        if let Some(access) = patch.personal_data_access {
            if access && !user.personal_data_access && !may_grant_personal_data(&mut tx, actor).await? {
                return Err(forbidden(
                    "personal_data_access",
                    "only a user with personal-data access may grant it",
                ));
            }
            user.personal_data_access = access;
        }
        if let Some(disabled) = patch.disabled {
            user.disabled = disabled;
        }
        if before.role != user.role || before.reseller_id != user.reseller_id || user.disabled {
            // A session carries the role it was opened with; make the user sign in again.
            users::end_web_sessions(&mut tx, id).await?;
        }
        users::update(&mut tx, &user).await?;
        audit::record(
            &mut tx,
            actor,
            now,
            Change {
                action: "update",
                object_type: "user",
                object_id: id.to_string(),
                owner_reseller_id: user.reseller_id.or(before.reseller_id),
                details: json!({"before": details_of(&before), "after": details_of(&user)}),
            },
        )
        .await?;
        tx.commit().await?;
        // A disabled user's tokens stop working, and a changed role applies, from the next request on.
        self.forget_verified_tokens();
        UserView::from_row(user)
    }

    /// `POST /users/{id}/reset-password`: a new random password, answered once; only its hash is stored, and
    /// the user's web sessions end.
    pub async fn reset_password(&self, actor: &Actor, id: i64, now: Timestamp) -> EngineResult<UserView> {
        let password = random_password()?;
        let hash = hash_password(&password)?;
        let mut tx = self.store.write().await?;
        let user = visible_user(&mut tx, actor, id).await?;
        users::set_password_hash(&mut tx, id, &hash).await?;
        users::end_web_sessions(&mut tx, id).await?;
        audit::record(
            &mut tx,
            actor,
            now,
            Change {
                action: "reset_password",
                object_type: "user",
                object_id: id.to_string(),
                owner_reseller_id: user.reseller_id,
                details: json!({"login": user.login}),
            },
        )
        .await?;
        tx.commit().await?;
        let mut view = UserView::from_row(user)?;
        view.password = Some(password);
        Ok(view)
    }

    /// `GET /users/{id}/tokens`: the user's tokens, revoked ones included, never their values.
    pub async fn list_tokens(&self, actor: &Actor, user_id: i64) -> EngineResult<Vec<TokenView>> {
        let mut tx = self.store.read().await?;
        visible_user(&mut tx, actor, user_id).await?;
        users::tokens_of(&mut tx, user_id)
            .await?
            .into_iter()
            .map(TokenView::from_row)
            .collect()
    }

    /// `DELETE /users/{id}/tokens/{token_id}`: revokes the token; revoking it again changes nothing.
    pub async fn revoke_token(&self, actor: &Actor, user_id: i64, token_id: i64, now: Timestamp) -> EngineResult<()> {
        let mut tx = self.store.write().await?;
        let user = visible_user(&mut tx, actor, user_id).await?;
        let token = users::token(&mut tx, token_id)
            .await?
            .filter(|t| t.user_id == user_id)
            .ok_or_else(|| EngineError::NotFound(format!("token {token_id} not found")))?;
        if users::revoke_token(&mut tx, token.id, instants::to_micros(now)).await? {
            audit::record(
                &mut tx,
                actor,
                now,
                Change {
                    action: "revoke_token",
                    object_type: "api_token",
                    object_id: token.id.to_string(),
                    owner_reseller_id: user.reseller_id,
                    details: json!({"user_id": user_id, "login": user.login}),
                },
            )
            .await?;
        }
        tx.commit().await?;
        self.forget_verified_tokens();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reseller_user(own: i64) -> Actor {
        Actor {
            user_id: 7,
            login: "r".into(),
            role: Role::Reseller(own),
        }
    }

    #[test]
    fn reseller_users_create_only_their_own_resellers_users() {
        let actor = reseller_user(5);
        assert_eq!(
            requested_role(&actor, "reseller", None).unwrap(),
            NewUserRole::Reseller(5)
        );
        assert_eq!(
            requested_role(&actor, "reseller", Some(5)).unwrap(),
            NewUserRole::Reseller(5)
        );
        assert!(matches!(
            requested_role(&actor, "reseller", Some(6)),
            Err(EngineError::Forbidden { .. })
        ));
        assert!(matches!(
            requested_role(&actor, "admin", None),
            Err(EngineError::Forbidden { .. })
        ));
        assert!(matches!(
            requested_role(&Actor::system(), "owner", None),
            Err(EngineError::Invalid(_))
        ));
    }

    #[test]
    fn server_chosen_passwords_are_long_enough() {
        let password = random_password().unwrap();
        assert_eq!(password.len(), 32);
        assert!(checked_credentials("someone", &password).is_ok());
    }
}
