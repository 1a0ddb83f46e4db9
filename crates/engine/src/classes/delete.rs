//! Deleting classes (§2.10, V34): never the Default class, never one with members.

use classbill_store::{Tx, classes};
use jiff::Timestamp;
use serde::Serialize;
use utoipa::ToSchema;

use super::{load_visible, view_of};
use crate::actor::Actor;
use crate::audit::{self, Change};
use crate::error::{EngineError, EngineResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeleteOutcomeKind {
    Deleted,
    InUse,
    ProtectedDefault,
    NotFound,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeleteOutcome {
    pub id: i64,
    pub outcome: DeleteOutcomeKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member_count: Option<i64>,
}

async fn delete_in(tx: &mut Tx, actor: &Actor, id: i64, now: Timestamp) -> EngineResult<DeleteOutcome> {
    let row = match load_visible(tx, actor, id).await {
        Ok(row) => row,
        Err(EngineError::NotFound(_)) => {
            return Ok(DeleteOutcome {
                id,
                outcome: DeleteOutcomeKind::NotFound,
                member_count: None,
            });
        }
        Err(e) => return Err(e),
    };
    let outcome = |outcome, member_count| DeleteOutcome {
        id,
        outcome,
        member_count,
    };
    if row.is_default {
        return Ok(outcome(DeleteOutcomeKind::ProtectedDefault, None));
    }
    if row.member_count > 0 {
        return Ok(outcome(DeleteOutcomeKind::InUse, Some(row.member_count)));
    }
    classes::delete(tx, id).await?;
    let snapshot = view_of(&row)?;
    audit::record(
        tx,
        actor,
        now,
        Change {
            action: "delete",
            object_type: "customer_class",
            object_id: id.to_string(),
            owner_reseller_id: row.owner_reseller_id,
            details: serde_json::json!({ "name": snapshot.settings.name, "revision": row.revision }),
        },
    )
    .await?;
    Ok(outcome(DeleteOutcomeKind::Deleted, None))
}

impl crate::Engine {
    /// `DELETE /customer-classes/{id}`: 404 when invisible, 409 when protected or in use.
    pub async fn delete_class(&self, actor: &Actor, id: i64, now: Timestamp) -> EngineResult<()> {
        let mut tx = self.store.write().await?;
        let result = delete_in(&mut tx, actor, id, now).await?;
        match result.outcome {
            DeleteOutcomeKind::Deleted => {
                tx.commit().await?;
                Ok(())
            }
            DeleteOutcomeKind::NotFound => Err(EngineError::NotFound(format!("class {id} not found"))),
            DeleteOutcomeKind::ProtectedDefault => Err(EngineError::conflict(
                "protected_default",
                "the Default class cannot be deleted",
            )),
            DeleteOutcomeKind::InUse => Err(EngineError::conflict(
                "in_use",
                format!(
                    "class {id} has {} members; move them to another class first",
                    result.member_count.unwrap_or(0)
                ),
            )),
        }
    }

    /// `POST /customer-classes/delete`: each id handled on its own, one outcome per id.
    pub async fn delete_classes(&self, actor: &Actor, ids: &[i64], now: Timestamp) -> EngineResult<Vec<DeleteOutcome>> {
        let mut outcomes = Vec::with_capacity(ids.len());
        for &id in ids {
            let mut tx = self.store.write().await?;
            let outcome = delete_in(&mut tx, actor, id, now).await?;
            if outcome.outcome == DeleteOutcomeKind::Deleted {
                tx.commit().await?;
            }
            outcomes.push(outcome);
        }
        Ok(outcomes)
    }
}
