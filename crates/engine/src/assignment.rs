//! Which class a party may belong to: checks A1–A6 of §1.3, in order, the first failure answered. A1 needs the
//! store; A2–A6 are plain functions of facts already loaded, so bulk assignment runs them in memory.

use classbill_domain::custom_field::CustomFieldDefinition;
use classbill_domain::{FieldError, Owner};
use classbill_store::classes::ClassRow;
use classbill_store::{Tx, classes};
use serde_json::{Map, Value};

use crate::actor::Actor;
use crate::classes::{owner_of, settings_of};
use crate::error::{EngineError, EngineResult};
use crate::parties::PartyKind;

fn owner_phrase(owner: Owner) -> String {
    match owner {
        Owner::Administrator => "the administrator".to_owned(),
        Owner::Reseller { reseller_id } => format!("reseller {reseller_id}"),
    }
}

fn parties_phrase(party_owner: Owner, kind: PartyKind) -> String {
    let plural = match kind {
        PartyKind::Reseller => "resellers",
        PartyKind::Customer => "customers",
    };
    match party_owner {
        Owner::Administrator => format!("the operator's direct {plural}"),
        Owner::Reseller { reseller_id } => format!("{plural} of reseller {reseller_id}"),
    }
}

/// What the checks need to know about the party joining.
pub(crate) struct Joiner<'a> {
    pub owner: Owner,
    pub kind: PartyKind,
    /// `None` while creating a party without currency: the class supplies it (§1.4 rule 2).
    pub currency: Option<&'a str>,
}

/// A1: the class exists and the actor sees it.
pub(crate) async fn visible_class(tx: &mut Tx, actor: &Actor, id: i64) -> EngineResult<ClassRow> {
    classes::get(tx, id)
        .await?
        .filter(|row| actor.sees(owner_of(row)))
        .ok_or_else(|| EngineError::invalid("class_id", "not_found", format!("class {id} not found")))
}

/// A2: administrators assign administrator classes, a reseller's users that reseller's classes.
pub(crate) fn may_assign(actor: &Actor, class: &ClassRow) -> EngineResult<()> {
    let class_owner = owner_of(class);
    if class_owner == actor.owner() {
        return Ok(());
    }
    let who = match class_owner {
        Owner::Administrator => "administrator",
        Owner::Reseller { .. } => "reseller",
    };
    let message = format!(
        "class {} is managed by {}; only that {who}'s users may assign it",
        class.id,
        owner_phrase(class_owner)
    );
    Err(EngineError::Forbidden {
        message: message.clone(),
        errors: vec![FieldError::new("class_id", "not_assignable", message)],
    })
}

/// A3 and A4: the class belongs to the party's owner, and its currency (if any) is the party's.
pub(crate) fn fits(class: &ClassRow, class_currency: Option<&str>, joiner: &Joiner<'_>) -> EngineResult<()> {
    let class_owner = owner_of(class);
    if class_owner != joiner.owner {
        return Err(EngineError::invalid(
            "class_id",
            "owner_mismatch",
            format!(
                "class {} is managed by {}; {} need a class managed by {}",
                class.id,
                owner_phrase(class_owner),
                parties_phrase(joiner.owner, joiner.kind),
                owner_phrase(joiner.owner)
            ),
        ));
    }
    if let (Some(class_currency), Some(currency)) = (class_currency, joiner.currency)
        && class_currency != currency
    {
        return Err(EngineError::invalid(
            "class_id",
            "currency_mismatch",
            format!("class currency {class_currency} does not match party currency {currency}"),
        ));
    }
    Ok(())
}

/// The class a new or moved party gets: `class_id` checked by A1–A4, or the owner's Default (§1.2 rule 4),
/// which skips A1–A4.
pub(crate) async fn chosen_class(
    tx: &mut Tx,
    actor: &Actor,
    class_id: Option<i64>,
    joiner: &Joiner<'_>,
) -> EngineResult<ClassRow> {
    let Some(id) = class_id else {
        let default = classes::default_of(tx, joiner.owner.reseller_id())
            .await?
            .ok_or_else(|| {
                EngineError::NotFound(format!(
                    "the Default class of {} is missing",
                    owner_phrase(joiner.owner)
                ))
            })?;
        classes::lock(tx, default.id).await?;
        return Ok(default);
    };
    classes::lock(tx, id).await?;
    let row = visible_class(tx, actor, id).await?;
    may_assign(actor, &row)?;
    let currency = settings_of(&row)?.currency;
    fits(&row, currency.map(|c| c.as_str()), joiner)?;
    Ok(row)
}

/// A5: every mandatory field enabled on the class has a value for the party: `values` are the stored values
/// with the request's applied, and a definition default counts as a value. Each missing one is reported.
pub(crate) fn mandatory_values_present(
    class_name: &str,
    definitions: &[CustomFieldDefinition],
    values: &Map<String, Value>,
) -> EngineResult<()> {
    let errors: Vec<FieldError> = missing_mandatory(class_name, definitions, values);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(EngineError::Invalid(errors))
    }
}

pub(crate) fn missing_mandatory(
    class_name: &str,
    definitions: &[CustomFieldDefinition],
    values: &Map<String, Value>,
) -> Vec<FieldError> {
    definitions
        .iter()
        .filter(|d| d.mandatory && d.default.is_none() && !crate::parties::has_value(values, &d.key))
        .map(|d| {
            FieldError::new(
                format!("custom_fields.{}", d.key),
                "required",
                format!("required by class \"{class_name}\""),
            )
        })
        .collect()
}

/// A6: a closed party keeps its class.
pub(crate) fn not_closed(party_id: i64, status: &str) -> EngineResult<()> {
    if status != "closed" {
        return Ok(());
    }
    let message = format!("party {party_id} is closed");
    Err(EngineError::Conflict {
        code: "party_closed".to_owned(),
        message: message.clone(),
        errors: vec![FieldError::new("class_id", "party_closed", message)],
    })
}
