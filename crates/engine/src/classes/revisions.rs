//! The revision history of a class (§6 rule 1), kept also after the class is deleted.

use classbill_domain::Owner;
use classbill_domain::class::{ClassSettings, DiffEntry};
use classbill_store::classes::{self, RevisionRow};
use classbill_store::{Tx, instants};
use jiff::Timestamp;
use serde::Serialize;
use utoipa::ToSchema;

use super::owner_of;
use crate::actor::Actor;
use crate::error::{EngineError, EngineResult};
use crate::page::{Page, PageRequest};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Author {
    #[serde(rename = "type")]
    pub kind: String,
    pub user_id: Option<i64>,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Revision {
    pub revision: i64,
    pub author: Author,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    pub change_note: Option<String>,
    pub diff: Vec<DiffEntry>,
}

/// One revision with the full document as it was saved.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RevisionDetail {
    #[serde(flatten)]
    pub revision: Revision,
    pub snapshot: ClassSettings,
}

fn revision_of(row: &RevisionRow) -> EngineResult<Revision> {
    Ok(Revision {
        revision: row.revision,
        author: Author {
            kind: row.author_type.clone(),
            user_id: row.author_user_id,
            name: row.author_name.clone(),
        },
        at: instants::from_micros(row.at)?,
        change_note: row.change_note.clone(),
        diff: serde_json::from_str(&row.diff)?,
    })
}

/// The class's history is visible while the class is; after deletion, to whoever could see its owner.
async fn check_visible(tx: &mut Tx, actor: &Actor, class_id: i64) -> EngineResult<()> {
    let owner = match classes::get(tx, class_id).await? {
        Some(row) => Some(owner_of(&row)),
        None => classes::revisions(tx, class_id, None, 1)
            .await?
            .first()
            .map(|r| Owner::from_reseller_id(r.owner_reseller_id)),
    };
    match owner {
        Some(owner) if actor.sees(owner) => Ok(()),
        _ => Err(EngineError::NotFound(format!("class {class_id} not found"))),
    }
}

impl crate::Engine {
    /// Newest first.
    pub async fn class_revisions(
        &self,
        actor: &Actor,
        class_id: i64,
        page: PageRequest,
    ) -> EngineResult<Page<Revision>> {
        let mut tx = self.store.read().await?;
        check_visible(&mut tx, actor, class_id).await?;
        let rows = classes::revisions(&mut tx, class_id, page.cursor_id()?, page.limit + 1).await?;
        let revisions = rows.iter().map(revision_of).collect::<EngineResult<Vec<_>>>()?;
        Ok(Page::from_rows(revisions, page.limit, |r| r.revision.to_string()))
    }

    pub async fn class_revision(&self, actor: &Actor, class_id: i64, revision: i64) -> EngineResult<RevisionDetail> {
        let mut tx = self.store.read().await?;
        check_visible(&mut tx, actor, class_id).await?;
        let row = classes::revision(&mut tx, class_id, revision)
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("revision {revision} of class {class_id} not found")))?;
        Ok(RevisionDetail {
            revision: revision_of(&row)?,
            snapshot: serde_json::from_str(&row.snapshot)?,
        })
    }
}
