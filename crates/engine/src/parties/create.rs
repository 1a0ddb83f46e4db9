//! Creating customers and resellers (§4), and the part of every write that customers and resellers share:
//! field checks, class choice with checks A1–A6 (§1.3), currency (§1.4), custom values (§5.14) and overrides.

use std::collections::BTreeSet;

use classbill_domain::{Currency, FieldError, Owner};
use classbill_store::classes::ClassRow;
use classbill_store::parties::{self, NewParty, PartyFields, PartyRow};
use classbill_store::{Tx, instants};
use jiff::Timestamp;
use serde_json::{Map, Value};

use super::custom_values::{apply_defaults, apply_writes, enabled_fields, stored_values};
use super::document::{NewCustomer, NewReseller, PartyDocument};
use super::overrides::{self, stored_overrides};
use super::read::{CustomerView, ResellerView, Viewer, sees_personal_data};
use super::{PartyKind, owner_time_zone};
use crate::actor::{Actor, Role};
use crate::assignment::{self, Joiner};
use crate::audit::{self, Change};
use crate::classes::settings_of;
use crate::classes::write::insert_default_class;
use crate::error::{EngineError, EngineResult};
use classbill_domain::party::PartyOverrides;

/// The outcome of [`settle`]: what to store.
pub(super) struct Settled {
    pub fields: PartyFields,
    pub currency: String,
    pub class: ClassRow,
}

/// One create or update of a party as [`settle`] sees it.
pub(super) struct PartyWrite<'a> {
    pub kind: PartyKind,
    pub owner: Owner,
    /// The party after the write (the body on create, the merged patch on update).
    pub doc: &'a PartyDocument,
    /// The stored party on update.
    pub existing: Option<&'a PartyRow>,
    /// The custom-field values the request writes.
    pub writes: &'a Map<String, Value>,
    /// The top-level keys the request writes.
    pub written: &'a BTreeSet<String>,
    /// Whether the writer sees personal-data values (it may send back their mask).
    pub personal_data_access: bool,
}

/// Checks a party document and works out the state to store.
pub(super) async fn settle(
    tx: &mut Tx,
    actor: &Actor,
    request: &PartyWrite<'_>,
    now: Timestamp,
) -> EngineResult<Settled> {
    let PartyWrite {
        kind,
        owner,
        doc,
        existing,
        writes,
        written,
        personal_data_access,
    } = *request;
    let mut errors = Vec::new();
    doc.check(&mut errors);
    if existing.is_none()
        && let Some(code) = &doc.currency
        && !currency_enabled(tx, code).await?
    {
        errors.push(FieldError::new(
            "currency",
            "unknown_currency",
            format!("currency {code} is not enabled"),
        ));
    }
    if !errors.is_empty() {
        return Err(EngineError::Invalid(errors));
    }

    // A1–A4, only when the party joins a class.
    let joining = existing.is_none_or(|row| doc.class_id != Some(row.class_id));
    let stored_currency = existing.map(|row| row.currency.as_str());
    let joiner = Joiner {
        owner,
        kind,
        currency: stored_currency.or(doc.currency.as_deref()),
    };
    let class = match existing {
        Some(row) if !joining => classbill_store::classes::get(tx, row.class_id)
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("class {} not found", row.class_id)))?,
        _ => assignment::chosen_class(tx, actor, doc.class_id, &joiner).await?,
    };
    let class_settings = settings_of(&class)?;
    let currency = match (joiner.currency, class_settings.currency) {
        (Some(c), _) => c.to_owned(),
        (None, Some(c)) => c.as_str().to_owned(),
        (None, None) => {
            return Err(EngineError::invalid(
                "currency",
                "required",
                format!(
                    "class \"{}\" has no currency, so the {} needs one",
                    class.name,
                    kind.as_str()
                ),
            ));
        }
    };

    // Custom values (§5.14) and overrides (§4): every violation together.
    let definitions = enabled_fields(tx, &class_settings.custom_fields.enabled_field_ids).await?;
    let mut values = match existing {
        Some(row) => stored_values(&row.custom_fields)?,
        None => Map::new(),
    };
    apply_writes(
        &class.name,
        &definitions,
        &mut values,
        writes,
        personal_data_access,
        &mut errors,
    );
    apply_defaults(&definitions, &mut values);
    let stored = match existing {
        Some(row) => stored_overrides(&row.overrides)?,
        None => PartyOverrides::default(),
    };
    let overrides = overrides::check(tx, doc, &stored, written, owner, &class_settings, &mut errors).await?;
    if !errors.is_empty() {
        return Err(EngineError::Invalid(errors));
    }
    // A5, then A6.
    assignment::mandatory_values_present(&class.name, &definitions, &values)?;
    if let Some(row) = existing
        && joining
    {
        assignment::not_closed(row.id, &row.status)?;
    }

    let time_zone = match &doc.time_zone {
        Some(zone) => zone.clone(),
        None => match existing {
            Some(row) => row.time_zone.clone(),
            None => owner_time_zone(tx, owner).await?,
        },
    };
    let activated_at = match (doc.activated_at, existing) {
        (Some(at), _) => at,
        (None, Some(row)) => instants::from_micros(row.activated_at)?,
        (None, None) => doc.as_of.unwrap_or(now),
    };
    let fields = PartyFields {
        name: doc.name.as_deref().unwrap_or("").trim().to_owned(),
        class_id: class.id,
        billing_period: doc.billing_period.clone().unwrap_or_else(|| "monthly".to_owned()),
        time_zone,
        activated_at: instants::to_micros(activated_at),
        prepaid: kind == PartyKind::Customer && doc.prepaid.unwrap_or(false),
        country: doc.country.clone(),
        email: doc.email.clone(),
        phone: doc.phone.clone(),
        tax_id: doc.tax_id.clone(),
        tax_registered: doc.tax_registered.unwrap_or(false),
        tax_exempt: doc.tax_exempt.unwrap_or(false),
        tax_exemption_reason: doc.tax_exemption_reason.clone(),
        custom_fields: Value::Object(values),
        overrides: serde_json::to_value(&overrides)?,
    };
    Ok(Settled {
        fields,
        currency,
        class,
    })
}

/// The currency is an ISO 4217 code on the installation's enabled list (absent list = every code).
async fn currency_enabled(tx: &mut Tx, code: &str) -> EngineResult<bool> {
    if Currency::parse(code).is_none() {
        return Ok(false);
    }
    let enabled = crate::installation::enabled_currencies(tx).await?;
    Ok(enabled.is_none_or(|list| list.contains(code)))
}

/// The owner of a new party: the named reseller, which must exist; a reseller user creates parties of its
/// own reseller only (naming none means its own).
async fn owner_of_new(tx: &mut Tx, actor: &Actor, kind: PartyKind, named: Option<i64>) -> EngineResult<Owner> {
    let field = kind.owner_field();
    if let Role::Reseller(own) = actor.role {
        return match named {
            None => Ok(Owner::Reseller { reseller_id: own }),
            Some(id) if id == own => Ok(Owner::Reseller { reseller_id: own }),
            Some(_) => Err(EngineError::invalid(
                field,
                "forbidden_owner",
                format!("reseller users create {}s of reseller {own} only", kind.as_str()),
            )),
        };
    }
    let Some(id) = named else {
        return Ok(Owner::Administrator);
    };
    let exists = parties::get(tx, id).await?.is_some_and(|p| p.kind == "reseller");
    if exists {
        Ok(Owner::Reseller { reseller_id: id })
    } else {
        Err(EngineError::invalid(
            field,
            "not_found",
            format!("reseller {id} not found"),
        ))
    }
}

/// The top-level keys a body writes (null ones included: on update they clear).
pub(super) fn written_keys(body: &Value) -> BTreeSet<String> {
    body.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

impl crate::Engine {
    /// Creates a party from a request body and answers its id.
    async fn create_party(&self, actor: &Actor, kind: PartyKind, body: Value, now: Timestamp) -> EngineResult<i64> {
        let doc = PartyDocument::parse(kind, body.clone())?;
        let written: BTreeSet<String> = written_keys(&body)
            .into_iter()
            .filter(|k| body.get(k).is_some_and(|v| !v.is_null()))
            .collect();
        let writes = doc.custom_fields.clone().unwrap_or_default();
        let mut tx = self.store.write().await?;
        let owner = owner_of_new(&mut tx, actor, kind, doc.owner_reseller_id(kind)).await?;
        let request = PartyWrite {
            kind,
            owner,
            doc: &doc,
            existing: None,
            writes: &writes,
            written: &written,
            personal_data_access: sees_personal_data(&mut tx, actor).await?,
        };
        let settled = settle(&mut tx, actor, &request, now).await?;
        let class_id = settled.class.id;
        let name = settled.fields.name.clone();
        let id = parties::insert(
            &mut tx,
            NewParty {
                kind: kind.as_str(),
                owner_reseller_id: owner.reseller_id(),
                currency: settled.currency,
                fields: settled.fields,
                created_at: instants::to_micros(now),
            },
        )
        .await?;
        if kind == PartyKind::Reseller {
            insert_default_class(&mut tx, actor, now, Owner::Reseller { reseller_id: id }).await?;
        }
        audit::record(
            &mut tx,
            actor,
            now,
            Change {
                action: "create",
                object_type: kind.as_str(),
                object_id: id.to_string(),
                owner_reseller_id: owner.reseller_id(),
                details: serde_json::json!({ "name": name, "class_id": class_id }),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// `POST /customers`: the body as JSON, so every field error names its path.
    pub async fn create_customer_from_json(
        &self,
        actor: &Actor,
        body: Value,
        now: Timestamp,
    ) -> EngineResult<CustomerView> {
        let id = self.create_party(actor, PartyKind::Customer, body, now).await?;
        let mut tx = self.store.read().await?;
        let row = super::load_visible(&mut tx, actor, PartyKind::Customer, id).await?;
        Viewer::new(&mut tx, actor).await?.customer(&mut tx, &row).await
    }

    /// `POST /resellers`; the reseller gets its Default class in the same transaction (§1.2 rule 2).
    pub async fn create_reseller_from_json(
        &self,
        actor: &Actor,
        body: Value,
        now: Timestamp,
    ) -> EngineResult<ResellerView> {
        let id = self.create_party(actor, PartyKind::Reseller, body, now).await?;
        let mut tx = self.store.read().await?;
        let row = super::load_visible(&mut tx, actor, PartyKind::Reseller, id).await?;
        Viewer::new(&mut tx, actor).await?.reseller(&mut tx, &row).await
    }

    pub async fn create_customer(&self, actor: &Actor, c: NewCustomer, now: Timestamp) -> EngineResult<CustomerView> {
        self.create_customer_from_json(actor, serde_json::to_value(c)?, now)
            .await
    }

    pub async fn create_reseller(&self, actor: &Actor, r: NewReseller, now: Timestamp) -> EngineResult<ResellerView> {
        self.create_reseller_from_json(actor, serde_json::to_value(r)?, now)
            .await
    }
}
