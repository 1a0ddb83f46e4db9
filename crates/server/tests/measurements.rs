//! Samples of measured services through `/measurements` and the per-party lists (customer-classes §5.11):
//! batches stored and read back, replacement of a sample at the same instant, validation with indexes and
//! all-or-nothing, scoping to the caller's parties, and the default window and filters of the list.

mod support;

use jiff::{Timestamp, ToSpan};
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::TestApp;

const MEASUREMENTS: &str = "/api/v1/measurements";

async fn customer(app: &TestApp, token: &str, name: &str) -> i64 {
    let answer = app
        .post(
            "/api/v1/customers",
            token,
            json!({"name": name, "currency": "EUR", "time_zone": "UTC",
                   "activated_at": "2025-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}: {}", app.backend, answer.text);
    answer.body["id"].as_i64().expect("customer id")
}

fn sample(party_id: i64, metric: &str, at: &str, value: i64) -> Value {
    json!({"party_id": party_id, "metric": metric, "at": at, "value": value})
}

/// Every sample of the party in June 2025, as (metric, at, value).
async fn june(app: &TestApp, token: &str, party: i64) -> Vec<(String, String, i64)> {
    let answer = app
        .get(
            &format!(
                "/api/v1/customers/{party}/measurements?from=2025-06-01T00:00:00Z&to=2025-07-01T00:00:00Z&limit=1000"
            ),
            token,
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    triples(&answer.body)
}

/// Every sample value of one metric in `[from, to)`, read page by page through the API.
async fn values(app: &TestApp, party: i64, metric: &str, from: &str, to: &str) -> Vec<i64> {
    let mut values = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = app
            .get(
                &format!(
                    "/api/v1/customers/{party}/measurements?metric={metric}&from={from}&to={to}&limit=1000&cursor={cursor}"
                ),
                &app.admin,
            )
            .await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        values.extend(triples(&page.body).into_iter().map(|(_, _, value)| value));
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => return values,
        }
    }
}

fn triples(page: &Value) -> Vec<(String, String, i64)> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|s| {
            (
                s["metric"].as_str().expect("metric").to_owned(),
                s["at"].as_str().expect("at").to_owned(),
                s["value"].as_i64().expect("value"),
            )
        })
        .collect()
}

on_both_backends! {
    async fn a_batch_is_stored_and_read_back(app) {
        let party = customer(app, &app.admin, "Ida").await;
        let answer = app.post(MEASUREMENTS, &app.admin, json!({"measurements": [
            sample(party, "pbx_extensions", "2025-06-02T10:00:00+02:00", 8),
            sample(party, "active_calls", "2025-06-03T00:00:00Z", 10),
            sample(party, "pbx_extensions", "2025-06-10T08:00:00Z", 15),
            sample(party, "pbx_extensions", "2025-07-01T00:00:00Z", 40),
            sample(party, "concurrent_calls", "2025-06-03T00:00:00Z", 0),
        ]})).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
        assert_eq!(
            answer.body["items"][0],
            json!({"party_id": party, "metric": "pbx_extensions", "at": "2025-06-02T08:00:00Z", "value": 8})
        );
        assert_eq!(answer.body["items"].as_array().map(Vec::len), Some(5));

        assert_eq!(june(app, &app.admin, party).await, vec![
            ("pbx_extensions".to_owned(), "2025-06-02T08:00:00Z".to_owned(), 8),
            ("active_calls".to_owned(), "2025-06-03T00:00:00Z".to_owned(), 10),
            ("concurrent_calls".to_owned(), "2025-06-03T00:00:00Z".to_owned(), 0),
            ("pbx_extensions".to_owned(), "2025-06-10T08:00:00Z".to_owned(), 15),
        ], "ordered by instant then metric; 2025-07-01T00:00:00Z belongs to July");

        let values = values(app, party, "pbx_extensions", "2025-06-01T00:00:00Z", "2025-07-01T00:00:00Z").await;
        assert_eq!(values, vec![8, 15]);

        let empty = app.post(MEASUREMENTS, &app.admin, json!({"measurements": []})).await;
        assert_eq!(empty.status, StatusCode::CREATED, "{}", empty.text);
        assert_eq!(empty.body["items"], json!([]));
    }
}

on_both_backends! {
    async fn a_sample_at_the_same_instant_replaces_the_first(app) {
        let party = customer(app, &app.admin, "Jonas").await;
        let at = "2025-06-05T12:00:00Z";
        let first = app.post(MEASUREMENTS, &app.admin, json!({"measurements": [
            sample(party, "active_calls", at, 10),
        ]})).await;
        assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
        let again = app.post(MEASUREMENTS, &app.admin, json!({"measurements": [
            sample(party, "active_calls", "2025-06-05T14:00:00+02:00", 12),
            sample(party, "pbx_extensions", at, 3),
        ]})).await;
        assert_eq!(again.status, StatusCode::CREATED, "{}", again.text);
        assert_eq!(june(app, &app.admin, party).await, vec![
            ("active_calls".to_owned(), at.to_owned(), 12),
            ("pbx_extensions".to_owned(), at.to_owned(), 3),
        ]);

        let twice = app.post(MEASUREMENTS, &app.admin, json!({"measurements": [
            sample(party, "pbx_extensions", at, 4),
            sample(party, "pbx_extensions", at, 5),
        ]})).await;
        assert_eq!(twice.status, StatusCode::CREATED, "{}", twice.text);
        assert_eq!(twice.body["items"][0]["value"], json!(5), "the last sample of a batch wins");
        assert_eq!(twice.body["items"][1]["value"], json!(5));
        assert_eq!(june(app, &app.admin, party).await, vec![
            ("active_calls".to_owned(), at.to_owned(), 12),
            ("pbx_extensions".to_owned(), at.to_owned(), 5),
        ]);
    }
}

on_both_backends! {
    async fn every_violation_is_named_with_its_index_and_nothing_is_written(app) {
        let party = customer(app, &app.admin, "Karl").await;
        let at = "2025-06-05T12:00:00Z";
        let answer = app.post(MEASUREMENTS, &app.admin, json!({"measurements": [
            sample(party, "active_calls", at, 1),
            sample(party, "dropped_calls", at, 1),
            sample(party, "active_calls", at, -1),
            {"party_id": party, "metric": "active_calls", "at": at, "value": 1.5},
            {"party_id": party, "metric": "active_calls", "value": 1},
            sample(party, "active_calls", "yesterday", 1),
            sample(999_999, "active_calls", at, 1),
            {"party_id": party, "metric": "active_calls", "at": at, "value": 1, "unit": "calls"},
            {"party_id": "one", "metric": 7, "at": at, "value": "3"},
            "not an object",
        ]})).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", answer.text);
        for (field, code) in [
            ("measurements[1].metric", "invalid_value"),
            ("measurements[2].value", "out_of_range"),
            ("measurements[3].value", "invalid_type"),
            ("measurements[4].at", "required"),
            ("measurements[5].at", "invalid_type"),
            ("measurements[6].party_id", "not_found"),
            ("measurements[7].unit", "unknown_field"),
            ("measurements[8].party_id", "invalid_type"),
            ("measurements[8].metric", "invalid_type"),
            ("measurements[8].value", "invalid_type"),
            ("measurements[9]", "invalid_type"),
        ] {
            assert!(answer.has_error(field, code), "{field} {code} in {}", answer.text);
        }
        assert!(
            !answer.error_codes().iter().any(|(f, _)| f.starts_with("measurements[0]")),
            "{}",
            answer.text
        );
        assert!(june(app, &app.admin, party).await.is_empty(), "one bad sample keeps the whole batch out");

        let missing = app.post(MEASUREMENTS, &app.admin, json!({"samples": []})).await;
        assert!(missing.has_error("measurements", "required"), "{}", missing.text);
        assert!(missing.has_error("samples", "unknown_field"), "{}", missing.text);

        let too_many: Vec<Value> = (0..10_001).map(|_| json!({})).collect();
        let answer = app.post(MEASUREMENTS, &app.admin, json!({"measurements": too_many})).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", answer.text);
        assert!(answer.has_error("measurements", "too_many"), "{}", answer.text);

        let full: Vec<Value> = (0..10_000)
            .map(|n| sample(party, "active_calls", &format!("2025-06-01T00:00:{:02}.{:06}Z", n / 1000, n % 1000), n))
            .collect();
        let answer = app.post(MEASUREMENTS, &app.admin, json!({"measurements": full})).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", &answer.text[..answer.text.len().min(500)]);
        let stored = values(app, party, "active_calls", "2025-06-01T00:00:00Z", "2025-06-01T01:00:00Z").await;
        assert_eq!(stored, (0..10_000).collect::<Vec<i64>>(), "a full batch is stored, in instant order");
    }
}

on_both_backends! {
    async fn a_reseller_user_writes_and_reads_only_its_own_parties(app) {
        let (reseller, reseller_token) = app.reseller_with_user("Resa").await;
        let (_, other_token) = app.reseller_with_user("Other").await;
        let own = customer(app, &reseller_token, "Own").await;
        let foreign = customer(app, &other_token, "Foreign").await;
        let direct = customer(app, &app.admin, "Direct").await;
        let at = "2025-06-05T12:00:00Z";

        let answer = app.post(MEASUREMENTS, &reseller_token, json!({"measurements": [
            sample(own, "active_calls", at, 2),
        ]})).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
        let refused = app.post(MEASUREMENTS, &reseller_token, json!({"measurements": [
            sample(own, "active_calls", at, 3),
            sample(foreign, "active_calls", at, 1),
            sample(direct, "active_calls", at, 1),
        ]})).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.text);
        assert!(refused.has_error("measurements[1].party_id", "not_found"), "{}", refused.text);
        assert!(refused.has_error("measurements[2].party_id", "not_found"), "{}", refused.text);
        assert_eq!(june(app, &reseller_token, own).await[0].2, 2, "nothing of the refused batch was written");

        for path in [
            format!("/api/v1/customers/{foreign}/measurements"),
            format!("/api/v1/customers/{direct}/measurements"),
            format!("/api/v1/resellers/{own}/measurements"),
            "/api/v1/customers/999999/measurements".to_owned(),
        ] {
            let hidden = app.get(&path, &reseller_token).await;
            assert_eq!(hidden.status, StatusCode::NOT_FOUND, "{path}: {}", hidden.text);
        }
        assert_eq!(june(app, &app.admin, own).await.len(), 1, "the administrator sees every party");

        let by_admin = app.post(MEASUREMENTS, &app.admin, json!({"measurements": [
            sample(reseller, "concurrent_calls", at, 7),
        ]})).await;
        assert_eq!(by_admin.status, StatusCode::CREATED, "{}", by_admin.text);
        let reseller_list = app
            .get(&format!("/api/v1/resellers/{reseller}/measurements?from=2025-06-01T00:00:00Z"), &app.admin)
            .await;
        assert_eq!(reseller_list.status, StatusCode::OK, "{}", reseller_list.text);
        assert_eq!(reseller_list.body["items"][0]["value"], json!(7));
        let as_customer = app.get(&format!("/api/v1/customers/{reseller}/measurements"), &app.admin).await;
        assert_eq!(as_customer.status, StatusCode::NOT_FOUND, "{}", as_customer.text);
    }
}

on_both_backends! {
    async fn the_list_defaults_to_the_last_three_months_and_filters(app) {
        let party = customer(app, &app.admin, "Lena").await;
        let now = Timestamp::now();
        let at = |hours: i64| now.checked_sub(hours.hours()).expect("instant").to_string();
        let answer = app.post(MEASUREMENTS, &app.admin, json!({"measurements": [
            sample(party, "active_calls", &at(24), 1),
            sample(party, "pbx_extensions", &at(48), 2),
            sample(party, "active_calls", &at(24 * 120), 3),
            sample(party, "active_calls", &at(-24), 4),
        ]})).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
        let base = format!("/api/v1/customers/{party}/measurements");
        let values = |page: &Value| -> Vec<i64> { triples(page).into_iter().map(|t| t.2).collect() };

        let default = app.get(&base, &app.admin).await;
        assert_eq!(default.status, StatusCode::OK, "{}", default.text);
        assert_eq!(values(&default.body), vec![2, 1], "three months back to now, oldest first");
        assert_eq!(default.body["next_cursor"], Value::Null);

        let calls = app.get(&format!("{base}?metric=active_calls"), &app.admin).await;
        assert_eq!(values(&calls.body), vec![1]);
        let from = app.get(&format!("{base}?from={}", at(24 * 200)), &app.admin).await;
        assert_eq!(values(&from.body), vec![3, 2, 1, 4], "with `from` alone the window has no end");
        let to = app.get(&format!("{base}?to={}", at(0)), &app.admin).await;
        assert_eq!(values(&to.body), vec![2, 1]);
        let both = app
            .get(&format!("{base}?from={}&to={}&metric=active_calls", at(24 * 200), at(36)), &app.admin)
            .await;
        assert_eq!(values(&both.body), vec![3]);

        let first = app.get(&format!("{base}?from={}&limit=2", at(24 * 200)), &app.admin).await;
        assert_eq!(values(&first.body), vec![3, 2]);
        let cursor = first.body["next_cursor"].as_str().expect("a next page");
        let second = app
            .get(&format!("{base}?from={}&limit=2&cursor={cursor}", at(24 * 200)), &app.admin)
            .await;
        assert_eq!(values(&second.body), vec![1, 4]);

        let bad = app.get(&format!("{base}?metric=calls&from=soon"), &app.admin).await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.text);
        assert!(bad.has_error("metric", "invalid_value"), "{}", bad.text);
        assert!(bad.has_error("from", "invalid"), "{}", bad.text);
    }
}
