//! Reading classes: one document, and the list of §2.10 with its filters and keyset pagination.

use classbill_domain::Owner;
use classbill_domain::class::{BusinessModel, TaxMethod};
use classbill_store::classes::{self, ClassFilter, ClassListRow};
use classbill_store::parties;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ClassView, load_visible, view_of};
use crate::actor::Actor;
use crate::error::{EngineError, EngineResult};
use crate::page::{Page, PageRequest};

/// `managed_by` as the list shows it: the owner plus its display name.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ManagedBy {
    #[serde(flatten)]
    pub owner: Owner,
    pub name: String,
}

/// One row of the class list (§2.10 columns).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClassListItem {
    pub id: i64,
    pub name: String,
    pub currency: Option<String>,
    pub archive_xdrs: bool,
    pub invoices: String,
    pub taxation_method: String,
    pub description: String,
    pub managed_by: ManagedBy,
    pub business_model: String,
    pub revision: i64,
    pub member_count: i64,
    pub is_default: bool,
}

/// The list filters as they arrive in the query string.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ClassListFilter {
    pub name: Option<String>,
    pub managed_by: Option<String>,
    pub business_model: Option<String>,
    pub currency: Option<String>,
    pub invoices: Option<String>,
    pub taxation_method: Option<String>,
    pub assignable_to: Option<i64>,
}

const INVOICES_VALUES: &[&str] = &["regular_and_out_of_turn", "regular_only", "out_of_turn_only", "none"];

fn checked_enum<T: for<'de> Deserialize<'de>>(field: &str, value: &str) -> EngineResult<String> {
    serde_json::from_value::<T>(serde_json::Value::String(value.to_owned()))
        .map(|_| value.to_owned())
        .map_err(|_| EngineError::invalid(field, "invalid", format!("unknown value {value:?}")))
}

fn list_item(row: ClassListRow) -> ClassListItem {
    let owner = Owner::from_reseller_id(row.owner_reseller_id);
    let name = match owner {
        Owner::Administrator => "Administrator".to_owned(),
        Owner::Reseller { reseller_id } => row
            .owner_name
            .clone()
            .unwrap_or_else(|| format!("reseller {reseller_id}")),
    };
    ClassListItem {
        id: row.id,
        name: row.name,
        currency: row.currency,
        archive_xdrs: row.archive_xdrs,
        invoices: row.invoices,
        taxation_method: row.taxation_method,
        description: row.description,
        managed_by: ManagedBy { owner, name },
        business_model: row.business_model,
        revision: row.revision,
        member_count: row.member_count,
        is_default: row.is_default,
    }
}

impl crate::Engine {
    pub async fn get_class(&self, actor: &Actor, id: i64) -> EngineResult<ClassView> {
        let mut tx = self.store.read().await?;
        view_of(&load_visible(&mut tx, actor, id).await?)
    }

    /// Only classes the actor may see; with `assignable_to`, only those passing checks A1–A4 for that party.
    pub async fn list_classes(
        &self,
        actor: &Actor,
        filter: ClassListFilter,
        page: PageRequest,
    ) -> EngineResult<Page<ClassListItem>> {
        let mut f = ClassFilter {
            name: filter
                .name
                .as_deref()
                .map(|n| n.trim().to_lowercase())
                .filter(|n| !n.is_empty()),
            ..ClassFilter::default()
        };
        if let Some(model) = &filter.business_model {
            f.business_model = Some(checked_enum::<BusinessModel>("business_model", model)?);
        }
        if let Some(method) = &filter.taxation_method {
            f.taxation_method = Some(checked_enum::<TaxMethod>("taxation_method", method)?);
        }
        if let Some(invoices) = &filter.invoices {
            if !INVOICES_VALUES.contains(&invoices.as_str()) {
                return Err(EngineError::invalid(
                    "invoices",
                    "invalid",
                    format!("unknown value {invoices:?}"),
                ));
            }
            f.invoices = Some(invoices.clone());
        }
        if let Some(currency) = &filter.currency {
            f.currency = Some(if currency == "none" {
                None
            } else {
                Some(currency.to_uppercase())
            });
        }
        let requested_owner = match filter.managed_by.as_deref() {
            None => None,
            Some("administrator") => Some(Owner::Administrator),
            Some(id) => Some(Owner::Reseller {
                reseller_id: id.parse().map_err(|_| {
                    EngineError::invalid("managed_by", "invalid", "expected \"administrator\" or a reseller id")
                })?,
            }),
        };
        // A reseller user only ever sees its own classes (§1.5).
        let mut owner = if actor.is_administrator() {
            requested_owner
        } else {
            Some(actor.owner())
        };
        let mut nothing = requested_owner.is_some_and(|r| Some(r) != owner);
        // Without `assignable_to` the list is one statement, which needs no transaction around it.
        let mut tx = if filter.assignable_to.is_some() {
            self.store.read().await?
        } else {
            self.store.read_single().await?
        };
        if let Some(party_id) = filter.assignable_to {
            let party = parties::get(&mut tx, party_id)
                .await?
                .filter(|p| actor.sees(Owner::from_reseller_id(p.owner_reseller_id)))
                .ok_or_else(|| {
                    EngineError::invalid("assignable_to", "not_found", format!("party {party_id} not found"))
                })?;
            let party_owner = Owner::from_reseller_id(party.owner_reseller_id);
            // A2 and A3: the actor assigns only its own classes, and they must belong to the party's owner.
            nothing |= party_owner != actor.owner() || owner.is_some_and(|o| o != party_owner);
            owner = Some(party_owner);
            f.currency_or_none = Some(party.currency);
        }
        if nothing {
            return Ok(Page {
                items: Vec::new(),
                next_cursor: None,
            });
        }
        f.owner = owner.map(Owner::reseller_id);
        let after = match page.cursor_text()? {
            None => None,
            Some(text) => {
                let (id, key) = text
                    .split_once(':')
                    .and_then(|(id, key)| Some((id.parse::<i64>().ok()?, key.to_owned())))
                    .ok_or_else(|| EngineError::invalid("cursor", "invalid", "not a cursor from a previous page"))?;
                Some((key, id))
            }
        };
        let rows = classes::list(&mut tx, &f, after, page.limit + 1).await?;
        let page = Page::from_rows(rows, page.limit, |row| format!("{}:{}", row.id, row.name_key));
        Ok(Page {
            items: page.items.into_iter().map(list_item).collect(),
            next_cursor: page.next_cursor,
        })
    }
}
