//! The inputs of the party form and the JSON they stand for. Every input is named after the key the API and
//! the engine's `{field, code, message}` errors use (`tax_exempt`, `custom_fields.contract_no`,
//! `taxation.fixed_vat.rate_percent`), so an error lands beside its input. Overrides (customer-classes §4)
//! each have an "override" switch named `overrides.<key>`: off means the key is sent as null, which removes
//! the override in a PATCH, and the class's value is shown instead.

use std::sync::LazyLock;

use classbill_domain::FieldError;
use classbill_domain::custom_field::{CustomFieldDefinition, CustomFieldProperties, CustomFieldType};
use classbill_domain::party::PartyKind;
use classbill_domain::period::BillingPeriodKind;
use serde_json::{Map, Value, json};

use super::class_fields::{self, Kind, Tab};
use super::form::FormData;

/// Free-text party fields, sent as null when empty (except `name`, which the engine requires).
const TEXTS: &[&str] = &[
    "name",
    "email",
    "phone",
    "country",
    "currency",
    "billing_period",
    "time_zone",
    "activated_at",
    "tax_id",
    "tax_exemption_reason",
];

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

/// IANA zone names for the time-zone suggestions, read once from the zone database.
static TIME_ZONES: LazyLock<Vec<String>> = LazyLock::new(|| {
    let mut zones: Vec<String> = jiff::tz::db()
        .available()
        .map(|name| name.as_str().to_owned())
        .collect();
    zones.sort();
    zones
});

pub(super) fn time_zones() -> &'static [String] {
    &TIME_ZONES
}

fn switched_on(form: &FormData, name: &str) -> bool {
    form.last(name) == Some("true")
}

/// A whole number as a JSON number; other text as a string, so the engine names the field in its error.
fn id_or_text(text: &str) -> Value {
    match text.trim() {
        "" => Value::Null,
        text => text.parse::<i64>().map_or_else(|_| json!(text), Value::from),
    }
}

/// The party as the submitted form describes it, in the shape the API answers (the form is re-shown from it).
pub(super) fn values_of(form: &FormData, kind: PartyKind) -> Value {
    let mut values = Map::new();
    for name in TEXTS {
        values.insert((*name).to_owned(), json!(form.last(name).unwrap_or("").trim()));
    }
    let owner = kind.owner_field();
    values.insert(owner.to_owned(), id_or_text(form.last(owner).unwrap_or("")));
    values.insert("class_id".into(), id_or_text(form.last("class_id").unwrap_or("")));
    let mut flags = vec!["tax_registered", "tax_exempt"];
    if kind == PartyKind::Customer {
        flags.push("prepaid");
    }
    for flag in flags {
        values.insert(flag.to_owned(), json!(switched_on(form, flag)));
    }
    let custom: Map<String, Value> = form
        .all("custom_field")
        .into_iter()
        .map(|key| {
            let value = form.last(&format!("custom_fields.{key}")).unwrap_or("").trim();
            (key.to_owned(), json!(value))
        })
        .collect();
    values.insert("custom_fields".into(), Value::Object(custom));
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
    Value::Object(values)
}

/// What the custom-field inputs on a page belong to: the class picked and, on creation, the owner picked
/// (whose Default class an empty class choice means). A submit whose choice differs sends no custom values, as
/// the inputs it carries were those of another class.
pub(super) fn class_choice(values: &Value, kind: PartyKind, creating: bool) -> String {
    let owner = if creating {
        text_of(&values[kind.owner_field()])
    } else {
        String::new()
    };
    format!("{}|{owner}", text_of(&values["class_id"]))
}

/// The request body for the engine: on creation only what is set (so defaults apply); on update every field
/// the form shows, empty texts and switched-off overrides as null (which clears them). The owner and the
/// currency are sent only on creation, the exemption reason only while the party is exempt.
pub(super) fn body_of(values: &Value, kind: PartyKind, creating: bool, with_custom_fields: bool) -> Value {
    let mut body = Map::new();
    let keep_on_update = ["name", "email", "phone", "country", "tax_id"];
    for name in TEXTS {
        let text = values[*name].as_str().unwrap_or("");
        let value = if text.is_empty() && *name != "name" {
            Value::Null
        } else {
            json!(text)
        };
        let sent = match *name {
            "currency" => creating,
            "tax_exemption_reason" => values["tax_exempt"] == json!(true),
            // An empty zone, period or activation keeps the stored one (or takes the default).
            _ => creating || keep_on_update.contains(name) || !value.is_null(),
        };
        if sent {
            body.insert((*name).to_owned(), value);
        }
    }
    if creating {
        body.insert(kind.owner_field().to_owned(), values[kind.owner_field()].clone());
    }
    if creating || !values["class_id"].is_null() {
        body.insert("class_id".into(), values["class_id"].clone());
    }
    for flag in ["tax_registered", "tax_exempt", "prepaid"] {
        if let Some(value) = values.get(flag) {
            body.insert(flag.to_owned(), value.clone());
        }
    }
    if with_custom_fields && let Some(Value::Object(custom)) = values.get("custom_fields") {
        let sent: Map<String, Value> = custom
            .iter()
            .filter(|(_, value)| !creating || value.as_str().is_some_and(|text| !text.is_empty()))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        body.insert("custom_fields".into(), Value::Object(sent));
    }
    for key in SINGLE_OVERRIDES
        .iter()
        .map(|o| o.0)
        .chain(["taxation", "measured_services"])
    {
        body.insert(key.to_owned(), values[key].clone());
    }
    if creating {
        body.retain(|_, value| !value.is_null());
    }
    Value::Object(body)
}

/// The engine's errors, handed out to the inputs that show them; what no input takes is listed above the form.
pub(super) struct ErrorSlots {
    errors: Vec<FieldError>,
    taken: Vec<String>,
}

impl ErrorSlots {
    pub fn new(errors: Vec<FieldError>) -> ErrorSlots {
        ErrorSlots {
            errors,
            taken: Vec::new(),
        }
    }

    /// The messages for `field`, which is now shown beside an input.
    pub fn take(&mut self, field: &str) -> Vec<String> {
        self.taken.push(field.to_owned());
        self.errors
            .iter()
            .filter(|e| e.field == field)
            .map(|e| e.message.clone())
            .collect()
    }

    pub fn rest(&self) -> Vec<&FieldError> {
        self.errors.iter().filter(|e| !self.taken.contains(&e.field)).collect()
    }
}

/// The form text of a value.
pub(super) fn text_of(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn options(values: &[&str]) -> Vec<Value> {
    values
        .iter()
        .map(|v| json!({"value": v, "label": v.replace('_', " ")}))
        .collect()
}

/// One input of the form, as the template draws it.
fn input(name: &str, label: &str, input: &str, value: String, errors: &mut ErrorSlots) -> Value {
    json!({"name": name, "id": name.replace(['.', '[', ']'], "-"), "label": label, "input": input,
           "value": value, "errors": errors.take(name)})
}

/// What the main section offers besides the party's own values.
pub(super) struct Choices {
    /// The owners an administrator may pick from on creation, as `(id, name)`; `None` = no picker.
    pub owners: Option<Vec<(i64, String)>>,
    /// How the owner is shown where it cannot be picked.
    pub owner_label: String,
    /// The enabled currencies; `None` = every ISO 4217 code (free text with suggestions).
    pub currencies: Option<Vec<String>>,
}

/// The party's own fields (customer-classes §4), in form order.
pub(super) fn main_fields(
    kind: PartyKind,
    creating: bool,
    values: &Value,
    choices: &Choices,
    errors: &mut ErrorSlots,
) -> Vec<Value> {
    let text = |name: &str| text_of(&values[name]);
    let mut fields = vec![input("name", "Name", "text", text("name"), errors)];
    let owner = kind.owner_field();
    let owner_label = match kind {
        PartyKind::Customer => "Reseller (owner)",
        PartyKind::Reseller => "Parent reseller (owner)",
    };
    let mut owner_field = match (&choices.owners, creating) {
        (Some(owners), true) => {
            let mut list = vec![json!({"value": "", "label": "none: the operator's own"})];
            list.extend(
                owners
                    .iter()
                    .map(|(id, name)| json!({"value": id.to_string(), "label": name})),
            );
            let mut field = input(owner, owner_label, "select", text(owner), errors);
            field["options"] = Value::Array(list);
            field["refresh"] = json!(true);
            field
        }
        _ => input(owner, owner_label, "readonly", choices.owner_label.clone(), errors),
    };
    owner_field["help"] = json!("fixed once the party exists");
    fields.push(owner_field);
    for (name, label) in [
        ("email", "E-mail"),
        ("phone", "Phone"),
        ("country", "Country (ISO code)"),
    ] {
        fields.push(input(name, label, "text", text(name), errors));
    }
    let mut currency = match (&choices.currencies, creating) {
        (_, false) => input("currency", "Currency", "readonly", text("currency"), errors),
        (Some(codes), true) => {
            let mut field = input("currency", "Currency", "select", text("currency"), errors);
            let mut list = vec![json!({"value": "", "label": "the class's currency"})];
            list.extend(codes.iter().map(|c| json!({"value": c, "label": c})));
            field["options"] = Value::Array(list);
            field
        }
        (None, true) => {
            let mut field = input("currency", "Currency", "text", text("currency"), errors);
            field["list"] = json!("currencies");
            field["placeholder"] = json!("the class's currency");
            field
        }
    };
    currency["help"] = json!("set at creation only");
    fields.push(currency);
    let mut period = input(
        "billing_period",
        "Billing period",
        "select",
        text("billing_period"),
        errors,
    );
    if period["value"] == json!("") {
        period["value"] = json!("monthly");
    }
    period["options"] = Value::Array(options(&BillingPeriodKind::ALL.map(BillingPeriodKind::as_str)));
    fields.push(period);
    let mut zone = input("time_zone", "Time zone", "text", text("time_zone"), errors);
    zone["list"] = json!("time-zones");
    zone["placeholder"] = json!("the owner's zone");
    fields.push(zone);
    let mut activated = input("activated_at", "Activated at", "text", text("activated_at"), errors);
    activated["placeholder"] = json!("now, or e.g. 2025-02-01T00:00:00+01:00");
    fields.push(activated);
    if kind == PartyKind::Customer {
        fields.push(checkbox("prepaid", "Prepaid", values, errors));
    }
    fields.push(input("tax_id", "Tax id", "text", text("tax_id"), errors));
    fields.push(checkbox("tax_registered", "Registered for tax", values, errors));
    fields.push(checkbox("tax_exempt", "Tax exempt", values, errors));
    let mut reason = input(
        "tax_exemption_reason",
        "Tax exemption reason",
        "text",
        text("tax_exemption_reason"),
        errors,
    );
    reason["shown_when"] = json!("tax_exempt=true");
    fields.push(reason);
    if !creating {
        let status = match values["blocked"] {
            Value::Bool(true) => format!("{} (blocked)", text("status")),
            _ => text("status"),
        };
        let mut field = input("status", "Status", "readonly", status, errors);
        field["help"] = json!("changes through block and unblock and the collection ladder");
        fields.push(field);
    }
    fields
}

fn checkbox(name: &str, label: &str, values: &Value, errors: &mut ErrorSlots) -> Value {
    let mut field = input(name, label, "checkbox", String::new(), errors);
    field["checked"] = json!(values[name] == json!(true));
    field
}

/// The inputs for the custom fields the class enables (§5.14), in the class's order.
pub(super) fn custom_field_inputs(
    definitions: &[CustomFieldDefinition],
    values: &Value,
    errors: &mut ErrorSlots,
) -> Vec<Value> {
    definitions
        .iter()
        .map(|definition| {
            let name = format!("custom_fields.{}", definition.key);
            let value = text_of(&values["custom_fields"][&definition.key]);
            let mut hints = Vec::new();
            let (kind, list) = match (&definition.field_type, &definition.properties) {
                (CustomFieldType::List, CustomFieldProperties::List { options }) => ("select", options.clone()),
                (CustomFieldType::Date, _) => ("date", Vec::new()),
                _ => ("text", Vec::new()),
            };
            match &definition.properties {
                CustomFieldProperties::Text { max_length, pattern } => {
                    hints.push(format!("up to {max_length} characters"));
                    if let Some(pattern) = pattern {
                        hints.push(format!("pattern {pattern}"));
                    }
                }
                CustomFieldProperties::Number { min, max, decimals } => {
                    hints.push(format!("a number with up to {decimals} decimals"));
                    hints.extend(min.as_ref().map(|m| format!("at least {m}")));
                    hints.extend(max.as_ref().map(|m| format!("at most {m}")));
                }
                CustomFieldProperties::Bounds { min, max } => {
                    if definition.field_type == CustomFieldType::Datetime {
                        hints.push("an instant such as 2025-02-01T09:30:00+01:00".to_owned());
                    }
                    hints.extend(min.as_ref().map(|m| format!("from {m}")));
                    hints.extend(max.as_ref().map(|m| format!("until {m}")));
                }
                CustomFieldProperties::List { .. } => {}
            }
            if let Some(default) = &definition.default {
                hints.push(format!("default {default}"));
            }
            let mut field = input(&name, &definition.label, kind, value, errors);
            field["key"] = json!(definition.key);
            field["required"] = json!(definition.mandatory);
            field["help"] = json!(hints.join("; "));
            let mut choices = vec![json!({"value": "", "label": "—"})];
            choices.extend(list.iter().map(|o| json!({"value": o, "label": o})));
            field["options"] = Value::Array(choices);
            field
        })
        .collect()
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
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> FormData {
        FormData::from_pairs(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect())
    }

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
    fn custom_values_and_the_exemption_reason_follow_their_switches() {
        let submitted = form(&[
            ("name", "Ada"),
            ("reseller_id", "7"),
            ("custom_field", "contract_no"),
            ("custom_fields.contract_no", ""),
            ("custom_field", "segment"),
            ("custom_fields.segment", "smb"),
            ("tax_exempt", "false"),
            ("tax_exemption_reason", "charity"),
        ]);
        let values = values_of(&submitted, PartyKind::Customer);
        let create = body_of(&values, PartyKind::Customer, true, true);
        assert_eq!(create["custom_fields"], json!({"segment": "smb"}));
        assert_eq!(create["reseller_id"], json!(7));
        assert!(create.get("tax_exemption_reason").is_none(), "hidden while not exempt");
        let update = body_of(&values, PartyKind::Customer, false, true);
        assert_eq!(update["custom_fields"], json!({"contract_no": "", "segment": "smb"}));
        assert!(update.get("reseller_id").is_none(), "the owner is immutable");
        assert_eq!(class_choice(&values, PartyKind::Customer, true), "|7");
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
