//! Customer-class management (§1–§3, §6): create, read, edit, preview, delete and the revision history.

mod context;
mod delete;
mod parsed;
mod preview;
mod read;
mod revisions;
pub(crate) mod write;

use classbill_domain::class::{ClassSettings, invoices_column, name_key};
use classbill_domain::{FieldError, Owner};
use classbill_store::classes::{ClassRecord, ClassRow};
use classbill_store::{Tx, classes, instants};
use jiff::Timestamp;
use serde::Serialize;
use utoipa::ToSchema;

use crate::actor::Actor;
use crate::error::{EngineError, EngineResult};

pub use delete::{DeleteOutcome, DeleteOutcomeKind};
pub(crate) use parsed::ParsedClasses;
pub use preview::{Impact, Preview};
pub use read::{ClassListFilter, ClassListItem, ManagedBy};
pub use revisions::{Author, Revision, RevisionDetail};

/// A class as the API shows it: read-only header fields around the editable settings.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClassView {
    pub id: i64,
    pub revision: i64,
    pub is_default: bool,
    pub member_count: i64,
    #[serde(flatten)]
    pub settings: ClassSettings,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

/// The answer to a class write: the stored document plus non-blocking warnings (§2.0 rule 4).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClassWritten {
    #[serde(flatten)]
    pub class: ClassView,
    pub warnings: Vec<FieldError>,
}

pub(crate) fn settings_of(row: &ClassRow) -> EngineResult<ClassSettings> {
    Ok(serde_json::from_str(&row.document)?)
}

pub(crate) fn view_of(row: &ClassRow) -> EngineResult<ClassView> {
    Ok(ClassView {
        id: row.id,
        revision: row.revision,
        is_default: row.is_default,
        member_count: row.member_count,
        settings: settings_of(row)?,
        created_at: instants::from_micros(row.created_at)?,
        updated_at: instants::from_micros(row.updated_at)?,
    })
}

pub(crate) fn owner_of(row: &ClassRow) -> Owner {
    Owner::from_reseller_id(row.owner_reseller_id)
}

/// The stored form of normalised settings: the document plus the columns lists filter on.
pub(crate) fn record_of(settings: &ClassSettings, is_default: bool) -> EngineResult<ClassRecord> {
    Ok(ClassRecord {
        owner_reseller_id: settings.managed_by.reseller_id(),
        name: settings.name.clone(),
        name_key: name_key(&settings.name),
        is_default,
        currency: settings.currency.map(|c| c.as_str().to_owned()),
        business_model: enum_text(&settings.business_model)?,
        description: settings.description.clone(),
        archive_xdrs: settings.general_info.archive_xdrs,
        invoices: invoices_column(settings).to_owned(),
        taxation_method: enum_text(&settings.taxation.method)?,
        document: serde_json::to_value(settings)?,
    })
}

/// The serde name of a unit enum value.
pub(crate) fn enum_text<T: Serialize>(value: &T) -> EngineResult<String> {
    match serde_json::to_value(value)? {
        serde_json::Value::String(s) => Ok(s),
        other => Err(EngineError::Store(classbill_store::StoreError::Corrupt(format!(
            "expected an enum name, got {other}"
        )))),
    }
}

/// The class if the actor may see it; invisible and missing classes are alike (404).
pub(crate) async fn load_visible(tx: &mut Tx, actor: &Actor, id: i64) -> EngineResult<ClassRow> {
    match classes::get(tx, id).await? {
        Some(row) if actor.sees(owner_of(&row)) => Ok(row),
        _ => Err(EngineError::NotFound(format!("class {id} not found"))),
    }
}

/// The objects a class points at, for the "in use" protections.
pub(crate) fn references_of(settings: &ClassSettings) -> Vec<(&'static str, String)> {
    use crate::catalog::kinds;
    let mut refs = Vec::new();
    for id in [
        settings.regular_invoices.template_id,
        settings.out_of_turn_invoices.template_id,
    ]
    .into_iter()
    .flatten()
    {
        refs.push((kinds::INVOICE_TEMPLATE, id.to_string()));
    }
    if let Some(id) = settings.notifications.notification_set_id {
        refs.push((kinds::NOTIFICATION_SET, id.to_string()));
    }
    for id in &settings.taxation.custom_tax_ids {
        refs.push((kinds::CUSTOM_TAX, id.to_string()));
    }
    for id in &settings.custom_fields.enabled_field_ids {
        refs.push((kinds::CUSTOM_FIELD, id.to_string()));
    }
    if let Some(vat) = &settings.taxation.generic_vat {
        refs.push((kinds::VAT_RATE, vat.home_country.clone()));
    }
    if let Some(external) = &settings.taxation.external {
        refs.push(("secret", external.secret_ref.clone()));
    }
    refs
}
