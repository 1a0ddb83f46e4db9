//! The effective settings of a customer or reseller (§4): gathers the party, its class, its owner and the
//! installation settings, and lets the domain merge them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use classbill_domain::Owner;
use classbill_domain::class::ClassSettings;
use classbill_domain::effective::{EffectiveInput, InstallationValues, OwnerFacts, PartyFacts, effective_settings};
use classbill_domain::party::{PartyKind, PartyOverrides};
use classbill_store::{Store, StoreError, Tx, classes, parties, settings};
use jiff::Timestamp;
use serde::Serialize;

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
        let merged = self.merged_effective_settings(actor, kind, id, now).await?;
        let mut settings = merged.settings.clone();
        settings.computed_at = now;
        Ok(settings)
    }

    /// [`crate::Engine::effective_settings`] as the JSON text of the API's answer. The merged document is
    /// serialised once per merge, not per read: copying and serialising its tree was most of a read's cost.
    pub async fn effective_settings_json(
        &self,
        actor: &Actor,
        kind: PartyKind,
        id: i64,
        now: Timestamp,
    ) -> EngineResult<String> {
        let merged = self.merged_effective_settings(actor, kind, id, now).await?;
        merged.json_at(now)
    }

    /// The merged settings of party `id`, from the cache when nothing they are made of changed.
    ///
    /// One statement reads the party, its class, its owner and the fingerprint of the installation settings,
    /// outside a transaction; the class document is parsed and the installation values worked out only when
    /// they differ from the last ones this engine saw.
    async fn merged_effective_settings(
        &self,
        actor: &Actor,
        kind: PartyKind,
        id: i64,
        now: Timestamp,
    ) -> EngineResult<Merged> {
        let mut single = self.store.read_single().await?;
        let row = parties::get_for_effective(&mut single, id).await?;
        drop(single);
        let row = row
            .filter(|r| r.party.kind == kind.as_str() && actor.sees(Owner::from_reseller_id(r.party.owner_reseller_id)))
            .ok_or_else(|| EngineError::NotFound(format!("{kind} {id} not found")))?;
        let party = &row.party;
        let settings = self.parsed_classes.settings(party.class_id, &row.class_document)?;
        let owner = match (party.owner_reseller_id, &row.owner_name, &row.owner_time_zone) {
            (None, _, _) => OwnerFacts::Administrator,
            (Some(reseller_id), Some(name), Some(time_zone)) => OwnerFacts::Reseller {
                reseller_id,
                name: name.clone(),
                email: row.owner_email.clone(),
                time_zone: time_zone.clone(),
            },
            (Some(reseller_id), _, _) => {
                return Err(
                    StoreError::Corrupt(format!("owner reseller {reseller_id} of {kind} {id} is missing")).into(),
                );
            }
        };
        let installation = match self.installation_values.get(&row.settings_fingerprint) {
            Some(values) => values,
            None => self.installation_values.load(&self.store).await?,
        };
        let key = MergeKey {
            kind,
            class_id: party.class_id,
            class_revision: row.class_revision,
            class: settings,
            prepaid: party.prepaid,
            tax_exempt: party.tax_exempt,
            time_zone: party.time_zone.clone(),
            overrides: party.overrides.clone(),
            owner,
            installation,
        };
        if let Some(merged) = self.merged_settings.get(id, &key) {
            return Ok(merged);
        }
        let merged = resolve(
            kind,
            party,
            key.class_revision,
            (*key.class).clone(),
            key.owner.clone(),
            key.installation.clone(),
            now,
        )?;
        Ok(self.merged_settings.put(id, key, merged)?)
    }
}

/// Everything the merged settings of one party are made of, but the instant they are computed at, which
/// only appears as `computed_at`.
#[derive(Debug, PartialEq, Eq)]
struct MergeKey {
    kind: PartyKind,
    class_id: i64,
    class_revision: i64,
    /// The settings of the class's stored document.
    class: Arc<ClassSettings>,
    prepaid: bool,
    tax_exempt: bool,
    time_zone: String,
    /// The stored overrides document.
    overrides: String,
    owner: OwnerFacts,
    installation: InstallationValues,
}

/// Parties merged last, at most this many; when full, the cache starts over.
const MERGED_CAPACITY: usize = 1024;

type Merged = Arc<MergedEntry>;

/// A party's merged settings, what they were merged from, and the JSON of the merged document.
#[derive(Debug)]
struct MergedEntry {
    key: MergeKey,
    settings: EffectiveSettings,
    /// `settings.settings` serialised: the object the answer's other members are put in front of.
    document: String,
}

/// The members of the answer in front of the merged document, in the order `EffectiveSettings` has them.
#[derive(Serialize)]
struct Head<'a> {
    class_id: i64,
    class_name: &'a str,
    class_revision: i64,
    computed_at: Timestamp,
}

impl MergedEntry {
    fn new(key: MergeKey, settings: EffectiveSettings) -> Result<MergedEntry, serde_json::Error> {
        let document = serde_json::to_string(&settings.settings)?;
        Ok(MergedEntry {
            key,
            settings,
            document,
        })
    }

    /// The JSON of the settings computed at `now`: the same text `serde_json` makes of them.
    fn json_at(&self, now: Timestamp) -> EngineResult<String> {
        let head = serde_json::to_string(&Head {
            class_id: self.settings.class_id,
            class_name: &self.settings.class_name,
            class_revision: self.settings.class_revision,
            computed_at: now,
        })?;
        let members = &self.document[1..];
        let mut json = String::with_capacity(head.len() + members.len() + 1);
        json.push_str(&head[..head.len() - 1]);
        if members != "}" {
            json.push(',');
        }
        json.push_str(members);
        Ok(json)
    }
}

/// The merged effective settings of recently read parties, each beside everything it was merged from. Merging
/// walks the whole class document and cost more than the rest of the read; a party read again with the same
/// inputs gets a copy with a new `computed_at`, and a change to any input, by any process, is a miss.
#[derive(Debug, Default)]
pub(crate) struct MergedSettingsCache {
    by_party: Mutex<HashMap<i64, Merged>>,
}

impl MergedSettingsCache {
    fn get(&self, party_id: i64, key: &MergeKey) -> Option<Merged> {
        let entry = self.lock().get(&party_id).cloned()?;
        (entry.key == *key).then_some(entry)
    }

    fn put(&self, party_id: i64, key: MergeKey, merged: EffectiveSettings) -> Result<Merged, serde_json::Error> {
        let entry = Arc::new(MergedEntry::new(key, merged)?);
        let mut by_party = self.lock();
        if by_party.len() >= MERGED_CAPACITY {
            by_party.clear();
        }
        by_party.insert(party_id, Arc::clone(&entry));
        Ok(entry)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<i64, Merged>> {
        // Every change is one insert or one clear.
        self.by_party.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The installation values of the effective settings (`installation.*`), worked out again only when the stored
/// settings changed, by any process: they come from about a dozen settings read one by one, while the
/// fingerprint of all of them ([`settings::FINGERPRINT`]) comes with the party's own statement.
#[derive(Debug, Default)]
pub(crate) struct InstallationValuesCache {
    last: Mutex<Option<Arc<Worked>>>,
}

/// Installation values and the fingerprint of the stored settings they were worked out from.
#[derive(Debug)]
struct Worked {
    fingerprint: Option<String>,
    values: InstallationValues,
}

impl InstallationValuesCache {
    /// The values for settings with this fingerprint, if they are the last ones worked out.
    fn get(&self, fingerprint: &Option<String>) -> Option<InstallationValues> {
        let last = self.lock().clone()?;
        (last.fingerprint == *fingerprint).then(|| last.values.clone())
    }

    /// Works the values out from the settings stored now and keeps them for the next reads.
    async fn load(&self, store: &Store) -> EngineResult<InstallationValues> {
        let mut tx = store.read().await?;
        let before = settings::fingerprint(&mut tx).await?;
        let values = crate::installation::installation_values(&mut tx).await?;
        // On PostgreSQL each statement sees the latest commit: keep the values only if no setting changed
        // while they were read.
        if settings::fingerprint(&mut tx).await? == before {
            *self.lock() = Some(Arc::new(Worked {
                fingerprint: before,
                values: values.clone(),
            }));
        }
        Ok(values)
    }

    fn lock(&self) -> MutexGuard<'_, Option<Arc<Worked>>> {
        // Replaced whole, so never half written.
        self.last.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The effective settings of a party already loaded in `tx`, its class as stored now.
pub(crate) async fn of_party(
    tx: &mut Tx,
    kind: PartyKind,
    party: &parties::PartyRow,
    now: Timestamp,
) -> EngineResult<EffectiveSettings> {
    let class = classes::document(tx, party.class_id)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("class {} of {kind} {} is missing", party.class_id, party.id)))?;
    let settings = serde_json::from_str(&class.document)?;
    let owner = owner_facts(tx, party.owner_reseller_id).await?;
    let installation = crate::installation::installation_values(tx).await?;
    resolve(kind, party, class.revision, settings, owner, installation, now)
}

/// Merges the party, its class's `settings`, its owner and the installation values.
fn resolve(
    kind: PartyKind,
    party: &parties::PartyRow,
    class_revision: i64,
    settings: ClassSettings,
    owner: OwnerFacts,
    installation: InstallationValues,
    now: Timestamp,
) -> EngineResult<EffectiveSettings> {
    let overrides = PartyOverrides::from_json(&party.overrides)?;
    let input = EffectiveInput {
        class_id: party.class_id,
        class_revision,
        class: settings,
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
