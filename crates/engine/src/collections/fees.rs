//! The fees of the ladder (§5.9): the late fee and the reactivation fee, booked as engine xDRs of service
//! `collections` in the party's period holding their instant, rounded with the class's precision and method.

use classbill_domain::Money;
use classbill_domain::class::ClassSettings;
use classbill_domain::rounding::round;
use classbill_store::Tx;
use classbill_store::invoices::InvoiceRow;
use classbill_store::parties::PartyRow;
use jiff::Timestamp;

use super::corrupt;
use crate::error::EngineResult;
use crate::ledger::ParsedXdr;

/// A fee about to be booked.
pub(super) struct Fee<'a> {
    /// `late_fee` or `reactivation_fee`.
    pub kind: &'static str,
    pub amount: Money,
    pub invoice: &'a InvoiceRow,
    /// The invoice's party.
    pub party: &'a PartyRow,
    pub class: &'a ClassSettings,
    pub at: Timestamp,
}

/// Books the fee once per invoice (its external id names the invoice, so a repeat is refused by the ledger's
/// key rather than booked twice); answers the rounded amount.
pub(super) async fn book(tx: &mut Tx, fee: &Fee<'_>, now: Timestamp) -> EngineResult<Money> {
    let general = &fee.class.general_info;
    let precision = u8::try_from(general.rounding_precision).map_err(corrupt)?;
    let amount = round(fee.amount, precision, general.rounding_method).map_err(corrupt)?;
    let party = fee.party;
    let xdr = ParsedXdr {
        party_id: party.id,
        external_id: Some(format!("{}:{}", fee.kind, fee.invoice.id)),
        occurred_at: fee.at,
        kind: fee.kind.to_owned(),
        service: "collections".to_owned(),
        rate_code: None,
        description: Some(format!(
            "{} for invoice {}",
            fee.kind.replace('_', " "),
            fee.invoice.number
        )),
        quantity: Money(classbill_domain::money::MONEY_SCALE),
        amount,
        currency: Some(party.currency.clone()),
    };
    crate::ledger::place_and_write_for(tx, party, &[&xdr], fee.at, now).await?;
    Ok(amount)
}
