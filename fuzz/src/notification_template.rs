//! Notification set upload (`POST /notification-sets`): minijinja subject, text, HTML and SMS templates,
//! checked exactly as a create body is (syntax and the variables each event offers).
//!
//! The first byte picks the event (including one that does not exist); the rest is split at lines holding
//! only `--` into the four parts.

use classbill_domain::class::{CLASS_EVENT_KEYS, OPERATOR_EVENT_KEYS};
use classbill_engine::catalog::{CatalogKind, NotificationSetKind};
use serde_json::json;

pub fn check(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let events: Vec<&str> = CLASS_EVENT_KEYS
        .iter()
        .chain(OPERATOR_EVENT_KEYS)
        .copied()
        .chain(["no_such_event"])
        .collect();
    let event = events[usize::from(selector) % events.len()];
    let text = String::from_utf8_lossy(rest);
    let mut parts = text.splitn(4, "\n--\n");
    let mut next = || parts.next().unwrap_or_default().to_owned();
    let texts = json!({"subject": next(), "text": next(), "html": next(), "sms": next()});
    let body = json!({"name": "Fuzz", "events": {event: texts}});
    if let Ok(document) = NotificationSetKind::parse(body) {
        let _ = NotificationSetKind::check(&document);
    }
}
