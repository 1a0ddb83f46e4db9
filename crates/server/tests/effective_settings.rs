//! `GET /customers/{id}/effective-settings` and `GET /resellers/{id}/effective-settings` (customer-classes §4):
//! sources of every leaf, the rules that apply to resellers, installation values and who may look.

mod support;

use classbill_engine::NewUserRole;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::TestApp;

/// An administrator class whose settings trigger the reseller rules: taxes at payment and a charged
/// `concurrent_calls` metric.
fn wholesale() -> Value {
    json!({
        "name": "Wholesale", "currency": "EUR",
        "taxation": {"method": "fixed_vat", "tax_timing": "at_payment", "fixed_vat": {"rate_percent": "19"}},
        "measured_services": {"metrics": [
            {"metric": "concurrent_calls", "charge_basis": "maximum", "price_per_item": "4", "service": "trunk"},
            {"metric": "active_calls", "charge_basis": "average", "price_per_item": "2.50", "free_items": 5,
             "service": "voice", "rate_code": "ACT-CALLS"}
        ]}
    })
}

fn effective_path(kind: &str, id: i64) -> String {
    format!("/api/v1/{kind}/{id}/effective-settings")
}

/// Creates a reseller through the API and answers its id.
async fn create_reseller(app: &TestApp, token: &str, body: Value) -> i64 {
    let answer = app.post("/api/v1/resellers", token, body).await;
    assert_eq!(
        answer.status,
        StatusCode::CREATED,
        "{} reseller: {}",
        app.backend,
        answer.text
    );
    answer.body["id"].as_i64().expect("the reseller has an id")
}

fn class_leaf(value: Value, class_id: i64, revision: i64) -> Value {
    json!({"value": value, "source": "class", "class_id": class_id, "class_revision": revision})
}

fn rule_leaf(value: Value, rule: &str) -> Value {
    json!({"value": value, "source": "rule", "rule": rule})
}

on_both_backends! {
    async fn a_resellers_view_names_its_class_rules_and_installation(app) {
        let class = app.class(&app.admin, wholesale()).await;
        let class_id = class["id"].as_i64().expect("class id");
        let patched = app
            .patch(&format!("/api/v1/customer-classes/{class_id}"), &app.admin, json!({"description": "resale"}), 1)
            .await;
        assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
        let reseller = create_reseller(
            app,
            &app.admin,
            json!({"name": "Alpha", "class_id": class_id, "email": "billing@alpha.example"}),
        )
        .await;

        let answer = app.get(&effective_path("resellers", reseller), &app.admin).await;
        assert_eq!(answer.status, StatusCode::OK, "{}: {}", app.backend, answer.text);
        let doc = &answer.body;
        assert_eq!(doc["class_id"], class_id);
        assert_eq!(doc["class_name"], "Wholesale");
        assert_eq!(doc["class_revision"], 2);
        let computed_at = doc["computed_at"].as_str().expect("computed_at is a string");
        assert!(computed_at.parse::<jiff::Timestamp>().is_ok() && computed_at.ends_with('Z'), "{computed_at}");

        // Class leaves carry the class id and revision.
        assert_eq!(doc["general_info"]["archive_xdrs"], class_leaf(json!(true), class_id, 2));
        assert_eq!(doc["description"], class_leaf(json!("resale"), class_id, 2));
        assert_eq!(doc["currency"], class_leaf(json!("EUR"), class_id, 2));
        assert_eq!(doc["taxation"]["method"], class_leaf(json!("fixed_vat"), class_id, 2));
        assert_eq!(doc["taxation"]["fixed_vat"]["rate_percent"], class_leaf(json!("19"), class_id, 2));
        assert_eq!(
            doc["regular_invoices"]["payment_terms"],
            class_leaf(json!({"type": "due_upon_receipt"}), class_id, 2)
        );
        assert_eq!(doc["managed_by"], class_leaf(json!({"type": "administrator"}), class_id, 2));

        // Rules for resellers: taxed at close, never charged for concurrent calls.
        assert_eq!(doc["taxation"]["tax_timing"], rule_leaf(json!("end_of_period"), "postpaid_taxed_at_close"));
        let concurrent = &doc["measured_services"]["concurrent_calls"];
        assert_eq!(concurrent["source"], "rule");
        assert_eq!(concurrent["rule"], "not_for_resellers");
        assert_eq!(concurrent["value"]["charge_basis"], "none");
        assert_eq!(
            doc["measured_services"]["active_calls"],
            class_leaf(
                json!({"metric": "active_calls", "charge_basis": "average", "price_per_item": "2.50000",
                       "free_items": 5, "rate_code": "ACT-CALLS", "service": "voice"}),
                class_id,
                2
            )
        );

        // The operator's reseller inherits the installation's sender and zone.
        let installation = |value: Value| json!({"value": value, "source": "installation"});
        assert_eq!(doc["notification_sender"]["name"], installation(Value::Null));
        assert_eq!(doc["notification_sender"]["address"], installation(Value::Null));
        assert_eq!(doc["time_zone"], installation(json!("UTC")));
        assert_eq!(doc["installation"]["billing"]["close_delay_hours"], installation(json!(6)));
        assert_eq!(doc["installation"]["default_sender"]["name"], installation(Value::Null));
        assert_eq!(doc["installation"]["default_sender"]["address"], installation(Value::Null));
        assert_eq!(doc["installation"]["time_zone"], installation(json!("UTC")));
        assert_eq!(
            doc["installation"]["collections"]["non_working_weekdays"],
            installation(json!(["saturday", "sunday"]))
        );
        assert_eq!(doc["installation"]["collections"]["holidays"], installation(json!([])));
    }
}

on_both_backends! {
    async fn installation_settings_and_the_owning_reseller_show_through(app) {
        {
            let mut tx = app.engine.store.write().await.expect("transaction");
            classbill_store::settings::put(&mut tx, "billing.close_delay_hours", &json!(9)).await.expect("put");
            classbill_store::settings::put(
                &mut tx,
                "default_sender",
                &json!({"name": "Operator Billing", "address": "billing@operator.example"}),
            )
            .await
            .expect("put");
            classbill_store::settings::put(&mut tx, "collections.holidays", &json!(["2025-12-25"]))
                .await
                .expect("put");
            tx.commit().await.expect("commit");
        }
        let alpha = create_reseller(
            app,
            &app.admin,
            json!({"name": "Alpha", "currency": "EUR", "email": "billing@alpha.example",
                   "time_zone": "Europe/Berlin"}),
        )
        .await;
        let alpha_user = app.user("alpha-user", NewUserRole::Reseller(alpha)).await;
        let sub = create_reseller(
            app,
            &alpha_user,
            json!({"name": "Alpha Sub", "currency": "EUR", "parent_reseller_id": alpha}),
        )
        .await;

        let answer = app.get(&effective_path("resellers", alpha), &app.admin).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        let doc = &answer.body;
        assert_eq!(doc["installation"]["billing"]["close_delay_hours"]["value"], 9);
        assert_eq!(doc["installation"]["collections"]["holidays"]["value"], json!(["2025-12-25"]));
        assert_eq!(
            doc["notification_sender"]["name"],
            json!({"value": "Operator Billing", "source": "installation"})
        );
        assert_eq!(doc["time_zone"], json!({"value": "Europe/Berlin", "source": "party"}));

        // Alpha's subreseller: on Alpha's Default class, sending as Alpha, in Alpha's zone.
        let answer = app.get(&effective_path("resellers", sub), &alpha_user).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        let doc = &answer.body;
        assert_eq!(doc["class_name"], "Default");
        assert_eq!(doc["managed_by"]["value"], json!({"type": "reseller", "reseller_id": alpha}));
        assert_eq!(doc["notification_sender"]["name"], json!({"value": "Alpha", "source": "owner"}));
        assert_eq!(
            doc["notification_sender"]["address"],
            json!({"value": "billing@alpha.example", "source": "owner"})
        );
        assert_eq!(doc["time_zone"], json!({"value": "Europe/Berlin", "source": "owner"}));
        assert_eq!(doc["taxation"]["tax_timing"]["source"], "class", "no rule where nothing is forced");
    }
}

on_both_backends! {
    async fn only_the_owner_sees_a_partys_effective_settings(app) {
        let alpha = create_reseller(app, &app.admin, json!({"name": "Alpha", "currency": "EUR"})).await;
        let alpha_user = app.user("alpha-user", NewUserRole::Reseller(alpha)).await;
        let sub = create_reseller(
            app,
            &alpha_user,
            json!({"name": "Alpha Sub", "currency": "EUR", "parent_reseller_id": alpha}),
        )
        .await;
        let (_beta, beta_user) = app.reseller_with_user("Beta").await;

        // Another reseller's user: 404, like a party that does not exist.
        for path in [effective_path("resellers", alpha), effective_path("resellers", sub)] {
            let answer = app.get(&path, &beta_user).await;
            assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}: {}", answer.text);
            assert_eq!(answer.headers["content-type"], "application/problem+json");
        }
        // A reseller user does not see its own record: its owner is the operator.
        let answer = app.get(&effective_path("resellers", alpha), &alpha_user).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{}", answer.text);
        let answer = app.get(&effective_path("resellers", sub), &alpha_user).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        let answer = app.get(&effective_path("resellers", sub), &app.admin).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);

        // A reseller is not a customer, and unknown ids are not found.
        let answer = app.get(&effective_path("customers", alpha), &app.admin).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{}", answer.text);
        let answer = app.get(&effective_path("resellers", 999_999), &app.admin).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{}", answer.text);
        assert_eq!(answer.body["status"], 404);

        // No token: 401.
        for path in [effective_path("resellers", alpha), effective_path("customers", alpha)] {
            let answer = app.send(Method::GET, &path, None, None, None).await;
            assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{path}: {}", answer.text);
        }
    }
}

/// The class of customer-classes §7.4: "Cloud PBX", EUR, two measured services.
fn cloud_pbx() -> Value {
    json!({
        "name": "Cloud PBX", "currency": "EUR",
        "measured_services": {"metrics": [
            {"metric": "pbx_extensions", "charge_basis": "maximum", "price_per_item": "3.00", "free_items": 10,
             "service": "cloud_pbx", "rate_code": "PBX-EXT"},
            {"metric": "active_calls", "charge_basis": "average", "price_per_item": "2.50", "free_items": 5,
             "service": "voice", "rate_code": "ACT-CALLS"}
        ]}
    })
}

/// Creates a customer through the API and answers its id.
async fn create_customer(app: &TestApp, token: &str, body: Value) -> i64 {
    let answer = app.post("/api/v1/customers", token, body).await;
    assert_eq!(
        answer.status,
        StatusCode::CREATED,
        "{} customer: {}",
        app.backend,
        answer.text
    );
    answer.body["id"].as_i64().expect("the customer has an id")
}

on_both_backends! {
    async fn a_customers_metric_override_is_the_partys_and_the_other_row_the_classs(app) {
        let class = app.class(&app.admin, cloud_pbx()).await;
        let class_id = class["id"].as_i64().expect("class id");
        // §7.4 item 3: customer 1006 overrides pbx_extensions with 20 free items; 1004 does not.
        let overriding = create_customer(
            app,
            &app.admin,
            json!({"name": "Customer 1006", "class_id": class_id,
                   "measured_services": [{"metric": "pbx_extensions", "free_items": 20}]}),
        )
        .await;
        let plain = create_customer(app, &app.admin, json!({"name": "Customer 1004", "class_id": class_id})).await;

        let answer = app.get(&effective_path("customers", overriding), &app.admin).await;
        assert_eq!(answer.status, StatusCode::OK, "{}: {}", app.backend, answer.text);
        let services = &answer.body["measured_services"];
        assert_eq!(
            services["pbx_extensions"],
            json!({"value": {"metric": "pbx_extensions", "charge_basis": "maximum", "price_per_item": "3.00000",
                             "free_items": 20, "rate_code": "PBX-EXT", "service": "cloud_pbx"},
                   "source": "party"})
        );
        assert_eq!(services["active_calls"]["source"], "class");
        assert_eq!(services["active_calls"]["class_id"], class_id);
        assert_eq!(services["active_calls"]["class_revision"], 1);
        assert_eq!(services["active_calls"]["value"]["free_items"], 5);

        let answer = app.get(&effective_path("customers", plain), &app.admin).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        assert_eq!(answer.body["measured_services"]["pbx_extensions"]["source"], "class");
        assert_eq!(answer.body["measured_services"]["pbx_extensions"]["value"]["free_items"], 10);
        // Customers are not resellers, and resellers' paths do not show customers.
        let answer = app.get(&effective_path("resellers", plain), &app.admin).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{}", answer.text);
    }
}

on_both_backends! {
    async fn customer_overrides_and_rules_through_the_api(app) {
        let class = app
            .class(
                &app.admin,
                json!({"name": "Taxed", "currency": "EUR",
                       "taxation": {"method": "fixed_vat", "tax_timing": "at_payment",
                                    "fixed_vat": {"rate_percent": "19"}}}),
            )
            .await;
        let class_id = class["id"].as_i64().expect("class id");
        let exempt = create_customer(
            app,
            &app.admin,
            json!({"name": "Exempt", "class_id": class_id, "prepaid": true, "tax_exempt": true,
                   "tax_exemption_reason": "charity", "statistics_email": "summary"}),
        )
        .await;
        let postpaid = create_customer(app, &app.admin, json!({"name": "Postpaid", "class_id": class_id})).await;

        let answer = app.get(&effective_path("customers", exempt), &app.admin).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        let doc = &answer.body;
        assert_eq!(doc["taxation"]["method"], rule_leaf(json!("none"), "tax_exempt"));
        assert_eq!(doc["taxation"]["tax_timing"], class_leaf(json!("at_payment"), class_id, 1));
        assert_eq!(doc["general_info"]["statistics_email"], json!({"value": "summary", "source": "party"}));

        let answer = app.get(&effective_path("customers", postpaid), &app.admin).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        assert_eq!(
            answer.body["taxation"]["tax_timing"],
            rule_leaf(json!("end_of_period"), "postpaid_taxed_at_close")
        );

        // A taxation override replaces the whole tab; template and e-mail overrides wait for their tab.
        let template = app.standard_template().await;
        let overriding = create_customer(
            app,
            &app.admin,
            json!({"name": "Own taxes", "class_id": class_id,
                   "taxation": {"method": "fixed_vat", "fixed_vat": {"rate_percent": "7", "inclusive": true}},
                   "oot_invoice_template_id": template, "oot_invoice_email_delivery": "automatically"}),
        )
        .await;
        let answer = app.get(&effective_path("customers", overriding), &app.admin).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        let taxation = answer.body["taxation"].as_object().expect("taxation is an object");
        let mut leaves = 0;
        for (key, node) in taxation {
            let nested = node.get("source").is_none();
            let children: Vec<&Value> = if nested {
                node.as_object().expect("an object").values().collect()
            } else {
                vec![node]
            };
            for leaf in children {
                assert_eq!(leaf["source"], "party", "taxation.{key}: {leaf}");
                leaves += 1;
            }
        }
        assert!(leaves >= 6, "{taxation:?}");
        assert_eq!(answer.body["taxation"]["fixed_vat"]["rate_percent"]["value"], "7");
        assert_eq!(answer.body["taxation"]["fixed_vat"]["inclusive"]["value"], true);
        assert_eq!(answer.body["taxation"]["tax_timing"]["value"], "end_of_period");
        assert_eq!(
            answer.body["out_of_turn_invoices"]["template_id"],
            rule_leaf(Value::Null, "tab_disabled")
        );
        assert_eq!(
            answer.body["out_of_turn_invoices"]["email_delivery"],
            rule_leaf(json!("never"), "tab_disabled")
        );
    }
}

on_both_backends! {
    async fn a_resellers_customers_are_visible_to_that_reseller_only(app) {
        let (alpha, alpha_user) = app.reseller_with_user("Alpha").await;
        let (_beta, beta_user) = app.reseller_with_user("Beta").await;
        let customer = create_customer(
            app,
            &alpha_user,
            json!({"name": "Alpha's customer", "reseller_id": alpha, "currency": "EUR"}),
        )
        .await;
        let path = effective_path("customers", customer);
        let answer = app.get(&path, &alpha_user).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        assert_eq!(answer.body["class_name"], "Default");
        assert_eq!(answer.body["notification_sender"]["name"], json!({"value": "Alpha", "source": "owner"}));
        assert_eq!(app.get(&path, &app.admin).await.status, StatusCode::OK);
        let answer = app.get(&path, &beta_user).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{}", answer.text);
    }
}

on_both_backends! {
    async fn the_answer_is_the_merged_settings_serialised_and_computed_now(app) {
        let class = app.class(&app.admin, wholesale()).await;
        let customer = app
            .post("/api/v1/customers", &app.admin, json!({"name": "Ada", "class_id": class["id"]}))
            .await;
        assert_eq!(customer.status, StatusCode::CREATED, "{}", customer.text);
        let id = customer.body["id"].as_i64().expect("id");
        let actor = classbill_engine::Actor::system();
        let kind = classbill_engine::parties::PartyKind::Customer;
        // Read twice: the second answer comes from the merged settings kept by the first.
        for _ in 0..2 {
            let answer = app.get(&effective_path("customers", id), &app.admin).await;
            assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
            assert_eq!(answer.headers["content-type"], "application/json");
            let computed_at: jiff::Timestamp = answer.body["computed_at"]
                .as_str()
                .expect("computed_at")
                .parse()
                .expect("an instant");
            let merged = app
                .engine
                .effective_settings(&actor, kind, id, computed_at)
                .await
                .expect("merged");
            assert_eq!(answer.text, serde_json::to_string(&merged).expect("serialised"));
        }
    }
}
