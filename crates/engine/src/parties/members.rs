//! `/customer-classes/{id}/members`: the parties of a class, and bulk assignment. Bulk assignment loads the
//! parties in batches, runs checks A2–A6 in memory and moves the accepted ones with set-based statements, all in
//! one transaction.

use std::collections::{HashMap, HashSet};

use classbill_domain::FieldError;
use classbill_store::instants;
use classbill_store::parties::{self, PartyRow};
use jiff::Timestamp;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use super::custom_values::{apply_defaults, enabled_fields, stored_values};
use super::owner_of;
use super::read::{PartyListFilter, store_filter};
use crate::actor::Actor;
use crate::assignment::{self, Joiner};
use crate::audit::{self, Change};
use crate::classes::{load_visible, settings_of};
use crate::error::{EngineError, EngineResult};
use crate::page::{Page, PageRequest};

/// At most this many parties per bulk request.
pub const MAX_BULK: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MemberOutcomeKind {
    Assigned,
    Unchanged,
    Rejected,
}

/// One party of a bulk assignment: `status` is what a single assignment would have answered.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MemberOutcome {
    pub party_id: i64,
    pub outcome: MemberOutcomeKind,
    pub status: u16,
    pub errors: Vec<FieldError>,
}

/// One member of a class.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MemberItem {
    pub id: i64,
    /// `customer` or `reseller`.
    pub kind: String,
    pub name: String,
    pub currency: String,
    pub status: String,
    /// The owning reseller; null = the operator.
    pub owner_reseller_id: Option<i64>,
}

/// The status and problem-document errors a single assignment would answer with.
fn refusal(error: EngineError) -> EngineResult<(u16, Vec<FieldError>)> {
    Ok(match error {
        EngineError::Forbidden { errors, .. } => (403, errors),
        EngineError::Invalid(errors) => (422, errors),
        EngineError::Conflict { errors, .. } => (409, errors),
        EngineError::NotFound(message) => (404, vec![FieldError::new("", "not_found", message)]),
        other => return Err(other),
    })
}

fn outcome(party_id: i64, outcome: MemberOutcomeKind, status: u16, errors: Vec<FieldError>) -> MemberOutcome {
    MemberOutcome {
        party_id,
        outcome,
        status,
        errors,
    }
}

impl crate::Engine {
    /// `POST /customer-classes/{id}/members`: assigns every listed party that passes A1–A6; one outcome each.
    pub async fn assign_members(
        &self,
        actor: &Actor,
        class_id: i64,
        party_ids: &[i64],
        now: Timestamp,
    ) -> EngineResult<Vec<MemberOutcome>> {
        if party_ids.len() > MAX_BULK {
            return Err(EngineError::invalid(
                "party_ids",
                "too_many",
                format!("at most {MAX_BULK} parties per request"),
            ));
        }
        let mut tx = self.store.write().await?;
        classbill_store::classes::lock(&mut tx, class_id).await?;
        let class = load_visible(&mut tx, actor, class_id).await?;
        let settings = settings_of(&class)?;
        let class_currency = settings.currency.map(|c| c.as_str());
        let definitions = enabled_fields(&mut tx, &settings.custom_fields.enabled_field_ids).await?;
        // A2 depends on the actor and the class only.
        let not_assignable = match assignment::may_assign(actor, &class) {
            Ok(()) => None,
            Err(EngineError::Forbidden { errors, .. }) => Some(errors),
            Err(other) => return Err(other),
        };

        let mut unique: Vec<i64> = party_ids.to_vec();
        unique.sort_unstable();
        unique.dedup();
        let rows: HashMap<i64, PartyRow> = parties::get_many(&mut tx, &unique)
            .await?
            .into_iter()
            .filter(|row| actor.sees(owner_of(row)))
            .map(|row| (row.id, row))
            .collect();

        let mut outcomes = Vec::with_capacity(party_ids.len());
        let mut assigned = Vec::new();
        let mut seen = HashSet::new();
        let mut new_values = Vec::new();
        for (index, &id) in party_ids.iter().enumerate() {
            let Some(row) = rows.get(&id) else {
                let error = FieldError::new(
                    format!("party_ids[{index}]"),
                    "not_found",
                    format!("party {id} not found"),
                );
                outcomes.push(outcome(id, MemberOutcomeKind::Rejected, 404, vec![error]));
                continue;
            };
            if row.class_id == class_id || !seen.insert(id) {
                outcomes.push(outcome(id, MemberOutcomeKind::Unchanged, 200, Vec::new()));
                continue;
            }
            let kind = super::kind_of(row);
            let mut values = stored_values(&row.custom_fields)?;
            let defaults_added = apply_defaults(&definitions, &mut values);
            if let Some(errors) = &not_assignable {
                outcomes.push(outcome(id, MemberOutcomeKind::Rejected, 403, errors.clone()));
                seen.remove(&id);
                continue;
            }
            let joiner = Joiner {
                owner: owner_of(row),
                kind,
                currency: Some(row.currency.as_str()),
            };
            let checked = assignment::fits(&class, class_currency, &joiner)
                .and_then(|()| assignment::mandatory_values_present(&class.name, &definitions, &values))
                .and_then(|()| assignment::not_closed(id, &row.status));
            match checked {
                Ok(()) => {
                    if defaults_added {
                        new_values.push((id, serde_json::Value::Object(values)));
                    }
                    assigned.push(id);
                    outcomes.push(outcome(id, MemberOutcomeKind::Assigned, 200, Vec::new()));
                }
                Err(error) => {
                    seen.remove(&id);
                    let (status, errors) = refusal(error)?;
                    outcomes.push(outcome(id, MemberOutcomeKind::Rejected, status, errors));
                }
            }
        }

        if !assigned.is_empty() {
            let at = instants::to_micros(now);
            for (id, values) in &new_values {
                parties::set_custom_fields(&mut tx, *id, values, at).await?;
            }
            parties::set_class_many(&mut tx, &assigned, class_id, at).await?;
            audit::record(
                &mut tx,
                actor,
                now,
                Change {
                    action: "assign_members",
                    object_type: "customer_class",
                    object_id: class_id.to_string(),
                    owner_reseller_id: class.owner_reseller_id,
                    details: json!({ "party_ids": assigned }),
                },
            )
            .await?;
            tx.commit().await?;
        }
        Ok(outcomes)
    }

    /// `GET /customer-classes/{id}/members`: the class's members the actor may see, in id order.
    pub async fn list_members(
        &self,
        actor: &Actor,
        class_id: i64,
        page: PageRequest,
    ) -> EngineResult<Page<MemberItem>> {
        let mut tx = self.store.read().await?;
        load_visible(&mut tx, actor, class_id).await?;
        let filter = PartyListFilter {
            class_id: Some(class_id),
            ..PartyListFilter::default()
        };
        let rows = match store_filter(actor, None, &filter)? {
            None => Vec::new(),
            Some(f) => parties::list(&mut tx, &f, page.cursor_id()?, page.limit + 1).await?,
        };
        let items = rows
            .into_iter()
            .map(|row| MemberItem {
                id: row.id,
                kind: row.kind,
                name: row.name,
                currency: row.currency,
                status: row.status,
                owner_reseller_id: row.owner_reseller_id,
            })
            .collect();
        Ok(Page::from_rows(items, page.limit, |m| m.id.to_string()))
    }
}
