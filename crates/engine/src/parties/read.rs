//! Reading parties: one record, and the filtered, keyset-paginated lists of customers and resellers.

use std::sync::Arc;

use classbill_domain::FieldError;
use classbill_store::parties::{self, PartyFilter, PartyOrder, PartyRow};
use classbill_store::{Tx, classes, instants, users};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::custom_values::{FieldsByClass, shown, stored_values};
use super::overrides::stored_overrides;
use super::{PartyKind, STATUSES, load_visible};
use crate::actor::{Actor, Role};
use crate::classes::ParsedClasses;
use crate::error::{EngineError, EngineResult};
use crate::page::{Page, PageRequest};
use classbill_domain::party::PartyOverrides;

/// The fields customers and resellers share (§4).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PartyCommon {
    pub id: i64,
    pub name: String,
    pub currency: String,
    pub class_id: i64,
    pub billing_period: String,
    pub time_zone: String,
    #[schema(value_type = String, format = DateTime)]
    pub activated_at: Timestamp,
    pub country: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub tax_id: Option<String>,
    pub tax_registered: bool,
    pub tax_exempt: bool,
    pub tax_exemption_reason: Option<String>,
    /// `open`, `limited`, `suspended`, `blocked` or `closed` (§5.9 rule 2); changed only by block and unblock.
    pub status: String,
    /// The manual block of an owner user.
    pub blocked: bool,
    /// Values of the custom fields enabled on the party's class; personal data shows as `***` to users
    /// without the personal-data permission.
    #[schema(value_type = Object)]
    pub custom_fields: Map<String, Value>,
    #[serde(flatten)]
    pub overrides: PartyOverrides,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CustomerView {
    /// The owning reseller; null = the operator's direct customer.
    pub reseller_id: Option<i64>,
    pub prepaid: bool,
    #[serde(flatten)]
    pub party: PartyCommon,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ResellerView {
    /// The parent reseller; null = top-level.
    pub parent_reseller_id: Option<i64>,
    /// The Default class this reseller's own customers and subresellers get.
    pub default_class_id: Option<i64>,
    #[serde(flatten)]
    pub party: PartyCommon,
}

impl std::ops::Deref for CustomerView {
    type Target = PartyCommon;
    fn deref(&self) -> &PartyCommon {
        &self.party
    }
}

impl std::ops::Deref for ResellerView {
    type Target = PartyCommon;
    fn deref(&self) -> &PartyCommon {
        &self.party
    }
}

/// The list filters as they arrive in the query string; `owner` is `reseller_id` for customers and
/// `parent_reseller_id` for resellers (`none` = the operator's own).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PartyListFilter {
    pub class_id: Option<i64>,
    pub owner: Option<String>,
    pub status: Option<String>,
    pub currency: Option<String>,
    pub name: Option<String>,
}

/// Administrators always see personal data; reseller users need the permission.
pub(crate) async fn sees_personal_data(tx: &mut Tx, actor: &Actor) -> EngineResult<bool> {
    Ok(match actor.role {
        Role::Administrator => true,
        Role::Reseller(_) => users::personal_data_access(tx, actor.user_id).await?,
    })
}

/// Turns rows into views for one reader: loads each class's enabled fields once and knows whether the reader
/// may see personal data.
pub(crate) struct Viewer {
    personal_data_access: bool,
    fields: FieldsByClass,
}

impl Viewer {
    pub async fn new(tx: &mut Tx, actor: &Actor) -> EngineResult<Viewer> {
        let personal_data_access = sees_personal_data(tx, actor).await?;
        Ok(Viewer {
            personal_data_access,
            fields: FieldsByClass::default(),
        })
    }

    /// Takes each class's settings from the engine's parsed documents instead of parsing them again.
    fn parsing_with(self, parsed: &Arc<ParsedClasses>) -> Viewer {
        Viewer {
            fields: FieldsByClass::parsing_with(Arc::clone(parsed)),
            ..self
        }
    }

    async fn common(&mut self, tx: &mut Tx, row: &PartyRow) -> EngineResult<PartyCommon> {
        let definitions = self.fields.of(tx, row.class_id).await?;
        let values = stored_values(&row.custom_fields)?;
        common_of(row, shown(definitions, &values, self.personal_data_access))
    }

    pub async fn customer(&mut self, tx: &mut Tx, row: &PartyRow) -> EngineResult<CustomerView> {
        Ok(CustomerView {
            reseller_id: row.owner_reseller_id,
            prepaid: row.prepaid,
            party: self.common(tx, row).await?,
        })
    }

    pub async fn reseller(&mut self, tx: &mut Tx, row: &PartyRow) -> EngineResult<ResellerView> {
        let default_class_id = classes::default_of(tx, Some(row.id)).await?.map(|c| c.id);
        Ok(ResellerView {
            parent_reseller_id: row.owner_reseller_id,
            default_class_id,
            party: self.common(tx, row).await?,
        })
    }
}

/// The view of a party row with the custom-field values the reader is shown.
fn common_of(row: &PartyRow, custom_fields: Map<String, Value>) -> EngineResult<PartyCommon> {
    Ok(PartyCommon {
        id: row.id,
        name: row.name.clone(),
        currency: row.currency.clone(),
        class_id: row.class_id,
        billing_period: row.billing_period.clone(),
        time_zone: row.time_zone.clone(),
        activated_at: instants::from_micros(row.activated_at)?,
        country: row.country.clone(),
        email: row.email.clone(),
        phone: row.phone.clone(),
        tax_id: row.tax_id.clone(),
        tax_registered: row.tax_registered,
        tax_exempt: row.tax_exempt,
        tax_exemption_reason: row.tax_exemption_reason.clone(),
        status: row.status.clone(),
        blocked: row.blocked,
        custom_fields,
        overrides: stored_overrides(&row.overrides)?,
        created_at: instants::from_micros(row.created_at)?,
        updated_at: instants::from_micros(row.updated_at)?,
    })
}

/// The store filter for a list request; a reseller user is always limited to its own parties.
pub(crate) fn store_filter(
    actor: &Actor,
    kind: Option<PartyKind>,
    filter: &PartyListFilter,
) -> EngineResult<Option<PartyFilter>> {
    let mut errors = Vec::new();
    let requested_owner = match filter.owner.as_deref() {
        None => None,
        Some("none") | Some("null") => Some(None),
        Some(text) => match text.parse::<i64>() {
            Ok(id) => Some(Some(id)),
            Err(_) => {
                let field = kind.map_or("owner", PartyKind::owner_field);
                errors.push(FieldError::new(field, "invalid", "expected a reseller id or \"none\""));
                None
            }
        },
    };
    if let Some(status) = &filter.status
        && !STATUSES.contains(&status.as_str())
    {
        errors.push(FieldError::new(
            "status",
            "invalid",
            format!("unknown status {status:?}; one of {}", STATUSES.join(", ")),
        ));
    }
    if !errors.is_empty() {
        return Err(EngineError::Invalid(errors));
    }
    let owner = match actor.role {
        Role::Administrator => requested_owner,
        Role::Reseller(own) => {
            if requested_owner.is_some_and(|o| o != Some(own)) {
                return Ok(None);
            }
            Some(Some(own))
        }
    };
    Ok(Some(PartyFilter {
        kind: kind.map(|k| k.as_str().to_owned()),
        owner,
        class_id: filter.class_id,
        status: filter.status.clone(),
        currency: filter.currency.as_deref().map(str::to_uppercase),
        name: filter.name.as_deref().map(parties::name_key).filter(|n| !n.is_empty()),
    }))
}

async fn list_rows(
    tx: &mut Tx,
    actor: &Actor,
    kind: PartyKind,
    filter: &PartyListFilter,
    page: &PageRequest,
) -> EngineResult<Vec<PartyRow>> {
    match store_filter(actor, Some(kind), filter)? {
        None => Ok(Vec::new()),
        Some(f) => Ok(parties::list(tx, &f, page.cursor_id()?, page.limit + 1).await?),
    }
}

/// The rows of one page of a party list in `order`. The cursor is the last row's id, and in name order also
/// its name key, so a page continues where the last one ended even among equal names.
async fn ordered_rows(
    tx: &mut Tx,
    actor: &Actor,
    kind: PartyKind,
    filter: &PartyListFilter,
    order: PartyOrder,
    page: &PageRequest,
) -> EngineResult<Vec<PartyRow>> {
    let invalid = || EngineError::invalid("cursor", "invalid", "not a cursor from a previous page");
    let after = match page.cursor_text()? {
        None => None,
        Some(text) if order.by_name => {
            let (id, key) = text.split_once(':').ok_or_else(invalid)?;
            Some((key.to_owned(), id.parse::<i64>().map_err(|_| invalid())?))
        }
        Some(text) => Some((String::new(), text.parse::<i64>().map_err(|_| invalid())?)),
    };
    match store_filter(actor, Some(kind), filter)? {
        None => Ok(Vec::new()),
        Some(f) => Ok(parties::list_ordered(tx, &f, order, after, page.limit + 1).await?),
    }
}

fn ordered_cursor(order: PartyOrder, party: &PartyCommon) -> String {
    if order.by_name {
        format!("{}:{}", party.id, parties::name_key(&party.name))
    } else {
        party.id.to_string()
    }
}

impl crate::Engine {
    /// Most classes enable no custom fields; a customer of one is read with one statement outside a
    /// transaction (the customer and its class's document). Otherwise the field definitions and the reader's
    /// personal-data permission join the read in one transaction.
    pub async fn get_customer(&self, actor: &Actor, id: i64) -> EngineResult<CustomerView> {
        let mut single = self.store.read_single().await?;
        let read = parties::get_with_class(&mut single, id).await?;
        drop(single);
        let not_found = || EngineError::NotFound(format!("customer {id} not found"));
        let read = read
            .filter(|r| r.party.kind == PartyKind::Customer.as_str() && actor.sees(super::owner_of(&r.party)))
            .ok_or_else(not_found)?;
        let class = self
            .parsed_classes
            .settings(read.party.class_id, &read.class_document)?;
        if class.custom_fields.enabled_field_ids.is_empty() {
            let row = &read.party;
            return Ok(CustomerView {
                reseller_id: row.owner_reseller_id,
                prepaid: row.prepaid,
                party: common_of(row, Map::new())?,
            });
        }
        let mut tx = self.store.read().await?;
        let row = load_visible(&mut tx, actor, PartyKind::Customer, id).await?;
        self.viewer(&mut tx, actor).await?.customer(&mut tx, &row).await
    }

    /// A reseller user sees only the resellers it owns (its direct subresellers).
    pub async fn get_reseller(&self, actor: &Actor, id: i64) -> EngineResult<ResellerView> {
        let mut tx = self.store.read().await?;
        let row = load_visible(&mut tx, actor, PartyKind::Reseller, id).await?;
        self.viewer(&mut tx, actor).await?.reseller(&mut tx, &row).await
    }

    async fn viewer(&self, tx: &mut Tx, actor: &Actor) -> EngineResult<Viewer> {
        Ok(Viewer::new(tx, actor).await?.parsing_with(&self.parsed_classes))
    }

    pub async fn list_customers(
        &self,
        actor: &Actor,
        filter: PartyListFilter,
        page: PageRequest,
    ) -> EngineResult<Page<CustomerView>> {
        let mut tx = self.store.read().await?;
        let rows = list_rows(&mut tx, actor, PartyKind::Customer, &filter, &page).await?;
        let mut viewer = self.viewer(&mut tx, actor).await?;
        let mut views = Vec::with_capacity(rows.len());
        for row in &rows {
            views.push(viewer.customer(&mut tx, row).await?);
        }
        Ok(Page::from_rows(views, page.limit, |v| v.id.to_string()))
    }

    /// [`Engine::list_customers`] sorted by name or id, either way (the web UI's sortable list).
    pub async fn list_customers_ordered(
        &self,
        actor: &Actor,
        filter: PartyListFilter,
        order: PartyOrder,
        page: PageRequest,
    ) -> EngineResult<Page<CustomerView>> {
        let mut tx = self.store.read().await?;
        let rows = ordered_rows(&mut tx, actor, PartyKind::Customer, &filter, order, &page).await?;
        let mut viewer = self.viewer(&mut tx, actor).await?;
        let mut views = Vec::with_capacity(rows.len());
        for row in &rows {
            views.push(viewer.customer(&mut tx, row).await?);
        }
        Ok(Page::from_rows(views, page.limit, |v| ordered_cursor(order, v)))
    }

    /// [`Engine::list_resellers`] sorted by name or id, either way.
    pub async fn list_resellers_ordered(
        &self,
        actor: &Actor,
        filter: PartyListFilter,
        order: PartyOrder,
        page: PageRequest,
    ) -> EngineResult<Page<ResellerView>> {
        let mut tx = self.store.read().await?;
        let rows = ordered_rows(&mut tx, actor, PartyKind::Reseller, &filter, order, &page).await?;
        let mut viewer = self.viewer(&mut tx, actor).await?;
        let mut views = Vec::with_capacity(rows.len());
        for row in &rows {
            views.push(viewer.reseller(&mut tx, row).await?);
        }
        Ok(Page::from_rows(views, page.limit, |v| ordered_cursor(order, v)))
    }

    pub async fn list_resellers(
        &self,
        actor: &Actor,
        filter: PartyListFilter,
        page: PageRequest,
    ) -> EngineResult<Page<ResellerView>> {
        let mut tx = self.store.read().await?;
        let rows = list_rows(&mut tx, actor, PartyKind::Reseller, &filter, &page).await?;
        let mut viewer = self.viewer(&mut tx, actor).await?;
        let mut views = Vec::with_capacity(rows.len());
        for row in &rows {
            views.push(viewer.reseller(&mut tx, row).await?);
        }
        Ok(Page::from_rows(views, page.limit, |v| v.id.to_string()))
    }
}
