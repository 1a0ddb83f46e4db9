//! The canonical stored form of a valid class document (§2.3 list normalisation, §2.6, §2.8).

use super::document::ClassSettings;
use super::enums::TaxMethod;
use super::invoices::InvoicePolicy;

/// Brings a validated document into its stored form: trimmed name; day lists de-duplicated and in calendar
/// order (countdown lists descending, count-up lists ascending); parameters of unselected tax methods cleared;
/// every class event present, with a null e-mail flag for tab-governed events.
pub fn normalize(settings: &mut ClassSettings) {
    settings.name = settings.name.trim().to_owned();

    let mut regular = settings.regular_invoices.policy();
    normalize_policy(&mut regular);
    settings.regular_invoices.set_policy(regular);
    let mut out_of_turn = settings.out_of_turn_invoices.policy();
    normalize_policy(&mut out_of_turn);
    settings.out_of_turn_invoices.set_policy(out_of_turn);

    let taxation = &mut settings.taxation;
    if taxation.method != TaxMethod::FixedVat {
        taxation.fixed_vat = None;
    }
    if taxation.method != TaxMethod::Custom {
        taxation.custom_tax_ids.clear();
    }
    if taxation.method != TaxMethod::GenericVat {
        taxation.generic_vat = None;
    }
    if taxation.method != TaxMethod::External {
        taxation.external = None;
    }

    settings.notifications.fill_defaults();
}

fn normalize_policy(policy: &mut InvoicePolicy) {
    counting_down(&mut policy.due_reminder_days);
    counting_up(&mut policy.auto_charge_retry_days);
    let collection = &mut policy.collection;
    counting_up(&mut collection.resend_after_due_days);
    counting_down(&mut collection.limit_notice_days);
    counting_down(&mut collection.suspend_notice_days);
    counting_down(&mut collection.terminate_notice_days);
}

/// Days before an event: largest first, so the list reads in calendar order.
fn counting_down(days: &mut Vec<i64>) {
    days.sort_unstable_by(|a, b| b.cmp(a));
    days.dedup();
}

/// Days after the due date: smallest first.
fn counting_up(days: &mut Vec<i64>) {
    days.sort_unstable();
    days.dedup();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::class::document::{ExternalTax, FixedVat};
    use crate::class::events::EventChannels;
    use crate::percent::Percent;

    #[test]
    fn day_lists_are_deduplicated_in_calendar_order() {
        let mut settings = ClassSettings::default();
        settings.regular_invoices.due_reminder_days = vec![3, 7, 3, 0];
        settings.regular_invoices.auto_charge_retry_days = vec![5, 1, 5];
        settings.regular_invoices.collection.resend_after_due_days = vec![7, 0, 7];
        settings.out_of_turn_invoices.collection.suspend_notice_days = vec![1, 3, 2, 3];
        settings.out_of_turn_invoices.collection.limit_notice_days = vec![2, 5];
        settings.out_of_turn_invoices.collection.terminate_notice_days = vec![10, 30, 10];
        normalize(&mut settings);
        assert_eq!(settings.regular_invoices.due_reminder_days, [7, 3, 0]);
        assert_eq!(settings.regular_invoices.auto_charge_retry_days, [1, 5]);
        assert_eq!(settings.regular_invoices.collection.resend_after_due_days, [0, 7]);
        assert_eq!(settings.out_of_turn_invoices.collection.suspend_notice_days, [3, 2, 1]);
        assert_eq!(settings.out_of_turn_invoices.collection.limit_notice_days, [5, 2]);
        assert_eq!(settings.out_of_turn_invoices.collection.terminate_notice_days, [30, 10]);
    }

    #[test]
    fn unselected_tax_parameters_are_cleared() {
        let mut settings = ClassSettings::default();
        settings.taxation.method = TaxMethod::FixedVat;
        settings.taxation.fixed_vat = Some(FixedVat {
            rate_percent: Percent::from_units(190_000),
            inclusive: false,
        });
        settings.taxation.custom_tax_ids = vec![4];
        settings.taxation.external = Some(ExternalTax {
            endpoint_url: "https://tax.example".into(),
            timeout_ms: 10_000,
            secret_ref: "tax".into(),
            prices_include_tax: false,
        });
        normalize(&mut settings);
        assert!(settings.taxation.fixed_vat.is_some());
        assert!(settings.taxation.custom_tax_ids.is_empty());
        assert_eq!(settings.taxation.external, None);
    }

    #[test]
    fn name_is_trimmed_and_events_completed() {
        let mut settings = ClassSettings {
            name: "  Retail \t".into(),
            ..ClassSettings::default()
        };
        settings.notifications.events.clear();
        settings.notifications.events.insert(
            "statistics_ready".into(),
            EventChannels {
                email: Some(true),
                sms: true,
                webhook: false,
            },
        );
        normalize(&mut settings);
        assert_eq!(settings.name, "Retail");
        assert_eq!(settings.notifications.events.len(), 16);
        assert_eq!(
            settings.notifications.events["statistics_ready"],
            EventChannels {
                email: None,
                sms: true,
                webhook: false
            }
        );
    }
}
