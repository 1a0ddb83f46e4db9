//! `classbill demo`: a fresh installation with an operator, two resellers and realistic classes, served at once.

use std::net::SocketAddr;

use anyhow::Context;
use classbill_engine::catalog::{CustomTaxKind, InvoiceTemplateKind, VatRateKind};
use classbill_engine::{Actor, Engine, NewCustomer, NewReseller, NewUserRole};
use jiff::Timestamp;
use serde_json::{Value, json};

/// The demo's own SQLite file, rebuilt on every run so that the demo never touches real data.
const DEMO_DATABASE: &str = "sqlite://classbill-demo.db";
const DEMO_PASSWORD: &str = "demo-password";

pub async fn run(database: &str, listen: SocketAddr) -> anyhow::Result<()> {
    let url = if database == "sqlite://classbill.db" {
        DEMO_DATABASE
    } else {
        database
    };
    if let Some(path) = url.strip_prefix("sqlite://") {
        for suffix in ["", "-wal", "-shm"] {
            let file = format!("{path}{suffix}");
            if std::path::Path::new(&file).exists() {
                std::fs::remove_file(&file).with_context(|| format!("cannot replace the old demo file {file}"))?;
            }
        }
    }
    let engine = super::open(url).await?;
    let now = Timestamp::now();
    let token = populate(&engine, now).await?;
    println!("Classbill demo on {url}");
    println!("  API:      http://{listen}/api/v1   (OpenAPI: http://{listen}/api/v1/openapi.json)");
    println!("  logins:   admin, alpha, beta — password {DEMO_PASSWORD}");
    println!("  token:    {token}   (administrator)");
    println!("  try:      curl -H 'Authorization: Bearer {token}' http://{listen}/api/v1/customer-classes");
    super::serve(engine, listen).await
}

async fn populate(engine: &Engine, now: Timestamp) -> anyhow::Result<String> {
    engine
        .add_user("admin", DEMO_PASSWORD, NewUserRole::Administrator, now)
        .await
        .map_err(super::explain)?;
    let token = engine.create_token("admin", now).await.map_err(super::explain)?;
    let admin = engine.authenticate_token(&token).await?;

    for (country, rate, zone) in [
        ("DE", "19", Some("EU")),
        ("AT", "20", Some("EU")),
        ("FR", "20", Some("EU")),
        ("US", "0", None),
    ] {
        engine
            .create_catalog::<VatRateKind>(
                &admin,
                json!({"country": country, "rate_percent": rate, "zone": zone}),
                now,
            )
            .await?;
    }
    let mut tax_ids = Vec::new();
    for (name, rate, scope) in [
        ("State sales tax", "6.25", "all"),
        ("Telecom excise", "3", "usage"),
        ("Regulatory recovery", "1.5", "recurring"),
    ] {
        let tax = engine
            .create_catalog::<CustomTaxKind>(&admin, json!({"name": name, "rate_percent": rate, "scope": scope}), now)
            .await?;
        tax_ids.push(tax.id);
    }
    let standard = engine
        .list_catalog::<InvoiceTemplateKind>(&admin, classbill_engine::PageRequest::new(None, None)?)
        .await?
        .items
        .into_iter()
        .find(|t| t.builtin)
        .context("the built-in Standard template is missing")?
        .id;

    for class in operator_classes(standard, &tax_ids) {
        let class = engine.create_class(&admin, class, now).await?.class;
        add_customers(engine, &admin, &class.settings.name, class.id, now).await?;
    }
    for (login, name, currency, zone) in [
        ("alpha", "Alpha Telecom", "EUR", "Europe/Vienna"),
        ("beta", "Beta Networks", "USD", "America/Chicago"),
    ] {
        let reseller = engine
            .create_reseller(
                &admin,
                NewReseller {
                    name: name.to_owned(),
                    currency: Some(currency.to_owned()),
                    time_zone: Some(zone.to_owned()),
                    email: Some(format!("billing@{login}.example")),
                    ..NewReseller::default()
                },
                now,
            )
            .await?;
        engine
            .add_user(login, DEMO_PASSWORD, NewUserRole::Reseller(reseller.id), now)
            .await
            .map_err(super::explain)?;
        let user_token = engine.create_token(login, now).await?;
        let user: Actor = engine.authenticate_token(&user_token).await?;
        let class = engine
            .create_class(&user, reseller_class(name, currency, standard), now)
            .await?
            .class;
        add_customers(engine, &user, &class.settings.name, class.id, now).await?;
    }
    Ok(token)
}

/// A few customers in a class, owned by whoever `actor` acts for; they inherit the class currency.
async fn add_customers(
    engine: &Engine,
    actor: &Actor,
    class_name: &str,
    class_id: i64,
    now: Timestamp,
) -> anyhow::Result<()> {
    for n in 1..=3 {
        engine
            .create_customer(
                actor,
                NewCustomer {
                    name: format!("{class_name} customer {n}"),
                    class_id: Some(class_id),
                    email: Some(format!("customer{n}.class{class_id}@example.com")),
                    ..NewCustomer::default()
                },
                now,
            )
            .await
            .map_err(super::explain)?;
    }
    Ok(())
}

fn ladder() -> Value {
    json!({"resend_after_due_days": [0, 7], "late_fee": "5.00", "limit_after_days": 5, "suspend_after_days": 10,
           "suspend_notice_days": [3], "reactivation_fee": "10.00", "terminate_after_days": 30,
           "terminate_notice_days": [7]})
}

fn operator_classes(template: i64, tax_ids: &[i64]) -> Vec<Value> {
    vec![
        json!({"name": "Business EU", "currency": "EUR", "business_model": "sip_trunking",
               "description": "SIP trunks for companies in the EU, net 15, fixed VAT",
               "regular_invoices": {"enabled": true, "template_id": template, "email_delivery": "automatically",
                   "payment_terms": {"type": "net", "days": 15}, "due_reminder_days": [7, 3], "collection": ladder()},
               "taxation": {"method": "fixed_vat", "fixed_vat": {"rate_percent": "19", "inclusive": false}}}),
        json!({"name": "Retail AT", "currency": "EUR", "business_model": "residential_voip",
               "description": "Home phone lines in Austria, prices include VAT",
               "general_info": {"rounding_method": "half_away_from_zero"},
               "regular_invoices": {"enabled": true, "template_id": template},
               "taxation": {"method": "fixed_vat", "fixed_vat": {"rate_percent": "20", "inclusive": true}}}),
        json!({"name": "US Telecom", "currency": "USD", "business_model": "universal",
               "description": "US customers with state and federal telecom taxes",
               "general_info": {"rounding_method": "special"},
               "regular_invoices": {"enabled": true, "template_id": template, "payment_terms": {"type": "net", "days": 30}},
               "taxation": {"method": "custom", "custom_tax_ids": tax_ids}}),
        json!({"name": "Prepaid DE", "currency": "EUR", "business_model": "prepaid_cards_holder",
               "description": "Prepaid customers, VAT charged when they top up",
               "taxation": {"method": "fixed_vat", "tax_timing": "at_payment", "fixed_vat": {"rate_percent": "19"}}}),
        json!({"name": "Cloud PBX", "currency": "EUR", "business_model": "cloud_pbx",
               "description": "Hosted PBX billed by extensions and active calls",
               "regular_invoices": {"enabled": true, "template_id": template},
               "measured_services": {"metrics": [
                   {"metric": "pbx_extensions", "charge_basis": "maximum", "price_per_item": "3.00", "free_items": 10,
                    "service": "cloud_pbx", "rate_code": "PBX-EXT"},
                   {"metric": "active_calls", "charge_basis": "average", "price_per_item": "2.50", "free_items": 5,
                    "service": "voice", "rate_code": "ACT-CALLS"}]}}),
        json!({"name": "Resellers", "currency": "EUR", "business_model": "universal",
               "description": "Wholesale terms for top-level resellers",
               "regular_invoices": {"enabled": true, "template_id": template, "payment_terms": {"type": "net", "days": 30}},
               "taxation": {"method": "generic_vat", "generic_vat": {"home_country": "DE"}}}),
    ]
}

fn reseller_class(reseller: &str, currency: &str, template: i64) -> Value {
    json!({"name": format!("{} Gold", reseller.split(' ').next().unwrap_or(reseller)), "currency": currency,
           "business_model": "cloud_pbx", "description": format!("Premium plan of {reseller}"),
           "regular_invoices": {"enabled": true, "template_id": template, "payment_terms": {"type": "net", "days": 14}}})
}
