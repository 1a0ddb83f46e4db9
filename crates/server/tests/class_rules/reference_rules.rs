//! Taxation rules V21–V25 and the reference rules V29–V32 (§2.6–§2.9, §3), with the referenced objects
//! created through their own endpoints.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::*;
use crate::on_both_backends;

const CUSTOM_TAXES: &str = "/api/v1/custom-taxes";
const TEMPLATES: &str = "/api/v1/invoice-templates";

async fn custom_tax(app: &TestApp, token: &str, name: &str, scope: &str) -> i64 {
    catalog_object(
        app,
        token,
        CUSTOM_TAXES,
        json!({"name": name, "rate_percent": "5", "scope": scope}),
    )
    .await
}

fn taxation(name: &str, taxation: Value) -> Value {
    json!({"name": name, "taxation": taxation})
}

on_both_backends! {
    async fn v21_selected_tax_method_has_its_parameters(app) {
        let answer = create(app, &app.admin, taxation("Vat", json!({"method": "fixed_vat"}))).await;
        assert_only_violation(
            &answer,
            "taxation.fixed_vat.rate_percent",
            "required",
            Some("a rate is required for fixed_vat"),
        );
        for rate in ["100.01", "-1", "19.12345"] {
            let answer = create(app, &app.admin, taxation("Vat", json!({"method": "fixed_vat",
                "fixed_vat": {"rate_percent": rate}})))
                .await;
            assert_only_violation(&answer, "taxation.fixed_vat.rate_percent", "out_of_range", None);
        }
        let answer = create(app, &app.admin, taxation("Generic", json!({"method": "generic_vat"}))).await;
        assert_only_violation(&answer, "taxation.generic_vat.home_country", "required", None);
        let answer = create(app, &app.admin, taxation("External", json!({"method": "external"}))).await;
        assert_violation(&answer, "taxation.external.endpoint_url", "required", None);

        for (index, rate) in ["0", "100", "19.1234"].into_iter().enumerate() {
            let answer = create(app, &app.admin, taxation(&format!("Vat {index}"), json!({"method": "fixed_vat",
                "fixed_vat": {"rate_percent": rate, "inclusive": true}})))
                .await;
            assert_accepted(&answer, StatusCode::CREATED);
            assert_eq!(answer.body["taxation"]["fixed_vat"], json!({"rate_percent": rate, "inclusive": true}));
        }
        // Parameters of other methods are reset on save.
        let answer = create(app, &app.admin, taxation("Vat only", json!({"method": "fixed_vat",
            "fixed_vat": {"rate_percent": "19.00"}, "custom_tax_ids": [1, 2],
            "generic_vat": {"home_country": "DE"}})))
            .await;
        assert_accepted(&answer, StatusCode::CREATED);
        assert_eq!(
            answer.body["taxation"],
            json!({"method": "fixed_vat", "tax_timing": "end_of_period",
                "fixed_vat": {"rate_percent": "19", "inclusive": false}, "custom_tax_ids": [],
                "generic_vat": null, "external": null})
        );
    }
}

on_both_backends! {
    async fn v22_custom_taxation_needs_1_to_20_existing_taxes(app) {
        let answer = create(app, &app.admin, taxation("Custom", json!({"method": "custom"}))).await;
        assert_only_violation(
            &answer,
            "taxation.custom_tax_ids",
            "required",
            Some("custom taxation needs at least one custom tax"),
        );
        let levy = custom_tax(app, &app.admin, "Levy", "all").await;
        let answer = create(app, &app.admin, taxation("Custom", json!({"method": "custom",
            "custom_tax_ids": [levy, 987_654]})))
            .await;
        assert_only_violation(&answer, "taxation.custom_tax_ids[1]", "unknown_tax", None);
        // Distinct: the second mention of the same tax is refused.
        let answer = create(app, &app.admin, taxation("Custom", json!({"method": "custom",
            "custom_tax_ids": [levy, levy]})))
            .await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", answer.text);
        assert!(answer.error_codes().iter().any(|(field, _)| field == "taxation.custom_tax_ids[1]"), "{}", answer.text);

        let mut many = Vec::new();
        for index in 0..21 {
            many.push(custom_tax(app, &app.admin, &format!("Tax {index}"), "usage").await);
        }
        let answer = create(app, &app.admin, taxation("Custom", json!({"method": "custom", "custom_tax_ids": many})))
            .await;
        assert_only_violation(&answer, "taxation.custom_tax_ids", "too_many", None);
        let twenty = &many[..20];
        let answer = create(app, &app.admin, taxation("Custom", json!({"method": "custom", "custom_tax_ids": twenty})))
            .await;
        assert_accepted(&answer, StatusCode::CREATED);
        assert_eq!(answer.body["taxation"]["custom_tax_ids"], json!(twenty));
    }
}

on_both_backends! {
    async fn v23_taxes_at_payment_need_a_supported_method(app) {
        for method in [json!({"method": "none"}), json!({"method": "external",
            "external": {"endpoint_url": "https://tax.example.com", "secret_ref": "tax"}})] {
            app.send(Method::PUT, "/api/v1/secrets/tax", Some(&app.admin), Some(json!({"value": "s3cret"})), None)
                .await;
            let mut body = method.clone();
            body["tax_timing"] = json!("at_payment");
            let answer = create(app, &app.admin, taxation("Timing", body)).await;
            assert_only_violation(&answer, "taxation.tax_timing", "unsupported_timing", None);
        }
        let all = custom_tax(app, &app.admin, "All", "all").await;
        let usage = custom_tax(app, &app.admin, "Usage", "usage").await;
        let answer = create(app, &app.admin, taxation("Timing", json!({"method": "custom", "tax_timing": "at_payment",
            "custom_tax_ids": [all, usage]})))
            .await;
        assert_only_violation(
            &answer,
            "taxation.tax_timing",
            "unsupported_timing",
            Some("taxes at payment need every selected tax to have scope \"all\""),
        );
        let answer = create(app, &app.admin, taxation("Timing custom", json!({"method": "custom",
            "tax_timing": "at_payment", "custom_tax_ids": [all]})))
            .await;
        assert_accepted(&answer, StatusCode::CREATED);
        let answer = create(app, &app.admin, taxation("Timing vat", json!({"method": "fixed_vat",
            "tax_timing": "at_payment", "fixed_vat": {"rate_percent": "20"}})))
            .await;
        assert_accepted(&answer, StatusCode::CREATED);
        assert_eq!(answer.body["taxation"]["tax_timing"], json!("at_payment"));
    }
}

on_both_backends! {
    async fn v24_generic_vat_home_country_is_in_the_rate_table(app) {
        let generic = |country: &str| taxation("Generic", json!({"method": "generic_vat",
            "generic_vat": {"home_country": country}}));
        let answer = create(app, &app.admin, generic("DE")).await;
        assert_only_violation(
            &answer,
            "taxation.generic_vat.home_country",
            "unknown_country",
            Some("no VAT rate configured for DE"),
        );
        catalog_object(app, &app.admin, "/api/v1/vat-rates",
            json!({"country": "DE", "rate_percent": "19", "zone": "EU"}))
            .await;
        let answer = create(app, &app.admin, generic("FR")).await;
        assert_only_violation(
            &answer,
            "taxation.generic_vat.home_country",
            "unknown_country",
            Some("no VAT rate configured for FR"),
        );
        let answer = create(app, &app.admin, generic("DE")).await;
        assert_accepted(&answer, StatusCode::CREATED);
        assert_eq!(answer.body["taxation"]["generic_vat"], json!({"home_country": "DE", "inclusive": false}));
    }
}

on_both_backends! {
    async fn v25_external_engine_url_timeout_and_secret(app) {
        let mut count = 0;
        let mut external = |url: &str, timeout: i64, secret: &str| {
            count += 1;
            taxation(&format!("External {count}"), json!({"method": "external",
                "external": {"endpoint_url": url, "timeout_ms": timeout, "secret_ref": secret}}))
        };
        let answer = create(app, &app.admin, external("http://tax.example.com/quote", 999, "tax-token")).await;
        assert_violation(&answer, "taxation.external.endpoint_url", "invalid", Some("must be an https URL"));
        assert_violation(&answer, "taxation.external.timeout_ms", "invalid", None);
        assert_violation(&answer, "taxation.external.secret_ref", "invalid", None);
        assert_eq!(answer.error_codes().len(), 3, "{}", answer.text);
        let answer = create(app, &app.admin, external("https://tax.example.com", 30_001, "tax-token")).await;
        assert_violation(&answer, "taxation.external.timeout_ms", "invalid", None);

        let stored = app
            .send(Method::PUT, "/api/v1/secrets/tax-token", Some(&app.admin), Some(json!({"value": "s3cret"})), None)
            .await;
        assert_eq!(stored.status, StatusCode::NO_CONTENT, "{}", stored.text);
        assert!(!stored.text.contains("s3cret"));
        let answer = create(app, &app.admin, external("https://tax.example.com/quote", 1000, "tax-token")).await;
        assert_accepted(&answer, StatusCode::CREATED);
        assert_eq!(
            answer.body["taxation"]["external"],
            json!({"endpoint_url": "https://tax.example.com/quote", "timeout_ms": 1000, "secret_ref": "tax-token",
                "prices_include_tax": false})
        );
        assert!(!answer.text.contains("s3cret"), "the secret value never shows");
        // Plain http only to a loopback host.
        let answer = create(app, &app.admin, external("http://127.0.0.1:9000/tax", 30_000, "tax-token")).await;
        assert_accepted(&answer, StatusCode::CREATED);
        let answer = create(app, &app.admin, external("ftp://tax.example.com", 30_000, "tax-token")).await;
        assert_only_violation(&answer, "taxation.external.endpoint_url", "invalid", Some("must be an https URL"));
    }
}

on_both_backends! {
    async fn v29_measured_services_one_row_per_metric(app) {
        let metrics =
            |rows: Value| json!({"name": "Metered", "currency": "EUR", "measured_services": {"metrics": rows}});
        let answer = create(app, &app.admin, metrics(json!([{"metric": "pbx_extensions"}, {"metric": "active_calls"},
            {"metric": "pbx_extensions"}])))
            .await;
        assert_only_violation(
            &answer,
            "measured_services.metrics[2].metric",
            "duplicate_metric",
            Some("pbx_extensions is already defined in row 0"),
        );
        // A charged row needs a price above zero and a service.
        let answer = create(app, &app.admin, metrics(json!([{"metric": "active_calls", "charge_basis": "average"}])))
            .await;
        assert_violation(&answer, "measured_services.metrics[0].service", "required", None);
        assert!(answer.error_codes().iter().any(|(field, _)| field == "measured_services.metrics[0].price_per_item"),
            "{}", answer.text);
        assert_eq!(answer.error_codes().len(), 2, "{}", answer.text);
        // Ranges of §2.7.
        let answer = create(app, &app.admin, metrics(json!([{"metric": "concurrent_calls", "free_items": 1_000_001,
            "rate_code": "has space", "price_per_item": "-1"}])))
            .await;
        assert_violation(&answer, "measured_services.metrics[0].free_items", "out_of_range", None);
        assert_violation(&answer, "measured_services.metrics[0].rate_code", "out_of_range", None);
        assert_violation(&answer, "measured_services.metrics[0].price_per_item", "out_of_range", None);
        assert_eq!(answer.error_codes().len(), 3, "{}", answer.text);

        let answer = create(app, &app.admin, metrics(json!([
            {"metric": "pbx_extensions", "charge_basis": "maximum", "price_per_item": "1.5", "free_items": 3,
                "rate_code": "PBX.EXT-1", "service": "pbx"},
            {"metric": "active_calls"}])))
            .await;
        assert_accepted(&answer, StatusCode::CREATED);
        assert_eq!(
            answer.body["measured_services"]["metrics"],
            json!([
                {"metric": "pbx_extensions", "charge_basis": "maximum", "price_per_item": "1.50000", "free_items": 3,
                    "rate_code": "PBX.EXT-1", "service": "pbx"},
                {"metric": "active_calls", "charge_basis": "none", "price_per_item": "0.00000", "free_items": 0,
                    "rate_code": null, "service": null}])
        );
    }
}

on_both_backends! {
    async fn v30_notification_events_are_class_events_and_tab_governed_email_is_null(app) {
        let events = |events: Value| json!({"name": "Events", "notifications": {"events": events}});
        let answer = create(app, &app.admin, events(json!({"invoice_issued": {"email": true}}))).await;
        assert_only_violation(
            &answer,
            "notifications.events.invoice_issued",
            "tab_governed",
            Some("the e-mail channel of invoice_issued is set by regular_invoices.email_delivery"),
        );
        for key in ["period_close_failed", "charge_requested", "no_such_event"] {
            let mut body = serde_json::Map::new();
            body.insert(key.to_owned(), json!({"sms": true}));
            let answer = create(app, &app.admin, events(Value::Object(body))).await;
            assert_only_violation(&answer, &format!("notifications.events.{key}"), "unknown_event", None);
        }
        let answer = create(app, &app.admin, json!({"name": "Events",
            "notifications": {"notification_set_id": 987_654}}))
            .await;
        assert_only_violation(&answer, "notifications.notification_set_id", "not_visible", None);

        // Missing keys take their defaults; tab-governed events may use the other channels.
        let answer = create(app, &app.admin, events(json!({"statistics_ready": {"webhook": true},
            "payment_received": {"email": true}})))
            .await;
        assert_accepted(&answer, StatusCode::CREATED);
        let mut expected = default_events();
        expected["statistics_ready"] = json!({"email": null, "sms": false, "webhook": true});
        expected["payment_received"] = json!({"email": true, "sms": false, "webhook": false});
        assert_eq!(answer.body["notifications"]["events"], expected);
    }
}

on_both_backends! {
    async fn v31_mandatory_custom_field_without_default_needs_values_of_every_member(app) {
        let contract = catalog_object(app, &app.admin, "/api/v1/custom-fields",
            json!({"key": "contract_no", "label": "Contract number", "type": "text", "mandatory": true}))
            .await;
        let segment = catalog_object(app, &app.admin, "/api/v1/custom-fields",
            json!({"key": "segment", "label": "Segment", "type": "text", "mandatory": true, "default": "retail"}))
            .await;
        let note = catalog_object(app, &app.admin, "/api/v1/custom-fields",
            json!({"key": "note", "label": "Note", "type": "text"}))
            .await;

        let class = id_of(&app.class(&app.admin, json!({"name": "Business"})).await);
        reseller_in(app, "Member", "EUR", Some(class)).await;
        let answer = patch_current(app, &app.admin, class,
            json!({"custom_fields": {"enabled_field_ids": [note, contract]}}))
            .await;
        assert_only_violation(
            &answer,
            "custom_fields.enabled_field_ids[1]",
            "missing_values",
            Some("mandatory field \"contract_no\" has no default and 1 member has no value"),
        );
        reseller_in(app, "Member 2", "EUR", Some(class)).await;
        let answer = patch_current(app, &app.admin, class, json!({"custom_fields": {"enabled_field_ids": [contract]}}))
            .await;
        assert_only_violation(
            &answer,
            "custom_fields.enabled_field_ids[0]",
            "missing_values",
            Some("mandatory field \"contract_no\" has no default and 2 members have no value"),
        );
        // A default fills the gap; optional fields never block.
        let answer = patch_current(app, &app.admin, class,
            json!({"custom_fields": {"enabled_field_ids": [segment, note]}}))
            .await;
        assert_accepted(&answer, StatusCode::OK);
        assert_eq!(answer.body["custom_fields"]["enabled_field_ids"], json!([segment, note]));
        // A class without members may enable it.
        let answer = create(app, &app.admin,
            json!({"name": "Empty", "custom_fields": {"enabled_field_ids": [contract]}}))
            .await;
        assert_accepted(&answer, StatusCode::CREATED);
        // Unknown and repeated ids are refused at their index.
        let answer = create(app, &app.admin, json!({"name": "Broken",
            "custom_fields": {"enabled_field_ids": [note, 987_654, note]}}))
            .await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", answer.text);
        let fields: Vec<String> = answer.error_codes().into_iter().map(|(field, _)| field).collect();
        assert_eq!(
            fields,
            ["custom_fields.enabled_field_ids[1]", "custom_fields.enabled_field_ids[2]"],
            "{}",
            answer.text
        );
    }
}

on_both_backends! {
    async fn v31_a_new_member_cannot_join_without_a_mandatory_value(app) {
        // The other side of V31: once a mandatory field without default is enabled, a party joining the class
        // must bring a value (A5), or the class would again have a member without one.
        let contract = catalog_object(app, &app.admin, "/api/v1/custom-fields",
            json!({"key": "contract_no", "label": "Contract number", "type": "text", "mandatory": true}))
            .await;
        let class = id_of(&app.class(&app.admin, json!({"name": "Business EU",
            "custom_fields": {"enabled_field_ids": [contract]}}))
            .await);
        let answer = app
            .post("/api/v1/resellers", &app.admin, json!({"name": "Joiner", "currency": "EUR", "class_id": class}))
            .await;
        assert_only_violation(
            &answer,
            "custom_fields.contract_no",
            "required",
            Some("required by class \"Business EU\""),
        );
        assert_eq!(read(app, &app.admin, class).await["member_count"], json!(0));
        let list = app.get("/api/v1/resellers", &app.admin).await;
        assert_eq!(list.body["items"], json!([]), "no reseller was created: {}", list.text);

        // The same holds for the automatic Default choice.
        let default = administrator_default(app).await;
        let answer = patch_current(app, &app.admin, default,
            json!({"custom_fields": {"enabled_field_ids": [contract]}}))
            .await;
        assert_accepted(&answer, StatusCode::OK);
        let answer = app.post("/api/v1/resellers", &app.admin, json!({"name": "Joiner", "currency": "EUR"})).await;
        assert_only_violation(&answer, "custom_fields.contract_no", "required", Some("required by class \"Default\""));

        // A field with a default, or an optional one, lets parties join.
        let segment = catalog_object(app, &app.admin, "/api/v1/custom-fields",
            json!({"key": "segment", "label": "Segment", "type": "text", "mandatory": true, "default": "retail"}))
            .await;
        let note = catalog_object(app, &app.admin, "/api/v1/custom-fields",
            json!({"key": "note", "label": "Note", "type": "text"}))
            .await;
        let answer = patch_current(app, &app.admin, class,
            json!({"custom_fields": {"enabled_field_ids": [segment, note]}}))
            .await;
        assert_accepted(&answer, StatusCode::OK);
        reseller_in(app, "Joiner", "EUR", Some(class)).await;
        assert_eq!(read(app, &app.admin, class).await["member_count"], json!(1));
    }
}

on_both_backends! {
    async fn v32_references_belong_to_the_owner_or_are_shared(app) {
        let (_q, q_token) = app.reseller_with_user("Quebec").await;
        let q_template =
            catalog_object(app, &q_token, TEMPLATES, json!({"name": "Q layout", "source": "= Invoice"})).await;
        let q_tax = custom_tax(app, &q_token, "Q levy", "all").await;
        let q_set = catalog_object(app, &q_token, "/api/v1/notification-sets", json!({"name": "Q texts"})).await;

        let answer = create(app, &app.admin, json!({"name": "Operator",
            "regular_invoices": {"template_id": q_template}}))
            .await;
        assert_only_violation(
            &answer,
            "regular_invoices.template_id",
            "not_visible",
            Some(&format!("template {q_template} not found")),
        );
        let answer = create(app, &app.admin, json!({"name": "Operator",
            "out_of_turn_invoices": {"enabled": true, "template_id": q_template}}))
            .await;
        assert_only_violation(&answer, "out_of_turn_invoices.template_id", "not_visible", None);
        let answer = create(app, &app.admin,
            taxation("Operator", json!({"method": "custom", "custom_tax_ids": [q_tax]})))
            .await;
        assert_only_violation(&answer, "taxation.custom_tax_ids[0]", "not_visible", None);
        let answer = create(app, &app.admin, json!({"name": "Operator",
            "notifications": {"notification_set_id": q_set}}))
            .await;
        assert_only_violation(&answer, "notifications.notification_set_id", "not_visible", None);

        // Q's own class may use them all.
        let answer = create(app, &q_token, json!({"name": "Q class",
            "regular_invoices": {"enabled": true, "template_id": q_template},
            "taxation": {"method": "custom", "custom_tax_ids": [q_tax]},
            "notifications": {"notification_set_id": q_set}}))
            .await;
        assert_accepted(&answer, StatusCode::CREATED);

        // Administrator objects reach resellers only when shared; the built-in Standard template is shared.
        let private = catalog_object(app, &app.admin, TEMPLATES, json!({"name": "Private", "source": "= Mine"})).await;
        let shared = catalog_object(app, &app.admin, TEMPLATES,
            json!({"name": "Shared", "source": "= Ours", "shared": true}))
            .await;
        let answer = create(app, &q_token, json!({"name": "Q private", "regular_invoices": {"template_id": private}}))
            .await;
        assert_only_violation(&answer, "regular_invoices.template_id", "not_visible", None);
        let standard = app.standard_template().await;
        let answer = create(app, &q_token, json!({"name": "Q shared",
            "regular_invoices": {"enabled": true, "template_id": shared},
            "out_of_turn_invoices": {"enabled": true, "template_id": standard}}))
            .await;
        assert_accepted(&answer, StatusCode::CREATED);
    }
}

on_both_backends! {
    async fn referenced_objects_stay_in_use_until_no_class_points_at_them(app) {
        let levy = custom_tax(app, &app.admin, "Levy", "all").await;
        let layout = catalog_object(app, &app.admin, TEMPLATES, json!({"name": "Layout", "source": "= Bill"})).await;
        let class = id_of(&app.class(&app.admin, json!({"name": "Taxed",
            "regular_invoices": {"enabled": true, "template_id": layout},
            "taxation": {"method": "custom", "custom_tax_ids": [levy]}}))
            .await);
        for path in [format!("{CUSTOM_TAXES}/{levy}"), format!("{TEMPLATES}/{layout}")] {
            let answer = app.delete(&path, &app.admin).await;
            assert_eq!(answer.status, StatusCode::CONFLICT, "{path}: {}", answer.text);
            assert_eq!(answer.body["code"], json!("in_use"), "{}", answer.text);
        }
        // Switching the method away drops the tax reference; the template goes with the class.
        let answer = patch_current(app, &app.admin, class, json!({"taxation": {"method": "none"}})).await;
        assert_accepted(&answer, StatusCode::OK);
        assert_eq!(answer.body["taxation"]["custom_tax_ids"], json!([]));
        let answer = app.delete(&format!("{CUSTOM_TAXES}/{levy}"), &app.admin).await;
        assert_eq!(answer.status, StatusCode::NO_CONTENT, "{}", answer.text);
        assert_eq!(app.delete(&format!("{TEMPLATES}/{layout}"), &app.admin).await.status, StatusCode::CONFLICT);
        assert_eq!(app.delete(&class_path(class), &app.admin).await.status, StatusCode::NO_CONTENT);
        let answer = app.delete(&format!("{TEMPLATES}/{layout}"), &app.admin).await;
        assert_eq!(answer.status, StatusCode::NO_CONTENT, "{}", answer.text);
    }
}
