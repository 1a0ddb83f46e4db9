//! The overrides of customer-classes §4 on the party form: one "override" switch per overridable parameter,
//! named `overrides.<key>`, beside the value the class would give while it is off. Off means the key is sent as
//! null, which removes the override in a PATCH. Kept apart from the party's own fields because the overrides
//! carry their own vocabulary: the inherited value and its source, whole-tab taxation, per-metric rows, and
//! errors the engine names by row index (`measured_services[1].free_items`) that must find the input of the
//! metric shown.

use serde_json::{Map, Value, json};

use super::class_fields::{self, Kind, Tab};
use super::form::FormData;
use super::party_fields::{ErrorSlots, id_or_text, input, options, switched_on, text_of};

/// Overrides with one value each: `(key, label, class path, choices)`; no choices = an invoice template.
const SINGLE_OVERRIDES: &[(&str, &str, &str, &[&str])] = &[
    (
        "invoice_email_delivery",
        "Regular invoices by e-mail",
        "regular_invoices.email_delivery",
        &["never", "automatically", "after_review"],
    ),
    (
        "oot_invoice_email_delivery",
        "Out-of-turn invoices by e-mail",
        "out_of_turn_invoices.email_delivery",
        &["never", "automatically"],
    ),
    (
        "statistics_email",
        "Statistics e-mail",
        "general_info.statistics_email",
        &["full", "summary", "none"],
    ),
    (
        "regular_invoice_template_id",
        "Regular invoice template",
        "regular_invoices.template_id",
        &[],
    ),
    (
        "oot_invoice_template_id",
        "Out-of-turn invoice template",
        "out_of_turn_invoices.template_id",
        &[],
    ),
];

const METRICS: &[&str] = &["active_calls", "concurrent_calls", "pbx_extensions"];
/// The keys of a party's measured-service row besides `metric`; an empty input leaves the key to the class.
const METRIC_KEYS: &[(&str, &str)] = &[
    ("charge_basis", "Charge basis"),
    ("price_per_item", "Price per item"),
    ("free_items", "Free items"),
    ("rate_code", "Rate code"),
    ("service", "Service"),
];

/// The keys of the party document the overrides fill; each is sent to the engine, null removing an override.
pub(super) fn keys() -> impl Iterator<Item = &'static str> {
    SINGLE_OVERRIDES
        .iter()
        .map(|o| o.0)
        .chain(["taxation", "measured_services"])
}

/// Adds the overrides of the submitted form to the party document `values`: the value of each one switched
/// on, null for each one switched off.
pub(super) fn insert_values(form: &FormData, values: &mut Map<String, Value>) {
    for (key, _, _, choices) in SINGLE_OVERRIDES {
        let value = match form.last(key) {
            Some(text) if switched_on(form, &format!("overrides.{key}")) => {
                if choices.is_empty() {
                    id_or_text(text)
                } else {
                    json!(text)
                }
            }
            _ => Value::Null,
        };
        values.insert((*key).to_owned(), value);
    }
    let taxation = if switched_on(form, "overrides.taxation") {
        class_fields::apply_form(&json!({}), form)["taxation"].clone()
    } else {
        Value::Null
    };
    values.insert("taxation".into(), taxation);
    let rows: Vec<Value> = METRICS
        .iter()
        .filter(|metric| switched_on(form, &format!("overrides.measured_services.{metric}")))
        .map(|metric| {
            let mut row = Map::new();
            row.insert("metric".into(), json!(metric));
            for (key, _) in METRIC_KEYS {
                let text = form
                    .last(&format!("measured_services.{metric}.{key}"))
                    .unwrap_or("")
                    .trim();
                if !text.is_empty() {
                    let value = if *key == "free_items" {
                        id_or_text(text)
                    } else {
                        json!(text)
                    };
                    row.insert((*key).to_owned(), value);
                }
            }
            Value::Object(row)
        })
        .collect();
    let rows = if rows.is_empty() {
        Value::Null
    } else {
        Value::Array(rows)
    };
    values.insert("measured_services".into(), rows);
}

/// Where an inherited value comes from: the stored party's effective settings while the form shows its
/// stored class, else the document of the class the form shows.
pub(super) struct Inheritance {
    pub effective: Option<Value>,
    pub class: Option<Value>,
}

/// How the source of an effective-settings leaf reads in the UI.
pub(super) fn source_text(leaf: &Map<String, Value>) -> String {
    match leaf.get("source").and_then(Value::as_str).unwrap_or("") {
        "class" => format!(
            "class {} (revision {})",
            leaf.get("class_id").map_or(String::new(), Value::to_string),
            leaf.get("class_revision").map_or(String::new(), Value::to_string)
        ),
        "rule" => format!("rule {}", leaf.get("rule").and_then(Value::as_str).unwrap_or("")),
        other => other.to_owned(),
    }
}

impl Inheritance {
    /// The effective leaf at `path` unless the party overrides it (then it says nothing about the class).
    fn effective_leaf(&self, path: &str) -> Option<&Map<String, Value>> {
        let leaf = class_fields::lookup(self.effective.as_ref()?, path)?.as_object()?;
        (leaf.contains_key("value") && leaf.get("source") != Some(&json!("party"))).then_some(leaf)
    }

    fn class_source(&self) -> String {
        self.class
            .as_ref()
            .map(|c| format!("class {} (revision {})", text_of(&c["name"]), text_of(&c["revision"])))
            .unwrap_or_default()
    }

    /// A leaf's source, the class named rather than numbered.
    fn leaf_source(&self, leaf: &Map<String, Value>) -> String {
        match leaf.get("source").and_then(Value::as_str) {
            Some("class") if self.class.is_some() => self.class_source(),
            _ => source_text(leaf),
        }
    }

    /// The value at a class path while nothing overrides it, with its source.
    fn of(&self, path: &str) -> Option<(Value, String)> {
        if let Some(leaf) = self.effective_leaf(path) {
            return Some((leaf["value"].clone(), self.leaf_source(leaf)));
        }
        let value = class_fields::lookup(self.class.as_ref()?, path)?;
        Some((value.clone(), self.class_source()))
    }

    /// The class's taxation tab as a document: the effective leaves folded back while none of them is the
    /// party's, else the class's own tab.
    fn taxation(&self) -> (Value, String) {
        let mut leaves = Vec::new();
        collect_leaves(
            "taxation",
            self.effective.as_ref().map_or(&Value::Null, |e| &e["taxation"]),
            &mut leaves,
        );
        let inherited = !leaves
            .iter()
            .any(|(_, leaf)| leaf.get("source") == Some(&json!("party")));
        if let Some(method) = self.effective_leaf("taxation.method").filter(|_| inherited) {
            let mut document = Value::Object(Map::new());
            for (path, leaf) in leaves {
                set_path(&mut document, &path, leaf["value"].clone());
            }
            return (document["taxation"].clone(), self.leaf_source(method));
        }
        let class = self.class.as_ref().map_or(Value::Null, |c| c["taxation"].clone());
        (class, self.class_source())
    }

    /// The class's row for `metric` (every key), or what applies without one.
    fn metric(&self, metric: &str) -> (Value, String) {
        if let Some(leaf) = self.effective_leaf(&format!("measured_services.{metric}")) {
            return (leaf["value"].clone(), self.leaf_source(leaf));
        }
        let row = self
            .class
            .as_ref()
            .and_then(|c| c["measured_services"]["metrics"].as_array())
            .and_then(|rows| rows.iter().find(|r| r["metric"] == json!(metric)))
            .cloned()
            .unwrap_or_else(|| json!({"metric": metric, "charge_basis": "none"}));
        (row, self.class_source())
    }
}

/// The `{value, source}` leaves under `node` with their paths.
fn collect_leaves<'a>(prefix: &str, node: &'a Value, rows: &mut Vec<(String, &'a Map<String, Value>)>) {
    let Value::Object(map) = node else { return };
    if map.contains_key("value") && map.contains_key("source") {
        rows.push((prefix.to_owned(), map));
        return;
    }
    for (key, child) in map {
        collect_leaves(&format!("{prefix}.{key}"), child, rows);
    }
}

fn set_path(document: &mut Value, path: &str, value: Value) {
    let mut slot = document;
    for key in path.split('.') {
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        slot = slot
            .as_object_mut()
            .map(|map| map.entry(key.to_owned()).or_insert(Value::Null))
            .expect("an object");
    }
    *slot = value;
}

/// The scalars of a document as `path: value` lines, nulls left out.
fn summary(prefix: &str, value: &Value, lines: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                summary(&path, child, lines);
            }
        }
        Value::Null => {}
        other => lines.push(format!("{prefix}: {}", text_of(other))),
    }
}

/// The overrides section: one entry per overridable parameter of §4. `templates` are the invoice templates the
/// party's owner may use, as `(id, name)`; `scripted` hides the inputs of switched-off parts at once, as the
/// page script would (for sections swapped in after the script ran).
pub(super) fn override_sections(
    values: &Value,
    inheritance: &Inheritance,
    templates: &[(i64, String)],
    scripted: bool,
    errors: &mut ErrorSlots,
) -> Vec<Value> {
    let shown = |text: &Value| match text.as_i64().and_then(|id| templates.iter().find(|t| t.0 == id)) {
        Some((id, name)) => format!("{name} (template {id})"),
        None if text.is_null() => "—".to_owned(),
        None => text_of(text),
    };
    let mut sections = Vec::new();
    for (key, label, path, choices) in SINGLE_OVERRIDES {
        let on = !values[*key].is_null();
        let (inherited, source) = inheritance.of(path).unwrap_or((Value::Null, String::new()));
        let current = if on { &values[*key] } else { &inherited };
        let mut field = input(key, label, "select", text_of(current), errors);
        field["options"] = if choices.is_empty() {
            Value::Array(
                templates
                    .iter()
                    .map(|(id, name)| json!({"value": id.to_string(), "label": name}))
                    .collect(),
            )
        } else {
            Value::Array(options(choices))
        };
        sections.push(
            json!({"key": key, "label": label, "on": on, "hidden": scripted && !on, "field": field,
                             "inherited": shown(&inherited), "source": source}),
        );
    }
    sections.push(taxation_section(values, inheritance, scripted, errors));
    sections.push(metric_section(values, inheritance, scripted, errors));
    sections
}

fn taxation_section(values: &Value, inheritance: &Inheritance, scripted: bool, errors: &mut ErrorSlots) -> Value {
    let on = !values["taxation"].is_null();
    let (class_taxation, source) = inheritance.taxation();
    let document = json!({"taxation": if on { values["taxation"].clone() } else { class_taxation.clone() }});
    let mut inherited = Vec::new();
    summary("", &class_taxation, &mut inherited);
    let mut fields = Vec::new();
    for field in class_fields::fields(0).into_iter().filter(|f| f.tab == Tab::Taxation) {
        let value = class_fields::lookup(&document, &field.path);
        let input_kind = match field.kind {
            Kind::Bool => "checkbox",
            Kind::Choice(_) => "select",
            _ => "text",
        };
        let mut entry = input(
            &field.path,
            &field.label,
            input_kind,
            class_fields::display(field.kind, value),
            errors,
        );
        entry["checked"] = json!(value == Some(&json!(true)));
        if let Kind::Choice(choices) = field.kind {
            entry["options"] = Value::Array(options(choices));
        }
        let mut conditions = vec!["overrides.taxation=true".to_owned()];
        conditions.extend(field.shown_when.iter().map(|(path, value)| format!("{path}={value}")));
        let hidden = !on
            || field.shown_when.iter().any(|(path, value)| {
                class_fields::display(Kind::Text, class_fields::lookup(&document, path)) != *value
            });
        entry["shown_when"] = json!(conditions.join(";"));
        entry["hidden"] = json!(scripted && hidden);
        fields.push(entry);
    }
    json!({"key": "taxation", "label": "Taxation (the whole tab)", "on": on, "hidden": scripted && !on,
           "fields": fields, "errors": errors.take("taxation"), "inherited": inherited.join(", "), "source": source})
}

fn metric_section(values: &Value, inheritance: &Inheritance, scripted: bool, errors: &mut ErrorSlots) -> Value {
    let sent = values["measured_services"].as_array().cloned().unwrap_or_default();
    let mut rows = Vec::new();
    for metric in METRICS {
        let index = sent.iter().position(|row| row["metric"] == json!(metric));
        let row = index.map_or(Value::Null, |i| sent[i].clone());
        let (class_row, source) = inheritance.metric(metric);
        let mut inherited = Vec::new();
        summary("", &class_row, &mut inherited);
        let mut fields = Vec::new();
        for (key, label) in METRIC_KEYS {
            let name = format!("measured_services.{metric}.{key}");
            let mut field = input(&name, label, "text", text_of(&row[*key]), errors);
            if let Some(i) = index {
                field["errors"] = json!(errors.take(&format!("measured_services[{i}].{key}")));
            }
            if *key == "charge_basis" {
                field["input"] = json!("select");
                let mut list = vec![json!({"value": "", "label": "as the class"})];
                list.extend(options(&["none", "average", "maximum", "minimum"]));
                field["options"] = Value::Array(list);
            } else {
                field["placeholder"] = json!("as the class");
            }
            fields.push(field);
        }
        let row_errors = index
            .map(|i| errors.take(&format!("measured_services[{i}]")))
            .unwrap_or_default();
        rows.push(
            json!({"metric": metric, "label": metric.replace('_', " "), "on": index.is_some(),
                         "hidden": scripted && index.is_none(), "fields": fields, "errors": row_errors,
                         "inherited": inherited.join(", "), "source": source}),
        );
    }
    json!({"key": "measured_services", "label": "Measured services (per metric)", "rows": rows,
           "errors": errors.take("measured_services")})
}

#[cfg(test)]
mod tests {
    use classbill_domain::party::PartyKind;

    use super::*;
    use crate::ui::party_fields::tests::form;
    use crate::ui::party_fields::{body_of, values_of};

    #[test]
    fn switched_off_overrides_are_null_and_on_ones_carry_their_value() {
        let submitted = form(&[
            ("name", "Ada"),
            ("overrides.statistics_email", "false"),
            ("statistics_email", "full"),
            ("overrides.invoice_email_delivery", "false"),
            ("overrides.invoice_email_delivery", "true"),
            ("invoice_email_delivery", "after_review"),
            ("overrides.measured_services.pbx_extensions", "true"),
            ("measured_services.pbx_extensions.free_items", "20"),
            ("measured_services.pbx_extensions.rate_code", ""),
        ]);
        let values = values_of(&submitted, PartyKind::Customer);
        let update = body_of(&values, PartyKind::Customer, false, false);
        assert_eq!(
            update["statistics_email"],
            Value::Null,
            "a PATCH null removes the override"
        );
        assert_eq!(update["invoice_email_delivery"], json!("after_review"));
        assert_eq!(
            update["measured_services"],
            json!([{"metric": "pbx_extensions", "free_items": 20}])
        );
        assert!(update.get("custom_fields").is_none());
        let create = body_of(&values, PartyKind::Customer, true, true);
        assert!(
            create.get("statistics_email").is_none(),
            "creation sends only what is set"
        );
        assert!(create.get("reseller_id").is_none());
    }

    #[test]
    fn inherited_values_never_come_from_the_party_itself() {
        let class = json!({"name": "Retail", "revision": 3, "taxation": {"method": "fixed_vat",
                           "fixed_vat": {"rate_percent": "19", "inclusive": false}},
                           "regular_invoices": {"email_delivery": "never"}});
        let leaf = |value: Value, source: &str| json!({"value": value, "source": source});
        let overridden = Inheritance {
            effective: Some(json!({
                "taxation": {"method": leaf(json!("fixed_vat"), "party"),
                             "fixed_vat": {"rate_percent": leaf(json!("7"), "party")}},
                "regular_invoices": {"email_delivery": leaf(json!("after_review"), "party")}})),
            class: Some(class.clone()),
        };
        assert_eq!(overridden.taxation().0["fixed_vat"]["rate_percent"], json!("19"));
        assert_eq!(
            overridden.of("regular_invoices.email_delivery"),
            Some((json!("never"), "class Retail (revision 3)".to_owned()))
        );
        let ruled = Inheritance {
            effective: Some(json!({"regular_invoices": {"email_delivery":
                {"value": "never", "source": "rule", "rule": "tab_disabled"}}})),
            class: Some(class),
        };
        assert_eq!(
            ruled.of("regular_invoices.email_delivery"),
            Some((json!("never"), "rule tab_disabled".to_owned()))
        );
    }
}
