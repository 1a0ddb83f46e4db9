//! The editable class document of §2.0 with its defaults. Integer settings and ids are `i64` so that values out
//! of range reach validation instead of failing to deserialize.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::enums::{
    BusinessModel, ChargeBasis, ClosureMode, Metric, RoundingMethod, StatisticsEmail, TaxMethod, TaxTiming,
};
use super::events::Notifications;
use super::invoices::{OutOfTurnInvoices, RegularInvoices};
use crate::currency::Currency;
use crate::money::Money;
use crate::owner::Owner;
use crate::percent::Percent;

/// Every editable field of a customer class (§2.0), in document order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ClassSettings {
    pub name: String,
    pub managed_by: Owner,
    pub business_model: BusinessModel,
    pub currency: Option<Currency>,
    pub description: String,
    pub notification_sender: NotificationSender,
    pub general_info: GeneralInfo,
    pub regular_invoices: RegularInvoices,
    pub out_of_turn_invoices: OutOfTurnInvoices,
    pub taxation: Taxation,
    pub measured_services: MeasuredServices,
    pub notifications: Notifications,
    pub custom_fields: CustomFields,
}

impl Default for ClassSettings {
    fn default() -> Self {
        ClassSettings {
            name: String::new(),
            managed_by: Owner::Administrator,
            business_model: BusinessModel::default(),
            currency: None,
            description: String::new(),
            notification_sender: NotificationSender::default(),
            general_info: GeneralInfo::default(),
            regular_invoices: RegularInvoices::default(),
            out_of_turn_invoices: OutOfTurnInvoices::default(),
            taxation: Taxation::default(),
            measured_services: MeasuredServices::default(),
            notifications: Notifications::default(),
            custom_fields: CustomFields::default(),
        }
    }
}

/// `From` header of member notifications; null parts fall back to the owner's, then the installation's.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct NotificationSender {
    pub name: Option<String>,
    pub address: Option<String>,
}

/// `general_info` (§2.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct GeneralInfo {
    pub archive_xdrs: bool,
    pub statistics_email: StatisticsEmail,
    pub billed_externally: bool,
    pub reset_balance_each_period: bool,
    pub hide_reset_xdr: bool,
    pub rounding_precision: i64,
    pub rounding_method: RoundingMethod,
    pub period_closure: PeriodClosure,
}

impl Default for GeneralInfo {
    fn default() -> Self {
        GeneralInfo {
            archive_xdrs: true,
            statistics_email: StatisticsEmail::None,
            billed_externally: false,
            reset_balance_each_period: false,
            hide_reset_xdr: false,
            rounding_precision: 2,
            rounding_method: RoundingMethod::AwayFromZero,
            period_closure: PeriodClosure::default(),
        }
    }
}

/// `general_info.period_closure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PeriodClosure {
    pub mode: ClosureMode,
    pub extra_delay_hours: i64,
}

/// `taxation` (§2.6). Only the parameters of the selected method survive normalisation.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Taxation {
    pub method: TaxMethod,
    pub tax_timing: TaxTiming,
    pub fixed_vat: Option<FixedVat>,
    pub custom_tax_ids: Vec<i64>,
    pub generic_vat: Option<GenericVat>,
    pub external: Option<ExternalTax>,
}

/// Parameters of `fixed_vat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FixedVat {
    pub rate_percent: Percent,
    #[serde(default)]
    pub inclusive: bool,
}

/// Parameters of `generic_vat`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GenericVat {
    /// ISO 3166-1 alpha-2 code of the seller's country.
    pub home_country: String,
    #[serde(default)]
    pub inclusive: bool,
}

/// Parameters of `external`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExternalTax {
    pub endpoint_url: String,
    #[serde(default = "ExternalTax::default_timeout_ms")]
    pub timeout_ms: i64,
    /// Name of a stored secret, sent as a bearer token.
    pub secret_ref: String,
    #[serde(default)]
    pub prices_include_tax: bool,
}

impl ExternalTax {
    pub const DEFAULT_TIMEOUT_MS: i64 = 10_000;

    fn default_timeout_ms() -> i64 {
        Self::DEFAULT_TIMEOUT_MS
    }
}

/// `measured_services` (§2.7).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct MeasuredServices {
    pub metrics: Vec<MetricRow>,
}

/// One measured-service row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricRow {
    pub metric: Metric,
    #[serde(default)]
    pub charge_basis: ChargeBasis,
    #[serde(default)]
    pub price_per_item: Money,
    #[serde(default)]
    pub free_items: i64,
    /// Null means the metric name upper-cased.
    #[serde(default)]
    pub rate_code: Option<String>,
    #[serde(default)]
    pub service: Option<String>,
}

/// `custom_fields` (§2.9).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct CustomFields {
    pub enabled_field_ids: Vec<i64>,
}
