//! Notification sets (§5.13): subject, text, HTML and SMS texts per event, shared by many classes.

use std::collections::BTreeMap;

use classbill_domain::FieldError;
use classbill_domain::class::{CLASS_EVENT_KEYS, OPERATOR_EVENT_KEYS};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::service::CatalogKind;
use super::{check_name, kinds};

const TEXT_MAX_CHARS: usize = 100_000;

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct NotificationTexts {
    pub subject: String,
    pub text: String,
    pub html: String,
    pub sms: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotificationSetDocument {
    pub name: String,
    #[serde(default)]
    pub events: BTreeMap<String, NotificationTexts>,
}

pub struct NotificationSetKind;

impl CatalogKind for NotificationSetKind {
    const KIND: &'static str = kinds::NOTIFICATION_SET;
    const LABEL: &'static str = "notification set";
    const OWNED: bool = true;
    type Document = NotificationSetDocument;

    fn check(d: &Self::Document) -> Vec<FieldError> {
        let mut errors = Vec::new();
        check_name(&d.name, &mut errors);
        for (key, texts) in &d.events {
            if !CLASS_EVENT_KEYS.contains(&key.as_str()) && !OPERATOR_EVENT_KEYS.contains(&key.as_str()) {
                errors.push(FieldError::new(
                    format!("events.{key}"),
                    "unknown_event",
                    format!("{key} is not a notification event"),
                ));
            }
            for (part, value) in [
                ("subject", &texts.subject),
                ("text", &texts.text),
                ("html", &texts.html),
                ("sms", &texts.sms),
            ] {
                if value.chars().count() > TEXT_MAX_CHARS {
                    errors.push(FieldError::new(
                        format!("events.{key}.{part}"),
                        "out_of_range",
                        format!("must be at most {TEXT_MAX_CHARS} characters"),
                    ));
                }
            }
        }
        errors.extend(crate::notifications::templates::check_set(d));
        errors
    }

    fn key(d: &Self::Document) -> String {
        classbill_domain::class::name_key(&d.name)
    }
}
