//! `/webhook-endpoints`: where an owner's webhook deliveries go, each signed with a secret of that owner.

use classbill_domain::{FieldError, Owner};
use classbill_store::{catalog, instants, parties, webhooks};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::actor::{Actor, Role};
use crate::audit::{self, Change};
use crate::error::{EngineError, EngineResult};
use crate::page::{Page, PageRequest};

/// A webhook endpoint as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct WebhookEndpointView {
    pub id: i64,
    pub owner: Owner,
    /// Where deliveries are POSTed (http or https).
    pub url: String,
    /// The name of the owner's secret (`PUT /secrets/{name}`) that signs deliveries.
    pub secret_ref: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

/// `POST /webhook-endpoints` body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhookEndpoint {
    pub url: String,
    pub secret_ref: String,
    /// Administrators may create endpoints for a reseller; default: the caller's owner.
    #[serde(default)]
    pub owner: Option<Owner>,
}

fn view_of(row: webhooks::EndpointRow) -> EngineResult<WebhookEndpointView> {
    Ok(WebhookEndpointView {
        id: row.id,
        owner: Owner::from_reseller_id(row.owner_reseller_id),
        url: row.url,
        secret_ref: row.secret_ref,
        created_at: instants::from_micros(row.created_at)?,
    })
}

/// An absolute http(s) URL with a host and without credentials (the secret signs; nothing rides in the URL).
fn check_url(url: &str, errors: &mut Vec<FieldError>) {
    let valid = reqwest::Url::parse(url).is_ok_and(|parsed| {
        matches!(parsed.scheme(), "http" | "https")
            && parsed.host_str().is_some_and(|host| !host.is_empty())
            && parsed.username().is_empty()
            && parsed.password().is_none()
    });
    if !valid || url.len() > 2048 {
        errors.push(FieldError::new(
            "url",
            "invalid",
            "must be an http or https URL without user name or password",
        ));
    }
}

impl crate::Engine {
    /// The caller's endpoints (administrators: everyone's), in id order.
    pub async fn list_webhook_endpoints(
        &self,
        actor: &Actor,
        page: PageRequest,
    ) -> EngineResult<Page<WebhookEndpointView>> {
        let owner = match actor.role {
            Role::Administrator => None,
            Role::Reseller(id) => Some(Some(id)),
        };
        let mut tx = self.store.read().await?;
        let rows = webhooks::list(&mut tx, owner, page.cursor_id()?, page.limit + 1).await?;
        let views = rows.into_iter().map(view_of).collect::<EngineResult<Vec<_>>>()?;
        Ok(Page::from_rows(views, page.limit, |v| v.id.to_string()))
    }

    /// Adds an endpoint; its `secret_ref` must name a stored secret of the same owner.
    pub async fn create_webhook_endpoint(
        &self,
        actor: &Actor,
        body: Value,
        now: Timestamp,
    ) -> EngineResult<WebhookEndpointView> {
        let request: NewWebhookEndpoint = crate::catalog::parse_json(body).map_err(EngineError::Invalid)?;
        let owner = match request.owner {
            Some(owner) if actor.is_administrator() || owner == actor.owner() => owner,
            Some(_) => {
                return Err(EngineError::invalid(
                    "owner",
                    "forbidden_owner",
                    "resellers can only create endpoints they own",
                ));
            }
            None => actor.owner(),
        };
        let mut errors = Vec::new();
        check_url(&request.url, &mut errors);
        let mut tx = self.store.write().await?;
        if let Owner::Reseller { reseller_id } = owner {
            let exists = parties::get(&mut tx, reseller_id)
                .await?
                .is_some_and(|p| p.kind == "reseller");
            if !exists {
                errors.push(FieldError::new(
                    "owner",
                    "not_found",
                    format!("reseller {reseller_id} not found"),
                ));
            }
        }
        let secrets = catalog::secret_names(&mut tx, owner.reseller_id()).await?;
        if !secrets.contains(&request.secret_ref) {
            errors.push(FieldError::new(
                "secret_ref",
                "not_found",
                format!(
                    "secret {:?} is not stored for this owner; store it with PUT /secrets/{{name}} first",
                    request.secret_ref
                ),
            ));
        }
        if !errors.is_empty() {
            return Err(EngineError::Invalid(errors));
        }
        let id = webhooks::insert(
            &mut tx,
            owner.reseller_id(),
            &request.url,
            &request.secret_ref,
            instants::to_micros(now),
        )
        .await?;
        audit::record(
            &mut tx,
            actor,
            now,
            Change {
                action: "create",
                object_type: "webhook_endpoint",
                object_id: id.to_string(),
                owner_reseller_id: owner.reseller_id(),
                details: json!({"url": request.url, "secret_ref": request.secret_ref}),
            },
        )
        .await?;
        let row = webhooks::get(&mut tx, id)
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("webhook endpoint {id} not found")))?;
        tx.commit().await?;
        view_of(row)
    }

    /// Removes an endpoint; messages already written for it fail as dead letters naming the deletion.
    pub async fn delete_webhook_endpoint(&self, actor: &Actor, id: i64, now: Timestamp) -> EngineResult<()> {
        let mut tx = self.store.write().await?;
        let row = webhooks::get(&mut tx, id)
            .await?
            .filter(|row| actor.sees(Owner::from_reseller_id(row.owner_reseller_id)))
            .ok_or_else(|| EngineError::NotFound(format!("webhook endpoint {id} not found")))?;
        webhooks::delete(&mut tx, id).await?;
        audit::record(
            &mut tx,
            actor,
            now,
            Change {
                action: "delete",
                object_type: "webhook_endpoint",
                object_id: id.to_string(),
                owner_reseller_id: row.owner_reseller_id,
                details: json!({"url": row.url, "secret_ref": row.secret_ref}),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
