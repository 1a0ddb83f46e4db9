use classbill_domain::Money;
use classbill_domain::class::{
    AutoCharge, ClassContext, ClassSettings, EmailDelivery, PaymentTerms, ReferencedObject, validate,
};

use super::{assert_error, assert_only_error, assert_valid, check, errors_at, reseller, valid};

fn with_templates() -> ClassContext {
    let shared = ReferencedObject {
        owner: classbill_domain::Owner::Administrator,
        shared: true,
    };
    ClassContext {
        templates: [(1, shared)].into(),
        ..ClassContext::default()
    }
}

/// Regular invoices enabled with template 1 and net 15.
fn invoicing() -> ClassSettings {
    let mut settings = valid();
    settings.regular_invoices.enabled = true;
    settings.regular_invoices.template_id = Some(1);
    settings.regular_invoices.payment_terms = PaymentTerms::Net { days: 15 };
    settings
}

#[test]
fn v9_regular_invoices_need_archived_xdrs() {
    let mut settings = invoicing();
    settings.general_info.archive_xdrs = false;
    assert_only_error(
        &validate(&settings, &with_templates()),
        "regular_invoices.enabled",
        "requires_statistics",
        "regular invoices need general_info.archive_xdrs = true",
    );
}

#[test]
fn v10_enabled_tab_needs_a_template() {
    let mut settings = valid();
    settings.regular_invoices.enabled = true;
    settings.out_of_turn_invoices.enabled = true;
    let validation = check(&settings);
    let message = "a template is required while invoices are enabled";
    assert_only_error(&validation, "regular_invoices.template_id", "required", message);
    assert_only_error(&validation, "out_of_turn_invoices.template_id", "required", message);
    assert_valid(&validate(&invoicing(), &with_templates()));
}

#[test]
fn v11_review_hold_needs_after_review_and_1_to_60_days() {
    let mut settings = invoicing();
    settings.regular_invoices.review_hold_days = Some(3);
    let field = "regular_invoices.review_hold_days";
    let validation = validate(&settings, &with_templates());
    assert_only_error(
        &validation,
        field,
        "requires_review",
        "hold for review needs email_delivery = after_review",
    );
    settings.regular_invoices.email_delivery = EmailDelivery::AfterReview;
    assert_valid(&validate(&settings, &with_templates()));
    settings.regular_invoices.review_hold_days = Some(61);
    assert_only_error(
        &validate(&settings, &with_templates()),
        field,
        "out_of_range",
        "must be between 1 and 60",
    );
}

#[test]
fn v12_net_terms_between_1_and_365_days() {
    let mut settings = valid();
    for days in [0, 366] {
        settings.out_of_turn_invoices.payment_terms = PaymentTerms::Net { days };
        let validation = check(&settings);
        assert_only_error(
            &validation,
            "out_of_turn_invoices.payment_terms.days",
            "out_of_range",
            "must be between 1 and 365",
        );
    }
}

#[test]
fn v13_reminder_not_before_net_days() {
    let mut settings = invoicing();
    settings.regular_invoices.due_reminder_days = vec![7, 15, 3];
    let validation = validate(&settings, &with_templates());
    assert_only_error(
        &validation,
        "regular_invoices.due_reminder_days[1]",
        "reminder_after_due",
        "reminder 15 days before the due date is not possible with net 15",
    );
    assert_eq!(validation.errors.len(), 1);
}

#[test]
fn v13_reminders_need_net_terms_and_stay_in_range() {
    let mut settings = valid();
    settings.out_of_turn_invoices.due_reminder_days = vec![1, 365];
    let validation = check(&settings);
    assert_only_error(
        &validation,
        "out_of_turn_invoices.due_reminder_days[0]",
        "reminder_after_due",
        "reminder 1 day before the due date is not possible with due upon receipt",
    );
    assert_only_error(
        &validation,
        "out_of_turn_invoices.due_reminder_days[1]",
        "out_of_range",
        "must be between 0 and 364",
    );
}

#[test]
fn v13_at_most_ten_reminders_after_deduplication() {
    let mut settings = valid();
    settings.regular_invoices.payment_terms = PaymentTerms::Net { days: 30 };
    settings.regular_invoices.due_reminder_days = (0..10).chain([3, 5]).collect();
    assert_valid(&check(&settings));
    settings.regular_invoices.due_reminder_days.push(20);
    let validation = check(&settings);
    assert_eq!(
        errors_at(&validation, "regular_invoices.due_reminder_days")[0].0,
        "too_many"
    );
}

#[test]
fn v14_retries_need_auto_charge() {
    let mut settings = valid();
    settings.regular_invoices.auto_charge_retry_days = vec![2, 0];
    let validation = check(&settings);
    let field = "regular_invoices.auto_charge_retry_days";
    assert_only_error(&validation, field, "requires_auto_charge", "retries need auto_charge");
    assert_only_error(
        &validation,
        &format!("{field}[1]"),
        "out_of_range",
        "must be between 1 and 365",
    );
    settings.regular_invoices.auto_charge = AutoCharge::OnDueDate;
    settings.regular_invoices.auto_charge_retry_days = vec![2, 4];
    assert_valid(&check(&settings));
}

#[test]
fn v15_threshold_positive_and_restore_needs_it() {
    let mut settings = valid();
    settings.regular_invoices.collection_threshold = Some(Money::ZERO);
    settings.out_of_turn_invoices.restore_on_partial_within_threshold = true;
    let validation = check(&settings);
    assert_only_error(
        &validation,
        "regular_invoices.collection_threshold",
        "out_of_range",
        "must be greater than 0",
    );
    assert_only_error(
        &validation,
        "out_of_turn_invoices.restore_on_partial_within_threshold",
        "requires_threshold",
        "restoring after a partial payment needs a collection threshold",
    );
    settings.regular_invoices.collection_threshold = Some(Money(100_000));
    settings.out_of_turn_invoices.collection_threshold = Some(Money(1));
    assert_valid(&check(&settings));
}

#[test]
fn v16_suspension_before_limitation_is_rejected() {
    let mut settings = valid();
    let collection = &mut settings.regular_invoices.collection;
    collection.limit_after_days = Some(7);
    collection.suspend_after_days = Some(5);
    let validation = check(&settings);
    assert_only_error(
        &validation,
        "regular_invoices.collection.suspend_after_days",
        "step_order",
        "suspension (5) must not come before limitation (7)",
    );
    assert_eq!(validation.errors.len(), 1);
}

#[test]
fn v16_termination_is_compared_with_the_last_step_set() {
    let mut settings = valid();
    let collection = &mut settings.out_of_turn_invoices.collection;
    collection.limit_after_days = Some(20);
    collection.terminate_after_days = Some(10);
    assert_only_error(
        &check(&settings),
        "out_of_turn_invoices.collection.terminate_after_days",
        "step_order",
        "termination (10) must not come before limitation (20)",
    );
    settings.out_of_turn_invoices.collection.suspend_after_days = Some(20);
    settings.out_of_turn_invoices.collection.terminate_after_days = Some(20);
    assert_valid(&check(&settings));
}

#[test]
fn v16_step_days_in_range() {
    let mut settings = valid();
    settings.regular_invoices.collection.limit_after_days = Some(0);
    settings.regular_invoices.collection.terminate_after_days = Some(3651);
    let validation = check(&settings);
    assert_only_error(
        &validation,
        "regular_invoices.collection.limit_after_days",
        "out_of_range",
        "must be between 1 and 365",
    );
    assert_only_error(
        &validation,
        "regular_invoices.collection.terminate_after_days",
        "out_of_range",
        "must be between 1 and 3650",
    );
}

#[test]
fn v17_notice_must_come_after_the_step_starts_counting() {
    let mut settings = valid();
    settings.regular_invoices.collection.suspend_after_days = Some(10);
    settings.regular_invoices.collection.suspend_notice_days = vec![3, 10, 0];
    let validation = check(&settings);
    assert_only_error(
        &validation,
        "regular_invoices.collection.suspend_notice_days[1]",
        "notice_out_of_range",
        "notice 10 days ahead is not possible with suspension after 10 days",
    );
    assert_eq!(
        errors_at(&validation, "regular_invoices.collection.suspend_notice_days[2]")[0].0,
        "notice_out_of_range"
    );
    assert_eq!(validation.errors.len(), 2);
}

#[test]
fn v17_notice_list_requires_its_step() {
    let mut settings = valid();
    settings.out_of_turn_invoices.collection.terminate_notice_days = vec![5];
    assert_only_error(
        &check(&settings),
        "out_of_turn_invoices.collection.terminate_notice_days",
        "requires_step",
        "termination notices need terminate_after_days",
    );
}

#[test]
fn v18_resend_days_between_0_and_365() {
    let mut settings = valid();
    settings.regular_invoices.collection.resend_after_due_days = vec![0, 366, 7];
    let validation = check(&settings);
    assert_only_error(
        &validation,
        "regular_invoices.collection.resend_after_due_days[1]",
        "out_of_range",
        "must be between 0 and 365",
    );
    assert_eq!(validation.errors.len(), 1);
}

#[test]
fn v19_reactivation_fee_needs_suspension_and_fees_are_positive() {
    let mut settings = valid();
    settings.regular_invoices.collection.reactivation_fee = Some(Money(500_000));
    settings.regular_invoices.collection.late_fee = Some(Money(-1));
    let validation = check(&settings);
    assert_only_error(
        &validation,
        "regular_invoices.collection.reactivation_fee",
        "requires_suspension",
        "a reactivation fee needs suspend_after_days",
    );
    assert_only_error(
        &validation,
        "regular_invoices.collection.late_fee",
        "out_of_range",
        "must be greater than 0",
    );
}

#[test]
fn v20_separate_recurring_fee_invoice_reports_each_missing_prerequisite() {
    let mut settings = valid();
    settings.out_of_turn_invoices.separate_recurring_fee_invoice = true;
    let validation = check(&settings);
    let field = "out_of_turn_invoices.separate_recurring_fee_invoice";
    assert_eq!(errors_at(&validation, field).len(), 4);
    assert_error(
        &validation,
        field,
        "prerequisite_missing",
        "needs out_of_turn_invoices.payment_terms of type net",
    );
    assert_error(
        &validation,
        field,
        "prerequisite_missing",
        "needs regular_invoices.enabled",
    );

    let mut settings = invoicing();
    settings.out_of_turn_invoices.enabled = true;
    settings.out_of_turn_invoices.template_id = Some(1);
    settings.out_of_turn_invoices.separate_recurring_fee_invoice = true;
    settings.out_of_turn_invoices.payment_terms = PaymentTerms::Net { days: 10 };
    let validation = validate(&settings, &with_templates());
    assert_only_error(
        &validation,
        field,
        "prerequisite_missing",
        "needs out_of_turn_invoices.auto_charge other than off",
    );
    settings.out_of_turn_invoices.auto_charge = AutoCharge::OnIssue;
    assert_valid(&validate(&settings, &with_templates()));
}

#[test]
fn v32_template_must_belong_to_the_owner_or_be_shared() {
    let mut settings = invoicing();
    settings.managed_by = reseller(7);
    settings.out_of_turn_invoices.template_id = Some(9);
    let private_admin = ReferencedObject {
        owner: classbill_domain::Owner::Administrator,
        shared: false,
    };
    let ctx = ClassContext {
        templates: [(1, private_admin)].into(),
        ..ClassContext::default()
    };
    let validation = validate(&settings, &ctx);
    assert_only_error(
        &validation,
        "regular_invoices.template_id",
        "not_visible",
        "template 1 not found",
    );
    assert_only_error(
        &validation,
        "out_of_turn_invoices.template_id",
        "not_visible",
        "template 9 not found",
    );
    let own = ReferencedObject {
        owner: reseller(7),
        shared: false,
    };
    let ctx = ClassContext {
        templates: [(1, own), (9, own)].into(),
        ..ClassContext::default()
    };
    assert_valid(&validate(&settings, &ctx));
}
