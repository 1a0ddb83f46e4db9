//! The customer and reseller form of the web UI: every party field the API accepts, the custom fields of the
//! chosen class, the overrides of customer-classes §4 (switched on and off again) and the engine's errors
//! beside their inputs. Over plain HTTP on both backends, and once in headless Chromium (SQLite) where the
//! page script swaps in the fields of the class an owner change implies.

mod browser;
mod support;
mod ui_support;

use browser::{browser, choose, click, fill, log_in, main_text, shown, start_driver, submit, text, value, wait_for};
use classbill_engine::NewUserRole;
use fantoccini::Locator;
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::TestApp;
use ui_support::UiClient;

/// A reseller "Alpha" whose Default class enables a mandatory `contract_no` and an optional list field
/// `segment`, a second reseller "Beta" with a class of its own, and a user of Alpha. Answers Alpha's id.
async fn alpha_with_custom_fields(app: &TestApp) -> i64 {
    let mut fields = Vec::new();
    for body in [
        json!({"key": "contract_no", "label": "Contract number", "type": "text", "mandatory": true}),
        json!({"key": "segment", "label": "Segment", "type": "list",
               "properties": {"options": ["smb", "enterprise"]}}),
    ] {
        let answer = app.post("/api/v1/custom-fields", &app.admin, body).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
        fields.push(answer.body["id"].clone());
    }
    let alpha = app.reseller("Alpha", None).await;
    let reseller = app.get(&format!("/api/v1/resellers/{alpha}"), &app.admin).await;
    let default = reseller.body["default_class_id"]
        .as_i64()
        .expect("Alpha's Default class");
    let class = app
        .get(&format!("/api/v1/customer-classes/{default}"), &app.admin)
        .await;
    let revision = class.body["revision"].as_i64().expect("revision");
    // Regular invoices on, so the e-mail override takes effect (with the tab off it would not, §4 `tab_disabled`).
    let template = app.standard_template().await;
    let patched = app
        .patch(
            &format!("/api/v1/customer-classes/{default}"),
            &app.admin,
            json!({"general_info": {"archive_xdrs": true},
                   "regular_invoices": {"enabled": true, "template_id": template},
                   "custom_fields": {"enabled_field_ids": fields}}),
            revision,
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
    let beta = app.reseller("Beta", None).await;
    app.class(
        &app.admin,
        json!({"name": "Beta Gold", "currency": "EUR", "managed_by": {"type": "reseller", "reseller_id": beta}}),
    )
    .await;
    app.class(
        &app.admin,
        json!({"name": "Alpha Gold", "currency": "EUR", "managed_by": {"type": "reseller", "reseller_id": alpha}}),
    )
    .await;
    app.class(&app.admin, json!({"name": "Operator Gold", "currency": "EUR"}))
        .await;
    app.user("alpha-user", NewUserRole::Reseller(alpha)).await;
    alpha
}

/// The value attribute of the input with `id`, as the page renders it.
fn input_value(html: &str, id: &str) -> Option<String> {
    let at = html.find(&format!("id=\"{id}\""))?;
    let start = html[..at].rfind('<')?;
    let end = at + html[at..].find('>')?;
    let tag = &html[start..end];
    let value = tag.split("value=\"").nth(1)?;
    Some(value[..value.find('"')?].to_owned())
}

/// The create form of a prepaid, tax-exempt customer of `alpha` with one override on, as a browser sends it.
fn customer_form(csrf: &str, alpha: i64, contract_no: &str) -> Vec<(String, String)> {
    let alpha = alpha.to_string();
    let choice = format!("|{alpha}");
    [
        ("csrf", csrf),
        ("name", "Charity Ltd"),
        ("reseller_id", &alpha),
        ("email", "billing@charity.example"),
        ("currency", "EUR"),
        ("billing_period", "monthly"),
        ("time_zone", "Europe/Berlin"),
        ("activated_at", "2025-02-01T00:00:00+01:00"),
        ("prepaid", "false"),
        ("prepaid", "true"),
        ("tax_id", "DE123"),
        ("tax_registered", "false"),
        ("tax_exempt", "false"),
        ("tax_exempt", "true"),
        ("tax_exemption_reason", "Registered charity"),
        ("class_id", ""),
        ("class_choice", &choice),
        ("custom_field", "contract_no"),
        ("custom_fields.contract_no", contract_no),
        ("custom_field", "segment"),
        ("custom_fields.segment", "smb"),
        ("overrides.invoice_email_delivery", "false"),
        ("overrides.invoice_email_delivery", "true"),
        ("invoice_email_delivery", "after_review"),
        ("overrides.statistics_email", "false"),
        ("statistics_email", "none"),
        ("overrides.taxation", "false"),
        ("taxation.method", "none"),
        ("overrides.measured_services.pbx_extensions", "false"),
        ("overrides.measured_services.pbx_extensions", "true"),
        ("measured_services.pbx_extensions.charge_basis", ""),
        ("measured_services.pbx_extensions.free_items", "20"),
        ("action", "save"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn borrowed(pairs: &[(String, String)]) -> Vec<(&str, &str)> {
    pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// The stored customer as the API answers it, and its effective regular-invoice e-mail setting.
async fn stored(app: &TestApp, id: i64) -> (Value, Value) {
    let customer = app.get(&format!("/api/v1/customers/{id}"), &app.admin).await;
    assert_eq!(customer.status, StatusCode::OK, "{}", customer.text);
    let effective = app
        .get(&format!("/api/v1/customers/{id}/effective-settings"), &app.admin)
        .await;
    assert_eq!(effective.status, StatusCode::OK, "{}", effective.text);
    (
        customer.body,
        effective.body["regular_invoices"]["email_delivery"].clone(),
    )
}

fn assert_party_fields(customer: &Value, alpha: i64) {
    assert_eq!(customer["reseller_id"], json!(alpha));
    assert_eq!(customer["prepaid"], json!(true));
    assert_eq!(customer["tax_exempt"], json!(true));
    assert_eq!(customer["tax_exemption_reason"], json!("Registered charity"));
    assert_eq!(customer["tax_id"], json!("DE123"));
    assert_eq!(customer["time_zone"], json!("Europe/Berlin"));
    assert_eq!(customer["activated_at"], json!("2025-01-31T23:00:00Z"));
    assert_eq!(
        customer["custom_fields"],
        json!({"contract_no": "C-1001", "segment": "smb"})
    );
    assert_eq!(
        customer["measured_services"],
        json!([{"metric": "pbx_extensions", "free_items": 20}])
    );
}

on_both_backends! {
    async fn party_form_saves_every_field_and_switches_an_override_off(app) {
        let alpha = alpha_with_custom_fields(app).await;
        let ui = UiClient::login(app, "admin").await;
        let blank = ui.get("/customers/new").await;
        assert!(blank.html.contains("<select id=\"reseller_id\" name=\"reseller_id\""), "{}", blank.html);
        assert!(blank.html.contains(&format!("<option value=\"{alpha}\">Alpha</option>")));
        let csrf = blank.csrf();

        // Picking the owner shows the custom fields of its Default class.
        let mut refresh = customer_form(&csrf, alpha, "");
        refresh.retain(|(k, _)| k != "action");
        refresh.push(("action".into(), "refresh".into()));
        let refreshed = ui.post("/customers/new", &borrowed(&refresh)).await;
        assert_eq!(refreshed.status, StatusCode::OK);
        assert!(refreshed.html.contains("id=\"custom_fields-contract_no\""), "{}", refreshed.html);
        assert!(refreshed.html.contains("<option value=\"enterprise\">enterprise</option>"));

        // The mandatory field left empty: refused, the error beside it, everything typed kept.
        let refused = ui.post("/customers/new", &borrowed(&customer_form(&csrf, alpha, ""))).await;
        assert_eq!(refused.status, StatusCode::OK, "{:?}", refused.location);
        assert!(refused.html.contains("id=\"custom_fields-contract_no-error\""), "{}", refused.html);
        assert_eq!(input_value(&refused.html, "tax_exemption_reason").as_deref(), Some("Registered charity"));
        assert_eq!(
            input_value(&refused.html, "measured_services-pbx_extensions-free_items").as_deref(),
            Some("20")
        );
        assert!(refused.html.contains("id=\"overrides-invoice_email_delivery\" name=\"overrides.invoice_email_delivery\" value=\"true\" checked"));

        let created = ui.post("/customers/new", &borrowed(&customer_form(&csrf, alpha, "C-1001"))).await;
        assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.html);
        let location = created.location.expect("the new customer's page");
        let id: i64 = location.rsplit('/').next().unwrap().parse().unwrap();
        let (customer, email) = stored(app, id).await;
        assert_party_fields(&customer, alpha);
        assert_eq!(customer["invoice_email_delivery"], json!("after_review"));
        assert_eq!(customer["statistics_email"], Value::Null, "switched off, so not sent");
        assert_eq!(customer["taxation"], Value::Null);
        assert_eq!(email["value"], json!("after_review"));
        assert_eq!(email["source"], json!("party"));

        // The edit form shows the owner read-only and the class value each override would replace.
        let page = ui.get(&location).await;
        assert!(!page.html.contains("<select id=\"reseller_id\""), "the owner is immutable");
        assert_eq!(input_value(&page.html, "reseller_id").as_deref(), Some(&*format!("Alpha ({alpha})")));
        assert!(page.html.contains("id=\"inherited-statistics_email\""), "{}", page.html);
        assert_eq!(input_value(&page.html, "custom_fields-contract_no").as_deref(), Some("C-1001"));

        // Nested mistakes come back beside their inputs: a taxation override without its rate, a negative
        // free allowance in the second override row sent.
        let mut wrong = customer_form(&page.csrf(), alpha, "C-1001");
        wrong.retain(|(k, _)| !k.starts_with("taxation.") && k != "reseller_id");
        for (k, v) in [
            ("overrides.taxation", "true"),
            ("taxation.method", "fixed_vat"),
            ("taxation.fixed_vat.rate_percent", ""),
            ("overrides.measured_services.active_calls", "true"),
            ("measured_services.active_calls.rate_code", "ACT"),
            ("measured_services.pbx_extensions.free_items", "-1"),
        ] {
            wrong.push((k.to_owned(), v.to_owned()));
        }
        let refused = ui.post(&location, &borrowed(&wrong)).await;
        assert_eq!(refused.status, StatusCode::OK, "{:?}", refused.location);
        for id in ["taxation-fixed_vat-rate_percent-error", "measured_services-pbx_extensions-free_items-error"] {
            assert!(refused.html.contains(&format!("id=\"{id}\"")), "{id}: {}", refused.html);
        }
        assert!(!refused.html.contains("id=\"form-errors\""), "every error has its input: {}", refused.html);
        assert_eq!(input_value(&refused.html, "measured_services-active_calls-rate_code").as_deref(), Some("ACT"));
        assert_eq!(stored(app, id).await.0, customer, "nothing was written");

        // Switching the override off removes it; nothing else changes.
        let mut edit = customer_form(&page.csrf(), alpha, "C-1001");
        edit.retain(|(k, v)| !(k == "overrides.invoice_email_delivery" && v == "true") && k != "reseller_id");
        edit.iter_mut().filter(|(k, _)| k == "class_id").for_each(|(_, v)| *v = customer["class_id"].to_string());
        let choice = format!("{}|", customer["class_id"]);
        edit.iter_mut().filter(|(k, _)| k == "class_choice").for_each(|(_, v)| *v = choice.clone());
        let saved = ui.post(&location, &borrowed(&edit)).await;
        assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.html);
        let (after, email) = stored(app, id).await;
        assert_party_fields(&after, alpha);
        assert_eq!(after["invoice_email_delivery"], Value::Null);
        assert_eq!(email["value"], json!("never"));
        assert_eq!(email["source"], json!("class"));
    }
}

on_both_backends! {
    async fn party_form_of_a_reseller_user_offers_only_its_own(app) {
        alpha_with_custom_fields(app).await;
        let ui = UiClient::login(app, "alpha-user").await;
        let page = ui.get("/customers/new").await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(!page.html.contains("<select id=\"reseller_id\""), "no owner picker");
        assert!(!page.html.contains("Beta"), "nothing of another reseller");
        assert!(page.html.contains("Alpha Gold"));
        assert!(!page.html.contains("Operator Gold"), "no class of the operator");
        assert!(page.html.contains("id=\"custom_fields-contract_no\""), "its Default class's fields");
    }
}

on_both_backends! {
    async fn party_form_creates_a_subreseller_with_its_parent_picked(app) {
        let alpha = alpha_with_custom_fields(app).await;
        let ui = UiClient::login(app, "admin").await;
        let blank = ui.get("/resellers/new").await;
        assert!(blank.html.contains("<select id=\"parent_reseller_id\""), "{}", blank.html);
        assert!(!blank.html.contains("id=\"prepaid\""), "resellers are not prepaid");
        let alpha = alpha.to_string();
        let choice = format!("|{alpha}");
        let form = [
            ("csrf", blank.csrf()),
            ("name", "Alpha North".to_owned()),
            ("parent_reseller_id", alpha.clone()),
            ("currency", "EUR".to_owned()),
            ("class_id", String::new()),
            ("class_choice", choice),
            ("custom_field", "contract_no".to_owned()),
            ("custom_fields.contract_no", "R-7".to_owned()),
            ("overrides.statistics_email", "true".to_owned()),
            ("statistics_email", "summary".to_owned()),
        ];
        let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let created = ui.post("/resellers/new", &pairs).await;
        assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.html);
        let location = created.location.expect("the new reseller's page");
        let reseller = app.get(&format!("/api/v1{location}"), &app.admin).await;
        assert_eq!(reseller.body["parent_reseller_id"].to_string(), alpha);
        assert_eq!(reseller.body["custom_fields"], json!({"contract_no": "R-7"}));
        assert_eq!(reseller.body["statistics_email"], json!("summary"));
        let page = ui.get(&location).await;
        assert_eq!(input_value(&page.html, "parent_reseller_id").as_deref(), Some(&*format!("Alpha ({alpha})")));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ui_party_form_in_a_browser() {
    let app = TestApp::start(classbill_testkit::Backend::Sqlite).await;
    let alpha = alpha_with_custom_fields(&app).await;
    let driver = start_driver().await;
    let admin = browser(&driver).await;
    log_in(&admin, &app, "admin").await;

    admin.goto(&format!("{}/customers/new", app.base)).await.unwrap();
    fill(&admin, "name", "Charity Ltd").await;
    // The owner picked, the page swaps in the custom fields of Alpha's Default class.
    choose(&admin, "reseller_id", &alpha.to_string()).await;
    wait_for(&admin, "#custom_fields-contract_no").await;
    fill(&admin, "currency", "EUR").await;
    fill(&admin, "time_zone", "Europe/Berlin").await;
    fill(&admin, "activated_at", "2025-02-01T00:00:00+01:00").await;
    fill(&admin, "tax_id", "DE123").await;
    click(&admin, "prepaid").await;
    assert!(!shown(&admin, "tax_exemption_reason").await, "hidden until exempt");
    click(&admin, "tax_exempt").await;
    assert!(
        shown(&admin, "tax_exemption_reason").await,
        "the reason appears with the exemption"
    );
    fill(&admin, "tax_exemption_reason", "Registered charity").await;
    choose(&admin, "custom_fields-segment", "smb").await;
    assert!(!shown(&admin, "invoice_email_delivery").await, "inherited while off");
    assert!(shown(&admin, "inherited-invoice_email_delivery").await);
    click(&admin, "overrides-invoice_email_delivery").await;
    assert!(shown(&admin, "invoice_email_delivery").await);
    assert!(!shown(&admin, "inherited-invoice_email_delivery").await);
    choose(&admin, "invoice_email_delivery", "after_review").await;
    click(&admin, "overrides-measured_services-pbx_extensions").await;
    fill(&admin, "measured_services-pbx_extensions-free_items", "20").await;
    submit(&admin, "save").await;

    // The mandatory field was left empty: the error sits beside it and nothing typed is lost.
    let Ok(error) = admin.find(Locator::Id("custom_fields-contract_no-error")).await else {
        panic!("no error beside the field; the page says:\n{}", main_text(&admin).await);
    };
    assert!(error.text().await.unwrap().contains("required"));
    assert_eq!(value(&admin, "tax_exemption_reason").await, "Registered charity");
    assert_eq!(value(&admin, "invoice_email_delivery").await, "after_review");
    assert_eq!(value(&admin, "measured_services-pbx_extensions-free_items").await, "20");
    fill(&admin, "custom_fields-contract_no", "C-1001").await;
    submit(&admin, "save").await;
    let url = admin.current_url().await.unwrap();
    let id: i64 = url
        .path()
        .rsplit('/')
        .next()
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("not saved: {}", url));
    let (customer, email) = stored(&app, id).await;
    assert_party_fields(&customer, alpha);
    assert_eq!(customer["invoice_email_delivery"], json!("after_review"));
    assert_eq!(email["source"], json!("party"));

    // Edited: the override switched off goes back to the class's value.
    assert!(main_text(&admin).await.contains("Charity Ltd"));
    click(&admin, "overrides-invoice_email_delivery").await;
    assert!(shown(&admin, "inherited-invoice_email_delivery").await);
    submit(&admin, "save").await;
    let (after, email) = stored(&app, id).await;
    assert_party_fields(&after, alpha);
    assert_eq!(after["invoice_email_delivery"], Value::Null);
    assert_eq!(email["source"], json!("class"));

    // A user of Alpha: no owner to pick, only Alpha's classes.
    let reseller = browser(&driver).await;
    log_in(&reseller, &app, "alpha-user").await;
    reseller.goto(&format!("{}/customers/new", app.base)).await.unwrap();
    let page = main_text(&reseller).await;
    assert!(!page.contains("Beta") && !page.contains("Operator Gold"), "{page}");
    let classes = text(&reseller, "#class_id").await;
    assert!(classes.contains("Alpha Gold"), "{classes}");
    assert!(
        reseller.find(Locator::Css("select#reseller_id")).await.is_err(),
        "no owner picker"
    );

    admin.close().await.unwrap();
    reseller.close().await.unwrap();
}
