//! Billing periods through `/periods` (customer-classes §5.2) as xDRs create them, and the late xDRs of §5.1.

mod support;

use classbill_store::{instants, periods};
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::TestApp;

async fn berlin_customer(app: &TestApp, token: &str) -> i64 {
    let answer = app
        .post(
            "/api/v1/customers",
            token,
            json!({"name": "Berlin", "currency": "EUR", "time_zone": "Europe/Berlin", "billing_period": "monthly",
                   "activated_at": "2025-02-10T00:00:00+01:00"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}: {}", app.backend, answer.text);
    answer.body["id"].as_i64().expect("customer id")
}

fn xdr(party_id: i64, external_id: &str, occurred_at: &str) -> Value {
    json!({"party_id": party_id, "external_id": external_id, "occurred_at": occurred_at, "kind": "usage",
           "service": "data", "quantity": "1", "amount": "0.5"})
}

async fn periods_of(app: &TestApp, party_id: i64) -> Vec<Value> {
    let answer = app
        .get(&format!("/api/v1/periods?party_id={party_id}"), &app.admin)
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.body["items"].as_array().expect("items").clone()
}

fn bounds(periods: &[Value]) -> Vec<(String, String)> {
    periods
        .iter()
        .map(|p| {
            (
                p["start"].as_str().unwrap_or("").to_owned(),
                p["end"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

on_both_backends! {
    async fn an_xdr_months_after_activation_creates_every_period_before_it(app) {
        let party = berlin_customer(app, &app.admin).await;
        let answer = app
            .post("/api/v1/xdrs", &app.admin, json!({"xdrs": [xdr(party, "m-1", "2025-05-20T12:00:00Z")]}))
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
        let periods = periods_of(app, party).await;
        let expected = [
            ("2025-02-09T23:00:00Z", "2025-02-28T23:00:00Z"),
            ("2025-02-28T23:00:00Z", "2025-03-31T22:00:00Z"),
            ("2025-03-31T22:00:00Z", "2025-04-30T22:00:00Z"),
            ("2025-04-30T22:00:00Z", "2025-05-31T22:00:00Z"),
        ];
        assert_eq!(
            bounds(&periods),
            expected.iter().map(|(s, e)| ((*s).to_owned(), (*e).to_owned())).collect::<Vec<_>>()
        );
        assert!(periods.iter().all(|p| p["status"] == json!("open") && p["close_error"].is_null()));
        assert_eq!(answer.body["items"][0]["period_id"], periods[3]["id"]);

        let march = app
            .post("/api/v1/xdrs", &app.admin, json!({"xdrs": [xdr(party, "m-2", "2025-03-31T21:59:59Z")]}))
            .await;
        assert_eq!(march.body["items"][0]["period_id"], periods[1]["id"], "{}", march.text);
        assert_eq!(periods_of(app, party).await.len(), 4, "nothing new was needed");

        let one = app.get(&format!("/api/v1/periods/{}", periods[1]["id"]), &app.admin).await;
        assert_eq!(one.status, StatusCode::OK, "{}", one.text);
        assert_eq!(one.body, periods[1]);
    }
}

on_both_backends! {
    async fn a_late_xdr_joins_the_open_period(app) {
        let party = berlin_customer(app, &app.admin).await;
        let first = app
            .post("/api/v1/xdrs", &app.admin, json!({"xdrs": [xdr(party, "l-1", "2025-02-15T12:00:00Z")]}))
            .await;
        assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
        let february = first.body["items"][0]["period_id"].as_i64().expect("period id");

        let mut tx = app.engine.store.write().await.expect("write");
        let at = instants::to_micros("2025-03-01T00:00:00Z".parse().expect("instant"));
        periods::set_status(&mut tx, february, "closing", at).await.expect("status set");
        tx.commit().await.expect("commit");

        let late = app
            .post(
                "/api/v1/xdrs",
                &app.admin,
                json!({"xdrs": [xdr(party, "l-2", "2025-02-20T12:00:00Z")], "as_of": "2025-03-05T00:00:00Z"}),
            )
            .await;
        assert_eq!(late.status, StatusCode::CREATED, "{}", late.text);
        let periods = periods_of(app, party).await;
        assert_eq!(periods[0]["status"], json!("closing"));
        assert_eq!(periods[1]["start"], json!("2025-02-28T23:00:00Z"));
        assert_eq!(late.body["items"][0]["period_id"], periods[1]["id"]);
        assert_eq!(late.body["items"][0]["late"], json!(true));
        assert_eq!(late.body["items"][0]["occurred_at"], json!("2025-02-20T12:00:00Z"));

        let closing = app.get(&format!("/api/v1/periods?party_id={party}&status=closing"), &app.admin).await;
        assert_eq!(closing.body["items"].as_array().map(Vec::len), Some(1), "{}", closing.text);
    }
}

on_both_backends! {
    async fn a_reseller_user_sees_only_its_own_parties_periods(app) {
        let (_, token) = app.reseller_with_user("Resa").await;
        let own = berlin_customer(app, &token).await;
        let direct = berlin_customer(app, &app.admin).await;
        for (party, who) in [(own, &token), (direct, &app.admin)] {
            let answer = app
                .post("/api/v1/xdrs", who, json!({"xdrs": [xdr(party, "p-1", "2025-02-15T12:00:00Z")]}))
                .await;
            assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
        }
        let foreign = periods_of(app, direct).await[0]["id"].as_i64().expect("period id");
        let answer = app.get(&format!("/api/v1/periods/{foreign}"), &token).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{}", answer.text);
        let answer = app.get(&format!("/api/v1/periods?party_id={direct}"), &token).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{}", answer.text);
        let all = app.get("/api/v1/periods", &token).await;
        let parties: Vec<i64> = all.body["items"].as_array().expect("items").iter()
            .map(|p| p["party_id"].as_i64().expect("party id")).collect();
        assert_eq!(parties, vec![own]);
    }
}

on_both_backends! {
    async fn a_changed_period_kind_or_zone_starts_when_the_current_period_ends(app) {
        let party = berlin_customer(app, &app.admin).await;
        let path = format!("/api/v1/customers/{party}");
        // §5.2 rule 4: changed on 03-05, the March period stays monthly; thirty_days counts from its end.
        let patch = json!({"billing_period": "thirty_days", "as_of": "2025-03-05T10:00:00Z"});
        let answer = app.send(reqwest::Method::PATCH, &path, Some(&app.admin), Some(patch), None).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        let late = xdr(party, "c-1", "2025-05-20T12:00:00Z");
        let answer = app.post("/api/v1/xdrs", &app.admin, json!({"xdrs": [late]})).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
        let expected = [
            ("2025-02-09T23:00:00Z", "2025-02-28T23:00:00Z"),
            ("2025-02-28T23:00:00Z", "2025-03-31T22:00:00Z"),
            ("2025-03-31T22:00:00Z", "2025-04-30T22:00:00Z"),
            ("2025-04-30T22:00:00Z", "2025-05-30T22:00:00Z"),
        ];
        let expected: Vec<(String, String)> =
            expected.iter().map(|(s, e)| ((*s).to_owned(), (*e).to_owned())).collect();
        assert_eq!(bounds(&periods_of(app, party).await), expected, "{}", app.backend);

        // Moving to Tokyo on 06-10: the period running then ends in Berlin time; the next one counts 30 days
        // from its start's date in Tokyo (06-30) to 07-30 00:00 Tokyo.
        let patch = json!({"time_zone": "Asia/Tokyo", "as_of": "2025-06-10T00:00:00Z"});
        let answer = app.send(reqwest::Method::PATCH, &path, Some(&app.admin), Some(patch), None).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        let answer = app
            .post("/api/v1/xdrs", &app.admin, json!({"xdrs": [xdr(party, "c-2", "2025-07-01T00:00:00Z")]}))
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
        let all = bounds(&periods_of(app, party).await);
        assert_eq!(
            all[all.len() - 2..].to_vec(),
            vec![
                ("2025-05-30T22:00:00Z".to_owned(), "2025-06-29T22:00:00Z".to_owned()),
                ("2025-06-29T22:00:00Z".to_owned(), "2025-07-29T15:00:00Z".to_owned()),
            ]
        );
        let bad = app
            .send(reqwest::Method::PATCH, &path, Some(&app.admin), Some(json!({"as_of": "soon"})), None)
            .await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.text);
    }
}
