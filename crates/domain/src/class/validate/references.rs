//! Rules on lists of references and rows: V29 measured services, V30 notifications, V31 custom fields,
//! and V32 for the notification set.

use std::collections::{BTreeMap, BTreeSet};

use super::{Validation, usable};
use crate::class::context::ClassContext;
use crate::class::document::ClassSettings;
use crate::class::enums::ChargeBasis;
use crate::class::events::{
    INTEGRATION_EVENT_KEYS, OPERATOR_EVENT_KEYS, email_switch, is_class_event, is_tab_governed,
};

pub(super) fn check(settings: &ClassSettings, ctx: &ClassContext, report: &mut Validation) {
    measured_services(settings, report);
    notifications(settings, ctx, report);
    custom_fields(settings, ctx, report);
}

/// V29: at most three rows, one per metric, with the ranges of §2.7.
fn measured_services(settings: &ClassSettings, report: &mut Validation) {
    let metrics = &settings.measured_services.metrics;
    if metrics.len() > 3 {
        report.error("measured_services.metrics", "too_many", "at most 3 rows are allowed");
    }
    let mut first_rows = BTreeMap::new();
    for (index, row) in metrics.iter().enumerate() {
        let field = |key: &str| format!("measured_services.metrics[{index}].{key}");
        let first = *first_rows.entry(row.metric).or_insert(index);
        if first != index {
            let message = format!("{} is already defined in row {first}", row.metric.as_str());
            report.error(field("metric"), "duplicate_metric", message);
        }
        let charged = row.charge_basis != ChargeBasis::None;
        if row.price_per_item.0 < 0 {
            report.error(field("price_per_item"), "out_of_range", "must not be negative");
        } else if charged && !row.price_per_item.is_positive() {
            let message = format!(
                "must be greater than 0 when charge_basis is {}",
                row.charge_basis.as_str()
            );
            report.error(field("price_per_item"), "out_of_range", message);
        }
        report.in_range(field("free_items"), row.free_items, 0..=1_000_000);
        if let Some(code) = &row.rate_code
            && !is_rate_code(code)
        {
            report.error(
                field("rate_code"),
                "out_of_range",
                "must be 1 to 64 characters of A-Z, a-z, 0-9, '_', '.' and '-'",
            );
        }
        let service = row.service.as_deref().map(str::trim);
        match service {
            Some("") | None if charged => {
                let message = format!(
                    "a service is required when charge_basis is {}",
                    row.charge_basis.as_str()
                );
                report.error(field("service"), "required", message);
            }
            Some("") => report.error(field("service"), "out_of_range", "must not be empty"),
            _ => {}
        }
    }
}

fn is_rate_code(code: &str) -> bool {
    (1..=64).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

/// V30 and V32: the set is usable, event keys are class events, tab-governed e-mail flags are null.
fn notifications(settings: &ClassSettings, ctx: &ClassContext, report: &mut Validation) {
    let notifications = &settings.notifications;
    if let Some(id) = notifications.notification_set_id
        && !usable(ctx.notification_sets.get(&id), settings.managed_by)
    {
        report.error(
            "notifications.notification_set_id",
            "not_visible",
            format!("notification set {id} not found"),
        );
    }
    for (key, channels) in &notifications.events {
        let field = format!("notifications.events.{key}");
        if !is_class_event(key) {
            let message =
                if OPERATOR_EVENT_KEYS.contains(&key.as_str()) || INTEGRATION_EVENT_KEYS.contains(&key.as_str()) {
                    format!("{key} is not a class-controlled event")
                } else {
                    format!("unknown event {key}")
                };
            report.error(field, "unknown_event", message);
        } else if is_tab_governed(key) {
            if channels.email.is_some() {
                let switch = email_switch(key).unwrap_or_default();
                report.error(
                    field,
                    "tab_governed",
                    format!("the e-mail channel of {key} is set by {switch}"),
                );
            }
        } else if channels.email.is_none() {
            report.error(format!("{field}.email"), "invalid_type", "expected true or false");
        }
    }
}

/// V31: enabled custom fields exist, are distinct, and a mandatory one without default has a value everywhere.
fn custom_fields(settings: &ClassSettings, ctx: &ClassContext, report: &mut Validation) {
    let mut seen = BTreeSet::new();
    for (index, id) in settings.custom_fields.enabled_field_ids.iter().enumerate() {
        let field = format!("custom_fields.enabled_field_ids[{index}]");
        if !seen.insert(*id) {
            report.error(
                field,
                "duplicate",
                format!("custom field {id} is enabled more than once"),
            );
            continue;
        }
        let Some(definition) = ctx.custom_fields.get(id) else {
            report.error(field, "not_found", format!("custom field {id} not found"));
            continue;
        };
        let lacking = definition.members_without_value;
        if definition.mandatory && !definition.has_default && lacking > 0 {
            let members = if lacking == 1 {
                "1 member has".to_owned()
            } else {
                format!("{lacking} members have")
            };
            let message = format!(
                "mandatory field \"{}\" has no default and {members} no value",
                definition.key
            );
            report.error(field, "missing_values", message);
        }
    }
}
