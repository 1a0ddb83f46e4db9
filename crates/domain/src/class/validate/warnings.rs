//! Non-blocking save warnings (§3, end): `currency_agnostic_amounts`, `event_without_channel`,
//! `review_longer_than_terms`, `precision_exceeds_currency`.

use std::collections::BTreeSet;

use super::{Validation, days};
use crate::class::context::ClassContext;
use crate::class::document::ClassSettings;
use crate::class::enums::{AutoCharge, EmailDelivery};
use crate::class::events::EventChannels;
use crate::class::invoices::{InvoicePolicy, PaymentTerms};
use crate::money::Money;

pub(super) fn check(settings: &ClassSettings, ctx: &ClassContext, report: &mut Validation) {
    currency_agnostic_amounts(settings, report);
    events_without_channel(settings, report);
    review_longer_than_terms(settings, report);
    precision_exceeds_currency(settings, ctx, report);
}

fn currency_agnostic_amounts(settings: &ClassSettings, report: &mut Validation) {
    if settings.currency.is_some() {
        return;
    }
    let mut amounts: Vec<(String, Option<Money>)> = Vec::new();
    for (tab, policy) in [
        ("regular_invoices", settings.regular_invoices.policy()),
        ("out_of_turn_invoices", settings.out_of_turn_invoices.policy()),
    ] {
        amounts.push((format!("{tab}.collection_threshold"), policy.collection_threshold));
        amounts.push((format!("{tab}.collection.late_fee"), policy.collection.late_fee));
        amounts.push((
            format!("{tab}.collection.reactivation_fee"),
            policy.collection.reactivation_fee,
        ));
    }
    for (index, row) in settings.measured_services.metrics.iter().enumerate() {
        amounts.push((
            format!("measured_services.metrics[{index}].price_per_item"),
            Some(row.price_per_item),
        ));
    }
    for (field, amount) in amounts {
        if let Some(amount) = amount.filter(|amount| amount.is_positive()) {
            let message =
                format!("the class has no currency: {amount} applies as the same number in each member's own currency");
            report.warning(field, "currency_agnostic_amounts", message);
        }
    }
}

/// Events that the schedule of an enabled tab makes happen.
fn scheduled_events(policy: &InvoicePolicy, events: &mut BTreeSet<&'static str>) {
    let collection = &policy.collection;
    if !policy.due_reminder_days.is_empty() {
        events.insert("invoice_due_soon");
    }
    if policy.auto_charge != AutoCharge::Off {
        events.insert("auto_charge_failed");
    }
    let steps = [
        (
            collection.limit_after_days,
            &collection.limit_notice_days,
            "service_limited",
            "limitation_upcoming",
        ),
        (
            collection.suspend_after_days,
            &collection.suspend_notice_days,
            "service_suspended",
            "suspension_upcoming",
        ),
        (
            collection.terminate_after_days,
            &collection.terminate_notice_days,
            "customer_terminated",
            "termination_upcoming",
        ),
    ];
    let any_step = steps.iter().any(|(after, ..)| after.is_some());
    if collection.late_fee.is_some() || any_step {
        events.insert("invoice_overdue");
    }
    if collection.late_fee.is_some() {
        events.insert("late_fee_applied");
    }
    if collection.limit_after_days.is_some() || collection.suspend_after_days.is_some() {
        events.insert("service_restored");
    }
    for (after, notices, action, notice) in steps {
        if after.is_some() {
            events.insert(action);
            if !notices.is_empty() {
                events.insert(notice);
            }
        }
    }
}

fn events_without_channel(settings: &ClassSettings, report: &mut Validation) {
    let mut events = BTreeSet::new();
    if settings.regular_invoices.enabled {
        scheduled_events(&settings.regular_invoices.policy(), &mut events);
    }
    if settings.out_of_turn_invoices.enabled {
        scheduled_events(&settings.out_of_turn_invoices.policy(), &mut events);
    }
    for key in events {
        let channels = settings
            .notifications
            .events
            .get(key)
            .copied()
            .unwrap_or_else(|| EventChannels::default_for(key));
        if channels.email != Some(true) && !channels.sms && !channels.webhook {
            report.warning(
                format!("notifications.events.{key}"),
                "event_without_channel",
                format!("{key} is scheduled by the invoice settings but no channel is enabled for it"),
            );
        }
    }
}

fn review_longer_than_terms(settings: &ClassSettings, report: &mut Validation) {
    let regular = &settings.regular_invoices;
    let Some(hold) = regular.review_hold_days.filter(|hold| (1..=60).contains(hold)) else {
        return;
    };
    if regular.email_delivery != EmailDelivery::AfterReview {
        return;
    }
    let terms = match regular.payment_terms {
        PaymentTerms::DueUponReceipt => "due upon receipt".to_owned(),
        PaymentTerms::Net { days } => format!("net {days}"),
    };
    if hold >= regular.payment_terms.net_days() {
        let message = format!(
            "a review hold of {} is not shorter than the payment terms ({terms}): members may get the invoice after its due date",
            days(hold)
        );
        report.warning("regular_invoices.review_hold_days", "review_longer_than_terms", message);
    }
}

fn precision_exceeds_currency(settings: &ClassSettings, ctx: &ClassContext, report: &mut Validation) {
    let precision = settings.general_info.rounding_precision;
    if !(0..=5).contains(&precision) {
        return;
    }
    let currencies: Vec<_> = match settings.currency {
        Some(currency) => vec![currency],
        None => ctx.member_currencies.iter().copied().collect(),
    };
    let coarser: Vec<String> = currencies
        .into_iter()
        .filter(|currency| i64::from(currency.minor_digits()) < precision)
        .map(|currency| format!("{currency} ({} fraction digits)", currency.minor_digits()))
        .collect();
    if !coarser.is_empty() {
        let message = format!(
            "rounding precision {precision} exceeds the minor unit of {}",
            coarser.join(", ")
        );
        report.warning("general_info.rounding_precision", "precision_exceeds_currency", message);
    }
}
