//! Customers and resellers ("parties", §0, §4): one id space, one record shape. Customers add `reseller_id`
//! and `prepaid`, resellers add `parent_reseller_id` and get their own Default class (§1.2). A party's owner
//! is the administrator (owner id null) or the reseller named by that id; a reseller user sees and acts only
//! on the parties its reseller owns (§1.5).

mod block;
mod create;
mod custom_values;
mod document;
mod erase;
mod members;
mod overrides;
mod read;
mod update;

use classbill_domain::Owner;
use classbill_store::Tx;
use classbill_store::parties::{self, PartyRow};

use crate::actor::Actor;
use crate::error::{EngineError, EngineResult};

pub use classbill_domain::party::{MetricOverride, PartyKind, PartyOverrides};
pub use document::{NewCustomer, NewReseller};
pub use members::{MemberItem, MemberOutcome, MemberOutcomeKind};
pub use read::{CustomerView, PartyCommon, PartyListFilter, ResellerView};

/// Party statuses of §5.9 rule 2.
pub const STATUSES: &[&str] = &["open", "limited", "suspended", "blocked", "closed"];

/// The kind a stored party row has.
pub(crate) fn kind_of(row: &PartyRow) -> PartyKind {
    if row.kind == "reseller" {
        PartyKind::Reseller
    } else {
        PartyKind::Customer
    }
}

pub(crate) fn owner_of(row: &PartyRow) -> Owner {
    Owner::from_reseller_id(row.owner_reseller_id)
}

/// The party of `kind` if the actor may see it; invisible and missing parties are alike (404).
pub(crate) async fn load_visible(tx: &mut Tx, actor: &Actor, kind: PartyKind, id: i64) -> EngineResult<PartyRow> {
    match parties::get(tx, id).await? {
        Some(row) if row.kind == kind.as_str() && actor.sees(owner_of(&row)) => Ok(row),
        _ => Err(EngineError::NotFound(format!("{} {id} not found", kind.as_str()))),
    }
}

/// [`load_visible`] for a change only users of the party's owner may make; `action` names it for the 403
/// ("refund credit of").
pub(crate) async fn load_owned(
    tx: &mut Tx,
    actor: &Actor,
    kind: PartyKind,
    id: i64,
    action: &str,
) -> EngineResult<PartyRow> {
    let row = load_visible(tx, actor, kind, id).await?;
    if owner_of(&row) != actor.owner() {
        return Err(EngineError::forbidden(format!(
            "only users of {} may {action} {} {id}",
            owner_of(&row),
            kind.as_str()
        )));
    }
    Ok(row)
}

/// The zone a new party of `owner` gets when none is given (§4): the owning reseller's, else the
/// installation's, else UTC.
pub(crate) async fn owner_time_zone(tx: &mut Tx, owner: Owner) -> EngineResult<String> {
    if let Owner::Reseller { reseller_id } = owner
        && let Some(parent) = parties::get(tx, reseller_id).await?
    {
        return Ok(parent.time_zone);
    }
    Ok(crate::installation::InstallationSettings::load(tx).await?.time_zone)
}

pub(crate) use custom_values::{enabled_fields, has_value, stored_values};
