//! Customer classes: the settings document of §2, its parsing, validation (§3), normalisation, merge patches
//! and revision diffs (§6).

mod context;
mod diff;
mod document;
mod enums;
mod events;
mod invoices;
mod merge_patch;
mod normalize;
mod parse;
mod taxation_rules;
mod validate;

pub use context::{ClassContext, ReferencedCustomField, ReferencedObject, ReferencedTax, StoredClass};
pub use diff::{DiffEntry, diff, leaf_paths};
pub use document::{
    ClassSettings, CustomFields, ExternalTax, FixedVat, GeneralInfo, GenericVat, MeasuredServices, MetricRow,
    NotificationSender, PeriodClosure, Taxation,
};
pub use enums::{
    AutoCharge, BusinessModel, ChargeBasis, ClosureMode, EmailDelivery, Metric, OotEmailDelivery, PdfGeneration,
    RoundingMethod, StatisticsEmail, TaxMethod, TaxScope, TaxTiming,
};
pub use events::{
    CLASS_EVENT_KEYS, EventChannels, INTEGRATION_EVENT_KEYS, Notifications, OPERATOR_EVENT_KEYS, TAB_GOVERNED_EVENTS,
    default_email, default_events, email_switch, is_class_event, is_tab_governed,
};
pub use invoices::{Collection, InvoicePolicy, OutOfTurnInvoices, PaymentTerms, RegularInvoices};
pub use merge_patch::apply_merge_patch;
pub use normalize::normalize;
pub use parse::{READ_ONLY_KEYS, settings_from_json};
pub use taxation_rules::validate_taxation;
pub use validate::{Validation, validate};

/// The key under which class names are compared for uniqueness: the Unicode lower-case of the trimmed name.
pub fn name_key(name: &str) -> String {
    name.trim().to_lowercase()
}

/// The `invoices` column of the class list (§2.10).
pub fn invoices_column(settings: &ClassSettings) -> &'static str {
    match (settings.regular_invoices.enabled, settings.out_of_turn_invoices.enabled) {
        (true, true) => "regular_and_out_of_turn",
        (true, false) => "regular_only",
        (false, true) => "out_of_turn_only",
        (false, false) => "none",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_key_trims_and_lower_cases_unicode() {
        assert_eq!(name_key("  Gold Ärzte "), "gold ärzte");
        assert_eq!(name_key("ΣΊΣΥΦΟΣ"), "σίσυφος");
    }

    #[test]
    fn invoices_column_names_the_enabled_tabs() {
        let mut settings = ClassSettings::default();
        assert_eq!(invoices_column(&settings), "none");
        settings.regular_invoices.enabled = true;
        assert_eq!(invoices_column(&settings), "regular_only");
        settings.out_of_turn_invoices.enabled = true;
        assert_eq!(invoices_column(&settings), "regular_and_out_of_turn");
        settings.regular_invoices.enabled = false;
        assert_eq!(invoices_column(&settings), "out_of_turn_only");
    }
}
