//! The manual block of §5.9 rule 2: set and lifted by users of the party's owner. Unblocking never charges.

use classbill_store::{instants, parties};
use jiff::Timestamp;
use serde_json::json;

use super::read::{CustomerView, ResellerView, Viewer};
use super::{PartyKind, load_owned, load_visible};
use crate::actor::Actor;
use crate::audit::{self, Change};
use crate::collections::{Cause, refresh_status};
use crate::error::EngineResult;

impl crate::Engine {
    async fn set_block(
        &self,
        actor: &Actor,
        kind: PartyKind,
        id: i64,
        blocked: bool,
        at: Timestamp,
    ) -> EngineResult<()> {
        let mut tx = self.store.write().await?;
        let row = load_owned(&mut tx, actor, kind, id, "block or unblock").await?;
        if row.blocked == blocked {
            return Ok(());
        }
        let at_us = instants::to_micros(at);
        parties::set_blocked(&mut tx, id, blocked, at_us).await?;
        let cause = Cause {
            name: if blocked { "block" } else { "unblock" },
            invoice_id: None,
            at_us,
        };
        let (_, status) = refresh_status(&mut tx, id, cause, at).await?;
        audit::record(
            &mut tx,
            actor,
            at,
            Change {
                action: if blocked { "block" } else { "unblock" },
                object_type: kind.as_str(),
                object_id: id.to_string(),
                owner_reseller_id: row.owner_reseller_id,
                details: json!({ "status": {"old": row.status, "new": status} }),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// `POST /customers/{id}/block` and `/unblock`; `at` is the request's `as_of` or the server clock.
    pub async fn block_customer(
        &self,
        actor: &Actor,
        id: i64,
        blocked: bool,
        at: Timestamp,
    ) -> EngineResult<CustomerView> {
        self.set_block(actor, PartyKind::Customer, id, blocked, at).await?;
        let mut tx = self.store.read().await?;
        let row = load_visible(&mut tx, actor, PartyKind::Customer, id).await?;
        Viewer::new(&mut tx, actor).await?.customer(&mut tx, &row).await
    }

    /// `POST /resellers/{id}/block` and `/unblock`.
    pub async fn block_reseller(
        &self,
        actor: &Actor,
        id: i64,
        blocked: bool,
        at: Timestamp,
    ) -> EngineResult<ResellerView> {
        self.set_block(actor, PartyKind::Reseller, id, blocked, at).await?;
        let mut tx = self.store.read().await?;
        let row = load_visible(&mut tx, actor, PartyKind::Reseller, id).await?;
        Viewer::new(&mut tx, actor).await?.reseller(&mut tx, &row).await
    }
}
