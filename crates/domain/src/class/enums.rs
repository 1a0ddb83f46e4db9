//! The closed value sets of the class document (§2), with their JSON spellings.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The kind of business a class serves; a party's business model is its class's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BusinessModel {
    CloudPbx,
    SipTrunking,
    ResidentialVoip,
    Pinless,
    InternetAccess,
    PrepaidCardsHolder,
    Mobile,
    #[default]
    Universal,
}

/// Which statistics files are e-mailed after a close.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatisticsEmail {
    Full,
    Summary,
    #[default]
    None,
}

/// How invoice totals and created amounts are rounded (§5.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RoundingMethod {
    #[default]
    AwayFromZero,
    HalfAwayFromZero,
    Special,
}

/// When an ended billing period closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClosureMode {
    #[default]
    AfterDelay,
    UponApproval,
}

/// When the PDF of a regular invoice is rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PdfGeneration {
    #[default]
    EndOfPeriod,
    Postponed,
    OnDemand,
}

/// How regular invoices reach the party by e-mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EmailDelivery {
    #[default]
    Never,
    Automatically,
    AfterReview,
}

/// How out-of-turn invoices reach the party by e-mail (there is no review for them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OotEmailDelivery {
    #[default]
    Never,
    Automatically,
}

/// When a charge request is emitted for an invoice (§5.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AutoCharge {
    #[default]
    Off,
    OnIssue,
    OnDueDate,
}

/// The taxation method of §2.6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaxMethod {
    #[default]
    None,
    FixedVat,
    Custom,
    GenericVat,
    External,
}

impl TaxMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            TaxMethod::None => "none",
            TaxMethod::FixedVat => "fixed_vat",
            TaxMethod::Custom => "custom",
            TaxMethod::GenericVat => "generic_vat",
            TaxMethod::External => "external",
        }
    }
}

/// When prepaid customers are taxed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaxTiming {
    #[default]
    EndOfPeriod,
    AtPayment,
}

/// Which xDR kinds a custom tax applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaxScope {
    All,
    Usage,
    Recurring,
}

/// A measured service whose samples arrive through the API (§5.11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    ActiveCalls,
    ConcurrentCalls,
    PbxExtensions,
}

impl Metric {
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::ActiveCalls => "active_calls",
            Metric::ConcurrentCalls => "concurrent_calls",
            Metric::PbxExtensions => "pbx_extensions",
        }
    }
}

/// How the samples of a period become a chargeable quantity; `none` keeps them for graphs only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChargeBasis {
    #[default]
    None,
    Average,
    Maximum,
    Minimum,
}

impl ChargeBasis {
    pub fn as_str(self) -> &'static str {
        match self {
            ChargeBasis::None => "none",
            ChargeBasis::Average => "average",
            ChargeBasis::Maximum => "maximum",
            ChargeBasis::Minimum => "minimum",
        }
    }
}
