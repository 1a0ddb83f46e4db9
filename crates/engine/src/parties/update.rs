//! `PATCH /customers/{id}` and `PATCH /resellers/{id}`: a JSON Merge Patch over the party's fields. The owner
//! and the currency never change (422 `immutable`); `status` changes only through block and unblock.

use classbill_domain::FieldError;
use classbill_domain::class::apply_merge_patch;
use classbill_store::parties::{self, PartyRow};
use classbill_store::{Tx, instants};
use jiff::Timestamp;
use serde_json::{Map, Value, json};

use super::create::{PartyWrite, settle, written_keys};
use super::custom_values::stored_values;
use super::document::PartyDocument;
use super::read::{CustomerView, ResellerView, Viewer, sees_personal_data};
use super::{PartyKind, load_visible, owner_of};
use crate::actor::Actor;
use crate::audit::{self, Change};
use crate::error::{EngineError, EngineResult};

/// Keys a body may carry but that are never written from it.
const IGNORED_KEYS: &[&str] = &["id", "created_at", "updated_at", "default_class_id", "as_of"];

/// The stored party as a patch applies to it: every writable field, custom values unmasked.
fn document_of(kind: PartyKind, row: &PartyRow) -> EngineResult<Value> {
    let mut doc = json!({
        "name": row.name,
        "currency": row.currency,
        "class_id": row.class_id,
        "billing_period": row.billing_period,
        "time_zone": row.time_zone,
        "activated_at": instants::from_micros(row.activated_at)?.to_string(),
        "country": row.country,
        "email": row.email,
        "phone": row.phone,
        "tax_id": row.tax_id,
        "tax_registered": row.tax_registered,
        "tax_exempt": row.tax_exempt,
        "tax_exemption_reason": row.tax_exemption_reason,
        "custom_fields": Value::Object(stored_values(&row.custom_fields)?),
    });
    let object = doc.as_object_mut().expect("an object literal");
    object.insert(kind.owner_field().to_owned(), json!(row.owner_reseller_id));
    if kind == PartyKind::Customer {
        object.insert("prepaid".to_owned(), json!(row.prepaid));
    }
    if let Value::Object(overrides) = serde_json::from_str::<Value>(&row.overrides)? {
        object.extend(overrides);
    }
    Ok(doc)
}

/// The rules a patch may break before anything else is looked at.
fn check_fixed(kind: PartyKind, row: &PartyRow, patch: &Map<String, Value>) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let owner_field = kind.owner_field();
    if let Some(value) = patch.get(owner_field)
        && value != &json!(row.owner_reseller_id)
    {
        errors.push(FieldError::new(
            owner_field,
            "immutable",
            format!("{owner_field} cannot be changed after creation"),
        ));
    }
    if let Some(value) = patch.get("currency")
        && value != &json!(row.currency)
    {
        errors.push(FieldError::new(
            "currency",
            "immutable",
            "currency cannot be changed after creation",
        ));
    }
    for key in ["status", "blocked"] {
        let current = if key == "status" {
            json!(row.status)
        } else {
            json!(row.blocked)
        };
        if let Some(value) = patch.get(key)
            && value != &current
        {
            errors.push(FieldError::new(
                key,
                "read_only",
                format!(
                    "{key} changes only through POST /{}s/{}/block and /unblock",
                    kind.as_str(),
                    row.id
                ),
            ));
        }
    }
    errors
}

impl crate::Engine {
    async fn update_party(
        &self,
        actor: &Actor,
        kind: PartyKind,
        id: i64,
        patch: Value,
        now: Timestamp,
    ) -> EngineResult<()> {
        let Value::Object(mut patch) = patch else {
            return Err(EngineError::invalid(
                "",
                "invalid_type",
                "expected a JSON Merge Patch object",
            ));
        };
        // The instant a period change is measured from (interfaces: `as_of`, absent = now).
        let acting_at = match patch.get("as_of") {
            None | Some(Value::Null) => now,
            Some(value) => value
                .as_str()
                .and_then(|text| text.parse::<Timestamp>().ok())
                .ok_or_else(|| EngineError::invalid("as_of", "invalid", "must be an RFC 3339 instant"))?,
        };
        let mut tx = self.store.write().await?;
        let row = load_visible(&mut tx, actor, kind, id).await?;
        let errors = check_fixed(kind, &row, &patch);
        if !errors.is_empty() {
            return Err(EngineError::Invalid(errors));
        }
        for key in IGNORED_KEYS.iter().chain(["status", "blocked"].iter()) {
            patch.remove(*key);
        }
        let patch = Value::Object(patch);
        let before = document_of(kind, &row)?;
        let mut merged = before.clone();
        apply_merge_patch(&mut merged, &patch);
        let doc = PartyDocument::parse(kind, merged.clone())?;
        let writes = match patch.get("custom_fields") {
            Some(Value::Object(writes)) => writes.clone(),
            Some(Value::Null) => {
                // Clearing every value: each stored key is written as "no value".
                stored_values(&row.custom_fields)?
                    .keys()
                    .map(|k| (k.clone(), Value::Null))
                    .collect()
            }
            _ => Map::new(),
        };
        let written = written_keys(&patch);
        let owner = owner_of(&row);
        let request = PartyWrite {
            kind,
            owner,
            doc: &doc,
            existing: Some(&row),
            writes: &writes,
            written: &written,
            personal_data_access: sees_personal_data(&mut tx, actor).await?,
        };
        let settled = settle(&mut tx, actor, &request, now).await?;
        let mut changed: Vec<String> = written
            .iter()
            .filter(|k| before.get(k.as_str()) != merged.get(k.as_str()))
            .cloned()
            .collect();
        if settled.class.id != row.class_id && !changed.iter().any(|k| k == "class_id") {
            changed.push("class_id".to_owned());
        }
        if changed.is_empty() && settled.fields.custom_fields == serde_json::from_str::<Value>(&row.custom_fields)? {
            return Ok(());
        }
        let schedule_changed =
            settled.fields.billing_period != row.billing_period || settled.fields.time_zone != row.time_zone;
        if schedule_changed {
            // §5.2 rule 4: the period current at the change keeps the old setting; the new one starts at its end.
            let billing = row.billing();
            let through = acting_at.max(instants::from_micros(row.activated_at)?);
            crate::ledger::ensure_through(&mut tx, &billing, through, now).await?;
            if let Some(current) = classbill_store::periods::last_of_party(&mut tx, id).await? {
                parties::set_period_anchor(&mut tx, id, current.end_at).await?;
            }
        }
        parties::update(&mut tx, id, &settled.fields, instants::to_micros(now)).await?;
        audit::record(
            &mut tx,
            actor,
            now,
            Change {
                action: "update",
                object_type: kind.as_str(),
                object_id: id.to_string(),
                owner_reseller_id: row.owner_reseller_id,
                details: json!({ "changed": changed, "class_id": settled.class.id }),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn update_customer(
        &self,
        actor: &Actor,
        id: i64,
        patch: Value,
        now: Timestamp,
    ) -> EngineResult<CustomerView> {
        self.update_party(actor, PartyKind::Customer, id, patch, now).await?;
        let mut tx: Tx = self.store.read().await?;
        let row = load_visible(&mut tx, actor, PartyKind::Customer, id).await?;
        Viewer::new(&mut tx, actor).await?.customer(&mut tx, &row).await
    }

    pub async fn update_reseller(
        &self,
        actor: &Actor,
        id: i64,
        patch: Value,
        now: Timestamp,
    ) -> EngineResult<ResellerView> {
        self.update_party(actor, PartyKind::Reseller, id, patch, now).await?;
        let mut tx: Tx = self.store.read().await?;
        let row = load_visible(&mut tx, actor, PartyKind::Reseller, id).await?;
        Viewer::new(&mut tx, actor).await?.reseller(&mut tx, &row).await
    }
}
