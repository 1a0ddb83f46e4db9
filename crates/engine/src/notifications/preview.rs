//! Previews of notification texts: each event's templates rendered with a sample customer and invoice, through
//! [`templates::render`], the function the outbox uses when an event fires, so a preview shows exactly what
//! would be sent. Nothing is stored or read; the texts need not belong to a saved set.

use std::collections::BTreeMap;

use classbill_domain::class::{CLASS_EVENT_KEYS, OPERATOR_EVENT_KEYS};
use classbill_domain::{FieldError, Money};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::templates;
use crate::catalog::{NotificationSetDocument, NotificationTexts, parse_json};
use crate::error::{EngineError, EngineResult};

/// What a preview renders: the events of a set document, optionally with its name.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotificationSetPreviewRequest {
    /// Ignored, so a whole set document can be sent as it is.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub events: BTreeMap<String, NotificationTexts>,
}

/// One event's texts as a message would carry them; `null` where the part did not render (its error is listed).
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct RenderedTexts {
    pub subject: Option<String>,
    pub text: Option<String>,
    pub html: Option<String>,
    pub sms: Option<String>,
    /// The sample values the texts were rendered with.
    #[schema(value_type = Object)]
    pub variables: Map<String, Value>,
}

/// The rendered texts per submitted event, and every problem saving the same texts would report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct NotificationSetPreview {
    /// True when saving these texts would be accepted.
    pub valid: bool,
    pub errors: Vec<FieldError>,
    pub events: BTreeMap<String, RenderedTexts>,
}

/// The values of the §5.13 variables that `event_key` offers, for a sample customer and invoice. Types match
/// what the events carry: amounts as five-digit decimal strings, the party id and `days_left` as numbers.
pub fn sample_variables(event_key: &str) -> Map<String, Value> {
    templates::variables_of(event_key)
        .into_iter()
        .map(|name| {
            let value = match name {
                "party_name" => Value::from("Example Customer Ltd"),
                "party_id" => Value::from(1001),
                "class_name" => Value::from("Business"),
                "currency" => Value::from("EUR"),
                "invoice_number" => Value::from("INV-2025-0042"),
                "total" | "amount_due" | "open_amount" => Value::from(Money(11_900_000).to_string()),
                "due_date" => Value::from("2025-03-16"),
                "action_date" => Value::from("2025-04-01"),
                "fee_amount" => Value::from(Money(500_000).to_string()),
                "days_left" => Value::from(7),
                other => Value::from(other),
            };
            (name.to_owned(), value)
        })
        .collect()
}

/// Renders every event of `request` with its sample variables. The save-time check runs first: a part with a
/// syntax error is not rendered, and unknown variables are reported although they would render as nothing.
pub fn preview_notification_texts(request: &NotificationSetPreviewRequest) -> NotificationSetPreview {
    let set = NotificationSetDocument {
        name: request.name.clone().unwrap_or_default(),
        events: request.events.clone(),
    };
    let mut errors: Vec<FieldError> = request
        .events
        .keys()
        .filter(|key| !CLASS_EVENT_KEYS.contains(&key.as_str()) && !OPERATOR_EVENT_KEYS.contains(&key.as_str()))
        .map(|key| {
            FieldError::new(
                format!("events.{key}"),
                "unknown_event",
                format!("{key} is not a notification event"),
            )
        })
        .collect();
    errors.extend(templates::check_set(&set));
    let mut events = BTreeMap::new();
    for (key, texts) in &request.events {
        let variables = sample_variables(key);
        let mut rendered = [None, None, None, None];
        for ((part, source), slot) in templates::parts(texts).into_iter().zip(rendered.iter_mut()) {
            let field = format!("events.{key}.{part}");
            if errors.iter().any(|e| e.field == field && e.code == "template_syntax") {
                continue;
            }
            match templates::render(part, source, &variables) {
                Ok(output) => *slot = Some(output),
                Err(message) => errors.push(FieldError::new(field, "template_render", message)),
            }
        }
        let [subject, text, html, sms] = rendered;
        events.insert(
            key.clone(),
            RenderedTexts {
                subject,
                text,
                html,
                sms,
                variables,
            },
        );
    }
    NotificationSetPreview {
        valid: errors.is_empty(),
        errors,
        events,
    }
}

/// Reads a preview request from JSON (a set document, with or without its `id`, `owner`, `shared` and
/// `builtin`), naming the first key or value that does not fit.
pub fn preview_request(body: Value) -> EngineResult<NotificationSetPreviewRequest> {
    let Value::Object(mut map) = body else {
        return Err(EngineError::invalid("", "invalid_type", "expected a JSON object"));
    };
    for key in ["id", "owner", "shared", "builtin"] {
        map.remove(key);
    }
    parse_json(Value::Object(map)).map_err(EngineError::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(key: &str, texts: NotificationTexts) -> NotificationSetPreviewRequest {
        NotificationSetPreviewRequest {
            name: None,
            events: [(key.to_owned(), texts)].into(),
        }
    }

    #[test]
    fn every_part_renders_with_the_sample_customer_and_invoice() {
        let preview = preview_notification_texts(&request(
            "late_fee_applied",
            NotificationTexts {
                subject: "Invoice {{ invoice_number }} for {{ party_name }}".to_owned(),
                text: "{{ open_amount }} {{ currency }} open since {{ due_date }}".to_owned(),
                html: "<p>{{ party_name }} &amp; co</p>".to_owned(),
                sms: "{{ fee_amount }} on {{ action_date }}".to_owned(),
            },
        ));
        assert!(preview.valid, "{:?}", preview.errors);
        let rendered = &preview.events["late_fee_applied"];
        assert_eq!(
            rendered.subject.as_deref(),
            Some("Invoice INV-2025-0042 for Example Customer Ltd")
        );
        assert_eq!(rendered.text.as_deref(), Some("119.00000 EUR open since 2025-03-16"));
        assert_eq!(rendered.html.as_deref(), Some("<p>Example Customer Ltd &amp; co</p>"));
        assert_eq!(rendered.sms.as_deref(), Some("5.00000 on 2025-04-01"));
    }

    #[test]
    fn errors_of_the_save_check_are_reported_and_broken_parts_not_rendered() {
        let preview = preview_notification_texts(&request(
            "payment_received",
            NotificationTexts {
                subject: "Thanks {{ invoice_number }}".to_owned(),
                text: "{{ party_name }".to_owned(),
                ..NotificationTexts::default()
            },
        ));
        assert!(!preview.valid);
        let found: Vec<(&str, &str)> = preview
            .errors
            .iter()
            .map(|e| (e.field.as_str(), e.code.as_str()))
            .collect();
        assert_eq!(
            found,
            [
                ("events.payment_received.subject", "unknown_variable"),
                ("events.payment_received.text", "template_syntax"),
            ]
        );
        let rendered = &preview.events["payment_received"];
        assert_eq!(rendered.subject.as_deref(), Some("Thanks "));
        assert_eq!(rendered.text, None);
    }

    #[test]
    fn a_whole_set_document_is_accepted_and_unknown_events_are_named() {
        let body = serde_json::json!({"id": 4, "name": "Mine", "owner": {"type": "administrator"}, "shared": false,
                                      "builtin": false, "events": {"no_such_event": {"subject": "x"}}});
        let preview = preview_notification_texts(&preview_request(body).unwrap());
        assert_eq!(preview.errors[0].field, "events.no_such_event");
        assert_eq!(preview.errors[0].code, "unknown_event");
    }
}
