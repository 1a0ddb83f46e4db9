//! The invoice as templates see it. Typst templates read it with `json("invoice.json")`, the HTML view gets the
//! same fields. Every amount is already a display string in the invoice's currency (`"29.90"`, `"12.34567"`,
//! `"-60.00"`): templates print, they never calculate.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceDocument {
    pub number: String,
    /// `regular`, `oot` (out of turn), `recurring_fees` or `credit_note`.
    pub kind: String,
    /// `YYYY-MM-DD` on the customer's calendar.
    pub issue_date: String,
    pub due_date: String,
    /// On a credit note: the number of the invoice it corrects.
    pub credited_invoice: Option<String>,
    /// The billing period of a regular or recurring-fee invoice.
    pub period: Option<PeriodDates>,
    /// ISO 4217 code.
    pub currency: String,
    /// Who issues the invoice: the operator or the reseller owning the customer.
    pub seller: PartyDetails,
    /// Who is billed: a customer or a reseller.
    pub customer: PartyDetails,
    /// The charge lines grouped by service, groups in the order of their first line.
    pub groups: Vec<ServiceGroup>,
    pub taxes: Vec<TaxLine>,
    pub totals: Totals,
    /// Whether the line amounts already include the tax (inclusive VAT).
    pub prices_include_tax: bool,
    /// Payable only by the charge connector (a recurring-fee invoice).
    pub card_only: bool,
    /// Legal notes: reverse charge, tax exemption, outside the scope of VAT.
    pub notes: Vec<String>,
    /// The customer's custom fields marked visible to the end user, in definition order.
    pub custom_fields: Vec<CustomFieldValue>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeriodDates {
    pub start: String,
    /// The last day of the period (inclusive).
    pub end: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartyDetails {
    pub name: String,
    /// The customer or reseller id; none for the operator.
    pub account: Option<String>,
    pub country: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub tax_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceGroup {
    pub service: String,
    pub lines: Vec<ChargeLine>,
    pub subtotal: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChargeLine {
    /// `recurring`, `usage`, `one_time`, `credit`, `adjustment`, …
    pub kind: String,
    pub rate_code: Option<String>,
    pub quantity: String,
    pub amount: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaxLine {
    pub name: String,
    /// `"19"`, `"6.25"`.
    pub rate_percent: String,
    pub base: String,
    pub amount: String,
    pub reverse_charge: bool,
    pub outside_scope: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub net_total: String,
    pub tax_total: String,
    pub rounding: String,
    pub total: String,
    /// The balance before this invoice's period (regular invoices; `"0.00"` on the others).
    pub previous_balance: String,
    /// Payments of the period, negative.
    pub payments: String,
    /// Amounts of the period already billed on out-of-turn and recurring-fee invoices.
    pub out_of_turn: String,
    pub amount_due: String,
    pub credit_carried: String,
    pub open_amount: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomFieldValue {
    pub label: String,
    pub value: String,
}

fn text(s: &str) -> String {
    s.to_owned()
}

fn charge(kind: &str, rate_code: &str, quantity: &str, amount: &str) -> ChargeLine {
    ChargeLine {
        kind: text(kind),
        rate_code: Some(text(rate_code)),
        quantity: text(quantity),
        amount: text(amount),
    }
}

/// The invoice of the specification's worked example §7.1: uploaded templates are compiled against it, and it
/// shows template authors every field filled.
pub fn sample_invoice() -> InvoiceDocument {
    InvoiceDocument {
        number: text("INV-000042"),
        kind: text("regular"),
        issue_date: text("2025-04-01"),
        due_date: text("2025-04-16"),
        credited_invoice: None,
        period: Some(PeriodDates {
            start: text("2025-03-01"),
            end: text("2025-03-31"),
        }),
        currency: text("EUR"),
        seller: PartyDetails {
            name: text("Example Telecom GmbH"),
            account: None,
            country: Some(text("DE")),
            email: Some(text("billing@telecom.example")),
            phone: Some(text("+49 30 1234567")),
            tax_id: Some(text("DE987654321")),
        },
        customer: PartyDetails {
            name: text("Berlin Dental GmbH"),
            account: Some(text("1001")),
            country: Some(text("DE")),
            email: Some(text("office@dental.example")),
            phone: None,
            tax_id: Some(text("DE123456789")),
        },
        groups: vec![
            ServiceGroup {
                service: text("sip_trunk"),
                lines: vec![charge("recurring", "TRUNK-M", "1", "29.90")],
                subtotal: text("29.90"),
            },
            ServiceGroup {
                service: text("voice"),
                lines: vec![
                    charge("usage", "DE-FIX", "412", "12.34567"),
                    charge("usage", "DE-MOB", "1203", "20.00001"),
                    charge("usage", "INTL-AT", "96", "5.11244"),
                    charge("credit", "GOODWILL", "1", "-2.00"),
                ],
                subtotal: text("35.45812"),
            },
            ServiceGroup {
                service: text("sms"),
                lines: vec![charge("usage", "SMS-DE", "9", "0.99")],
                subtotal: text("0.99"),
            },
        ],
        taxes: vec![TaxLine {
            name: text("VAT"),
            rate_percent: text("19"),
            base: text("66.34812"),
            amount: text("12.60614"),
            reverse_charge: false,
            outside_scope: false,
        }],
        totals: Totals {
            net_total: text("66.34812"),
            tax_total: text("12.60614"),
            rounding: text("0.00574"),
            total: text("78.96"),
            previous_balance: text("50.00"),
            payments: text("-60.00"),
            out_of_turn: text("0.00"),
            amount_due: text("68.96"),
            credit_carried: text("0.00"),
            open_amount: text("68.96"),
        },
        prices_include_tax: false,
        card_only: false,
        notes: Vec::new(),
        custom_fields: vec![CustomFieldValue {
            label: text("Contract number"),
            value: text("C-2025-0042"),
        }],
    }
}
