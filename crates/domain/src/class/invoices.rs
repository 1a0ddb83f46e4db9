//! The two invoice tabs (§2.3–§2.5): their shared policy block, the collection ladder and payment terms.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::enums::{AutoCharge, EmailDelivery, OotEmailDelivery, PdfGeneration};
use crate::money::Money;

/// When an invoice is due: on its issue date, or a number of days after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", try_from = "RawPaymentTerms")]
pub enum PaymentTerms {
    #[default]
    DueUponReceipt,
    Net {
        days: i64,
    },
}

impl PaymentTerms {
    /// Days from issue date to due date (0 when due upon receipt).
    pub fn net_days(self) -> i64 {
        match self {
            PaymentTerms::DueUponReceipt => 0,
            PaymentTerms::Net { days } => days,
        }
    }
}

/// The wire shape of [`PaymentTerms`]: keys that do not belong to the chosen type are ignored (§2.0 rule 2).
#[derive(Deserialize)]
struct RawPaymentTerms {
    #[serde(rename = "type")]
    kind: PaymentTermsKind,
    #[serde(default)]
    days: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum PaymentTermsKind {
    DueUponReceipt,
    Net,
}

impl TryFrom<RawPaymentTerms> for PaymentTerms {
    type Error = String;

    fn try_from(raw: RawPaymentTerms) -> Result<Self, Self::Error> {
        match (raw.kind, raw.days) {
            (PaymentTermsKind::DueUponReceipt, _) => Ok(PaymentTerms::DueUponReceipt),
            (PaymentTermsKind::Net, Some(days)) => Ok(PaymentTerms::Net { days }),
            (PaymentTermsKind::Net, None) => Err("missing field `days`".to_owned()),
        }
    }
}

/// The collection ladder of one invoice tab (§2.3, §5.9).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Collection {
    pub resend_after_due_days: Vec<i64>,
    pub late_fee: Option<Money>,
    pub limit_after_days: Option<i64>,
    pub limit_notice_days: Vec<i64>,
    pub suspend_after_days: Option<i64>,
    pub suspend_notice_days: Vec<i64>,
    pub reactivation_fee: Option<Money>,
    pub terminate_after_days: Option<i64>,
    pub terminate_notice_days: Vec<i64>,
}

/// The policy block shared by both invoice tabs (§2.3); `copy-policy-from-regular` copies exactly this.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct InvoicePolicy {
    pub payment_terms: PaymentTerms,
    pub due_reminder_days: Vec<i64>,
    pub auto_charge: AutoCharge,
    pub auto_charge_retry_days: Vec<i64>,
    pub collection_threshold: Option<Money>,
    pub restore_on_partial_within_threshold: bool,
    pub collection: Collection,
}

/// `regular_invoices`: the invoice issued at every period close (§2.4).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RegularInvoices {
    pub enabled: bool,
    pub template_id: Option<i64>,
    pub pdf_generation: PdfGeneration,
    pub email_delivery: EmailDelivery,
    pub review_hold_days: Option<i64>,
    pub payment_terms: PaymentTerms,
    pub due_reminder_days: Vec<i64>,
    pub auto_charge: AutoCharge,
    pub auto_charge_retry_days: Vec<i64>,
    pub collection_threshold: Option<Money>,
    pub restore_on_partial_within_threshold: bool,
    pub collection: Collection,
}

/// `out_of_turn_invoices`: on-demand invoices and the separate recurring-fee invoice (§2.5).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct OutOfTurnInvoices {
    pub enabled: bool,
    pub template_id: Option<i64>,
    pub email_delivery: OotEmailDelivery,
    pub separate_recurring_fee_invoice: bool,
    pub payment_terms: PaymentTerms,
    pub due_reminder_days: Vec<i64>,
    pub auto_charge: AutoCharge,
    pub auto_charge_retry_days: Vec<i64>,
    pub collection_threshold: Option<Money>,
    pub restore_on_partial_within_threshold: bool,
    pub collection: Collection,
}

// Both tabs spell the policy block out field by field because serde cannot flatten a struct into one that
// rejects unknown keys; these accessors give the block back as one value.
impl RegularInvoices {
    /// The §2.3 policy block of this tab.
    pub fn policy(&self) -> InvoicePolicy {
        InvoicePolicy {
            payment_terms: self.payment_terms,
            due_reminder_days: self.due_reminder_days.clone(),
            auto_charge: self.auto_charge,
            auto_charge_retry_days: self.auto_charge_retry_days.clone(),
            collection_threshold: self.collection_threshold,
            restore_on_partial_within_threshold: self.restore_on_partial_within_threshold,
            collection: self.collection.clone(),
        }
    }

    /// Replaces the §2.3 policy block of this tab.
    pub fn set_policy(&mut self, policy: InvoicePolicy) {
        self.payment_terms = policy.payment_terms;
        self.due_reminder_days = policy.due_reminder_days;
        self.auto_charge = policy.auto_charge;
        self.auto_charge_retry_days = policy.auto_charge_retry_days;
        self.collection_threshold = policy.collection_threshold;
        self.restore_on_partial_within_threshold = policy.restore_on_partial_within_threshold;
        self.collection = policy.collection;
    }
}

impl OutOfTurnInvoices {
    /// The §2.3 policy block of this tab.
    pub fn policy(&self) -> InvoicePolicy {
        InvoicePolicy {
            payment_terms: self.payment_terms,
            due_reminder_days: self.due_reminder_days.clone(),
            auto_charge: self.auto_charge,
            auto_charge_retry_days: self.auto_charge_retry_days.clone(),
            collection_threshold: self.collection_threshold,
            restore_on_partial_within_threshold: self.restore_on_partial_within_threshold,
            collection: self.collection.clone(),
        }
    }

    /// Replaces the §2.3 policy block of this tab.
    pub fn set_policy(&mut self, policy: InvoicePolicy) {
        self.payment_terms = policy.payment_terms;
        self.due_reminder_days = policy.due_reminder_days;
        self.auto_charge = policy.auto_charge;
        self.auto_charge_retry_days = policy.auto_charge_retry_days;
        self.collection_threshold = policy.collection_threshold;
        self.restore_on_partial_within_threshold = policy.restore_on_partial_within_threshold;
        self.collection = policy.collection;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn payment_terms_ignore_keys_of_other_types() {
        let terms: PaymentTerms = serde_json::from_value(json!({"type": "due_upon_receipt", "days": 4})).unwrap();
        assert_eq!(terms, PaymentTerms::DueUponReceipt);
        let terms: PaymentTerms = serde_json::from_value(json!({"type": "net", "days": 15})).unwrap();
        assert_eq!(terms.net_days(), 15);
        assert_eq!(serde_json::to_value(terms).unwrap(), json!({"type": "net", "days": 15}));
        let missing = serde_json::from_value::<PaymentTerms>(json!({"type": "net"})).unwrap_err();
        assert_eq!(missing.to_string(), "missing field `days`");
    }

    #[test]
    fn copying_the_policy_moves_every_block_field() {
        let mut regular = RegularInvoices {
            payment_terms: PaymentTerms::Net { days: 15 },
            due_reminder_days: vec![7, 3],
            auto_charge: AutoCharge::OnIssue,
            auto_charge_retry_days: vec![2],
            collection_threshold: Some(Money(100_000)),
            restore_on_partial_within_threshold: true,
            ..RegularInvoices::default()
        };
        regular.collection.suspend_after_days = Some(10);
        let mut oot = OutOfTurnInvoices::default();
        oot.set_policy(regular.policy());
        assert_eq!(oot.policy(), regular.policy());
        assert_eq!(oot.collection.suspend_after_days, Some(10));
        assert_eq!(oot.payment_terms.net_days(), 15);
    }
}
