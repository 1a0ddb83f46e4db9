//! Every change is recorded with who made it; the entry commits with the change.

use classbill_store::audit::{self, AuditRow, NewAuditEntry};
use classbill_store::{Tx, instants};
use jiff::Timestamp;
use serde::Serialize;

use crate::Engine;
use crate::actor::{Actor, Role};
use crate::error::EngineResult;
use crate::page::{Page, PageRequest};

pub(crate) struct Change<'a> {
    pub action: &'a str,
    pub object_type: &'a str,
    pub object_id: String,
    pub owner_reseller_id: Option<i64>,
    pub details: serde_json::Value,
}

pub(crate) async fn record(tx: &mut Tx, actor: &Actor, now: Timestamp, change: Change<'_>) -> EngineResult<()> {
    audit::record(
        tx,
        NewAuditEntry {
            at_us: instants::to_micros(now),
            user_id: actor.recorded_user_id(),
            actor_name: &actor.login,
            owner_reseller_id: change.owner_reseller_id,
            action: change.action,
            object_type: change.object_type,
            object_id: change.object_id,
            details: change.details,
        },
    )
    .await?;
    Ok(())
}

/// One audit entry as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    pub user_id: Option<i64>,
    pub actor: String,
    pub owner_reseller_id: Option<i64>,
    pub action: String,
    pub object_type: String,
    pub object_id: String,
    pub details: serde_json::Value,
}

impl AuditEntry {
    fn from_row(row: AuditRow) -> EngineResult<Self> {
        Ok(AuditEntry {
            id: row.id,
            at: instants::from_micros(row.at)?,
            user_id: row.user_id,
            actor: row.actor_name,
            owner_reseller_id: row.owner_reseller_id,
            action: row.action,
            object_type: row.object_type,
            object_id: row.object_id,
            details: serde_json::from_str(&row.details)?,
        })
    }
}

impl Engine {
    /// Administrators read the whole log; a reseller user reads its reseller's entries only.
    pub async fn audit_log(&self, actor: &Actor, page: PageRequest) -> EngineResult<Page<AuditEntry>> {
        let owner = match actor.role {
            Role::Administrator => None,
            Role::Reseller(id) => Some(Some(id)),
        };
        let before = page.cursor_id()?;
        let mut tx = self.store.read().await?;
        let rows = audit::list(&mut tx, owner, before, page.limit + 1).await?;
        let entries = rows
            .into_iter()
            .map(AuditEntry::from_row)
            .collect::<EngineResult<Vec<_>>>()?;
        Ok(Page::from_rows(entries, page.limit, |e| e.id.to_string()))
    }
}
