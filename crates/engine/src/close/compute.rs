//! What closing one period books and issues, computed from its frozen settings and its xDRs before anything
//! is written: taxes (S3), rounding (S4), the balance reset (S11) and the regular invoice's amounts (S6).

use std::str::FromStr;

use classbill_domain::class::{ClassSettings, TaxMethod, TaxTiming, Taxation};
use classbill_domain::invoice_math::{
    BalanceSummary, ChargeXdr, InvoiceTotals, ROUNDING_SERVICE, TAX_SERVICE, TaxXdr, balance_summary, invoice_totals,
};
use classbill_domain::rounding::sum_money;
use classbill_domain::tax::{
    CustomTax, PartyTaxAttributes, TaxBases, TaxLine, VatRateRow, XdrKind, choose_vat_rate, custom_taxes, fixed_vat,
    generic_vat,
};
use classbill_domain::{Money, Percent};
use classbill_store::close::EngineXdr;
use classbill_store::instants;
use classbill_store::parties::PartyRow;
use classbill_store::periods::PeriodRow;
use classbill_store::xdrs::XdrRow;
use jiff::Timestamp;

/// The service of the balance-reset adjustment (§5.1 engine services).
pub const BALANCE_RESET_SERVICE: &str = "balance_reset";

/// Everything a period's close needs besides its xDRs.
pub struct CloseInput<'a> {
    pub party: &'a PartyRow,
    pub period: &'a PeriodRow,
    /// The class document frozen at S1.
    pub class: &'a ClassSettings,
    /// The taxation in force: the party's override of the whole tab, else the class's.
    pub taxation: &'a Taxation,
    /// The custom taxes the taxation selects, in its order.
    pub custom_taxes: &'a [CustomTax],
    pub vat_table: &'a [VatRateRow],
    /// The external tax engine's answers, asked before planning (method `external` only).
    pub external_taxes: Option<&'a [TaxLine]>,
    /// The engine's answer for the separate recurring-fee invoice.
    pub external_recurring_taxes: Option<&'a [TaxLine]>,
    pub previous_balance: Money,
}

/// The regular invoice a close issues.
pub struct InvoicePlan {
    pub totals: InvoiceTotals,
    pub balance: BalanceSummary,
}

/// The engine xDRs to book and the invoice to issue.
pub struct ClosePlan {
    pub xdrs: Vec<EngineXdr>,
    /// The uninvoiced xDRs of the period that go on the invoice (the booked tax and rounding xDRs join them).
    pub invoiced_xdr_ids: Vec<i64>,
    pub invoice: Option<InvoicePlan>,
    /// The separate recurring-fee invoice issued just before the regular one (§5.10 rule 6).
    pub recurring_fees: Option<RecurringFeesPlan>,
}

/// The period's `recurring` xDRs on their own invoice, with their own taxes and rounding.
pub struct RecurringFeesPlan {
    /// Its tax and rounding xDRs, booked with the close.
    pub xdrs: Vec<EngineXdr>,
    /// The recurring xDRs it invoices.
    pub invoiced_xdr_ids: Vec<i64>,
    pub totals: InvoiceTotals,
}

fn is_postpaid(party: &PartyRow) -> bool {
    party.kind == "reseller" || !party.prepaid
}

fn arithmetic(e: impl std::fmt::Display) -> String {
    format!("amounts out of range: {e}")
}

/// What decides the taxes of one invoice's charges (§5.5): the close's regular invoice, its recurring-fee
/// invoice, an out-of-turn invoice or a credit note.
pub(crate) struct Taxing<'a> {
    pub(crate) party: &'a PartyRow,
    /// The class document the invoice is issued under.
    pub(crate) class: &'a ClassSettings,
    /// The taxation in force: the party's override of the whole tab, else the class's.
    pub(crate) taxation: &'a Taxation,
    /// The custom taxes the taxation selects, in its order.
    pub(crate) custom_taxes: &'a [CustomTax],
    pub(crate) vat_table: &'a [VatRateRow],
    /// The external tax engine's answer, asked beforehand (method `external` only).
    pub(crate) external_taxes: Option<&'a [TaxLine]>,
}

impl CloseInput<'_> {
    fn taxing(&self) -> Taxing<'_> {
        Taxing {
            party: self.party,
            class: self.class,
            taxation: self.taxation,
            custom_taxes: self.custom_taxes,
            vat_table: self.vat_table,
            external_taxes: self.external_taxes,
        }
    }

    /// Whether the close issues a regular invoice (§5.6): not for postpaid members of a class billed externally.
    fn issues_invoice(&self) -> bool {
        self.class.regular_invoices.enabled && !(is_postpaid(self.party) && self.class.general_info.billed_externally)
    }

    /// Whether the period's recurring fees go on their own invoice (§5.10 rule 6).
    fn separate_fees(&self) -> bool {
        self.issues_invoice() && self.class.out_of_turn_invoices.separate_recurring_fee_invoice
    }
}

/// Where one xDR of a closing period goes.
enum Role {
    Payment,
    /// An uninvoiced recurring fee on the separate recurring-fee invoice.
    SeparateFee,
    /// Nothing of an unclosed period is on its regular invoice yet, so an invoiced xDR is on an out-of-turn
    /// invoice (§5.10 rule 5): left out of this invoice, counted in its balance.
    OnOutOfTurn,
    /// Taxes booked at payment (§5.5) count in the invoice's amounts like the taxes of S3.
    BookedTax,
    /// A failed close books nothing, so an unclosed period holds no rounding xDR of its own; should one appear,
    /// it goes on the invoice without being recounted.
    Rounding,
    Charge,
}

fn role(row: &XdrRow, kind: XdrKind, separate_fees: bool) -> Role {
    match kind {
        XdrKind::Payment => Role::Payment,
        XdrKind::Recurring if separate_fees && row.invoice_id.is_none() => Role::SeparateFee,
        _ if row.invoice_id.is_some() => Role::OnOutOfTurn,
        XdrKind::Tax => Role::BookedTax,
        XdrKind::Rounding => Role::Rounding,
        _ => Role::Charge,
    }
}

fn kind_of(row: &XdrRow) -> Result<XdrKind, String> {
    XdrKind::from_str(&row.kind).map_err(|e| format!("xDR {}: {e}", row.id))
}

/// The charges a close taxes, per invoice.
pub(super) struct ChargesToTax {
    pub regular: Vec<ChargeXdr>,
    /// Those of the separate recurring-fee invoice; empty without one.
    pub recurring: Vec<ChargeXdr>,
}

pub(super) fn charges_to_tax(input: &CloseInput, xdrs: &[XdrRow]) -> Result<ChargesToTax, String> {
    let separate_fees = input.separate_fees();
    let mut charges = ChargesToTax {
        regular: Vec::new(),
        recurring: Vec::new(),
    };
    for row in xdrs {
        let kind = kind_of(row)?;
        match role(row, kind, separate_fees) {
            Role::Charge => charges.regular.push(charge_of(row, kind)?),
            Role::SeparateFee => charges.recurring.push(charge_of(row, kind)?),
            _ => {}
        }
    }
    Ok(charges)
}

/// S3 is skipped for method `none`, exempt parties, prepaid customers taxed at payment and postpaid members of
/// a class billed externally.
pub(super) fn taxes_apply(input: &CloseInput) -> bool {
    input.taxing().applies()
}

impl Taxing<'_> {
    /// Whether the invoice gets taxes of its own at all.
    pub(crate) fn applies(&self) -> bool {
        let postpaid = is_postpaid(self.party);
        !(self.taxation.method == TaxMethod::None
            || self.party.tax_exempt
            || (!postpaid && self.taxation.tax_timing == TaxTiming::AtPayment)
            || (postpaid && self.class.general_info.billed_externally))
    }

    fn lines(&self, bases: &TaxBases) -> Result<Vec<TaxLine>, String> {
        let taxation = self.taxation;
        match taxation.method {
            TaxMethod::None => Ok(Vec::new()),
            TaxMethod::FixedVat => {
                let vat = taxation
                    .fixed_vat
                    .as_ref()
                    .ok_or("the class selects fixed_vat without its settings")?;
                Ok(vec![
                    fixed_vat(bases, vat.rate_percent, vat.inclusive).map_err(arithmetic)?,
                ])
            }
            TaxMethod::Custom => custom_taxes(bases, self.custom_taxes).map_err(arithmetic),
            TaxMethod::GenericVat => {
                let vat = taxation
                    .generic_vat
                    .as_ref()
                    .ok_or("the class selects generic_vat without its settings")?;
                let party = PartyTaxAttributes {
                    country: self.party.country.clone(),
                    tax_id: self.party.tax_id.clone(),
                    tax_registered: self.party.tax_registered,
                    tax_exempt: self.party.tax_exempt,
                };
                let decision = choose_vat_rate(&vat.home_country, &party, self.vat_table).map_err(|e| e.to_string())?;
                Ok(generic_vat(&decision, bases, vat.inclusive)
                    .map_err(arithmetic)?
                    .into_iter()
                    .collect())
            }
            TaxMethod::External => self
                .external_taxes
                .map(<[TaxLine]>::to_vec)
                .ok_or_else(|| "tax_engine_failed: the external tax engine was not asked".to_owned()),
        }
    }
}

/// An engine xDR like `template` (party, period, instant), keyed `<template key>:<step>:<n>`.
fn engine_xdr_like(
    template: &EngineXdr,
    step: &str,
    n: usize,
    kind: XdrKind,
    service: &str,
    amount: Money,
) -> EngineXdr {
    EngineXdr {
        kind: kind.as_str().to_owned(),
        service: service.to_owned(),
        amount: amount.0,
        external_id: format!("{}:{step}:{n}", template.external_id),
        ..template.clone()
    }
}

fn engine_xdr(input: &CloseInput, step: &str, n: usize, kind: XdrKind, service: &str, amount: Money) -> EngineXdr {
    let template = EngineXdr::template(
        input.party.id,
        input.period.id,
        input.period.end_at,
        format!("close:{}", input.period.id),
    );
    engine_xdr_like(&template, step, n, kind, service, amount)
}

/// A tax xDR carrying `line`.
fn tax_xdr(base: EngineXdr, line: &TaxLine) -> EngineXdr {
    EngineXdr {
        tax_name: Some(line.name.clone()),
        tax_rate_percent: Some(line.rate_percent.units()),
        tax_base: Some(line.base.0),
        tax_amount: Some(line.tax_amount.0),
        reverse_charge: Some(line.reverse_charge),
        outside_scope: Some(line.outside_scope),
        ..base
    }
}

/// The rows as the invoice computation takes them.
pub(crate) fn charges_of(rows: &[XdrRow]) -> Result<Vec<ChargeXdr>, String> {
    rows.iter().map(|row| charge_of(row, kind_of(row)?)).collect()
}

fn charge_of(row: &XdrRow, kind: XdrKind) -> Result<ChargeXdr, String> {
    Ok(ChargeXdr {
        id: row.id,
        occurred_at: instants::from_micros(row.occurred_at).map_err(|e| e.to_string())?,
        kind,
        service: row.service.clone(),
        rate_code: row.rate_code.clone(),
        quantity: row.quantity,
        amount: Money(row.amount),
    })
}

/// A tax xDR already in the period, as the invoice counts it.
pub(super) fn booked_tax(row: &XdrRow) -> TaxXdr {
    TaxXdr {
        id: row.id,
        tax: TaxLine {
            name: row.tax_name.clone().unwrap_or_default(),
            rate_percent: Percent::from_units(row.tax_rate_percent.unwrap_or(0)),
            base: Money(row.tax_base.unwrap_or(0)),
            tax_amount: Money(row.tax_amount.unwrap_or(0)),
            amount: Money(row.amount),
            reverse_charge: row.reverse_charge.unwrap_or(false),
            outside_scope: row.outside_scope.unwrap_or(false),
        },
    }
}

/// The new taxes of one invoice and, when it is issued, its totals.
struct Priced {
    /// The tax lines to book (§5.5); none where taxes do not apply.
    taxes: Vec<TaxLine>,
    /// §5.6 rule 2 over the charges, the taxes booked before and the new ones, rounded per `general_info`.
    totals: Option<InvoiceTotals>,
}

/// S3 and S4 of one invoice, shared by the close and out-of-turn invoices: the taxes of `charges` and, with
/// `issued`, the totals over the charges, the tax xDRs already booked (`booked`, taxes at payment) and the new
/// taxes.
fn price(taxing: &Taxing, charges: &[ChargeXdr], booked: Vec<TaxXdr>, issued: bool) -> Result<Priced, String> {
    let mut new = Vec::new();
    if taxing.applies() {
        let bases = TaxBases::from_lines(charges.iter().map(|c| (c.kind, c.amount))).map_err(arithmetic)?;
        new = taxing.lines(&bases)?;
    }
    let mut totals = None;
    if issued {
        let mut taxes = booked;
        taxes.extend(new.iter().enumerate().map(|(n, line)| TaxXdr {
            id: n as i64,
            tax: line.clone(),
        }));
        let general = &taxing.class.general_info;
        let precision = u8::try_from(general.rounding_precision)
            .map_err(|_| "the class rounding precision is out of range".to_owned())?;
        totals = Some(invoice_totals(charges, &taxes, precision, general.rounding_method).map_err(arithmetic)?);
    }
    Ok(Priced { taxes: new, totals })
}

/// Plans the close of one period over its xDRs. An `Err` names why the period cannot close; nothing of it is
/// written then.
pub fn plan(input: &CloseInput, xdrs: &[XdrRow]) -> Result<ClosePlan, String> {
    let class = input.class;
    let postpaid = is_postpaid(input.party);
    let mut charges = Vec::new();
    let mut invoiced_xdr_ids = Vec::new();
    let mut payments = Vec::new();
    let mut taxes = Vec::new();
    let mut out_of_turn = Vec::new();
    let issues_invoice = input.issues_invoice();
    let separate_fees = input.separate_fees();
    let mut recurring_charges = Vec::new();
    let mut recurring_ids = Vec::new();
    for row in xdrs {
        let kind = kind_of(row)?;
        match role(row, kind, separate_fees) {
            Role::Payment => payments.push(Money(row.amount)),
            Role::SeparateFee => {
                recurring_ids.push(row.id);
                recurring_charges.push(charge_of(row, kind)?);
            }
            Role::OnOutOfTurn => out_of_turn.push(Money(row.amount)),
            Role::BookedTax => {
                invoiced_xdr_ids.push(row.id);
                taxes.push(booked_tax(row));
            }
            Role::Rounding => invoiced_xdr_ids.push(row.id),
            Role::Charge => {
                invoiced_xdr_ids.push(row.id);
                charges.push(charge_of(row, kind)?);
            }
        }
    }
    let priced = price(&input.taxing(), &charges, taxes, issues_invoice)?;
    let mut booked = Vec::new();

    // §5.10 rule 6: recurring fees taxed and rounded on their own invoice, counted in the regular invoice's
    // balance like any out-of-turn invoice.
    let mut recurring_fees = None;
    if !recurring_charges.is_empty() {
        let taxing = Taxing {
            external_taxes: input.external_recurring_taxes,
            ..input.taxing()
        };
        let fees = price(&taxing, &recurring_charges, Vec::new(), true)?;
        let totals = fees
            .totals
            .ok_or_else(|| "the recurring-fee invoice has no totals".to_owned())?;
        let mut fee_xdrs: Vec<EngineXdr> = fees
            .taxes
            .iter()
            .enumerate()
            .map(|(n, line)| {
                tax_xdr(
                    engine_xdr(input, "S6R-tax", n + 1, XdrKind::Tax, TAX_SERVICE, line.amount),
                    line,
                )
            })
            .collect();
        if totals.rounding != Money::ZERO {
            fee_xdrs.push(engine_xdr(
                input,
                "S6R-rounding",
                1,
                XdrKind::Rounding,
                ROUNDING_SERVICE,
                totals.rounding,
            ));
        }
        out_of_turn.push(totals.total);
        recurring_fees = Some(RecurringFeesPlan {
            xdrs: fee_xdrs,
            invoiced_xdr_ids: recurring_ids,
            totals,
        });
    }

    // S3 taxes.
    for (n, line) in priced.taxes.iter().enumerate() {
        let xdr = engine_xdr(input, "S3", n + 1, XdrKind::Tax, TAX_SERVICE, line.amount);
        booked.push(tax_xdr(xdr, line));
    }

    // S4 totals and rounding, for the invoice S6 issues.
    let mut invoice = None;
    if let Some(totals) = priced.totals {
        if totals.rounding != Money::ZERO {
            booked.push(engine_xdr(
                input,
                "S4",
                1,
                XdrKind::Rounding,
                ROUNDING_SERVICE,
                totals.rounding,
            ));
        }
        let paid = sum_money(payments.iter().copied()).map_err(arithmetic)?;
        let out_of_turn = sum_money(out_of_turn.iter().copied()).map_err(arithmetic)?;
        let balance = balance_summary(input.previous_balance, paid, out_of_turn, totals.total).map_err(arithmetic)?;
        invoice = Some(InvoicePlan { totals, balance });
    }

    // S11 balance reset.
    let general = &class.general_info;
    if postpaid && general.billed_externally && general.reset_balance_each_period {
        let end = sum_money(
            std::iter::once(input.previous_balance)
                .chain(xdrs.iter().map(|x| Money(x.amount)))
                .chain(booked.iter().map(|x| Money(x.amount))),
        )
        .map_err(arithmetic)?;
        if end != Money::ZERO {
            let mut reset = engine_xdr(
                input,
                "S11",
                1,
                XdrKind::Adjustment,
                BALANCE_RESET_SERVICE,
                Money(-end.0),
            );
            reset.hidden = general.hide_reset_xdr;
            booked.push(reset);
        }
    }

    Ok(ClosePlan {
        xdrs: booked,
        invoiced_xdr_ids,
        invoice,
        recurring_fees,
    })
}

/// The close instant of an `after_delay` period: its end plus the installation and class delays.
pub fn close_instant(period_end_us: i64, installation_hours: i64, extra_hours: i64) -> i64 {
    period_end_us + (installation_hours + extra_hours) * 3_600_000_000
}

/// The issue date (§5.3): the local date of the close instant in the party's zone, as `YYYY-MM-DD`, with the
/// due date `net_days` later.
pub fn issue_and_due(close_us: i64, zone: &str, net_days: i64) -> Result<(String, String), String> {
    let at: Timestamp = instants::from_micros(close_us).map_err(|e| e.to_string())?;
    let zone = classbill_domain::period::time_zone(zone).map_err(|e| e.to_string())?;
    let issue = at.to_zoned(zone).date();
    let due = issue
        .checked_add(jiff::Span::new().days(net_days))
        .map_err(|e| e.to_string())?;
    Ok((issue.to_string(), due.to_string()))
}

/// The amounts of an out-of-turn invoice (§5.10 rule 4).
pub(crate) struct OutOfTurnPrice {
    /// Its tax xDRs and, when the total needs rounding, its rounding xDR.
    pub xdrs: Vec<EngineXdr>,
    pub totals: InvoiceTotals,
}

/// Prices an out-of-turn invoice over its charge xDRs with the close's own S3 and S4, so both kinds of
/// invoice are taxed and rounded by one computation (§5.10 rule 4). The engine xDRs are made like
/// `template` (party, period, instant) and keyed `<template key>:S3:<n>` and `<template key>:S4:1`.
pub(crate) fn price_out_of_turn(
    taxing: &Taxing,
    charges: &[ChargeXdr],
    template: &EngineXdr,
) -> Result<OutOfTurnPrice, String> {
    let priced = price(taxing, charges, Vec::new(), true)?;
    let totals = priced.totals.ok_or_else(|| "an issued invoice has totals".to_owned())?;
    let mut booked: Vec<EngineXdr> = priced
        .taxes
        .iter()
        .enumerate()
        .map(|(n, line)| {
            let xdr = engine_xdr_like(template, "S3", n + 1, XdrKind::Tax, TAX_SERVICE, line.amount);
            tax_xdr(xdr, line)
        })
        .collect();
    if totals.rounding != Money::ZERO {
        booked.push(engine_xdr_like(
            template,
            "S4",
            1,
            XdrKind::Rounding,
            ROUNDING_SERVICE,
            totals.rounding,
        ));
    }
    Ok(OutOfTurnPrice { xdrs: booked, totals })
}
