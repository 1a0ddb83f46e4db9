//! Notification event keys (§5.13) and the class's channel matrix (§2.8).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Events whose channels a class controls, in the order of §5.13.
pub const CLASS_EVENT_KEYS: &[&str] = &[
    "invoice_issued",
    "oot_invoice_issued",
    "invoice_due_soon",
    "invoice_resent",
    "invoice_overdue",
    "late_fee_applied",
    "limitation_upcoming",
    "service_limited",
    "suspension_upcoming",
    "service_suspended",
    "service_restored",
    "termination_upcoming",
    "customer_terminated",
    "payment_received",
    "auto_charge_failed",
    "statistics_ready",
];

/// Class events whose e-mail switch is a tab setting; their matrix `email` must be null.
pub const TAB_GOVERNED_EVENTS: &[&str] = &[
    "invoice_issued",
    "oot_invoice_issued",
    "invoice_resent",
    "statistics_ready",
];

/// Events addressed to operator users according to their own settings; a class cannot configure them.
pub const OPERATOR_EVENT_KEYS: &[&str] = &[
    "invoice_under_review",
    "period_close_failed",
    "tax_engine_failed",
    "notification_dead_lettered",
];

/// Integration events that always go to the owner's webhooks; a class cannot configure them either.
pub const INTEGRATION_EVENT_KEYS: &[&str] = &["charge_requested", "customer_status_changed", "refund_requested"];

pub fn is_class_event(key: &str) -> bool {
    CLASS_EVENT_KEYS.contains(&key)
}

pub fn is_tab_governed(key: &str) -> bool {
    TAB_GOVERNED_EVENTS.contains(&key)
}

/// The setting that switches e-mail for a tab-governed event.
pub fn email_switch(key: &str) -> Option<&'static str> {
    match key {
        "invoice_issued" => Some("regular_invoices.email_delivery"),
        "oot_invoice_issued" => Some("out_of_turn_invoices.email_delivery"),
        "invoice_resent" => Some("collection.resend_after_due_days"),
        "statistics_ready" => Some("general_info.statistics_email"),
        _ => None,
    }
}

/// The default `email` of a class event: null for tab-governed events, false for `payment_received`, else true.
pub fn default_email(key: &str) -> Option<bool> {
    if is_tab_governed(key) {
        None
    } else {
        Some(key != "payment_received")
    }
}

/// The channels on which one event is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct EventChannels {
    /// Null for tab-governed events, whose e-mail switch lives in a tab.
    pub email: Option<bool>,
    pub sms: bool,
    pub webhook: bool,
}

impl EventChannels {
    pub fn default_for(key: &str) -> EventChannels {
        EventChannels {
            email: default_email(key),
            sms: false,
            webhook: false,
        }
    }
}

/// Every class event with its default channels.
pub fn default_events() -> BTreeMap<String, EventChannels> {
    CLASS_EVENT_KEYS
        .iter()
        .map(|key| ((*key).to_owned(), EventChannels::default_for(key)))
        .collect()
}

/// The `notifications` tab.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Notifications {
    /// Null means the built-in `standard` set.
    pub notification_set_id: Option<i64>,
    pub events: BTreeMap<String, EventChannels>,
}

impl Default for Notifications {
    fn default() -> Self {
        Notifications {
            notification_set_id: None,
            events: default_events(),
        }
    }
}

impl Notifications {
    /// Adds every missing class event with its defaults and clears the e-mail flag of tab-governed events.
    pub fn fill_defaults(&mut self) {
        for key in CLASS_EVENT_KEYS {
            let channels = self
                .events
                .entry((*key).to_owned())
                .or_insert_with(|| EventChannels::default_for(key));
            if is_tab_governed(key) {
                channels.email = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_section_2_8() {
        let events = default_events();
        assert_eq!(events.len(), 16);
        assert_eq!(events["invoice_due_soon"].email, Some(true));
        assert_eq!(events["auto_charge_failed"].email, Some(true));
        assert_eq!(events["payment_received"].email, Some(false));
        assert_eq!(events["statistics_ready"].email, None);
        assert!(events.values().all(|channels| !channels.sms && !channels.webhook));
    }

    #[test]
    fn fill_defaults_keeps_choices_and_nulls_tab_governed_email() {
        let mut notifications = Notifications {
            notification_set_id: None,
            events: BTreeMap::new(),
        };
        notifications.events.insert(
            "payment_received".into(),
            EventChannels {
                email: Some(true),
                sms: true,
                webhook: false,
            },
        );
        notifications.events.insert(
            "invoice_issued".into(),
            EventChannels {
                email: Some(true),
                sms: false,
                webhook: true,
            },
        );
        notifications.fill_defaults();
        assert_eq!(notifications.events.len(), 16);
        assert_eq!(
            notifications.events["payment_received"],
            EventChannels {
                email: Some(true),
                sms: true,
                webhook: false
            }
        );
        assert_eq!(
            notifications.events["invoice_issued"],
            EventChannels {
                email: None,
                sms: false,
                webhook: true
            }
        );
        assert_eq!(notifications.events["service_limited"].email, Some(true));
    }
}
