//! The minijinja texts of notification sets: the variables each event offers (§5.13), the check run when a set
//! is saved, and rendering when an event fires.

use std::collections::BTreeSet;

use classbill_domain::FieldError;
use minijinja::Environment;
use serde_json::{Map, Value};

use crate::catalog::{NotificationSetDocument, NotificationTexts};

/// Variables of every template.
const COMMON_VARIABLES: &[&str] = &["party_name", "party_id", "class_name", "currency"];
/// Variables added by events about one invoice.
const INVOICE_VARIABLES: &[&str] = &["invoice_number", "total", "amount_due", "open_amount", "due_date"];
/// Variables added by the collection ladder's events.
const LADDER_VARIABLES: &[&str] = &["action_date", "fee_amount", "days_left"];

/// Events of the collection ladder (§5.9), from the due reminder on; each concerns one invoice.
const LADDER_EVENTS: &[&str] = &[
    "invoice_due_soon",
    "invoice_overdue",
    "late_fee_applied",
    "limitation_upcoming",
    "service_limited",
    "suspension_upcoming",
    "service_suspended",
    "service_restored",
    "termination_upcoming",
    "customer_terminated",
];

/// Events about one invoice besides the ladder's.
const INVOICE_EVENTS: &[&str] = &[
    "invoice_issued",
    "oot_invoice_issued",
    "invoice_resent",
    "auto_charge_failed",
    "invoice_under_review",
];

/// The variables templates of `event_key` may use.
pub fn variables_of(event_key: &str) -> Vec<&'static str> {
    let mut names = COMMON_VARIABLES.to_vec();
    let ladder = LADDER_EVENTS.contains(&event_key);
    if ladder || INVOICE_EVENTS.contains(&event_key) {
        names.extend_from_slice(INVOICE_VARIABLES);
    }
    if ladder {
        names.extend_from_slice(LADDER_VARIABLES);
    }
    names
}

/// The four parts of one event's texts with their names as in the document.
pub(crate) fn parts(texts: &NotificationTexts) -> [(&'static str, &str); 4] {
    [
        ("subject", texts.subject.as_str()),
        ("text", texts.text.as_str()),
        ("html", texts.html.as_str()),
        ("sms", texts.sms.as_str()),
    ]
}

/// HTML parts escape what they insert; the other parts are plain text.
fn template_name(part: &str) -> &'static str {
    if part == "html" { "part.html" } else { "part.txt" }
}

fn environment() -> Environment<'static> {
    Environment::new()
}

/// Every syntax error and unknown variable of a set, each named `events.<key>.<part>` with its line.
pub fn check_set(set: &NotificationSetDocument) -> Vec<FieldError> {
    let env = environment();
    let globals: BTreeSet<String> = env.globals().map(|(name, _)| name.to_owned()).collect();
    let mut errors = Vec::new();
    for (key, texts) in &set.events {
        let allowed = variables_of(key);
        for (part, source) in parts(texts) {
            let field = format!("events.{key}.{part}");
            let template = match env.template_from_named_str(template_name(part), source) {
                Ok(template) => template,
                Err(e) => {
                    let line = e.line().map(|l| format!("line {l}: ")).unwrap_or_default();
                    let detail = e.detail().map(str::to_owned).unwrap_or_else(|| e.kind().to_string());
                    errors.push(FieldError::new(field, "template_syntax", format!("{line}{detail}")));
                    continue;
                }
            };
            let mut unknown: Vec<String> = template
                .undeclared_variables(false)
                .into_iter()
                .filter(|name| !allowed.contains(&name.as_str()) && !globals.contains(name))
                .collect();
            unknown.sort();
            for name in unknown {
                let line = line_of(source, &name)
                    .map(|l| format!("line {l}: "))
                    .unwrap_or_default();
                errors.push(FieldError::new(
                    field.clone(),
                    "unknown_variable",
                    format!("{line}unknown variable `{name}`; {key} offers {}", allowed.join(", ")),
                ));
            }
        }
    }
    errors
}

/// The first line mentioning `name` as a whole word.
fn line_of(source: &str, name: &str) -> Option<usize> {
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    source
        .lines()
        .position(|line| {
            line.match_indices(name).any(|(at, _)| {
                let before = line[..at].chars().next_back();
                let after = line[at + name.len()..].chars().next();
                !before.is_some_and(is_word) && !after.is_some_and(is_word)
            })
        })
        .map(|index| index + 1)
}

/// Renders one part with the event's variables; an empty source renders as nothing.
pub fn render(part: &str, source: &str, variables: &Map<String, Value>) -> Result<String, String> {
    if source.is_empty() {
        return Ok(String::new());
    }
    let env = environment();
    env.template_from_named_str(template_name(part), source)
        .and_then(|template| template.render(minijinja::value::Serde(variables)))
        .map_err(|e| format!("{part} template: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set_with(key: &str, texts: NotificationTexts) -> NotificationSetDocument {
        NotificationSetDocument {
            name: "Test".to_owned(),
            events: [(key.to_owned(), texts)].into(),
        }
    }

    #[test]
    fn syntax_errors_and_unknown_variables_are_named_with_their_line() {
        let set = set_with(
            "payment_received",
            NotificationTexts {
                subject: "Thanks {{ party_name }}".to_owned(),
                text: "Hello\n{{ party_name }\n".to_owned(),
                html: "<p>{{ party_name }}</p>\n<p>{{ invoice_number }}</p>".to_owned(),
                sms: "{% for i in range(2) %}{{ i }}{% endfor %}".to_owned(),
            },
        );
        let errors = check_set(&set);
        let found: Vec<(&str, &str)> = errors.iter().map(|e| (e.field.as_str(), e.code.as_str())).collect();
        assert_eq!(
            found,
            [
                ("events.payment_received.text", "template_syntax"),
                ("events.payment_received.html", "unknown_variable"),
            ]
        );
        assert!(errors[0].message.starts_with("line 2: "), "{}", errors[0].message);
        assert!(
            errors[1]
                .message
                .starts_with("line 2: unknown variable `invoice_number`"),
            "{}",
            errors[1].message
        );
    }

    #[test]
    fn ladder_events_offer_invoice_and_ladder_variables() {
        // The due reminder and the overdue notice are steps of the ladder too: the collection run gives them
        // `action_date`, so their templates may use it.
        for event in ["suspension_upcoming", "invoice_due_soon", "invoice_overdue"] {
            let set = set_with(
                event,
                NotificationTexts {
                    subject: "{{ invoice_number }} {{ days_left }} {{ action_date }} {{ fee_amount }}".to_owned(),
                    ..NotificationTexts::default()
                },
            );
            assert_eq!(check_set(&set), [], "{event}");
        }
    }

    #[test]
    fn html_is_escaped_and_text_is_not() {
        let variables: Map<String, Value> = [("party_name".to_owned(), Value::from("A & B <GmbH>"))]
            .into_iter()
            .collect();
        assert_eq!(render("text", "{{ party_name }}", &variables).unwrap(), "A & B <GmbH>");
        assert_eq!(
            render("html", "<b>{{ party_name }}</b>", &variables).unwrap(),
            "<b>A &amp; B &lt;GmbH&gt;</b>"
        );
    }
}
