//! Checking incoming rows (§5.1) before anything is written: the fields, the party (visible, currency,
//! activation, a period left to join after a termination), and idempotency on `(party_id, external_id)` against
//! the store and within the batch.

use classbill_domain::FieldError;
use classbill_domain::Owner;
use classbill_store::xdrs::{self, XdrRow};
use classbill_store::{Tx, instants};
use classbill_store::{parties, periods};
use jiff::Timestamp;

use super::FastMap;
use super::input::{ParsedXdr, XdrText, parse};
use super::memo::{IngestMemo, Parties};
use crate::actor::Actor;
use crate::error::EngineResult;

/// What becomes of one incoming row.
pub(super) enum Fate {
    /// Failed a check; field names are relative to the row.
    Rejected(Vec<FieldError>),
    /// An identical record is stored already.
    Stored(Box<XdrRow>),
    /// The same as an earlier row of this batch.
    SameAs(usize),
    /// To be written.
    New(Box<ParsedXdr>),
}

fn same_record(stored: &XdrRow, x: &ParsedXdr) -> bool {
    stored.party_id == x.party_id
        && stored.external_id == x.external_id
        && stored.occurred_at == instants::to_micros(x.occurred_at)
        && stored.kind == x.kind
        && stored.service == x.service
        && stored.rate_code == x.rate_code
        && stored.description == x.description
        && stored.quantity == x.quantity.0
        && stored.amount == x.amount.0
}

fn same_input(a: &ParsedXdr, b: &ParsedXdr) -> bool {
    ParsedXdr {
        currency: None,
        ..a.clone()
    } == ParsedXdr {
        currency: None,
        ..b.clone()
    }
}

/// Whether [`check`] looks the batch's idempotency keys up in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Keys {
    /// Assumes that none is stored, the common case of fresh records: the key index refuses the write if one is,
    /// and the batch is then checked again with [`Keys::LookUp`].
    AssumeNew,
    /// Looks them up, so that a re-sent row is answered with what is stored instead of written again.
    LookUp,
}

impl Fate {
    /// A key used with another body, in the store or earlier in the batch.
    pub(super) fn is_conflict(&self) -> bool {
        matches!(self, Fate::Rejected(errors) if errors.iter().any(|e| e.code == "conflict"))
    }
}

fn conflict(message: impl Into<String>) -> Fate {
    Fate::Rejected(vec![FieldError::new("external_id", "conflict", message)])
}

/// The checks that need the party: visible, same currency, not before the activation. A value is `None` where the
/// row does not give it readably (its own check names that).
fn party_errors(
    id: Option<i64>,
    currency: Option<&str>,
    occurred_at: Option<Timestamp>,
    parties: &Parties,
    actor: &Actor,
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let Some(id) = id else {
        return errors;
    };
    let Some(party) = parties
        .get(&id)
        .filter(|p| actor.sees(Owner::from_reseller_id(p.profile.owner_reseller_id)))
    else {
        errors.push(FieldError::new(
            "party_id",
            "not_found",
            format!("party {id} not found"),
        ));
        return errors;
    };
    if let Some(currency) = currency
        && currency != party.profile.currency
    {
        errors.push(FieldError::new(
            "currency",
            "currency_mismatch",
            format!("party {id} is billed in {}, not {currency}", party.profile.currency),
        ));
    }
    if let Some(at) = occurred_at
        && instants::to_micros(at) < party.activated_at
    {
        errors.push(FieldError::new(
            "occurred_at",
            "before_activation",
            "lies before the party's activated_at",
        ));
    }
    errors
}

/// [`party_errors`] of a row that failed its own checks, from the fields that can still be read.
fn party_errors_of_text(text: &XdrText, parties: &Parties, actor: &Actor) -> Vec<FieldError> {
    let currency = text
        .currency
        .as_deref()
        .map(|c| c.trim().to_uppercase())
        .filter(|c| !c.is_empty());
    party_errors(
        party_id_of(text),
        currency.as_deref(),
        text.occurred_at.as_deref().and_then(|t| t.trim().parse().ok()),
        parties,
        actor,
    )
}

fn party_id_of(text: &XdrText) -> Option<i64> {
    text.party_id.as_deref().and_then(|t| t.trim().parse().ok())
}

/// The idempotency keys of the rows to be written, in index order so that a lookup walks the key index forward.
fn new_keys(fates: &[Fate]) -> Vec<(i64, String)> {
    let mut keys: Vec<(i64, String)> = fates
        .iter()
        .filter_map(|f| match f {
            Fate::New(x) => x.external_id.clone().map(|e| (x.party_id, e)),
            _ => None,
        })
        .collect();
    keys.sort_unstable();
    keys
}

/// Checks every row and decides its fate; nothing is written. The parties of the batch are read into
/// `memo.parties`, those it holds already excepted.
pub(super) async fn check(
    tx: &mut Tx,
    actor: &Actor,
    texts: &[&XdrText],
    mut keys_stored: Keys,
    memo: &mut IngestMemo,
) -> EngineResult<Vec<Fate>> {
    let mut ids: Vec<i64> = texts
        .iter()
        .filter_map(|t| party_id_of(t))
        .filter(|id| !memo.parties.contains_key(id))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    for party in parties::billing_many(tx, &ids).await? {
        memo.learn(party);
    }
    let parties = &memo.parties;

    let mut fates: Vec<Fate> = texts
        .iter()
        .map(|text| match parse(text) {
            Ok(parsed) => {
                let against_party = party_errors(
                    Some(parsed.party_id),
                    parsed.currency.as_deref(),
                    Some(parsed.occurred_at),
                    parties,
                    actor,
                );
                if against_party.is_empty() {
                    Fate::New(Box::new(parsed))
                } else {
                    Fate::Rejected(against_party)
                }
            }
            Err(mut errors) => {
                errors.extend(party_errors_of_text(text, parties, actor));
                Fate::Rejected(errors)
            }
        })
        .collect();

    let mut terminated: Vec<i64> = fates
        .iter()
        .filter_map(|f| match f {
            Fate::New(x) if parties[&x.party_id].closed() => Some(x.party_id),
            _ => None,
        })
        .collect();
    terminated.sort_unstable();
    terminated.dedup();
    if !terminated.is_empty() {
        // Identical re-sends of what such a party stored before its termination are still answered.
        keys_stored = Keys::LookUp;
    }
    let found = match keys_stored {
        Keys::AssumeNew => Vec::new(),
        Keys::LookUp => xdrs::find_by_keys(tx, &new_keys(&fates)).await?,
    };
    let stored: FastMap<(i64, &str), &XdrRow> = found
        .iter()
        .filter_map(|row| row.external_id.as_deref().map(|e| ((row.party_id, e), row)))
        .collect();
    // Keys borrow the rows' own text; the fates that change are set once the rows have all been seen.
    let mut first_with_key: FastMap<(i64, &str), usize> = FastMap::default();
    let mut changed = Vec::new();
    for (index, fate) in fates.iter().enumerate() {
        let Fate::New(x) = fate else { continue };
        let Some(external_id) = x.external_id.as_deref() else {
            continue;
        };
        let key = (x.party_id, external_id);
        let fate = if let Some(&row) = stored.get(&key) {
            if same_record(row, x) {
                Fate::Stored(Box::new(row.clone()))
            } else {
                conflict(format!(
                    "xDR {} of party {} was stored with a different body",
                    key.1, key.0
                ))
            }
        } else if let Some(&earlier) = first_with_key.get(&key) {
            match &fates[earlier] {
                Fate::New(first) if same_input(first, x) => Fate::SameAs(earlier),
                _ => conflict(format!(
                    "xDR {} of party {} appears earlier in this batch with a different body",
                    key.1, key.0
                )),
            }
        } else {
            first_with_key.insert(key, index);
            continue;
        };
        changed.push((index, fate));
    }
    for (index, fate) in changed {
        fates[index] = fate;
    }
    refuse_after_termination(tx, &mut fates, &terminated).await?;
    Ok(fates)
}

/// Refuses the new rows of terminated parties (§5.9 rule 5) that no period would take: those at or after the end
/// of the party's last period, where the termination ended it, and the others once that period is no longer
/// open, since a record whose own period is closed joins the open one (§5.1). Rows repeating a refused one share
/// its fate.
async fn refuse_after_termination(tx: &mut Tx, fates: &mut [Fate], terminated: &[i64]) -> EngineResult<()> {
    if terminated.is_empty() {
        return Ok(());
    }
    let last: FastMap<i64, (i64, bool)> = periods::last_of_parties(tx, terminated)
        .await?
        .into_iter()
        .map(|row| (row.party_id, (row.end_at, row.status == "open")))
        .collect();
    for index in 0..fates.len() {
        let refusal = match &fates[index] {
            Fate::New(x) if terminated.binary_search(&x.party_id).is_ok() => match last.get(&x.party_id) {
                Some(&(end_at, _)) if instants::to_micros(x.occurred_at) >= end_at => vec![FieldError::new(
                    "occurred_at",
                    "after_termination",
                    format!(
                        "lies at or after the end of party {}'s last period ({}), where its termination ended it",
                        x.party_id,
                        instants::from_micros(end_at)?
                    ),
                )],
                Some(&(_, true)) => continue,
                _ => vec![FieldError::new(
                    "party_id",
                    "terminated",
                    format!(
                        "party {} is terminated and its final period is closed: it takes no more records",
                        x.party_id
                    ),
                )],
            },
            Fate::SameAs(first) => match &fates[*first] {
                Fate::Rejected(errors) => errors.clone(),
                _ => continue,
            },
            _ => continue,
        };
        fates[index] = Fate::Rejected(refusal);
    }
    Ok(())
}
