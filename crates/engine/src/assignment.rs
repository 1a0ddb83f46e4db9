//! Which class a party may belong to: checks A1–A5 of §1.3, in order, the first failure answered.

use classbill_domain::custom_field::CustomFieldDefinition;
use classbill_domain::{FieldError, Owner};
use classbill_store::classes::ClassRow;
use classbill_store::{Tx, catalog, classes};
use serde_json::Value;

use crate::actor::Actor;
use crate::catalog::kinds;
use crate::classes::{owner_of, settings_of};
use crate::error::{EngineError, EngineResult};

fn owner_phrase(owner: Owner) -> String {
    match owner {
        Owner::Administrator => "the administrator".to_owned(),
        Owner::Reseller { reseller_id } => format!("reseller {reseller_id}"),
    }
}

fn parties_phrase(party_owner: Owner, kind: &str) -> String {
    let plural = if kind == "reseller" { "resellers" } else { "customers" };
    match party_owner {
        Owner::Administrator => format!("the operator's direct {plural}"),
        Owner::Reseller { reseller_id } => format!("{plural} of reseller {reseller_id}"),
    }
}

/// The class a new party without custom-field values gets; see [`class_for_party_with_values`].
pub(crate) async fn class_for_party(
    tx: &mut Tx,
    actor: &Actor,
    class_id: Option<i64>,
    party_owner: Owner,
    party_kind: &str,
    party_currency: Option<&str>,
) -> EngineResult<ClassRow> {
    let no_values = Value::Object(serde_json::Map::new());
    class_for_party_with_values(tx, actor, class_id, party_owner, party_kind, party_currency, &no_values).await
}

/// The class a new or moved party gets: `class_id` checked by A1–A5, or the owner's Default (§1.2 rule 4),
/// which skips A1–A4 but not A5. `custom_fields` are the party's values after the write (request and stored).
pub(crate) async fn class_for_party_with_values(
    tx: &mut Tx,
    actor: &Actor,
    class_id: Option<i64>,
    party_owner: Owner,
    party_kind: &str,
    party_currency: Option<&str>,
    custom_fields: &Value,
) -> EngineResult<ClassRow> {
    let row = chosen_class(tx, actor, class_id, party_owner, party_kind, party_currency).await?;
    mandatory_values_present(tx, &row, custom_fields).await?;
    Ok(row)
}

/// A1–A4 for an explicit `class_id`, or the owner's Default.
async fn chosen_class(
    tx: &mut Tx,
    actor: &Actor,
    class_id: Option<i64>,
    party_owner: Owner,
    party_kind: &str,
    party_currency: Option<&str>,
) -> EngineResult<ClassRow> {
    let Some(id) = class_id else {
        return classes::default_of(tx, party_owner.reseller_id())
            .await?
            .ok_or_else(|| {
                EngineError::NotFound(format!("the Default class of {} is missing", owner_phrase(party_owner)))
            });
    };
    let row = classes::get(tx, id).await?.filter(|row| actor.sees(owner_of(row)));
    let Some(row) = row else {
        return Err(EngineError::invalid(
            "class_id",
            "not_found",
            format!("class {id} not found"),
        ));
    };
    let class_owner = owner_of(&row);
    if class_owner != actor.owner() {
        let message = format!(
            "class {id} is managed by {}; only that {}'s users may assign it",
            owner_phrase(class_owner),
            if class_owner == Owner::Administrator {
                "administrator"
            } else {
                "reseller"
            }
        );
        return Err(EngineError::Forbidden {
            message: message.clone(),
            errors: vec![FieldError::new("class_id", "not_assignable", message)],
        });
    }
    if class_owner != party_owner {
        return Err(EngineError::invalid(
            "class_id",
            "owner_mismatch",
            format!(
                "class {id} is managed by {}; {} need a class managed by {}",
                owner_phrase(class_owner),
                parties_phrase(party_owner, party_kind),
                owner_phrase(party_owner)
            ),
        ));
    }
    if let (Some(class_currency), Some(currency)) = (settings_of(&row)?.currency, party_currency)
        && class_currency.as_str() != currency
    {
        return Err(EngineError::invalid(
            "class_id",
            "currency_mismatch",
            format!(
                "class currency {} does not match party currency {currency}",
                class_currency.as_str()
            ),
        ));
    }
    Ok(row)
}

/// A5: every mandatory field enabled on the class without a default needs a value of the party; each missing
/// one is reported.
async fn mandatory_values_present(tx: &mut Tx, row: &ClassRow, custom_fields: &Value) -> EngineResult<()> {
    let mut errors = Vec::new();
    for field_id in settings_of(row)?.custom_fields.enabled_field_ids {
        let Some(stored) = catalog::get(tx, kinds::CUSTOM_FIELD, field_id).await? else {
            continue;
        };
        let definition: CustomFieldDefinition = serde_json::from_str(&stored.document)?;
        if definition.mandatory && definition.default.is_none() && !has_value(custom_fields, &definition.key) {
            errors.push(FieldError::new(
                format!("custom_fields.{}", definition.key),
                "required",
                format!("required by class \"{}\"", row.name),
            ));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(EngineError::Invalid(errors))
    }
}

/// A value counts when present and not empty (§5.14 rule 1).
fn has_value(custom_fields: &Value, key: &str) -> bool {
    custom_fields
        .get(key)
        .is_some_and(|value| !(value.is_null() || value.as_str() == Some("")))
}
