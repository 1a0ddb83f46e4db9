//! Which class a party may belong to: checks A1–A4 of §1.3, in order, the first failure answered.

use classbill_domain::{FieldError, Owner};
use classbill_store::classes::ClassRow;
use classbill_store::{Tx, classes};

use crate::actor::Actor;
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

/// The class a new or moved party gets: `class_id` checked by A1–A4, or the owner's Default (§1.2 rule 4).
pub(crate) async fn class_for_party(
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
