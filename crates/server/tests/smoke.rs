mod support;

use reqwest::StatusCode;
use serde_json::json;

on_both_backends! {
    async fn a_created_class_reads_back(app) {
        let created = app.class(&app.admin, json!({"name": "Gold"})).await;
        let id = created["id"].as_i64().unwrap();
        let read = app.get(&format!("/api/v1/customer-classes/{id}"), &app.admin).await;
        assert_eq!(read.status, StatusCode::OK, "{}", read.text);
        assert_eq!(read.body["name"], json!("Gold"));
        assert_eq!(read.etag().as_deref(), Some("\"1\""));
    }
}
