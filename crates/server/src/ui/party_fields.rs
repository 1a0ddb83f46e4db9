//! The inputs of the party form and the JSON they stand for: the party's own fields and the custom fields of
//! its class. Every input is named after the key the API and the engine's `{field, code, message}` errors use
//! (`tax_exempt`, `custom_fields.contract_no`, `taxation.fixed_vat.rate_percent`), so an error lands beside
//! its input. The overrides of customer-classes §4 are in `party_overrides`, which builds its inputs with the
//! helpers here.

use std::sync::LazyLock;

use classbill_domain::FieldError;
use classbill_domain::custom_field::{CustomFieldDefinition, CustomFieldProperties, CustomFieldType};
use classbill_domain::party::PartyKind;
use classbill_domain::period::BillingPeriodKind;
use serde_json::{Map, Value, json};

use super::form::FormData;
use super::party_overrides;

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

/// Whether a checkbox is ticked: it sends a hidden "false" before its own "true", so the last value counts.
pub(super) fn switched_on(form: &FormData, name: &str) -> bool {
    form.last(name) == Some("true")
}

/// A whole number as a JSON number; other text as a string, so the engine names the field in its error.
pub(super) fn id_or_text(text: &str) -> Value {
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
    party_overrides::insert_values(form, &mut values);
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
    for key in party_overrides::keys() {
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

/// The options of a select whose labels are its values, spaced.
pub(super) fn options(values: &[&str]) -> Vec<Value> {
    values
        .iter()
        .map(|v| json!({"value": v, "label": v.replace('_', " ")}))
        .collect()
}

/// One input of the form, as the template draws it.
pub(super) fn input(name: &str, label: &str, input: &str, value: String, errors: &mut ErrorSlots) -> Value {
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

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A submitted form from literal pairs (the tests of `party_overrides` submit forms too).
    pub(in crate::ui) fn form(pairs: &[(&str, &str)]) -> FormData {
        FormData::from_pairs(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect())
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
}
