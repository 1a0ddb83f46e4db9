use classbill_domain::Money;
use classbill_domain::class::{
    ChargeBasis, ClassContext, EventChannels, Metric, MetricRow, ReferencedCustomField, ReferencedObject, validate,
};

use super::{assert_only_error, assert_valid, check, errors_at, reseller, valid};

fn row(metric: Metric) -> MetricRow {
    MetricRow {
        metric,
        charge_basis: ChargeBasis::None,
        price_per_item: Money::ZERO,
        free_items: 0,
        rate_code: None,
        service: None,
    }
}

fn field(key: &str, mandatory: bool, has_default: bool, members_without_value: u64) -> ReferencedCustomField {
    ReferencedCustomField {
        key: key.into(),
        mandatory,
        has_default,
        members_without_value,
    }
}

#[test]
fn v29_one_row_per_metric() {
    let mut settings = valid();
    settings.measured_services.metrics = vec![
        row(Metric::PbxExtensions),
        row(Metric::ActiveCalls),
        row(Metric::PbxExtensions),
    ];
    assert_only_error(
        &check(&settings),
        "measured_services.metrics[2].metric",
        "duplicate_metric",
        "pbx_extensions is already defined in row 0",
    );
}

#[test]
fn v29_at_most_three_rows() {
    let mut settings = valid();
    settings.measured_services.metrics = vec![
        row(Metric::PbxExtensions),
        row(Metric::ActiveCalls),
        row(Metric::ConcurrentCalls),
        row(Metric::ActiveCalls),
    ];
    let validation = check(&settings);
    assert_eq!(errors_at(&validation, "measured_services.metrics")[0].0, "too_many");
}

#[test]
fn v29_charged_metric_needs_price_and_service() {
    let mut settings = valid();
    let mut charged = row(Metric::ActiveCalls);
    charged.charge_basis = ChargeBasis::Average;
    settings.measured_services.metrics = vec![charged.clone()];
    let validation = check(&settings);
    assert_only_error(
        &validation,
        "measured_services.metrics[0].service",
        "required",
        "a service is required when charge_basis is average",
    );
    assert_only_error(
        &validation,
        "measured_services.metrics[0].price_per_item",
        "out_of_range",
        "must be greater than 0 when charge_basis is average",
    );
    charged.price_per_item = Money(150_000);
    charged.service = Some("pbx".into());
    settings.measured_services.metrics = vec![charged];
    assert_valid(&check(&settings));
}

#[test]
fn v29_ranges_of_price_free_items_and_rate_code() {
    let mut settings = valid();
    let mut bad = row(Metric::ConcurrentCalls);
    bad.price_per_item = Money(-1);
    bad.free_items = 1_000_001;
    bad.rate_code = Some("CONC CALLS".into());
    settings.measured_services.metrics = vec![bad];
    let validation = check(&settings);
    assert_eq!(
        errors_at(&validation, "measured_services.metrics[0].price_per_item")[0].0,
        "out_of_range"
    );
    assert_only_error(
        &validation,
        "measured_services.metrics[0].free_items",
        "out_of_range",
        "must be between 0 and 1000000",
    );
    assert_eq!(
        errors_at(&validation, "measured_services.metrics[0].rate_code")[0].0,
        "out_of_range"
    );

    let mut good = row(Metric::ConcurrentCalls);
    good.rate_code = Some("CONC.calls_2-x".into());
    good.free_items = 1_000_000;
    settings.measured_services.metrics = vec![good];
    assert_valid(&check(&settings));
}

#[test]
fn v30_unknown_and_operator_events_are_rejected() {
    let mut settings = valid();
    let channels = EventChannels {
        email: Some(true),
        sms: false,
        webhook: false,
    };
    settings
        .notifications
        .events
        .insert("invoice_under_review".into(), channels);
    settings.notifications.events.insert("birthday".into(), channels);
    let validation = check(&settings);
    assert_only_error(
        &validation,
        "notifications.events.invoice_under_review",
        "unknown_event",
        "invoice_under_review is not a class-controlled event",
    );
    assert_only_error(
        &validation,
        "notifications.events.birthday",
        "unknown_event",
        "unknown event birthday",
    );
}

#[test]
fn v30_email_of_tab_governed_events_must_be_null() {
    let mut settings = valid();
    settings.notifications.events.insert(
        "invoice_issued".into(),
        EventChannels {
            email: Some(true),
            sms: true,
            webhook: false,
        },
    );
    assert_only_error(
        &check(&settings),
        "notifications.events.invoice_issued",
        "tab_governed",
        "the e-mail channel of invoice_issued is set by regular_invoices.email_delivery",
    );
    settings.notifications.events.insert(
        "invoice_due_soon".into(),
        EventChannels {
            email: None,
            sms: false,
            webhook: false,
        },
    );
    let validation = check(&settings);
    assert_eq!(
        errors_at(&validation, "notifications.events.invoice_due_soon.email")[0].0,
        "invalid_type"
    );
}

#[test]
fn v30_notification_set_must_be_visible() {
    let mut settings = valid();
    settings.managed_by = reseller(7);
    settings.notifications.notification_set_id = Some(4);
    let foreign = ReferencedObject {
        owner: reseller(3),
        shared: false,
    };
    let ctx = ClassContext {
        notification_sets: [(4, foreign)].into(),
        ..ClassContext::default()
    };
    let validation = validate(&settings, &ctx);
    assert_only_error(
        &validation,
        "notifications.notification_set_id",
        "not_visible",
        "notification set 4 not found",
    );
    let shared = ReferencedObject {
        owner: classbill_domain::Owner::Administrator,
        shared: true,
    };
    let ctx = ClassContext {
        notification_sets: [(4, shared)].into(),
        ..ClassContext::default()
    };
    assert_valid(&validate(&settings, &ctx));
}

#[test]
fn v31_mandatory_field_without_default_needs_every_member_valued() {
    let mut settings = valid();
    settings.custom_fields.enabled_field_ids = vec![5, 6, 5, 7];
    let ctx = ClassContext {
        custom_fields: [
            (5, field("contract_no", true, false, 12)),
            (6, field("segment", true, true, 40)),
        ]
        .into(),
        ..ClassContext::default()
    };
    let validation = validate(&settings, &ctx);
    assert_only_error(
        &validation,
        "custom_fields.enabled_field_ids[0]",
        "missing_values",
        "mandatory field \"contract_no\" has no default and 12 members have no value",
    );
    assert_eq!(
        errors_at(&validation, "custom_fields.enabled_field_ids[2]")[0].0,
        "duplicate"
    );
    assert_only_error(
        &validation,
        "custom_fields.enabled_field_ids[3]",
        "not_found",
        "custom field 7 not found",
    );
    assert_eq!(validation.errors.len(), 3);

    let ctx = ClassContext {
        custom_fields: [(5, field("contract_no", true, false, 0))].into(),
        ..ClassContext::default()
    };
    settings.custom_fields.enabled_field_ids = vec![5];
    assert_valid(&validate(&settings, &ctx));
}
