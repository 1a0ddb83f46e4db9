//! `GET /xdrs`: the records of the parties the actor sees, filtered, in id order.

use classbill_store::instants;
use classbill_store::xdrs::{self, XdrFilter};
use jiff::Timestamp;

use super::{XdrView, visible_party};
use crate::actor::{Actor, Role};
use crate::error::EngineResult;
use crate::page::{Page, PageRequest};

/// The list filters; `from` is inclusive and `to` exclusive on `occurred_at`.
#[derive(Debug, Clone, Default)]
pub struct XdrListFilter {
    pub party_id: Option<i64>,
    pub period_id: Option<i64>,
    pub kind: Option<String>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
}

impl crate::Engine {
    /// A `party_id` the actor may not see is 404, like the party itself.
    pub async fn list_xdrs(
        &self,
        actor: &Actor,
        filter: XdrListFilter,
        page: PageRequest,
    ) -> EngineResult<Page<XdrView>> {
        let mut tx = self.store.read().await?;
        if let Some(id) = filter.party_id {
            visible_party(&mut tx, actor, id).await?;
        }
        let store_filter = XdrFilter {
            party_id: filter.party_id,
            period_id: filter.period_id,
            kind: filter.kind,
            from: filter.from.map(instants::to_micros),
            to: filter.to.map(instants::to_micros),
            owner: match actor.role {
                Role::Administrator => None,
                Role::Reseller(own) => Some(Some(own)),
            },
        };
        let rows = xdrs::list(&mut tx, &store_filter, page.cursor_id()?, page.limit + 1).await?;
        let views = rows
            .into_iter()
            .map(XdrView::from_row)
            .collect::<EngineResult<Vec<_>>>()?;
        Ok(Page::from_rows(views, page.limit, |v| v.id.to_string()))
    }
}

impl crate::Engine {
    /// The records an invoice carries (its charges, taxes and rounding), in id order: what a credit note may
    /// name. Visible when the invoice is.
    pub async fn invoice_xdrs(&self, actor: &Actor, invoice_id: i64) -> EngineResult<Vec<XdrView>> {
        let mut tx = self.store.read().await?;
        classbill_store::invoices::get(&mut tx, invoice_id)
            .await?
            .filter(|row| actor.sees(classbill_domain::Owner::from_reseller_id(row.owner_reseller_id)))
            .ok_or_else(|| crate::EngineError::NotFound(format!("invoice {invoice_id} not found")))?;
        classbill_store::close::xdrs_of_invoice(&mut tx, invoice_id)
            .await?
            .into_iter()
            .map(XdrView::from_row)
            .collect()
    }
}
