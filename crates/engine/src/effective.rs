//! The effective settings of a customer or reseller (§4): gathers the party, its class, its owner and the
//! installation settings, and lets the domain merge them.

use classbill_domain::Owner;
use classbill_domain::effective::{EffectiveInput, OwnerFacts, PartyFacts, effective_settings};
use classbill_domain::party::{PartyKind, PartyOverrides};
use classbill_store::{StoreError, Tx, classes, parties};
use jiff::Timestamp;

pub use classbill_domain::effective::{EffectiveSettings, Leaf, Node, Rule, Source};

use crate::actor::Actor;
use crate::error::{EngineError, EngineResult};

/// The owner facts a party inherits: the owning reseller's name, address and zone; nothing for the operator.
async fn owner_facts(tx: &mut Tx, owner_reseller_id: Option<i64>) -> EngineResult<OwnerFacts> {
    let Some(reseller_id) = owner_reseller_id else {
        return Ok(OwnerFacts::Administrator);
    };
    let reseller = parties::get(tx, reseller_id)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("owner reseller {reseller_id} of a party is missing")))?;
    Ok(OwnerFacts::Reseller {
        reseller_id,
        name: reseller.name,
        email: reseller.email,
        time_zone: reseller.time_zone,
    })
}

impl crate::Engine {
    /// Every effective setting of party `id` with its source. The party must be of `kind` and visible to the
    /// actor (administrators see all parties, a reseller user only the parties its reseller owns); otherwise 404.
    pub async fn effective_settings(
        &self,
        actor: &Actor,
        kind: PartyKind,
        id: i64,
        now: Timestamp,
    ) -> EngineResult<EffectiveSettings> {
        let mut tx = self.store.read().await?;
        let party = parties::get(&mut tx, id)
            .await?
            .filter(|p| p.kind == kind.as_str() && actor.sees(Owner::from_reseller_id(p.owner_reseller_id)))
            .ok_or_else(|| EngineError::NotFound(format!("{kind} {id} not found")))?;
        of_party(&mut tx, kind, &party, now).await
    }
}

/// The effective settings of a party already loaded in `tx`, its class as stored now.
pub(crate) async fn of_party(
    tx: &mut Tx,
    kind: PartyKind,
    party: &parties::PartyRow,
    now: Timestamp,
) -> EngineResult<EffectiveSettings> {
    let class = classes::get(tx, party.class_id)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("class {} of {kind} {} is missing", party.class_id, party.id)))?;
    let class_settings = crate::classes::settings_of(&class)?;
    let overrides = PartyOverrides::from_json(&party.overrides)?;
    let owner = owner_facts(tx, party.owner_reseller_id).await?;
    let installation = crate::installation::installation_values(tx).await?;
    let input = EffectiveInput {
        class_id: class.id,
        class_revision: class.revision,
        class: class_settings,
        party: PartyFacts {
            kind,
            prepaid: party.prepaid,
            tax_exempt: party.tax_exempt,
            time_zone: party.time_zone.clone(),
            overrides,
        },
        owner,
        installation,
        computed_at: now,
    };
    Ok(effective_settings(&input))
}
