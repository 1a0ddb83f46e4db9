//! Out-of-turn invoices (customer-classes §5.10): issued on demand for a party from xDRs it already has and
//! new items, taxed and rounded by the close's own computation, numbered from the owner's sequence, paid from
//! the party's credit at issue, and kept off the period's regular invoice. Everything happens in one write
//! transaction, so a refused request writes nothing.

mod input;

use std::collections::HashMap;

use classbill_domain::FieldError;
use classbill_domain::class::{ClassSettings, TaxMethod, Taxation};
use classbill_domain::party::{PartyKind, PartyOverrides};
use classbill_domain::tax::{CustomTax, TaxLine, VatRateRow};
use classbill_store::allocations;
use classbill_store::close::{self as store_close, EngineXdr, Held};
use classbill_store::invoices::{self as store_invoices, NewInvoice, Series};
use classbill_store::oot::{self as store_oot, XdrFacts};
use classbill_store::parties::PartyRow;
use classbill_store::{StoreError, Tx, catalog, classes, instants, xdrs};
use jiff::Timestamp;
use serde_json::{Value, json};

use crate::actor::Actor;
use crate::audit::{self, Change};
use crate::catalog::{CustomTaxDocument, kinds};
use crate::close::InvoiceView;
use crate::close::compute::{Taxing, charges_of, issue_and_due, price_out_of_turn};
use crate::close::external_tax::{self, TaxDocument, TaxQuestion};
use crate::error::{EngineError, EngineResult};
use crate::installation::InstallationSettings;
use crate::ledger::ParsedXdr;
use crate::parties::load_owned;

/// Kinds that never go on an invoice as charges: the invoice makes its own taxes and rounding, and payments
/// settle invoices instead of being billed (§5.1).
const NOT_INVOICEABLE: &[&str] = &["tax", "rounding", "payment"];

fn corrupt(e: impl std::fmt::Display) -> EngineError {
    EngineError::Store(StoreError::Corrupt(e.to_string()))
}

/// Rule 2 for every named xDR, each violation naming its position in the request.
fn check_xdrs(party: &PartyRow, ids: &[i64], facts: &[XdrFacts]) -> Vec<FieldError> {
    let by_id: HashMap<i64, &XdrFacts> = facts.iter().map(|f| (f.id, f)).collect();
    let mut errors = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let field = format!("xdr_ids[{i}]");
        let not_found = || {
            (
                "not_found",
                format!("xDR {id} is not a record of {} {}", party.kind, party.id),
            )
        };
        let error = match by_id.get(id).filter(|f| f.party_id == party.id) {
            None => Some(not_found()),
            Some(f) if f.invoice_id.is_some() => {
                let invoice = f.invoice_number.clone().unwrap_or_default();
                Some(("already_invoiced", format!("xDR {id} is already on invoice {invoice}")))
            }
            Some(f) if NOT_INVOICEABLE.contains(&f.kind.as_str()) => Some((
                "not_invoiceable",
                format!(
                    "xDR {id} is a {} record; only charges counted in invoice totals go on an invoice",
                    f.kind
                ),
            )),
            Some(f) if f.period_status != "open" => Some((
                "period_frozen",
                format!(
                    "xDR {id} belongs to billing period {}, which is {} and no longer takes changes",
                    f.period_id, f.period_status
                ),
            )),
            Some(_) => None,
        };
        if let Some((code, message)) = error {
            errors.push(FieldError::new(field, code, message));
        }
    }
    errors
}

/// The catalogue a taxation reads when an invoice is priced outside the close: the custom taxes it selects
/// (in its order) and the VAT rate table.
pub(crate) struct TaxTables {
    custom_taxes: Vec<CustomTax>,
    vat_table: Vec<VatRateRow>,
}

impl TaxTables {
    pub(crate) async fn load(tx: &mut Tx, taxation: &Taxation) -> EngineResult<TaxTables> {
        let mut custom_taxes = Vec::new();
        if taxation.method == TaxMethod::Custom {
            for id in &taxation.custom_tax_ids {
                let row = catalog::get(tx, kinds::CUSTOM_TAX, *id)
                    .await?
                    .ok_or_else(|| corrupt(format!("custom tax {id} of the class is missing")))?;
                let doc: CustomTaxDocument = serde_json::from_str(&row.document)?;
                custom_taxes.push(CustomTax {
                    name: doc.name,
                    rate_percent: doc.rate_percent,
                    scope: doc.scope,
                });
            }
        }
        Ok(TaxTables {
            custom_taxes,
            vat_table: crate::catalog::vat_rate_table(tx).await?,
        })
    }

    /// What taxes an invoice of `party` under `class` and `taxation`, before any external engine is asked.
    pub(crate) fn taxing<'a>(
        &'a self,
        party: &'a PartyRow,
        class: &'a ClassSettings,
        taxation: &'a Taxation,
    ) -> Taxing<'a> {
        Taxing {
            party,
            class,
            taxation,
            custom_taxes: &self.custom_taxes,
            vat_table: &self.vat_table,
            external_taxes: None,
        }
    }
}

impl crate::Engine {
    /// `POST /customers/{id}/out-of-turn-invoices` (and `/resellers/{id}/…`): issues an `oot` invoice at
    /// `as_of` (default `now`) from the party's named xDRs and new items. Users of the party's owner only.
    /// Answers the invoice and whether it was issued now; a re-send of the same body under the same
    /// `idempotency_key` answers the invoice issued first, another body under that key is 409.
    pub async fn issue_out_of_turn_invoice(
        &self,
        actor: &Actor,
        kind: PartyKind,
        party_id: i64,
        body: &Value,
        now: Timestamp,
    ) -> EngineResult<(InvoiceView, bool)> {
        // A party taxed by an external engine takes two passes: the first stops where the taxes are needed and
        // rolls back, the engine is asked with no transaction open, and the second uses the answer if it
        // was asked about exactly what the second pass would ask.
        let mut answered: Option<Answered> = None;
        for _ in 0..MAX_PASSES {
            let mut tx = self.store.write().await?;
            let party = load_owned(&mut tx, actor, kind, party_id, "issue out-of-turn invoices of").await?;
            // After the party is found, so that a party the user may not see answers 404 whatever the body.
            let request = input::parse(body).map_err(EngineError::Invalid)?;
            if let Some(stored) = store_oot::find(&mut tx, party.id, &request.idempotency_key).await? {
                tx.rollback().await?;
                if stored.body_hash != request.body_hash {
                    return Err(EngineError::conflict(
                        "idempotency_key_conflict",
                        format!(
                            "idempotency_key `{}` was already used with a different body",
                            request.idempotency_key
                        ),
                    ));
                }
                return Ok((self.get_invoice(actor, stored.invoice_id).await?, false));
            }
            let outcome = match issue(&mut tx, actor, &party, &request, answered.as_ref(), now).await {
                Ok(outcome) => outcome,
                Err(error) => {
                    // Released now: a dropped transaction is rolled back only when the pool next tends its
                    // connection, and until then the party stays claimed and a prompt re-send finds it held.
                    tx.rollback().await?;
                    return Err(error);
                }
            };
            match outcome {
                Outcome::Issued(invoice_id) => {
                    tx.commit().await?;
                    return Ok((self.get_invoice(actor, invoice_id).await?, true));
                }
                Outcome::AskTaxEngine(question) => {
                    let retry_base_ms = InstallationSettings::load(&mut tx).await?.tax_retry_base_ms;
                    tx.rollback().await?;
                    let answer = question.ask(retry_base_ms).await;
                    answered = Some((question, answer));
                }
            }
        }
        Err(EngineError::conflict(
            "changed_meanwhile",
            "the party's charges or taxation changed while the tax engine was asked; send the request again",
        ))
    }
}

/// Passes of an out-of-turn invoice before it gives up on a party whose charges keep changing.
const MAX_PASSES: usize = 3;

/// A question to the external tax engine with the answer it got.
type Answered = (TaxQuestion, Result<Vec<TaxLine>, String>);

/// What one pass of an out-of-turn invoice came to.
enum Outcome {
    Issued(i64),
    /// The taxes come from the external engine, which has not been asked this question yet.
    AskTaxEngine(TaxQuestion),
}

fn tax_engine_failed(reason: String) -> EngineError {
    EngineError::Upstream {
        code: "tax_engine_failed".to_owned(),
        message: format!("the external tax engine did not tax the invoice: {reason}"),
    }
}

/// Issues the invoice of a checked request in `tx`, with the external tax engine's answer when there is one.
async fn issue(
    tx: &mut Tx,
    actor: &Actor,
    party: &PartyRow,
    request: &input::OotRequest,
    answered: Option<&Answered>,
    now: Timestamp,
) -> EngineResult<Outcome> {
    // The close claims its parties the same way, so it never bills xDRs this invoice takes, nor the reverse.
    if store_close::claim_parties(tx, &[party.id], Held::Skip)
        .await?
        .is_empty()
    {
        return Err(EngineError::conflict(
            "being_closed",
            "a billing run or another request is issuing this party's invoices; try again shortly",
        ));
    }
    let class_row = classes::get(tx, party.class_id)
        .await?
        .ok_or_else(|| corrupt(format!("class {} of party {} is missing", party.class_id, party.id)))?;
    let class = crate::classes::settings_of(&class_row)?;
    if !class.out_of_turn_invoices.enabled {
        let message = format!("out-of-turn invoices are disabled for class \"{}\"", class_row.name);
        return Err(EngineError::Conflict {
            code: "out_of_turn_disabled".to_owned(),
            message: message.clone(),
            errors: vec![FieldError::new("out_of_turn_invoices.enabled", "disabled", message)],
        });
    }

    let as_of = request.as_of.unwrap_or(now);
    let as_of_us = instants::to_micros(as_of);
    let now_us = instants::to_micros(now);
    let facts = store_oot::xdr_facts(tx, &request.xdr_ids).await?;
    let mut errors = check_xdrs(party, &request.xdr_ids, &facts);
    if as_of_us < party.activated_at {
        errors.push(FieldError::new(
            "as_of",
            "before_activation",
            "lies before the party's activated_at",
        ));
    }
    if !errors.is_empty() {
        return Err(EngineError::Invalid(errors));
    }

    // Rule 3: the items become xDRs of the party in the period open at `as_of`.
    let items: Vec<ParsedXdr> = request
        .items
        .iter()
        .map(|item| ParsedXdr {
            party_id: party.id,
            external_id: None,
            occurred_at: as_of,
            kind: item.kind.clone(),
            service: item.service.clone(),
            rate_code: item.rate_code.clone(),
            description: item.description.clone(),
            quantity: item.quantity,
            amount: item.amount,
            currency: Some(party.currency.clone()),
        })
        .collect();
    let mut xdr_ids = request.xdr_ids.clone();
    if !items.is_empty() {
        let refs: Vec<&ParsedXdr> = items.iter().collect();
        xdr_ids.extend(crate::ledger::place_and_write_for(tx, party, &refs, as_of, now).await?);
    }
    let charges = xdrs::get_many(tx, &xdr_ids).await?;

    // Rule 4: taxes and rounding as the close computes them, under the settings in force now.
    let overrides = PartyOverrides::from_json(&party.overrides)?;
    let taxation = overrides.taxation.unwrap_or_else(|| class.taxation.clone());
    let tables = TaxTables::load(tx, &taxation).await?;
    let taxing = tables.taxing(party, &class, &taxation);
    let charges = charges_of(&charges).map_err(|error| EngineError::conflict("not_priced", error))?;
    let mut external_taxes = None;
    if taxation.method == TaxMethod::External && taxing.applies() {
        let (invoice_date, _) = issue_and_due(as_of_us, &party.time_zone, 0).map_err(corrupt)?;
        let document = TaxDocument {
            request_id: format!("oot-{}-{}", party.id, request.idempotency_key),
            document: "oot_invoice",
            invoice_date,
            period: None,
            charges: &charges,
        };
        let question = external_tax::question(tx, party, &class, &taxation, document)
            .await?
            .map_err(tax_engine_failed)?;
        match answered {
            Some((asked, answer)) if *asked == question => {
                external_taxes = Some(answer.clone().map_err(tax_engine_failed)?);
            }
            _ => return Ok(Outcome::AskTaxEngine(question)),
        }
    }
    let billing = party.billing();
    let open = crate::ledger::current_open(tx, &billing, as_of, now).await?;
    let owner_key = crate::close::owner_key(party.owner_reseller_id);
    let (prefix, first) = store_invoices::reserve_numbers(tx, Series::Invoices, owner_key, 1).await?;
    let number = format!("{prefix}{first:06}");
    let template = EngineXdr::template(party.id, open.id, as_of_us, format!("oot:{number}"));
    let taxing = Taxing {
        external_taxes: external_taxes.as_deref(),
        ..taxing
    };
    let price =
        price_out_of_turn(&taxing, &charges, &template).map_err(|error| EngineError::conflict("not_priced", error))?;
    let net_days = class.out_of_turn_invoices.payment_terms.net_days();
    let (issue_date, due_date) = issue_and_due(as_of_us, &party.time_zone, net_days).map_err(corrupt)?;
    let totals = price.totals;
    // §5.6 rule 4: the amount due is what the party's unallocated credit leaves open at issue. It is known
    // before the credit is applied, so the announcement made at issue already carries it.
    let credit: i64 = allocations::open_credits(tx, party.id)
        .await?
        .iter()
        .map(|c| c.remaining)
        .sum();
    let amount_due = (totals.total.0 - credit.max(0)).max(0);
    let mut invoice = NewInvoice {
        id: 0,
        number: number.clone(),
        kind: "oot".to_owned(),
        party_id: party.id,
        owner_reseller_id: party.owner_reseller_id,
        class_id: class_row.id,
        class_revision: class_row.revision,
        settings_snapshot: crate::close::freeze::settings_snapshot(party, &class_row)?,
        period_id: None,
        issue_date,
        due_date,
        net_total: totals.net_total.0,
        tax_total: totals.tax_total.0,
        rounding: totals.rounding.0,
        total: totals.total.0,
        // Not balance-aware (§5.6 rule 4).
        previous_balance: 0,
        payments: 0,
        out_of_turn: 0,
        amount_due,
        credit_carried: 0,
        open_amount: totals.total.0.max(0),
        status: if totals.total.0 <= 0 { "nothing_due" } else { "unpaid" }.to_owned(),
        review_state: "not_required".to_owned(),
        card_only: false,
        created_at: now_us,
    };
    let invoice_id = store_invoices::insert(tx, &invoice).await?;
    invoice.id = invoice_id;
    xdr_ids.extend(store_close::insert_engine_xdrs(tx, &price.xdrs, now_us).await?);
    // Rule 5: on this invoice, so the period's regular invoice leaves them out.
    store_invoices::attach_xdrs(tx, invoice_id, &xdr_ids).await?;
    // Applies the credit, freezes the schedule from the OOT policy and announces the invoice:
    // `oot_invoice_issued` and, with `auto_charge` = `on_issue`, the first charge request (§5.8 rule 5).
    let issued = crate::collections::Issued {
        invoice,
        at_us: as_of_us,
        opened: false,
    };
    crate::collections::after_issue(tx, vec![issued], now).await?;
    // The amount due follows the credit actually applied.
    store_oot::settle_amount_due(tx, invoice_id).await?;
    match store_oot::insert(
        tx,
        party.id,
        &request.idempotency_key,
        &request.body_hash,
        invoice_id,
        now_us,
    )
    .await
    {
        Ok(()) => {}
        Err(e) if e.is_unique_violation() => {
            return Err(EngineError::conflict(
                "idempotency_key_conflict",
                "another request with this idempotency_key was issued meanwhile; send it again to get its invoice",
            ));
        }
        Err(e) => return Err(e.into()),
    }
    audit::record(
        tx,
        actor,
        now,
        Change {
            action: "issue",
            object_type: "invoice",
            object_id: invoice_id.to_string(),
            owner_reseller_id: party.owner_reseller_id,
            details: json!({
                "kind": "oot",
                "number": number,
                "party_id": party.id,
                "idempotency_key": request.idempotency_key,
                "xdr_ids": xdr_ids,
                "total": totals.total,
            }),
        },
    )
    .await?;
    Ok(Outcome::Issued(invoice_id))
}
