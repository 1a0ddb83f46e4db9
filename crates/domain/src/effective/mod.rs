//! Effective settings of one party (§4): its class document merged with the party's overrides, the facts
//! inherited from its owner, the rules that force a value, and the installation configuration. Every leaf of
//! the result says where its value comes from.
//!
//! Granularity: objects descend to their scalars; lists and tagged objects (`managed_by`, `payment_terms`) are
//! single leaves; measured services are keyed by metric, one leaf per row.

use std::fmt;

use jiff::Timestamp;
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::class::{ChargeBasis, ClassSettings, Metric, MetricRow, StatisticsEmail, TaxMethod, TaxTiming};
use crate::money::Money;
use crate::party::PartyKind;

mod input;
mod tree;

pub use input::*;
pub use tree::*;

/// Tagged objects: shown as one leaf each.
const TAGGED_PATHS: &[&str] = &[
    "managed_by",
    "regular_invoices.payment_terms",
    "out_of_turn_invoices.payment_terms",
];

/// The document types serialize to JSON without fail; should one ever not, the value shows as null rather
/// than failing the whole view.
fn json<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// The JSON spelling of a unit enum value.
fn text<T: Serialize>(value: T) -> Value {
    json(&value)
}

/// A JSON value whose objects keep their keys in the order they were written, so that the view lists settings
/// in document order (`serde_json::Value` sorts keys).
enum Ordered {
    Object(Vec<(String, Ordered)>),
    Other(Value),
}

impl Ordered {
    fn of<T: Serialize>(value: &T) -> Ordered {
        serde_json::to_string(value)
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or(Ordered::Other(Value::Null))
    }

    fn into_value(self) -> Value {
        match self {
            Ordered::Object(entries) => Value::Object(entries.into_iter().map(|(k, v)| (k, v.into_value())).collect()),
            Ordered::Other(value) => value,
        }
    }
}

impl<'de> Deserialize<'de> for Ordered {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(OrderedVisitor)
    }
}

struct OrderedVisitor;

impl<'de> serde::de::Visitor<'de> for OrderedVisitor {
    type Value = Ordered;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Ordered, E> {
        Ok(Ordered::Other(Value::Bool(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Ordered, E> {
        Ok(Ordered::Other(Value::from(v)))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Ordered, E> {
        Ok(Ordered::Other(Value::from(v)))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Ordered, E> {
        Ok(Ordered::Other(Value::from(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Ordered, E> {
        Ok(Ordered::Other(Value::from(v)))
    }

    fn visit_unit<E>(self) -> Result<Ordered, E> {
        Ok(Ordered::Other(Value::Null))
    }

    fn visit_none<E>(self) -> Result<Ordered, E> {
        Ok(Ordered::Other(Value::Null))
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Ordered, D::Error> {
        Ordered::deserialize(deserializer)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Ordered, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Value>()? {
            items.push(item);
        }
        Ok(Ordered::Other(Value::Array(items)))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Ordered, A::Error> {
        let mut entries = Vec::new();
        while let Some((key, value)) = map.next_entry::<String, Ordered>()? {
            entries.push((key, value));
        }
        Ok(Ordered::Object(entries))
    }
}

/// Turns a document into the effective form, every leaf taking `source`.
fn tree(value: Ordered, path: &str, source: Source) -> Node {
    match value {
        Ordered::Object(entries) if !TAGGED_PATHS.contains(&path) => {
            let mut branch = Branch::default();
            for (key, child) in entries {
                let child_path = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                let node = tree(child, &child_path, source);
                branch.insert(key, node);
            }
            Node::Branch(branch)
        }
        other => Node::Leaf(Leaf::new(other.into_value(), source)),
    }
}

/// Merges the class document of `input` with the party's overrides, owner facts, rules and installation values.
pub fn effective_settings(input: &EffectiveInput) -> EffectiveSettings {
    let class = &input.class;
    let party = &input.party;
    let from_class = Source::Class {
        class_id: input.class_id,
        class_revision: input.class_revision,
    };

    let mut settings = Branch::default();
    let document = match Ordered::of(class) {
        Ordered::Object(entries) => entries,
        Ordered::Other(_) => Vec::new(),
    };
    for (key, value) in document {
        let node = match key.as_str() {
            "taxation" => taxation(input, from_class),
            "measured_services" => Node::Branch(measured_services(input, from_class)),
            _ => tree(value, &key, from_class),
        };
        settings.insert(key, node);
    }

    notification_sender(input, &mut settings);
    general_info(input, &mut settings);
    invoice_tabs(input, &mut settings);

    let (owner_zone, owner_source) = match &input.owner {
        OwnerFacts::Reseller { time_zone, .. } => (time_zone, Source::Owner),
        OwnerFacts::Administrator => (&input.installation.time_zone, Source::Installation),
    };
    let zone_source = if party.time_zone == *owner_zone {
        owner_source
    } else {
        Source::Party
    };
    settings.set("time_zone", Leaf::new(party.time_zone.clone(), zone_source));

    settings.insert("installation", Node::Branch(installation(&input.installation)));

    EffectiveSettings {
        class_id: input.class_id,
        class_name: class.name.clone(),
        class_revision: input.class_revision,
        computed_at: input.computed_at,
        settings,
    }
}

/// A null part of the class sender falls back to the owning reseller's name or e-mail address, else to the
/// installation's default sender.
fn notification_sender(input: &EffectiveInput, settings: &mut Branch) {
    let sender = &input.class.notification_sender;
    let default = &input.installation.default_sender;
    let (owner_name, owner_address) = match &input.owner {
        OwnerFacts::Reseller { name, email, .. } => (Some(name.clone()), email.clone()),
        OwnerFacts::Administrator => (None, None),
    };
    for (key, from_class, from_owner, from_installation) in [
        ("name", &sender.name, owner_name, &default.name),
        ("address", &sender.address, owner_address, &default.address),
    ] {
        if from_class.is_some() {
            continue;
        }
        let leaf = match from_owner {
            Some(value) => Leaf::new(value, Source::Owner),
            None => Leaf::new(json(from_installation), Source::Installation),
        };
        settings.set(&format!("notification_sender.{key}"), leaf);
    }
}

fn general_info(input: &EffectiveInput, settings: &mut Branch) {
    if let Some(statistics) = input.party.overrides.statistics_email {
        let leaf = if input.class.general_info.archive_xdrs {
            Leaf::new(text(statistics), Source::Party)
        } else {
            Leaf::new(
                text(StatisticsEmail::None),
                Source::Rule {
                    rule: Rule::StatisticsDisabled,
                },
            )
        };
        settings.set("general_info.statistics_email", leaf);
    }
}

/// A template or e-mail override: the party's value while the class tab is enabled, else the class value under
/// the `tab_disabled` rule.
fn tab_override(tab_enabled: bool, party_value: Value, class_value: Value) -> Leaf {
    if tab_enabled {
        Leaf::new(party_value, Source::Party)
    } else {
        Leaf::new(
            class_value,
            Source::Rule {
                rule: Rule::TabDisabled,
            },
        )
    }
}

fn invoice_tabs(input: &EffectiveInput, settings: &mut Branch) {
    let class = &input.class;
    let overrides = &input.party.overrides;
    let regular = &class.regular_invoices;
    let oot = &class.out_of_turn_invoices;

    if regular.enabled && class.general_info.billed_externally && input.party.is_postpaid() {
        settings.set(
            "regular_invoices.enabled",
            Leaf::new(
                false,
                Source::Rule {
                    rule: Rule::BilledExternally,
                },
            ),
        );
    }
    if let Some(template) = overrides.regular_invoice_template_id {
        settings.set(
            "regular_invoices.template_id",
            tab_override(regular.enabled, json(&template), json(&regular.template_id)),
        );
    }
    if let Some(delivery) = overrides.invoice_email_delivery {
        settings.set(
            "regular_invoices.email_delivery",
            tab_override(regular.enabled, text(delivery), text(regular.email_delivery)),
        );
    }
    if let Some(template) = overrides.oot_invoice_template_id {
        settings.set(
            "out_of_turn_invoices.template_id",
            tab_override(oot.enabled, json(&template), json(&oot.template_id)),
        );
    }
    if let Some(delivery) = overrides.oot_invoice_email_delivery {
        settings.set(
            "out_of_turn_invoices.email_delivery",
            tab_override(oot.enabled, text(delivery), text(oot.email_delivery)),
        );
    }
}

/// The class `taxation` tab, or the party's whole replacement, then the tax-exemption and timing rules.
fn taxation(input: &EffectiveInput, from_class: Source) -> Node {
    let (taxation, source) = match &input.party.overrides.taxation {
        Some(taxation) => (taxation, Source::Party),
        None => (&input.class.taxation, from_class),
    };
    let Node::Branch(mut branch) = tree(Ordered::of(taxation), "taxation", source) else {
        return Node::Leaf(Leaf::new(json(taxation), source));
    };
    if input.party.tax_exempt && taxation.method != TaxMethod::None {
        branch.set(
            "method",
            Leaf::new(text(TaxMethod::None), Source::Rule { rule: Rule::TaxExempt }),
        );
    }
    if taxation.tax_timing == TaxTiming::AtPayment && input.party.is_postpaid() {
        branch.set(
            "tax_timing",
            Leaf::new(
                text(TaxTiming::EndOfPeriod),
                Source::Rule {
                    rule: Rule::PostpaidTaxedAtClose,
                },
            ),
        );
    }
    Node::Branch(branch)
}

/// One leaf per metric: class rows without a party row stay the class's; a party row is laid over the class row
/// of its metric (or over the §2.7 defaults when the class has none) and makes the whole row the party's.
fn measured_services(input: &EffectiveInput, from_class: Source) -> Branch {
    let class_rows = &input.class.measured_services.metrics;
    let overrides = &input.party.overrides;
    let mut rows: Vec<(MetricRow, Source)> = Vec::new();
    for class_row in class_rows {
        if rows.iter().any(|(row, _)| row.metric == class_row.metric) {
            continue;
        }
        rows.push(match overrides.metric(class_row.metric) {
            Some(party_row) => (party_row.apply_to(class_row), Source::Party),
            None => (class_row.clone(), from_class),
        });
    }
    for party_row in overrides.measured_services.iter().flatten() {
        if rows.iter().any(|(row, _)| row.metric == party_row.metric) {
            continue;
        }
        rows.push((party_row.apply_to(&default_row(party_row.metric)), Source::Party));
    }

    let mut branch = Branch::default();
    for (mut row, mut source) in rows {
        if input.party.kind == PartyKind::Reseller
            && row.metric == Metric::ConcurrentCalls
            && row.charge_basis != ChargeBasis::None
        {
            row.charge_basis = ChargeBasis::None;
            source = Source::Rule {
                rule: Rule::NotForResellers,
            };
        }
        branch.insert(row.metric.as_str(), Node::Leaf(Leaf::new(json(&row), source)));
    }
    branch
}

/// A row of §2.7 with every default.
fn default_row(metric: Metric) -> MetricRow {
    MetricRow {
        metric,
        charge_basis: ChargeBasis::default(),
        price_per_item: Money::default(),
        free_items: 0,
        rate_code: None,
        service: None,
    }
}

fn installation(values: &InstallationValues) -> Branch {
    let mut branch = Branch::default();
    let mut put = |path: &str, value: Value| branch.set(path, Leaf::new(value, Source::Installation));
    put("billing.close_delay_hours", json(&values.close_delay_hours));
    put("default_sender.name", json(&values.default_sender.name));
    put("default_sender.address", json(&values.default_sender.address));
    put("time_zone", json(&values.time_zone));
    put("collections.non_working_weekdays", json(&values.non_working_weekdays));
    put("collections.holidays", json(&values.holidays));
    branch
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::party::{MetricOverride, PartyOverrides};
    use serde_json::json;

    #[test]
    fn branch_set_creates_objects_and_replaces_leaves() {
        let mut branch = Branch::default();
        branch.set("a.b.c", Leaf::new(1, Source::Party));
        branch.set("a.b.c", Leaf::new(2, Source::Owner));
        branch.set("a.d", Leaf::new(3, Source::Installation));
        assert_eq!(
            json(&branch),
            json!({"a": {"b": {"c": {"value": 2, "source": "owner"}}, "d": {"value": 3, "source": "installation"}}})
        );
        assert_eq!(branch.leaf("a.d").map(|leaf| leaf.source), Some(Source::Installation));
        assert!(branch.leaf("a.b").is_none());
        assert_eq!(branch.leaves().len(), 2);
    }

    #[test]
    fn sources_serialize_with_their_extra_keys() {
        let class = Leaf::new(
            true,
            Source::Class {
                class_id: 4,
                class_revision: 2,
            },
        );
        assert_eq!(
            json(&class),
            json!({"value": true, "source": "class", "class_id": 4, "class_revision": 2})
        );
        let rule = Leaf::new("none", Source::Rule { rule: Rule::TaxExempt });
        assert_eq!(
            json(&rule),
            json!({"value": "none", "source": "rule", "rule": "tax_exempt"})
        );
        assert_eq!(json(&Rule::TabDisabled), json!(Rule::TabDisabled.as_str()));
    }

    #[test]
    fn metric_override_tells_null_from_absent() {
        let row: MetricOverride =
            serde_json::from_value(json!({"metric": "active_calls", "rate_code": null, "free_items": 3})).unwrap();
        assert_eq!(row.rate_code, Some(None));
        assert_eq!(row.service, None);
        assert_eq!(row.free_items, Some(3));
        let base = MetricRow {
            rate_code: Some("ACT".into()),
            service: Some("voice".into()),
            ..default_row(Metric::ActiveCalls)
        };
        let merged = row.apply_to(&base);
        assert_eq!(merged.rate_code, None);
        assert_eq!(merged.service.as_deref(), Some("voice"));
        assert_eq!(merged.free_items, 3);
    }

    #[test]
    fn stored_overrides_read_leniently() {
        assert_eq!(PartyOverrides::from_json("").unwrap(), PartyOverrides::default());
        assert_eq!(PartyOverrides::from_json("null").unwrap(), PartyOverrides::default());
        let read = PartyOverrides::from_json(r#"{"statistics_email": null, "oot_invoice_template_id": 9}"#).unwrap();
        assert_eq!(read.statistics_email, None);
        assert_eq!(read.oot_invoice_template_id, Some(9));
    }

    #[test]
    fn installation_values_fall_back_to_defaults() {
        let values = InstallationValues::from_stored(|key| match key {
            "billing.close_delay_hours" => Some(json!(12)),
            "time_zone" => Some(json!(["not a zone"])),
            _ => None,
        });
        assert_eq!(values.close_delay_hours, 12);
        assert_eq!(values.time_zone, "UTC");
        assert_eq!(values.non_working_weekdays, ["saturday", "sunday"]);
    }
}
