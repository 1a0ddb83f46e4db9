//! Effective settings (§4): the class document merged with per-party overrides, owner facts, forcing rules and
//! installation values, every leaf naming its source.

use classbill_domain::class::{ClassSettings, settings_from_json};
use classbill_domain::effective::{
    DefaultSender, EffectiveInput, EffectiveSettings, InstallationValues, OwnerFacts, PartyFacts, Rule, Source,
    effective_settings,
};
use classbill_domain::party::{MetricOverride, PartyKind, PartyOverrides};
use jiff::Timestamp;
use serde_json::{Value, json};

const CLASS_ID: i64 = 30;
const REVISION: i64 = 4;

fn class(document: Value) -> ClassSettings {
    settings_from_json(document).expect("the test class document is valid")
}

fn from_class() -> Source {
    Source::Class {
        class_id: CLASS_ID,
        class_revision: REVISION,
    }
}

fn rule(rule: Rule) -> Source {
    Source::Rule { rule }
}

/// The class of §7.4: "Cloud PBX", EUR, precision 2, two measured services.
fn cloud_pbx() -> ClassSettings {
    class(json!({
        "name": "Cloud PBX", "currency": "EUR",
        "measured_services": {"metrics": [
            {"metric": "pbx_extensions", "charge_basis": "maximum", "price_per_item": "3.00", "free_items": 10,
             "service": "cloud_pbx", "rate_code": "PBX-EXT"},
            {"metric": "active_calls", "charge_basis": "average", "price_per_item": "2.50", "free_items": 5,
             "service": "voice", "rate_code": "ACT-CALLS"}
        ]}
    }))
}

fn customer(overrides: PartyOverrides) -> PartyFacts {
    PartyFacts {
        kind: PartyKind::Customer,
        prepaid: false,
        tax_exempt: false,
        time_zone: "UTC".to_owned(),
        overrides,
    }
}

fn reseller(overrides: PartyOverrides) -> PartyFacts {
    PartyFacts {
        kind: PartyKind::Reseller,
        ..customer(overrides)
    }
}

fn input(class: ClassSettings, party: PartyFacts) -> EffectiveInput {
    EffectiveInput {
        class_id: CLASS_ID,
        class_revision: REVISION,
        class,
        party,
        owner: OwnerFacts::Administrator,
        installation: InstallationValues::default(),
        computed_at: "2025-07-01T06:00:00Z".parse().expect("instant"),
    }
}

fn compute(input: &EffectiveInput) -> (EffectiveSettings, Value) {
    let settings = effective_settings(input);
    let json = serde_json::to_value(&settings).expect("the view serializes");
    (settings, json)
}

#[test]
fn a_party_metric_row_overrides_only_its_metric() {
    // §7.4 item 3: customer 1006 of class 30 overrides pbx_extensions with free 20.
    let mut free_20 = MetricOverride::new(classbill_domain::class::Metric::PbxExtensions);
    free_20.free_items = Some(20);
    let overrides = PartyOverrides {
        measured_services: Some(vec![free_20]),
        ..PartyOverrides::default()
    };
    let (_, doc) = compute(&input(cloud_pbx(), customer(overrides)));

    let pbx = &doc["measured_services"]["pbx_extensions"];
    assert_eq!(pbx["source"], "party");
    assert_eq!(
        pbx["value"],
        json!({"metric": "pbx_extensions", "charge_basis": "maximum", "price_per_item": "3.00000",
               "free_items": 20, "rate_code": "PBX-EXT", "service": "cloud_pbx"})
    );
    assert!(pbx.get("class_id").is_none(), "a party leaf carries no class id");

    let calls = &doc["measured_services"]["active_calls"];
    assert_eq!(calls["source"], "class");
    assert_eq!(calls["class_id"], 30);
    assert_eq!(calls["class_revision"], REVISION);
    assert_eq!(
        calls["value"],
        json!({"metric": "active_calls", "charge_basis": "average", "price_per_item": "2.50000",
               "free_items": 5, "rate_code": "ACT-CALLS", "service": "voice"})
    );
    assert!(doc["measured_services"].get("metrics").is_none());
}

#[test]
fn the_same_override_read_from_stored_json() {
    let overrides =
        PartyOverrides::from_json(r#"{"measured_services": [{"metric": "pbx_extensions", "free_items": 20}]}"#)
            .expect("stored overrides read");
    let (view, _) = compute(&input(cloud_pbx(), customer(overrides)));
    let pbx = view.leaf("measured_services.pbx_extensions").expect("pbx row");
    assert_eq!(pbx.source, Source::Party);
    assert_eq!(pbx.value["free_items"], 20);
    assert_eq!(pbx.value["price_per_item"], "3.00000");
    assert_eq!(
        view.leaf("measured_services.active_calls").map(|l| l.source),
        Some(from_class())
    );
}

#[test]
fn party_rows_switch_charges_off_and_add_metrics_the_class_lacks() {
    let overrides = PartyOverrides::from_json(
        r#"{"measured_services": [{"metric": "active_calls", "charge_basis": "none"},
             {"metric": "concurrent_calls", "charge_basis": "maximum", "price_per_item": "1", "service": "voice"}]}"#,
    )
    .expect("stored overrides read");
    let (view, doc) = compute(&input(cloud_pbx(), customer(overrides)));
    let calls = view.leaf("measured_services.active_calls").expect("row");
    assert_eq!(calls.source, Source::Party);
    assert_eq!(calls.value["charge_basis"], "none");
    assert_eq!(calls.value["free_items"], 5, "other keys still come from the class row");
    let concurrent = view.leaf("measured_services.concurrent_calls").expect("party-only row");
    assert_eq!(concurrent.source, Source::Party);
    assert_eq!(
        concurrent.value,
        json!({"metric": "concurrent_calls", "charge_basis": "maximum", "price_per_item": "1.00000",
               "free_items": 0, "rate_code": null, "service": "voice"})
    );
    let order: Vec<&String> = doc["measured_services"].as_object().expect("object").keys().collect();
    assert_eq!(order.len(), 3);
}

#[test]
fn the_top_level_names_the_class_and_the_instant() {
    let (view, doc) = compute(&input(cloud_pbx(), customer(PartyOverrides::default())));
    assert_eq!(doc["class_id"], 30);
    assert_eq!(doc["class_name"], "Cloud PBX");
    assert_eq!(doc["class_revision"], REVISION);
    assert_eq!(doc["computed_at"], "2025-07-01T06:00:00Z");
    assert_eq!(view.computed_at, "2025-07-01T06:00:00Z".parse::<Timestamp>().unwrap());
    // The class document's order, then the party's zone and the installation values.
    assert_eq!(
        view.settings.keys().collect::<Vec<_>>(),
        [
            "name",
            "managed_by",
            "business_model",
            "currency",
            "description",
            "notification_sender",
            "general_info",
            "regular_invoices",
            "out_of_turn_invoices",
            "taxation",
            "measured_services",
            "notifications",
            "custom_fields",
            "time_zone",
            "installation"
        ]
    );
    // Plain class leaves, descending to scalars; lists and tagged objects are single leaves.
    assert_eq!(
        doc["general_info"]["period_closure"]["mode"],
        json!({"value": "after_delay", "source": "class", "class_id": 30, "class_revision": REVISION})
    );
    assert_eq!(
        doc["regular_invoices"]["payment_terms"]["value"],
        json!({"type": "due_upon_receipt"})
    );
    assert_eq!(doc["managed_by"]["value"], json!({"type": "administrator"}));
    assert_eq!(doc["regular_invoices"]["due_reminder_days"]["value"], json!([]));
    assert_eq!(doc["regular_invoices"]["collection"]["late_fee"]["value"], Value::Null);
    assert_eq!(
        doc["notifications"]["events"]["invoice_overdue"]["email"]["value"],
        true
    );
    assert_eq!(doc["currency"]["value"], "EUR");
    // Every leaf outside the owner/installation parts is the class's when nothing is overridden.
    for (path, leaf) in view.settings.leaves() {
        if path.starts_with("installation.") || path.starts_with("notification_sender.") || path == "time_zone" {
            continue;
        }
        assert_eq!(leaf.source, from_class(), "{path}");
    }
}

#[test]
fn installation_values_appear_under_installation() {
    let mut input = input(cloud_pbx(), customer(PartyOverrides::default()));
    input.installation = InstallationValues {
        close_delay_hours: 9,
        default_sender: DefaultSender {
            name: Some("Operator Billing".into()),
            address: Some("billing@operator.example".into()),
        },
        time_zone: "Europe/Berlin".into(),
        non_working_weekdays: vec!["sunday".into()],
        holidays: vec!["2025-12-25".into()],
    };
    let (_, doc) = compute(&input);
    let installation = &doc["installation"];
    let leaf = |value: Value| json!({"value": value, "source": "installation"});
    assert_eq!(installation["billing"]["close_delay_hours"], leaf(json!(9)));
    assert_eq!(installation["default_sender"]["name"], leaf(json!("Operator Billing")));
    assert_eq!(
        installation["default_sender"]["address"],
        leaf(json!("billing@operator.example"))
    );
    assert_eq!(installation["time_zone"], leaf(json!("Europe/Berlin")));
    assert_eq!(
        installation["collections"]["non_working_weekdays"],
        leaf(json!(["sunday"]))
    );
    assert_eq!(installation["collections"]["holidays"], leaf(json!(["2025-12-25"])));
    // The operator's parties inherit the installation's sender and zone.
    assert_eq!(doc["notification_sender"]["name"], leaf(json!("Operator Billing")));
    assert_eq!(
        doc["notification_sender"]["address"],
        leaf(json!("billing@operator.example"))
    );
    assert_eq!(doc["time_zone"], json!({"value": "UTC", "source": "party"}));

    input.party.time_zone = "Europe/Berlin".into();
    let (_, doc) = compute(&input);
    assert_eq!(doc["time_zone"], leaf(json!("Europe/Berlin")));
}

#[test]
fn a_resellers_party_inherits_the_resellers_sender_and_zone() {
    let mut input = input(cloud_pbx(), customer(PartyOverrides::default()));
    input.owner = OwnerFacts::Reseller {
        reseller_id: 7,
        name: "Alpha".into(),
        email: None,
        time_zone: "America/New_York".into(),
    };
    input.installation.default_sender.address = Some("noreply@operator.example".into());
    input.party.time_zone = "America/New_York".into();
    let (_, doc) = compute(&input);
    assert_eq!(
        doc["notification_sender"]["name"],
        json!({"value": "Alpha", "source": "owner"})
    );
    assert_eq!(
        doc["notification_sender"]["address"],
        json!({"value": "noreply@operator.example", "source": "installation"}),
        "a reseller without an address falls back to the installation's"
    );
    assert_eq!(
        doc["time_zone"],
        json!({"value": "America/New_York", "source": "owner"})
    );

    if let OwnerFacts::Reseller { email, .. } = &mut input.owner {
        *email = Some("billing@alpha.example".into());
    }
    input.class.notification_sender.name = Some("Alpha Billing".into());
    let (_, doc) = compute(&input);
    assert_eq!(doc["notification_sender"]["name"]["source"], "class");
    assert_eq!(doc["notification_sender"]["name"]["value"], "Alpha Billing");
    assert_eq!(
        doc["notification_sender"]["address"],
        json!({"value": "billing@alpha.example", "source": "owner"})
    );
}

fn taxed_at_payment() -> ClassSettings {
    class(json!({
        "name": "Prepaid VAT",
        "taxation": {"method": "fixed_vat", "tax_timing": "at_payment", "fixed_vat": {"rate_percent": "19"}}
    }))
}

#[test]
fn rule_postpaid_taxed_at_close() {
    let forced = json!({"value": "end_of_period", "source": "rule", "rule": "postpaid_taxed_at_close"});
    let (_, doc) = compute(&input(taxed_at_payment(), customer(PartyOverrides::default())));
    assert_eq!(doc["taxation"]["tax_timing"], forced);
    assert_eq!(doc["taxation"]["method"]["source"], "class");

    let (_, doc) = compute(&input(taxed_at_payment(), reseller(PartyOverrides::default())));
    assert_eq!(
        doc["taxation"]["tax_timing"], forced,
        "resellers are always taxed at close"
    );

    let mut prepaid = customer(PartyOverrides::default());
    prepaid.prepaid = true;
    let (view, _) = compute(&input(taxed_at_payment(), prepaid));
    let timing = view.leaf("taxation.tax_timing").expect("leaf");
    assert_eq!(timing.value, "at_payment");
    assert_eq!(timing.source, from_class());
}

#[test]
fn rule_statistics_disabled() {
    let overrides = PartyOverrides {
        statistics_email: Some(classbill_domain::class::StatisticsEmail::Full),
        ..PartyOverrides::default()
    };
    let (view, _) = compute(&input(cloud_pbx(), customer(overrides.clone())));
    let leaf = view.leaf("general_info.statistics_email").expect("leaf");
    assert_eq!((leaf.value.clone(), leaf.source), (json!("full"), Source::Party));

    let archive_off = class(json!({"name": "No archive", "general_info": {"archive_xdrs": false}}));
    let (view, _) = compute(&input(archive_off, customer(overrides)));
    let leaf = view.leaf("general_info.statistics_email").expect("leaf");
    assert_eq!(leaf.value, "none");
    assert_eq!(leaf.source, rule(Rule::StatisticsDisabled));
}

#[test]
fn rule_billed_externally() {
    let billed_elsewhere = || {
        class(json!({
            "name": "External", "general_info": {"billed_externally": true},
            "regular_invoices": {"enabled": true, "template_id": 1}
        }))
    };
    let (view, _) = compute(&input(billed_elsewhere(), customer(PartyOverrides::default())));
    let leaf = view.leaf("regular_invoices.enabled").expect("leaf");
    assert_eq!(leaf.value, false);
    assert_eq!(leaf.source, rule(Rule::BilledExternally));

    let mut prepaid = customer(PartyOverrides::default());
    prepaid.prepaid = true;
    let (view, _) = compute(&input(billed_elsewhere(), prepaid));
    let leaf = view.leaf("regular_invoices.enabled").expect("leaf");
    assert_eq!(leaf.value, true, "prepaid members still get regular invoices");
    assert_eq!(leaf.source, from_class());
}

#[test]
fn rule_tax_exempt() {
    let mut exempt = customer(PartyOverrides::default());
    exempt.tax_exempt = true;
    exempt.prepaid = true;
    let (view, doc) = compute(&input(taxed_at_payment(), exempt));
    assert_eq!(
        doc["taxation"]["method"],
        json!({"value": "none", "source": "rule", "rule": "tax_exempt"})
    );
    // The other taxation leaves stay as configured.
    assert_eq!(
        view.leaf("taxation.fixed_vat.rate_percent")
            .map(|l| (&l.value, l.source)),
        Some((&json!("19"), from_class()))
    );
}

#[test]
fn rule_not_for_resellers() {
    let with_concurrent = class(json!({
        "name": "Trunks",
        "measured_services": {"metrics": [
            {"metric": "concurrent_calls", "charge_basis": "maximum", "price_per_item": "4", "service": "trunk"},
            {"metric": "active_calls", "charge_basis": "average", "price_per_item": "1", "service": "voice"}
        ]}
    }));
    let (view, _) = compute(&input(with_concurrent.clone(), reseller(PartyOverrides::default())));
    let leaf = view.leaf("measured_services.concurrent_calls").expect("row");
    assert_eq!(leaf.source, rule(Rule::NotForResellers));
    assert_eq!(leaf.value["charge_basis"], "none");
    assert_eq!(leaf.value["price_per_item"], "4.00000");
    assert_eq!(
        view.leaf("measured_services.active_calls").map(|l| l.source),
        Some(from_class())
    );

    let (view, _) = compute(&input(with_concurrent, customer(PartyOverrides::default())));
    let leaf = view.leaf("measured_services.concurrent_calls").expect("row");
    assert_eq!(leaf.source, from_class(), "customers are charged for concurrent calls");
    assert_eq!(leaf.value["charge_basis"], "maximum");
}

#[test]
fn rule_tab_disabled() {
    let overrides = PartyOverrides {
        regular_invoice_template_id: Some(9),
        invoice_email_delivery: Some(classbill_domain::class::EmailDelivery::Automatically),
        oot_invoice_template_id: Some(11),
        oot_invoice_email_delivery: Some(classbill_domain::class::OotEmailDelivery::Automatically),
        ..PartyOverrides::default()
    };
    // Regular invoices enabled, out-of-turn invoices disabled.
    let regular_only = class(json!({
        "name": "Regular only", "regular_invoices": {"enabled": true, "template_id": 1}
    }));
    let (_, doc) = compute(&input(regular_only, customer(overrides)));
    assert_eq!(
        doc["regular_invoices"]["template_id"],
        json!({"value": 9, "source": "party"})
    );
    assert_eq!(
        doc["regular_invoices"]["email_delivery"],
        json!({"value": "automatically", "source": "party"})
    );
    assert_eq!(
        doc["out_of_turn_invoices"]["template_id"],
        json!({"value": null, "source": "rule", "rule": "tab_disabled"})
    );
    assert_eq!(
        doc["out_of_turn_invoices"]["email_delivery"],
        json!({"value": "never", "source": "rule", "rule": "tab_disabled"})
    );
}

#[test]
fn a_taxation_override_makes_every_taxation_leaf_the_partys() {
    let overrides = PartyOverrides::from_json(
        r#"{"taxation": {"method": "generic_vat", "tax_timing": "end_of_period",
             "generic_vat": {"home_country": "DE", "inclusive": true}}}"#,
    )
    .expect("stored overrides read");
    let (view, doc) = compute(&input(taxed_at_payment(), customer(overrides)));
    let taxation = view.settings.node("taxation").expect("taxation");
    let classbill_domain::effective::Node::Branch(branch) = taxation else {
        panic!("taxation is an object")
    };
    let leaves = branch.leaves();
    assert!(leaves.len() >= 6, "{leaves:?}");
    for (path, leaf) in leaves {
        assert_eq!(leaf.source, Source::Party, "taxation.{path}");
    }
    assert_eq!(doc["taxation"]["method"]["value"], "generic_vat");
    assert_eq!(doc["taxation"]["generic_vat"]["home_country"]["value"], "DE");
    assert_eq!(doc["taxation"]["generic_vat"]["inclusive"]["value"], true);
    assert_eq!(
        doc["taxation"]["fixed_vat"],
        json!({"value": null, "source": "party"}),
        "the class block is ignored entirely"
    );
}
