//! Bad tax configurations: a clear error naming the field, and nothing saved or deleted.

use reqwest::StatusCode;
use serde_json::json;

use crate::fixtures::*;
use crate::on_both_backends;

on_both_backends! {
    async fn a_home_country_missing_from_the_vat_rate_table_is_refused(app) {
        vat_rate(app, "AT", "20", Some("EU")).await;
        let answer = app
            .post("/api/v1/customer-classes", &app.admin, json!({"name": "EU wide", "taxation": {
                "method": "generic_vat", "generic_vat": {"home_country": "DE"}}}))
            .await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", answer.text);
        assert!(answer.has_error("taxation.generic_vat.home_country", "unknown_country"), "{}", answer.text);
        let list = app.get("/api/v1/customer-classes?name=EU%20wide", &app.admin).await;
        assert_eq!(list.body["items"].as_array().map(Vec::len), Some(0), "{}", list.text);
    }
}

on_both_backends! {
    async fn taxes_in_use_cannot_be_deleted(app) {
        let tax = custom_tax(app, "State sales tax", "6.25", "all").await;
        let de = vat_rate(app, "DE", "19", Some("EU")).await;
        invoicing_class(app, "Custom", "USD", json!({"taxation": {"method": "custom", "custom_tax_ids": [tax]}})).await;
        invoicing_class(app, "Generic", "EUR",
            json!({"taxation": {"method": "generic_vat", "generic_vat": {"home_country": "DE"}}})).await;
        for path in [format!("/api/v1/custom-taxes/{tax}"), format!("/api/v1/vat-rates/{de}")] {
            let answer = app.delete(&path, &app.admin).await;
            assert_eq!(answer.status, StatusCode::CONFLICT, "{path}: {}", answer.text);
            assert_eq!(answer.body["code"], json!("in_use"), "{}", answer.text);
            assert_eq!(app.get(&path, &app.admin).await.status, StatusCode::OK, "{path} is kept");
        }
    }
}
