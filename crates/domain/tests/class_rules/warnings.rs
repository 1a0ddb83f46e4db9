use classbill_domain::class::{
    ClassContext, ClassSettings, EmailDelivery, EventChannels, PaymentTerms, Validation, validate,
};
use classbill_domain::{Currency, FieldError, Money};

use super::{assert_valid, check, valid};

fn warnings_with(validation: &Validation, code: &str) -> Vec<FieldError> {
    validation
        .warnings
        .iter()
        .filter(|warning| warning.code == code)
        .cloned()
        .collect()
}

fn invoicing() -> ClassSettings {
    let mut settings = valid();
    settings.regular_invoices.enabled = true;
    settings.regular_invoices.template_id = Some(1);
    settings.regular_invoices.payment_terms = PaymentTerms::Net { days: 15 };
    settings
}

#[test]
fn default_class_has_no_warnings() {
    assert!(check(&valid()).warnings.is_empty());
}

#[test]
fn currency_agnostic_amounts_for_money_settings_without_currency() {
    let mut settings = valid();
    settings.regular_invoices.collection.late_fee = Some(Money(500_000));
    let validation = check(&settings);
    assert_valid(&validation);
    let warnings = warnings_with(&validation, "currency_agnostic_amounts");
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].field, "regular_invoices.collection.late_fee");
    assert!(warnings[0].message.contains("5.00000"), "{}", warnings[0].message);

    settings.currency = Currency::parse("EUR");
    assert!(warnings_with(&check(&settings), "currency_agnostic_amounts").is_empty());
}

#[test]
fn event_without_channel_for_a_scheduled_event() {
    let mut settings = invoicing();
    settings.regular_invoices.collection.suspend_after_days = Some(10);
    settings.notifications.events.insert(
        "service_suspended".into(),
        EventChannels {
            email: Some(false),
            sms: false,
            webhook: false,
        },
    );
    let warnings = warnings_with(&check(&settings), "event_without_channel");
    let fields: Vec<&str> = warnings.iter().map(|warning| warning.field.as_str()).collect();
    assert_eq!(fields, ["notifications.events.service_suspended"]);

    settings.notifications.events.insert(
        "service_suspended".into(),
        EventChannels {
            email: Some(false),
            sms: false,
            webhook: true,
        },
    );
    assert!(warnings_with(&check(&settings), "event_without_channel").is_empty());
}

#[test]
fn event_without_channel_ignores_events_that_cannot_happen() {
    let mut settings = valid();
    settings.regular_invoices.due_reminder_days = vec![3];
    settings.notifications.events.insert(
        "invoice_due_soon".into(),
        EventChannels {
            email: Some(false),
            sms: false,
            webhook: false,
        },
    );
    assert!(
        warnings_with(&check(&settings), "event_without_channel").is_empty(),
        "tab disabled: no reminders"
    );
    let mut settings = invoicing();
    settings.regular_invoices.due_reminder_days = vec![3];
    settings.notifications.events.insert(
        "invoice_due_soon".into(),
        EventChannels {
            email: Some(false),
            sms: false,
            webhook: false,
        },
    );
    assert_eq!(
        warnings_with(&check(&settings), "event_without_channel")[0].field,
        "notifications.events.invoice_due_soon"
    );
}

#[test]
fn review_longer_than_terms() {
    let mut settings = invoicing();
    settings.regular_invoices.email_delivery = EmailDelivery::AfterReview;
    settings.regular_invoices.review_hold_days = Some(15);
    let warnings = warnings_with(&check(&settings), "review_longer_than_terms");
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].field, "regular_invoices.review_hold_days");
    settings.regular_invoices.review_hold_days = Some(14);
    assert!(warnings_with(&check(&settings), "review_longer_than_terms").is_empty());
}

#[test]
fn precision_exceeds_currency_of_the_class() {
    let settings = ClassSettings {
        currency: Currency::parse("JPY"),
        ..valid()
    };
    let warnings = warnings_with(&check(&settings), "precision_exceeds_currency");
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].field, "general_info.rounding_precision");
    assert!(warnings[0].message.contains("JPY"), "{}", warnings[0].message);
    let settings = ClassSettings {
        currency: Currency::parse("BHD"),
        ..valid()
    };
    assert!(warnings_with(&check(&settings), "precision_exceeds_currency").is_empty());
}

#[test]
fn precision_exceeds_currency_of_a_member_for_classes_without_currency() {
    let mut ctx = ClassContext {
        member_currencies: [Currency::parse("EUR").unwrap(), Currency::parse("USD").unwrap()].into(),
        ..ClassContext::default()
    };
    assert!(warnings_with(&validate(&valid(), &ctx), "precision_exceeds_currency").is_empty());
    ctx.member_currencies.insert(Currency::parse("JPY").unwrap());
    let warnings = warnings_with(&validate(&valid(), &ctx), "precision_exceeds_currency");
    assert_eq!(warnings.len(), 1);
    assert!(
        warnings[0].message.contains("JPY") && !warnings[0].message.contains("EUR"),
        "{}",
        warnings[0].message
    );
}
