//! `classbill demo`: a fresh installation with an operator, two resellers and realistic classes, served at once.

use std::net::SocketAddr;

use anyhow::Context;
use classbill_engine::catalog::{CustomTaxKind, InvoiceTemplateKind, VatRateKind};
use classbill_engine::notifications::DeliveryConfig;
use classbill_engine::{Actor, Engine, NewCustomer, NewReseller, NewUserRole};
use classbill_server::TrustedProxies;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use serde_json::{Value, json};

/// The demo's own SQLite file, rebuilt on every run so that the demo never touches real data.
const DEMO_DATABASE: &str = "sqlite://classbill-demo.db";
const DEMO_PASSWORD: &str = "demo-password";

pub async fn run(
    database: &str,
    listen: SocketAddr,
    delivery: DeliveryConfig,
    trusted_proxies: TrustedProxies,
) -> anyhow::Result<()> {
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
    super::serve(engine, listen, Some(delivery), trusted_proxies).await
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

    let calendar = DemoMonth::before(now)?;
    let mut customers = Vec::new();
    for class in operator_classes(standard, &tax_ids) {
        let class = engine.create_class(&admin, class, now).await?.class;
        customers.extend(add_customers(engine, &admin, &class.settings.name, class.id, &calendar, now).await?);
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
        customers.extend(add_customers(engine, &user, &class.settings.name, class.id, &calendar, now).await?);
    }
    add_usage(engine, &admin, &customers, &calendar, now).await?;
    // Recorded like a run requested over the API, so `GET /billing-runs` shows it.
    let requested = engine.request_billing_run(&admin, calendar.run_at, now).await?;
    let run = engine.execute_billing_run(requested.id, Timestamp::now).await?;
    println!(
        "Demo: {} customers, a month of usage, billing run as of {}: {} periods closed, {} invoices issued",
        customers.len(),
        calendar.run_at,
        run.periods_closed,
        run.invoices_issued
    );
    Ok(token)
}

/// Customers per class; eight classes make about a thousand.
const CUSTOMERS_PER_CLASS: usize = 125;
/// Usage records per customer in the billed month.
const CALLS_PER_CUSTOMER: usize = 20;

/// The month the demo bills: customers are activated at its start (UTC) and the billing run happens after the
/// first close of the following month, whatever today's date.
struct DemoMonth {
    start: Timestamp,
    days: i8,
    run_at: Timestamp,
}

impl DemoMonth {
    fn before(now: Timestamp) -> anyhow::Result<DemoMonth> {
        let this_month = now.to_zoned(TimeZone::UTC).date().first_of_month();
        let billed = this_month.checked_sub(2.months())?;
        let next = this_month.checked_sub(1.months())?;
        Ok(DemoMonth {
            start: billed.to_zoned(TimeZone::UTC)?.timestamp(),
            days: billed.days_in_month(),
            // Late enough for every demo zone's month end plus the close delay.
            run_at: next.to_zoned(TimeZone::UTC)?.timestamp().checked_add(18.hours())?,
        })
    }
}

/// A month of calls and a monthly fee for every customer that is billed by usage.
async fn add_usage(
    engine: &Engine,
    admin: &Actor,
    customers: &[(i64, String)],
    month: &DemoMonth,
    now: Timestamp,
) -> anyhow::Result<()> {
    let mut batch = Vec::new();
    for (n, (party_id, currency)) in customers.iter().enumerate() {
        batch.push(
            json!({"party_id": party_id, "external_id": "fee", "occurred_at": month.start.checked_add(48.hours())?,
            "kind": "recurring", "service": "sip_trunk", "rate_code": "TRUNK-M", "quantity": "1",
            "amount": "29.90", "currency": currency}),
        );
        for call in 0..CALLS_PER_CUSTOMER {
            // A fixed spread of durations and prices, so every run of the demo bills the same figures.
            let seconds = 30 + (n * 37 + call * 101) % 900;
            let cents = 1 + (n * 13 + call * 29) % 250;
            let day = i64::try_from(2 + call % usize::try_from(month.days - 3)?)?;
            let at = month
                .start
                .checked_add((day * 24 + i64::try_from(9 + call % 9)?).hours())?;
            batch.push(
                json!({"party_id": party_id, "external_id": format!("call-{call}"), "occurred_at": at,
                "kind": "usage", "service": "voice", "rate_code": if call % 3 == 0 { "MOBILE" } else { "FIXED" },
                "description": "outgoing call", "quantity": seconds.to_string(),
                "amount": format!("{}.{:02}", cents / 100, cents % 100), "currency": currency}),
            );
        }
        if batch.len() >= 5_000 {
            engine.ingest_xdrs(admin, &json!({ "xdrs": batch }), now).await?;
            batch.clear();
        }
    }
    if !batch.is_empty() {
        engine.ingest_xdrs(admin, &json!({ "xdrs": batch }), now).await?;
    }
    Ok(())
}

/// Customers in a class, owned by whoever `actor` acts for and activated at the start of the billed month; they
/// inherit the class currency. Answers (id, currency) of each.
async fn add_customers(
    engine: &Engine,
    actor: &Actor,
    class_name: &str,
    class_id: i64,
    month: &DemoMonth,
    now: Timestamp,
) -> anyhow::Result<Vec<(i64, String)>> {
    let mut created = Vec::with_capacity(CUSTOMERS_PER_CLASS);
    for n in 1..=CUSTOMERS_PER_CLASS {
        let customer = engine
            .create_customer(
                actor,
                NewCustomer {
                    name: format!("{class_name} customer {n}"),
                    class_id: Some(class_id),
                    activated_at: Some(month.start),
                    email: Some(format!("customer{n}.class{class_id}@example.com")),
                    ..NewCustomer::default()
                },
                now,
            )
            .await
            .map_err(super::explain)?;
        created.push((customer.party.id, customer.party.currency));
    }
    Ok(created)
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
