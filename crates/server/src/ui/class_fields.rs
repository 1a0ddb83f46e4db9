//! The editable fields of the class form, one table for rendering the inputs and for turning the submitted form
//! back into the class document. Every input is named after its document path, the same path the engine's
//! `{field, code, message}` errors carry, so an error lands beside its input without any mapping.

use std::sync::LazyLock;

use classbill_domain::class::{CLASS_EVENT_KEYS, is_tab_governed};
use serde::Serialize;
use serde_json::{Map, Value};

use super::form::FormData;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Tab {
    GeneralInfo,
    RegularInvoices,
    OutOfTurnInvoices,
    Taxation,
    MeasuredServices,
    Notifications,
    CustomFields,
}

impl Tab {
    pub const ALL: [(Tab, &'static str); 7] = [
        (Tab::GeneralInfo, "General Info"),
        (Tab::RegularInvoices, "Regular Invoices"),
        (Tab::OutOfTurnInvoices, "Out-of-Turn Invoices"),
        (Tab::Taxation, "Taxation"),
        (Tab::MeasuredServices, "Measured Services"),
        (Tab::Notifications, "Notifications"),
        (Tab::CustomFields, "Custom Fields"),
    ];
}

/// How a field is shown and how its text becomes JSON. Text that does not parse as the expected number is sent
/// as a string, so the engine names the field in its error instead of the form guessing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Text,
    /// Empty text is null.
    OptionalText,
    Int,
    /// Empty text is null.
    OptionalInt,
    Bool,
    /// Comma-separated whole numbers.
    IntList,
    Choice(&'static [&'static str]),
}

#[derive(Debug, Clone, Serialize)]
pub struct Field {
    pub path: String,
    pub label: String,
    pub kind: Kind,
    pub tab: Tab,
    /// Shown (and submitted) only while each `path` holds `value`: the switches of §2.
    pub shown_when: Vec<(String, String)>,
}

const YES: &str = "true";

fn field(tab: Tab, path: impl Into<String>, label: impl Into<String>, kind: Kind) -> Field {
    Field {
        path: path.into(),
        label: label.into(),
        kind,
        tab,
        shown_when: Vec::new(),
    }
}

impl Field {
    fn when(mut self, path: impl Into<String>, value: &str) -> Field {
        self.shown_when.push((path.into(), value.to_owned()));
        self
    }
}

/// The invoice policy block of §2.3, shared by both invoice tabs.
fn policy_block(tab: Tab, prefix: &str) -> Vec<Field> {
    let p = |key: &str| format!("{prefix}.{key}");
    let on = p("enabled");
    let c = |key: &str| format!("{prefix}.collection.{key}");
    vec![
        field(
            tab,
            p("payment_terms.type"),
            "Payment terms",
            Kind::Choice(&["due_upon_receipt", "net"]),
        )
        .when(&on, YES),
        field(tab, p("payment_terms.days"), "Net days", Kind::Int)
            .when(&on, YES)
            .when(p("payment_terms.type"), "net"),
        field(
            tab,
            p("due_reminder_days"),
            "Due reminders (days before due)",
            Kind::IntList,
        )
        .when(&on, YES),
        field(
            tab,
            p("auto_charge"),
            "Auto charge",
            Kind::Choice(&["off", "on_issue", "on_due_date"]),
        )
        .when(&on, YES),
        field(
            tab,
            p("auto_charge_retry_days"),
            "Auto-charge retries (days)",
            Kind::IntList,
        )
        .when(&on, YES),
        field(
            tab,
            p("collection_threshold"),
            "Collection threshold",
            Kind::OptionalText,
        )
        .when(&on, YES),
        field(
            tab,
            p("restore_on_partial_within_threshold"),
            "Restore on partial payment within threshold",
            Kind::Bool,
        )
        .when(&on, YES),
        field(
            tab,
            c("resend_after_due_days"),
            "Resend after due (days)",
            Kind::IntList,
        )
        .when(&on, YES),
        field(tab, c("late_fee"), "Late fee", Kind::OptionalText).when(&on, YES),
        field(
            tab,
            c("limit_after_days"),
            "Limit service after (days)",
            Kind::OptionalInt,
        )
        .when(&on, YES),
        field(
            tab,
            c("limit_notice_days"),
            "Limitation notices (days before)",
            Kind::IntList,
        )
        .when(&on, YES),
        field(tab, c("suspend_after_days"), "Suspend after (days)", Kind::OptionalInt).when(&on, YES),
        field(
            tab,
            c("suspend_notice_days"),
            "Suspension notices (days before)",
            Kind::IntList,
        )
        .when(&on, YES),
        field(tab, c("reactivation_fee"), "Reactivation fee", Kind::OptionalText).when(&on, YES),
        field(
            tab,
            c("terminate_after_days"),
            "Terminate after (days)",
            Kind::OptionalInt,
        )
        .when(&on, YES),
        field(
            tab,
            c("terminate_notice_days"),
            "Termination notices (days before)",
            Kind::IntList,
        )
        .when(&on, YES),
    ]
}

/// Rows offered on the Measured Services tab: the stored ones plus this many empty ones.
pub const SPARE_METRIC_ROWS: usize = 1;

fn metric_row(index: usize) -> Vec<Field> {
    let tab = Tab::MeasuredServices;
    let p = |key: &str| format!("measured_services.metrics[{index}].{key}");
    let n = index + 1;
    vec![
        field(
            tab,
            p("metric"),
            format!("Row {n}: metric"),
            Kind::Choice(&["", "active_calls", "concurrent_calls", "pbx_extensions"]),
        ),
        field(
            tab,
            p("charge_basis"),
            format!("Row {n}: charge basis"),
            Kind::Choice(&["none", "average", "maximum", "minimum"]),
        ),
        field(tab, p("price_per_item"), format!("Row {n}: price per item"), Kind::Text),
        field(tab, p("free_items"), format!("Row {n}: free items"), Kind::Int),
        field(tab, p("rate_code"), format!("Row {n}: rate code"), Kind::OptionalText),
        field(tab, p("service"), format!("Row {n}: service"), Kind::OptionalText),
    ]
}

fn humanize(key: &str) -> String {
    let text = key.replace('_', " ");
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// Every field except the header (rendered on its own) and the measured-service rows (their number varies).
static FIELDS: LazyLock<Vec<Field>> = LazyLock::new(|| {
    use Tab::*;
    let mut fields = vec![
        field(GeneralInfo, "general_info.archive_xdrs", "Archive xDRs", Kind::Bool),
        field(
            GeneralInfo,
            "general_info.statistics_email",
            "Statistics e-mail",
            Kind::Choice(&["none", "summary", "full"]),
        ),
        field(
            GeneralInfo,
            "general_info.billed_externally",
            "Billed externally",
            Kind::Bool,
        ),
        field(
            GeneralInfo,
            "general_info.reset_balance_each_period",
            "Reset balance each period",
            Kind::Bool,
        ),
        field(
            GeneralInfo,
            "general_info.hide_reset_xdr",
            "Hide the reset xDR",
            Kind::Bool,
        )
        .when("general_info.reset_balance_each_period", YES),
        field(
            GeneralInfo,
            "general_info.rounding_precision",
            "Rounding precision",
            Kind::Int,
        ),
        field(
            GeneralInfo,
            "general_info.rounding_method",
            "Rounding method",
            Kind::Choice(&["away_from_zero", "half_away_from_zero", "special"]),
        ),
        field(
            GeneralInfo,
            "general_info.period_closure.mode",
            "Period closure",
            Kind::Choice(&["after_delay", "upon_approval"]),
        ),
        field(
            GeneralInfo,
            "general_info.period_closure.extra_delay_hours",
            "Extra close delay (hours)",
            Kind::Int,
        ),
        field(
            GeneralInfo,
            "notification_sender.name",
            "Notification sender name",
            Kind::OptionalText,
        ),
        field(
            GeneralInfo,
            "notification_sender.address",
            "Notification sender address",
            Kind::OptionalText,
        ),
        field(
            RegularInvoices,
            "regular_invoices.enabled",
            "Issue regular invoices",
            Kind::Bool,
        ),
        field(
            RegularInvoices,
            "regular_invoices.template_id",
            "Invoice template id",
            Kind::OptionalInt,
        )
        .when("regular_invoices.enabled", YES),
        field(
            RegularInvoices,
            "regular_invoices.pdf_generation",
            "PDF generation",
            Kind::Choice(&["end_of_period", "postponed", "on_demand"]),
        )
        .when("regular_invoices.enabled", YES),
        field(
            RegularInvoices,
            "regular_invoices.email_delivery",
            "E-mail delivery",
            Kind::Choice(&["never", "automatically", "after_review"]),
        )
        .when("regular_invoices.enabled", YES),
        field(
            RegularInvoices,
            "regular_invoices.review_hold_days",
            "Review hold (days)",
            Kind::OptionalInt,
        )
        .when("regular_invoices.enabled", YES)
        .when("regular_invoices.email_delivery", "after_review"),
    ];
    fields.extend(policy_block(RegularInvoices, "regular_invoices"));
    fields.extend([
        field(
            OutOfTurnInvoices,
            "out_of_turn_invoices.enabled",
            "Issue out-of-turn invoices",
            Kind::Bool,
        ),
        field(
            OutOfTurnInvoices,
            "out_of_turn_invoices.template_id",
            "Invoice template id",
            Kind::OptionalInt,
        )
        .when("out_of_turn_invoices.enabled", YES),
        field(
            OutOfTurnInvoices,
            "out_of_turn_invoices.email_delivery",
            "E-mail delivery",
            Kind::Choice(&["never", "automatically"]),
        )
        .when("out_of_turn_invoices.enabled", YES),
        field(
            OutOfTurnInvoices,
            "out_of_turn_invoices.separate_recurring_fee_invoice",
            "Separate invoice for recurring fees",
            Kind::Bool,
        )
        .when("out_of_turn_invoices.enabled", YES),
    ]);
    fields.extend(policy_block(OutOfTurnInvoices, "out_of_turn_invoices"));
    fields.extend([
        field(
            Taxation,
            "taxation.method",
            "Tax method",
            Kind::Choice(&["none", "fixed_vat", "custom", "generic_vat", "external"]),
        ),
        field(
            Taxation,
            "taxation.tax_timing",
            "Tax timing",
            Kind::Choice(&["end_of_period", "at_payment"]),
        ),
        field(Taxation, "taxation.fixed_vat.rate_percent", "VAT rate (%)", Kind::Text)
            .when("taxation.method", "fixed_vat"),
        field(
            Taxation,
            "taxation.fixed_vat.inclusive",
            "Prices include VAT",
            Kind::Bool,
        )
        .when("taxation.method", "fixed_vat"),
        field(Taxation, "taxation.custom_tax_ids", "Custom tax ids", Kind::IntList).when("taxation.method", "custom"),
        field(
            Taxation,
            "taxation.generic_vat.home_country",
            "Home country (ISO code)",
            Kind::Text,
        )
        .when("taxation.method", "generic_vat"),
        field(
            Taxation,
            "taxation.generic_vat.inclusive",
            "Prices include VAT",
            Kind::Bool,
        )
        .when("taxation.method", "generic_vat"),
        field(Taxation, "taxation.external.endpoint_url", "Tax engine URL", Kind::Text)
            .when("taxation.method", "external"),
        field(Taxation, "taxation.external.timeout_ms", "Timeout (ms)", Kind::Int).when("taxation.method", "external"),
        field(Taxation, "taxation.external.secret_ref", "Secret name", Kind::Text).when("taxation.method", "external"),
        field(
            Taxation,
            "taxation.external.prices_include_tax",
            "Prices include tax",
            Kind::Bool,
        )
        .when("taxation.method", "external"),
        field(
            Notifications,
            "notifications.notification_set_id",
            "Notification set id",
            Kind::OptionalInt,
        ),
    ]);
    for key in CLASS_EVENT_KEYS {
        let event = humanize(key);
        let p = |channel: &str| format!("notifications.events.{key}.{channel}");
        if !is_tab_governed(key) {
            fields.push(field(Notifications, p("email"), format!("{event}: e-mail"), Kind::Bool));
        }
        fields.push(field(Notifications, p("sms"), format!("{event}: SMS"), Kind::Bool));
        fields.push(field(
            Notifications,
            p("webhook"),
            format!("{event}: webhook"),
            Kind::Bool,
        ));
    }
    fields.push(field(
        CustomFields,
        "custom_fields.enabled_field_ids",
        "Enabled custom-field ids",
        Kind::IntList,
    ));
    fields
});

/// The fields of a form whose document holds `metric_rows` measured-service rows.
pub fn fields(metric_rows: usize) -> Vec<Field> {
    let mut all = FIELDS.clone();
    for index in 0..metric_rows + SPARE_METRIC_ROWS {
        all.extend(metric_row(index));
    }
    all
}

/// The value at a document path such as `measured_services.metrics[0].metric`.
pub fn lookup<'a>(document: &'a Value, path: &str) -> Option<&'a Value> {
    segments(path).try_fold(document, |value, segment| match segment {
        Segment::Key(key) => value.get(key),
        Segment::Index(index) => value.get(index),
    })
}

enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}

fn segments(path: &str) -> impl Iterator<Item = Segment<'_>> {
    path.split('.').flat_map(|part| {
        let (key, rest) = part.split_once('[').unwrap_or((part, ""));
        let indexes = rest
            .split('[')
            .filter_map(|i| i.trim_end_matches(']').parse::<usize>().ok())
            .map(Segment::Index);
        std::iter::once(Segment::Key(key)).chain(indexes)
    })
}

/// Sets the value at `path`, creating objects and array slots on the way; nulls on the way become objects.
fn set(document: &mut Value, path: &str, new: Value) {
    let mut slot = document;
    for segment in segments(path) {
        slot = match segment {
            Segment::Key(key) => {
                if !slot.is_object() {
                    *slot = Value::Object(Map::new());
                }
                let Value::Object(map) = slot else { return };
                map.entry(key.to_owned()).or_insert(Value::Null)
            }
            Segment::Index(index) => {
                if !slot.is_array() {
                    *slot = Value::Array(Vec::new());
                }
                let Value::Array(items) = slot else { return };
                if items.len() <= index {
                    items.resize(index + 1, Value::Null);
                }
                &mut items[index]
            }
        };
    }
    *slot = new;
}

/// The form text of a field's value, as the input shows it.
pub fn display(kind: Kind, value: Option<&Value>) -> String {
    match (kind, value) {
        (_, None | Some(Value::Null)) => String::new(),
        (Kind::IntList, Some(Value::Array(items))) => items
            .iter()
            .map(|item| display(Kind::Int, Some(item)))
            .collect::<Vec<_>>()
            .join(", "),
        (_, Some(Value::String(text))) => text.clone(),
        (_, Some(other)) => other.to_string(),
    }
}

fn number_or_text(text: &str) -> Value {
    text.parse::<i64>()
        .map(Value::from)
        .unwrap_or_else(|_| Value::String(text.to_owned()))
}

fn parse(kind: Kind, text: Option<&str>) -> Value {
    let text = text.unwrap_or("").trim();
    match kind {
        Kind::Text | Kind::Choice(_) => Value::String(text.to_owned()),
        Kind::OptionalText | Kind::OptionalInt if text.is_empty() => Value::Null,
        Kind::OptionalText => Value::String(text.to_owned()),
        Kind::Int | Kind::OptionalInt => number_or_text(text),
        Kind::Bool => Value::Bool(text == YES),
        Kind::IntList => Value::Array(
            text.split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(number_or_text)
                .collect(),
        ),
    }
}

fn shown(field: &Field, form: &FormData) -> bool {
    field
        .shown_when
        .iter()
        .all(|(path, value)| form.last(path).unwrap_or("") == value)
}

/// Writes the submitted fields into `base` (the stored document, or the defaults for a new class). Fields
/// hidden by their switch keep their stored value, as they would in the API; measured-service rows without a
/// metric are dropped.
pub fn apply_form(base: &Value, form: &FormData) -> Value {
    let mut document = base.clone();
    let submitted_rows = (0..)
        .take_while(|index| {
            form.last(&format!("measured_services.metrics[{index}].metric"))
                .is_some()
        })
        .count();
    set(&mut document, "measured_services.metrics", Value::Array(Vec::new()));
    for field in fields(submitted_rows.saturating_sub(SPARE_METRIC_ROWS)) {
        if field.tab == Tab::MeasuredServices || !shown(&field, form) {
            continue;
        }
        // An unchecked box is not submitted; the form's hidden "false" twin makes absence mean "not shown".
        if let Some(text) = form.last(&field.path) {
            set(&mut document, &field.path, parse(field.kind, Some(text)));
        }
    }
    let mut rows = Vec::new();
    for index in 0..submitted_rows {
        let mut row = Value::Object(Map::new());
        for field in metric_row(index) {
            let key = field.path.rsplit('.').next().unwrap_or_default();
            // An empty cell takes the document default, as an omitted key does in the API.
            if let Some(text) = form.last(&field.path).filter(|text| !text.trim().is_empty()) {
                set(&mut row, key, parse(field.kind, Some(text)));
            }
        }
        if row.get("metric").is_some() {
            rows.push(row);
        }
    }
    set(&mut document, "measured_services.metrics", Value::Array(rows));
    document
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn form(pairs: &[(&str, &str)]) -> FormData {
        FormData::from_pairs(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect())
    }

    #[test]
    fn paths_with_indexes_are_read_and_written() {
        let mut doc = json!({"a": {"b": [1, {"c": 2}]}});
        assert_eq!(lookup(&doc, "a.b[1].c"), Some(&json!(2)));
        set(&mut doc, "a.b[2].d", json!("x"));
        assert_eq!(doc, json!({"a": {"b": [1, {"c": 2}, {"d": "x"}]}}));
    }

    #[test]
    fn hidden_switch_fields_keep_the_stored_value() {
        let base = json!({"taxation": {"method": "none", "fixed_vat": null}});
        let submitted = form(&[("taxation.method", "none"), ("taxation.fixed_vat.rate_percent", "19")]);
        let doc = apply_form(&base, &submitted);
        assert_eq!(doc["taxation"]["fixed_vat"], Value::Null);
        let submitted = form(&[
            ("taxation.method", "fixed_vat"),
            ("taxation.fixed_vat.rate_percent", "19"),
            ("taxation.fixed_vat.inclusive", "false"),
            ("taxation.fixed_vat.inclusive", "true"),
        ]);
        let doc = apply_form(&base, &submitted);
        assert_eq!(
            doc["taxation"]["fixed_vat"],
            json!({"rate_percent": "19", "inclusive": true})
        );
    }

    #[test]
    fn unparsable_numbers_reach_the_engine_as_text() {
        assert_eq!(parse(Kind::Int, Some("12")), json!(12));
        assert_eq!(parse(Kind::Int, Some("twelve")), json!("twelve"));
        assert_eq!(parse(Kind::OptionalInt, Some(" ")), Value::Null);
        assert_eq!(parse(Kind::IntList, Some("7, 3,")), json!([7, 3]));
    }

    #[test]
    fn metric_rows_without_a_metric_are_dropped() {
        let submitted = form(&[
            ("measured_services.metrics[0].metric", "active_calls"),
            ("measured_services.metrics[0].price_per_item", "1.5"),
            ("measured_services.metrics[0].free_items", "2"),
            ("measured_services.metrics[1].metric", ""),
        ]);
        let doc = apply_form(&json!({}), &submitted);
        let rows = doc["measured_services"]["metrics"].as_array().unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0]["price_per_item"], json!("1.5"));
        assert_eq!(rows[0].get("rate_code"), None);
    }
}
