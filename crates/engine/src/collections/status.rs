//! A party's status (§5.9 rule 2): `closed` if terminated, else `blocked` if blocked by hand, else
//! `suspended` if an invoice holds a suspension active, else `limited` if one holds a limitation, else `open`.
//! Every change is kept in the party's status history and announced by `customer_status_changed`.

use classbill_store::collections::{self as store_collections, StatusChange};
use classbill_store::parties::{self, PartyRow};
use classbill_store::{Tx, instants};
use jiff::Timestamp;

use super::corrupt;
use crate::error::EngineResult;
use crate::notifications::{self, Event};

/// What changed a party's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cause {
    /// `limitation`, `suspension`, `termination`, `release`, `block` or `unblock`.
    pub name: &'static str,
    pub invoice_id: Option<i64>,
    /// When it happened (for ladder steps, the step's own due instant).
    pub at_us: i64,
}

/// The status rule 2 gives the party now.
async fn derived_status(tx: &mut Tx, party: &PartyRow) -> EngineResult<&'static str> {
    if party.status == "closed" {
        return Ok("closed");
    }
    if party.blocked {
        return Ok("blocked");
    }
    let active = store_collections::active_actions(tx, party.id).await?;
    Ok(if active.suspended > 0 {
        "suspended"
    } else if active.limited > 0 {
        "limited"
    } else {
        "open"
    })
}

/// Stores `to` as the party's status when it differs, with its history row and integration event; answers the
/// status the party had before.
pub(super) async fn set_status(
    tx: &mut Tx,
    party: &PartyRow,
    to: &str,
    cause: Cause,
    now: Timestamp,
) -> EngineResult<String> {
    if party.status == to {
        return Ok(party.status.clone());
    }
    store_collections::change_status(
        tx,
        &StatusChange {
            id: 0,
            party_id: party.id,
            from_status: party.status.clone(),
            to_status: to.to_owned(),
            at: cause.at_us,
            cause: cause.name.to_owned(),
            invoice_id: cause.invoice_id,
            created_at: instants::to_micros(now),
        },
    )
    .await?;
    let at = instants::from_micros(cause.at_us)?;
    let event = Event::new("customer_status_changed", party.id, party.id)
        .occurrence(format!("{}:{to}", cause.at_us))
        .with("from_status", party.status.as_str())
        .with("to_status", to)
        .with("at", at.to_string())
        .with("cause", cause.name)
        .with("invoice_id", cause.invoice_id);
    notifications::emit(tx, &event, now).await?;
    Ok(party.status.clone())
}

/// Recomputes the party's status after `cause` and stores it; answers `(before, after)`.
pub(crate) async fn refresh_status(
    tx: &mut Tx,
    party_id: i64,
    cause: Cause,
    now: Timestamp,
) -> EngineResult<(String, String)> {
    let party = parties::get(tx, party_id)
        .await?
        .ok_or_else(|| corrupt(format!("party {party_id} vanished")))?;
    let to = derived_status(tx, &party).await?;
    let before = set_status(tx, &party, to, cause, now).await?;
    Ok((before, to.to_owned()))
}
