//! `upon_approval` closure (customer-classes §2.2 `period_closure`, §5.3): billing runs leave the ended period
//! open, and `POST /periods/{id}/approve` closes it at the approval instant, which names the issue date.

mod support;

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::TestApp;

async fn approval_customer(app: &TestApp) -> (i64, i64) {
    let template = app.standard_template().await;
    let class = app
        .class(
            &app.admin,
            json!({"name": "Approved", "currency": "EUR",
                   "general_info": {"period_closure": {"mode": "upon_approval", "extra_delay_hours": 0}},
                   "regular_invoices": {"enabled": true, "template_id": template,
                                        "payment_terms": {"type": "net", "days": 15}}}),
        )
        .await;
    let answer = app
        .post(
            "/api/v1/customers",
            &app.admin,
            json!({"name": "Needs approval", "currency": "EUR", "class_id": class["id"], "time_zone": "Europe/Berlin",
                   "billing_period": "monthly", "activated_at": "2025-03-01T00:00:00+01:00"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
    let party = answer.body["id"].as_i64().expect("customer id");
    let xdrs = json!({"xdrs": [{"party_id": party, "external_id": "a-1", "occurred_at": "2025-03-10T10:00:00Z",
                                "kind": "usage", "service": "voice", "quantity": "1", "amount": "12.5"}]});
    let answer = app.post("/api/v1/xdrs", &app.admin, xdrs).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
    let period = app
        .get(&format!("/api/v1/periods?party_id={party}"), &app.admin)
        .await
        .body["items"][0]["id"]
        .as_i64()
        .expect("period id");
    (party, period)
}

fn approve_path(period: i64) -> String {
    format!("/api/v1/periods/{period}/approve")
}

on_both_backends!(
    async fn upon_approval_period_closes_at_the_approval_instant(app) {
        let (party, period) = approval_customer(app).await;

        // Not ended at the approval instant: 409, nothing changes.
        let early = app
            .post(&approve_path(period), &app.admin, json!({"as_of": "2025-03-20T12:00:00Z"}))
            .await;
        assert_eq!(early.status, StatusCode::CONFLICT, "{}", early.text);

        // A billing run long after the end leaves it open for late xDRs.
        let run = app
            .post("/api/v1/billing-runs", &app.admin, json!({"as_of": "2025-04-20T00:00:00Z"}))
            .await;
        assert_eq!(run.status, StatusCode::ACCEPTED, "{}", run.text);
        let id = run.body["id"].as_i64().expect("run id");
        let mut status = Value::Null;
        for _ in 0..200 {
            status = app.get(&format!("/api/v1/billing-runs/{id}"), &app.admin).await.body["status"].clone();
            if status == json!("completed") || status == json!("failed") {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(status, json!("completed"));
        let open = app.get(&format!("/api/v1/periods/{period}"), &app.admin).await;
        assert_eq!(open.body["status"], json!("open"), "{}", open.text);

        // The approval on 2025-04-02 (local date in Berlin) is the close instant and the issue date.
        let approved = app
            .post(&approve_path(period), &app.admin, json!({"as_of": "2025-04-02T08:00:00+02:00"}))
            .await;
        assert_eq!(approved.status, StatusCode::OK, "{}", approved.text);
        assert_eq!(approved.body["status"], json!("closed"), "{}", approved.text);
        let invoices = app.get(&format!("/api/v1/invoices?party_id={party}"), &app.admin).await;
        let items = invoices.body["items"].as_array().expect("items").clone();
        assert_eq!(items.len(), 1, "{}", invoices.text);
        assert_eq!(items[0]["issue_date"], json!("2025-04-02"));
        assert_eq!(items[0]["due_date"], json!("2025-04-17"));
        assert_eq!(items[0]["total"], json!("12.50000"));

        // Once closed, a second approval is a conflict and issues nothing.
        let again = app.post(&approve_path(period), &app.admin, json!({})).await;
        assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text);
        let invoices = app.get(&format!("/api/v1/invoices?party_id={party}"), &app.admin).await;
        assert_eq!(invoices.body["items"].as_array().map(Vec::len), Some(1));
    }
);

on_both_backends!(
    async fn approval_needs_an_upon_approval_class_and_the_owner(app) {
        let (_, period) = approval_customer(app).await;
        let (_, reseller_token) = app.reseller_with_user("Other reseller").await;
        let hidden = app
            .post(&approve_path(period), &reseller_token, json!({"as_of": "2025-04-02T00:00:00Z"}))
            .await;
        assert_eq!(hidden.status, StatusCode::NOT_FOUND, "{}", hidden.text);

        let answer = app
            .post(
                "/api/v1/customers",
                &app.admin,
                json!({"name": "Delayed", "currency": "EUR", "time_zone": "UTC",
                       "activated_at": "2025-03-01T00:00:00Z"}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
        let party = answer.body["id"].as_i64().expect("id");
        let xdrs = json!({"xdrs": [{"party_id": party, "external_id": "d-1", "occurred_at": "2025-03-10T10:00:00Z",
                                    "kind": "usage", "service": "voice", "quantity": "1", "amount": "1"}]});
        assert_eq!(app.post("/api/v1/xdrs", &app.admin, xdrs).await.status, StatusCode::CREATED);
        let delayed = app
            .get(&format!("/api/v1/periods?party_id={party}"), &app.admin)
            .await
            .body["items"][0]["id"]
            .as_i64()
            .expect("period id");
        let refused = app
            .post(&approve_path(delayed), &app.admin, json!({"as_of": "2025-04-02T00:00:00Z"}))
            .await;
        assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.text);
    }
);
