//! Invoice-tab rules: V9–V20, and V32 for templates.

use super::{Validation, days, distinct, usable};
use crate::class::context::ClassContext;
use crate::class::document::ClassSettings;
use crate::class::enums::{AutoCharge, EmailDelivery};
use crate::class::invoices::{Collection, InvoicePolicy, PaymentTerms};
use crate::money::Money;

const REGULAR: &str = "regular_invoices";
const OUT_OF_TURN: &str = "out_of_turn_invoices";

pub(super) fn check(settings: &ClassSettings, ctx: &ClassContext, report: &mut Validation) {
    let regular = &settings.regular_invoices;
    if regular.enabled && !settings.general_info.archive_xdrs {
        report.error(
            "regular_invoices.enabled",
            "requires_statistics",
            "regular invoices need general_info.archive_xdrs = true",
        );
    }
    template(REGULAR, regular.enabled, regular.template_id, settings, ctx, report);
    if let Some(hold) = regular.review_hold_days {
        let field = "regular_invoices.review_hold_days";
        if regular.email_delivery != EmailDelivery::AfterReview {
            report.error(
                field,
                "requires_review",
                "hold for review needs email_delivery = after_review",
            );
        }
        report.in_range(field, hold, 1..=60);
    }
    policy(REGULAR, &regular.policy(), report);

    let oot = &settings.out_of_turn_invoices;
    template(OUT_OF_TURN, oot.enabled, oot.template_id, settings, ctx, report);
    policy(OUT_OF_TURN, &oot.policy(), report);

    if oot.separate_recurring_fee_invoice {
        let missing = [
            (!oot.enabled, "needs out_of_turn_invoices.enabled"),
            (!regular.enabled, "needs regular_invoices.enabled"),
            (
                !matches!(oot.payment_terms, PaymentTerms::Net { .. }),
                "needs out_of_turn_invoices.payment_terms of type net",
            ),
            (
                oot.auto_charge == AutoCharge::Off,
                "needs out_of_turn_invoices.auto_charge other than off",
            ),
        ];
        for (_, message) in missing.iter().filter(|(is_missing, _)| *is_missing) {
            report.error(
                "out_of_turn_invoices.separate_recurring_fee_invoice",
                "prerequisite_missing",
                *message,
            );
        }
    }
}

/// V10 and V32: an enabled tab names a template, and a named template exists and is usable by the owner.
fn template(
    tab: &str,
    enabled: bool,
    template_id: Option<i64>,
    settings: &ClassSettings,
    ctx: &ClassContext,
    report: &mut Validation,
) {
    let field = format!("{tab}.template_id");
    match template_id {
        None if enabled => report.error(field, "required", "a template is required while invoices are enabled"),
        Some(id) if !usable(ctx.templates.get(&id), settings.managed_by) => {
            report.error(field, "not_visible", format!("template {id} not found"));
        }
        None | Some(_) => {}
    }
}

/// V12–V19 on one tab's policy block.
fn policy(tab: &str, policy: &InvoicePolicy, report: &mut Validation) {
    if let PaymentTerms::Net { days } = policy.payment_terms {
        report.in_range(format!("{tab}.payment_terms.days"), days, 1..=365);
    }

    let reminders = format!("{tab}.due_reminder_days");
    for (index, reminder) in policy.due_reminder_days.iter().copied().enumerate() {
        let field = format!("{reminders}[{index}]");
        if !report.in_range(&field, reminder, 0..=364) {
            continue;
        }
        let terms = match policy.payment_terms {
            PaymentTerms::DueUponReceipt => Some("due upon receipt".to_owned()),
            PaymentTerms::Net { days } if reminder >= days => Some(format!("net {days}")),
            PaymentTerms::Net { .. } => None,
        };
        if let Some(terms) = terms {
            let message = format!(
                "reminder {} before the due date is not possible with {terms}",
                days(reminder)
            );
            report.error(field, "reminder_after_due", message);
        }
    }
    report.list_limit(&reminders, distinct(&policy.due_reminder_days), 10, "days");

    let retries = format!("{tab}.auto_charge_retry_days");
    report.day_list(&retries, &policy.auto_charge_retry_days, 1..=365, 10);
    if !policy.auto_charge_retry_days.is_empty() && policy.auto_charge == AutoCharge::Off {
        report.error(retries, "requires_auto_charge", "retries need auto_charge");
    }

    positive_amount(
        format!("{tab}.collection_threshold"),
        policy.collection_threshold,
        report,
    );
    if policy.restore_on_partial_within_threshold && policy.collection_threshold.is_none() {
        report.error(
            format!("{tab}.restore_on_partial_within_threshold"),
            "requires_threshold",
            "restoring after a partial payment needs a collection threshold",
        );
    }

    collection(&format!("{tab}.collection"), &policy.collection, report);
}

/// A step of the collection ladder: its field name, its noun in messages, its range and its notice list.
struct Step<'a> {
    key: &'static str,
    noun: &'static str,
    after_days: Option<i64>,
    range: std::ops::RangeInclusive<i64>,
    notice_key: &'static str,
    notices: &'a [i64],
}

/// V16–V19 on one collection ladder.
fn collection(prefix: &str, collection: &Collection, report: &mut Validation) {
    report.day_list(
        &format!("{prefix}.resend_after_due_days"),
        &collection.resend_after_due_days,
        0..=365,
        10,
    );
    positive_amount(format!("{prefix}.late_fee"), collection.late_fee, report);
    let reactivation = format!("{prefix}.reactivation_fee");
    positive_amount(reactivation.clone(), collection.reactivation_fee, report);
    if collection.reactivation_fee.is_some() && collection.suspend_after_days.is_none() {
        report.error(
            reactivation,
            "requires_suspension",
            "a reactivation fee needs suspend_after_days",
        );
    }

    let steps = [
        Step {
            key: "limit_after_days",
            noun: "limitation",
            after_days: collection.limit_after_days,
            range: 1..=365,
            notice_key: "limit_notice_days",
            notices: &collection.limit_notice_days,
        },
        Step {
            key: "suspend_after_days",
            noun: "suspension",
            after_days: collection.suspend_after_days,
            range: 1..=365,
            notice_key: "suspend_notice_days",
            notices: &collection.suspend_notice_days,
        },
        Step {
            key: "terminate_after_days",
            noun: "termination",
            after_days: collection.terminate_after_days,
            range: 1..=3650,
            notice_key: "terminate_notice_days",
            notices: &collection.terminate_notice_days,
        },
    ];

    // V16: ranges, then the order of consecutive steps that are set and in range.
    let mut previous: Option<(&Step, i64)> = None;
    for step in &steps {
        let Some(after) = step.after_days else { continue };
        if !report.in_range(format!("{prefix}.{}", step.key), after, step.range.clone()) {
            continue;
        }
        if let Some((earlier, earlier_after)) = previous
            && after < earlier_after
        {
            let message = format!(
                "{} ({after}) must not come before {} ({earlier_after})",
                step.noun, earlier.noun
            );
            report.error(format!("{prefix}.{}", step.key), "step_order", message);
        }
        previous = Some((step, after));
    }

    // V17: each notice list needs its step, and every notice lies strictly inside it.
    for step in &steps {
        let list = format!("{prefix}.{}", step.notice_key);
        if step.notices.is_empty() {
            continue;
        }
        let Some(after) = step.after_days else {
            report.error(
                list,
                "requires_step",
                format!("{} notices need {}", step.noun, step.key),
            );
            continue;
        };
        for (index, notice) in step.notices.iter().copied().enumerate() {
            if !(1..after).contains(&notice) {
                let message = format!(
                    "notice {} ahead is not possible with {} after {}",
                    days(notice),
                    step.noun,
                    days(after)
                );
                report.error(format!("{list}[{index}]"), "notice_out_of_range", message);
            }
        }
        report.list_limit(&list, distinct(step.notices), 10, "days");
    }
}

/// V15 and V19: an amount, when set, is greater than zero.
fn positive_amount(field: String, amount: Option<Money>, report: &mut Validation) {
    if amount.is_some_and(|amount| !amount.is_positive()) {
        report.error(field, "out_of_range", "must be greater than 0");
    }
}
