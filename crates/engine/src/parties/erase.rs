//! Erasure of a closed party's personal data (`POST /customers/{id}/erase`): its name, e-mail, phone, tax id
//! and its personal-data custom values go; its invoices, xDRs, statistics and every amount stay, as the law
//! keeps financial records. Only a terminated (closed) party can be erased, by a user of its owner.

use classbill_domain::custom_field::CustomFieldDefinition;
use classbill_store::{catalog, instants, parties};
use jiff::Timestamp;
use serde_json::{Map, Value, json};

use super::stored_values;
use super::{PartyKind, load_owned};
use crate::actor::Actor;
use crate::audit::{self, Change};
use crate::catalog::kinds;
use crate::error::{EngineError, EngineResult};

impl crate::Engine {
    /// Erases the personal data of a closed customer or reseller; answers the keys of the custom values removed.
    pub async fn erase_party(
        &self,
        actor: &Actor,
        kind: PartyKind,
        id: i64,
        now: Timestamp,
    ) -> EngineResult<Vec<String>> {
        let mut tx = self.store.write().await?;
        let row = load_owned(&mut tx, actor, kind, id, "erase").await?;
        if row.status != "closed" {
            return Err(EngineError::conflict(
                "not_closed",
                format!(
                    "{} {id} is {}; only a terminated party can be erased",
                    kind.as_str(),
                    row.status
                ),
            ));
        }
        let mut personal = Vec::new();
        for definition in catalog::list(&mut tx, kinds::CUSTOM_FIELD, None, None, i64::MAX).await? {
            let definition: CustomFieldDefinition = serde_json::from_str(&definition.document)?;
            if definition.personal_data {
                personal.push(definition.key);
            }
        }
        let mut values: Map<String, Value> = stored_values(&row.custom_fields)?;
        let mut removed: Vec<String> = values.keys().filter(|key| personal.contains(key)).cloned().collect();
        removed.sort();
        for key in &removed {
            values.remove(key);
        }
        let name = format!("Erased {} {id}", kind.as_str());
        let custom = serde_json::to_string(&Value::Object(values))?;
        parties::erase_personal(&mut tx, id, &name, &custom, instants::to_micros(now)).await?;
        audit::record(
            &mut tx,
            actor,
            now,
            Change {
                action: "erase",
                object_type: kind.as_str(),
                object_id: id.to_string(),
                owner_reseller_id: row.owner_reseller_id,
                details: json!({"erased": ["name", "email", "phone", "tax_id"], "custom_fields": removed}),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(removed)
    }
}
