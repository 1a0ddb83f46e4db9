//! Write-only secrets (tax engine bearer tokens, webhook signing keys), stored per owner.

use classbill_store::{catalog, instants};
use jiff::Timestamp;

use crate::actor::Actor;
use crate::audit::{self, Change};
use crate::error::{EngineError, EngineResult};

impl crate::Engine {
    /// Stores or replaces a secret of the actor's owner. The value never appears in any answer or log.
    pub async fn put_secret(&self, actor: &Actor, name: &str, value: &str, now: Timestamp) -> EngineResult<()> {
        let valid_name = !name.is_empty()
            && name.len() <= 100
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if !valid_name {
            return Err(EngineError::invalid(
                "name",
                "invalid",
                "use 1 to 100 characters of A-Z a-z 0-9 _ - .",
            ));
        }
        if value.is_empty() || value.len() > 4096 {
            return Err(EngineError::invalid("value", "out_of_range", "must be 1 to 4096 bytes"));
        }
        let owner = actor.owner().reseller_id();
        let mut tx = self.store.write().await?;
        catalog::put_secret(&mut tx, owner, name, value, instants::to_micros(now)).await?;
        audit::record(
            &mut tx,
            actor,
            now,
            Change {
                action: "put",
                object_type: "secret",
                object_id: name.to_owned(),
                owner_reseller_id: owner,
                details: serde_json::json!({}),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
