//! The ledger through `/xdrs` (customer-classes §5.1): batches stored and read back, per-row validation with
//! indexed fields, all-or-nothing, idempotent re-sends, conflicts, and scoping to the caller's parties.

mod support;

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::TestApp;

const XDRS: &str = "/api/v1/xdrs";

/// A Berlin customer billed monthly, activated 2025-02-10 local; answers its id.
async fn customer(app: &TestApp, token: &str, name: &str) -> i64 {
    let answer = app
        .post(
            "/api/v1/customers",
            token,
            json!({"name": name, "currency": "EUR", "time_zone": "Europe/Berlin",
                   "activated_at": "2025-02-10T00:00:00+01:00"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}: {}", app.backend, answer.text);
    answer.body["id"].as_i64().expect("customer id")
}

fn usage(party_id: i64, external_id: &str, amount: &str) -> Value {
    json!({"party_id": party_id, "external_id": external_id, "occurred_at": "2025-03-05T10:00:00+01:00",
           "kind": "usage", "service": "voice", "rate_code": "DE-MOB", "description": "calls",
           "quantity": "12.5", "amount": amount, "currency": "EUR"})
}

async fn stored(app: &TestApp, party_id: i64) -> Vec<Value> {
    let answer = app
        .get(&format!("{XDRS}?party_id={party_id}&limit=1000"), &app.admin)
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.body["items"].as_array().expect("items").clone()
}

on_both_backends! {
    async fn a_batch_is_stored_and_read_back_with_five_decimals(app) {
        let party = customer(app, &app.admin, "Anna").await;
        let answer = app.post(XDRS, &app.admin, json!({"xdrs": [
            usage(party, "c-1", "1.2"),
            {"party_id": party, "occurred_at": "2025-03-06T00:00:00Z", "kind": "credit", "service": "goodwill",
             "quantity": "1", "amount": "-5.00001"},
        ]})).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
        let items = answer.body["items"].as_array().expect("items");
        assert_eq!(items.len(), 2);
        let first = &items[0];
        assert_eq!(first["quantity"], json!("12.50000"));
        assert_eq!(first["amount"], json!("1.20000"));
        assert_eq!(first["occurred_at"], json!("2025-03-05T09:00:00Z"));
        assert_eq!(first["currency"], json!("EUR"));
        assert_eq!(first["external_id"], json!("c-1"));
        assert_eq!(first["late"], json!(false));
        assert_eq!(first["hidden"], json!(false));
        assert_eq!(first["invoice_id"], Value::Null);
        assert_eq!(items[1]["amount"], json!("-5.00001"));
        assert_eq!(items[1]["external_id"], Value::Null);

        let read = stored(app, party).await;
        assert_eq!(read, items.clone());
        let by_kind = app.get(&format!("{XDRS}?party_id={party}&kind=credit"), &app.admin).await;
        assert_eq!(by_kind.body["items"].as_array().map(Vec::len), Some(1));
        let by_time = app
            .get(&format!("{XDRS}?party_id={party}&from=2025-03-06T00:00:00Z&to=2025-04-01T00:00:00Z"), &app.admin)
            .await;
        assert_eq!(by_time.body["items"][0]["kind"], json!("credit"));
        let by_period = app
            .get(&format!("{XDRS}?period_id={}", first["period_id"]), &app.admin)
            .await;
        assert_eq!(by_period.body["items"].as_array().map(Vec::len), Some(2));
        let paged = app.get(&format!("{XDRS}?party_id={party}&limit=1"), &app.admin).await;
        assert_eq!(paged.body["items"].as_array().map(Vec::len), Some(1));
        let cursor = paged.body["next_cursor"].as_str().expect("a next page");
        let next = app.get(&format!("{XDRS}?party_id={party}&limit=1&cursor={cursor}"), &app.admin).await;
        assert_eq!(next.body["items"][0]["id"], items[1]["id"]);
    }
}

on_both_backends! {
    async fn every_violation_is_named_with_its_index_and_nothing_is_written(app) {
        let party = customer(app, &app.admin, "Bruno").await;
        let mut wrong_currency = usage(party, "v-2", "1");
        wrong_currency["currency"] = json!("USD");
        let mut early = usage(party, "v-3", "1");
        early["occurred_at"] = json!("2025-02-09T22:59:59Z");
        let mut tax = usage(party, "v-4", "1");
        tax["kind"] = json!("tax");
        let mut positive_credit = usage(party, "v-5", "1");
        positive_credit["kind"] = json!("credit");
        let mut precise = usage(party, "v-6", "1.000001");
        precise["quantity"] = json!(3);
        let answer = app.post(XDRS, &app.admin, json!({"xdrs": [
            usage(party, "v-1", "1"),
            wrong_currency,
            early,
            tax,
            positive_credit,
            precise,
            usage(999_999, "v-7", "1"),
            {"party_id": party, "kind": "usage", "quantity": "1", "amount": "1"},
        ]})).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", answer.text);
        for (field, code) in [
            ("xdrs[1].currency", "currency_mismatch"),
            ("xdrs[2].occurred_at", "before_activation"),
            ("xdrs[3].kind", "not_importable"),
            ("xdrs[4].amount", "out_of_range"),
            ("xdrs[5].quantity", "invalid_type"),
            ("xdrs[6].party_id", "not_found"),
            ("xdrs[7].occurred_at", "required"),
            ("xdrs[7].service", "required"),
        ] {
            assert!(answer.has_error(field, code), "{field} {code} in {}", answer.text);
        }
        assert!(!answer.error_codes().iter().any(|(f, _)| f.starts_with("xdrs[0]")), "{}", answer.text);
        assert!(stored(app, party).await.is_empty(), "one bad row keeps the whole batch out");
        let periods = app.get(&format!("/api/v1/periods?party_id={party}"), &app.admin).await;
        assert_eq!(periods.body["items"], json!([]), "no period was created either");

        let fractions = app.post(XDRS, &app.admin, json!({"xdrs": [usage(party, "f", "1.000001")]})).await;
        assert!(fractions.has_error("xdrs[0].amount", "out_of_range"), "{}", fractions.text);

        let too_many: Vec<Value> = (0..10_001).map(|_| json!({})).collect();
        let answer = app.post(XDRS, &app.admin, json!({"xdrs": too_many})).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", answer.text);
        assert!(answer.has_error("xdrs", "too_many"), "{}", answer.text);
    }
}

on_both_backends! {
    async fn an_identical_re_send_answers_the_stored_xdr(app) {
        let party = customer(app, &app.admin, "Clara").await;
        let first = app.post(XDRS, &app.admin, json!({"xdrs": [usage(party, "r-1", "2.5")]})).await;
        assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
        let again = app.post(XDRS, &app.admin, json!({"xdrs": [
            usage(party, "r-1", "2.50"),
            usage(party, "r-2", "1"),
            usage(party, "r-2", "1"),
        ]})).await;
        assert_eq!(again.status, StatusCode::CREATED, "{}", again.text);
        assert_eq!(again.body["items"][0], first.body["items"][0]);
        assert_eq!(again.body["items"][1], again.body["items"][2]);
        assert_eq!(stored(app, party).await.len(), 2);
    }
}

on_both_backends! {
    async fn a_conflicting_re_send_is_409_and_writes_nothing(app) {
        let party = customer(app, &app.admin, "Dora").await;
        let first = app.post(XDRS, &app.admin, json!({"xdrs": [usage(party, "k-1", "2.5")]})).await;
        assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);

        let answer = app.post(XDRS, &app.admin, json!({"xdrs": [
            usage(party, "k-2", "1"),
            usage(party, "k-1", "2.6"),
        ]})).await;
        assert_eq!(answer.status, StatusCode::CONFLICT, "{}", answer.text);
        assert!(answer.has_error("xdrs[1].external_id", "conflict"), "{}", answer.text);
        assert_eq!(stored(app, party).await.len(), 1, "k-2 was not written");

        let inside = app.post(XDRS, &app.admin, json!({"xdrs": [
            usage(party, "k-3", "1"),
            usage(party, "k-3", "2"),
        ]})).await;
        assert_eq!(inside.status, StatusCode::CONFLICT, "{}", inside.text);
        assert!(inside.has_error("xdrs[1].external_id", "conflict"), "{}", inside.text);
        assert_eq!(stored(app, party).await.len(), 1);
    }
}

on_both_backends! {
    async fn a_reseller_user_posts_and_reads_only_its_own_parties(app) {
        let (_, reseller_token) = app.reseller_with_user("Resa").await;
        let (_, other_token) = app.reseller_with_user("Other").await;
        let own = customer(app, &reseller_token, "Own").await;
        let foreign = customer(app, &other_token, "Foreign").await;
        let direct = customer(app, &app.admin, "Direct").await;

        let answer = app.post(XDRS, &reseller_token, json!({"xdrs": [usage(own, "s-1", "1")]})).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
        let refused = app.post(XDRS, &reseller_token, json!({"xdrs": [
            usage(foreign, "s-2", "1"),
            usage(direct, "s-3", "1"),
        ]})).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.text);
        assert!(refused.has_error("xdrs[0].party_id", "not_found"), "{}", refused.text);
        assert!(refused.has_error("xdrs[1].party_id", "not_found"), "{}", refused.text);

        let other = app.post(XDRS, &other_token, json!({"xdrs": [usage(foreign, "s-2", "1")]})).await;
        assert_eq!(other.status, StatusCode::CREATED, "{}", other.text);

        let list = app.get(XDRS, &reseller_token).await;
        let parties: Vec<i64> = list.body["items"].as_array().expect("items").iter()
            .map(|x| x["party_id"].as_i64().expect("party id")).collect();
        assert_eq!(parties, vec![own]);
        let hidden = app.get(&format!("{XDRS}?party_id={foreign}"), &reseller_token).await;
        assert_eq!(hidden.status, StatusCode::NOT_FOUND, "{}", hidden.text);
        assert_eq!(app.get(XDRS, &app.admin).await.body["items"].as_array().map(Vec::len), Some(2));
    }
}

on_both_backends! {
    async fn a_large_batch_of_two_parties_keeps_its_order_across_insert_chunks(app) {
        // The rows of the two parties alternate; the ledger writes them party by party and still answers them in
        // the order sent.
        let parties = [customer(app, &app.admin, "Erik").await, customer(app, &app.admin, "Frida").await];
        let batch: Vec<Value> = (0..1_234)
            .map(|i| usage(parties[i % 2], &format!("b-{i}"), &format!("{i}.00001")))
            .collect();
        let answer = app.post(XDRS, &app.admin, json!({"xdrs": batch})).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
        let items = answer.body["items"].as_array().expect("items");
        assert_eq!(items.len(), 1_234);
        for (i, item) in items.iter().enumerate() {
            assert_eq!(item["party_id"], json!(parties[i % 2]));
            assert_eq!(item["external_id"], json!(format!("b-{i}")));
            assert_eq!(item["amount"], json!(format!("{i}.00001")));
        }
        let again = app.post(XDRS, &app.admin, json!({"xdrs": batch})).await;
        assert_eq!(again.status, StatusCode::CREATED, "{}", again.text);
        assert_eq!(again.body["items"], answer.body["items"]);
        for party in parties {
            let read = stored(app, party).await;
            let sent: Vec<&Value> = items.iter().filter(|item| item["party_id"] == json!(party)).collect();
            assert_eq!(read.iter().collect::<Vec<_>>(), sent, "each party's records read back as sent");
        }
        let count = app.get(&format!("{XDRS}?limit=1000"), &app.admin).await;
        assert!(count.body["next_cursor"].is_string(), "more than one page is stored");
    }
}

on_both_backends! {
    async fn a_stored_key_late_in_a_long_batch_writes_the_others_once(app) {
        // A batch is first written on the assumption that its keys are new; the stored key at its end is refused
        // by the key index after some 600 rows went in, and the batch is written again with the key looked up.
        let party = customer(app, &app.admin, "Gerd").await;
        let first = app.post(XDRS, &app.admin, json!({"xdrs": [usage(party, "known", "7.00000")]})).await;
        assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
        let mut batch: Vec<Value> = (0..600).map(|i| usage(party, &format!("n-{i}"), "1.00000")).collect();
        batch.push(usage(party, "known", "7.00000"));
        let answer = app.post(XDRS, &app.admin, json!({"xdrs": batch})).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
        let items = answer.body["items"].as_array().expect("items");
        assert_eq!(items.len(), 601);
        assert_eq!(items[600], first.body["items"][0], "the stored record is answered, not written again");
        let read = stored(app, party).await;
        assert_eq!(read.len(), 601, "each of the 600 new records is stored once, beside the known one");

        batch.push(usage(party, "known", "8.00000"));
        let clash = app.post(XDRS, &app.admin, json!({"xdrs": batch})).await;
        assert_eq!(clash.status, StatusCode::CONFLICT, "{}", clash.text);
        assert_eq!(clash.body["errors"].as_array().map(Vec::len), Some(1), "{}", clash.text);
        assert_eq!(clash.body["errors"][0]["field"], json!("xdrs[601].external_id"));
        assert_eq!(stored(app, party).await.len(), 601, "a refused batch writes nothing");
    }
}

on_both_backends! {
    async fn a_full_batch_of_ten_thousand_described_rows_is_accepted(app) {
        let party = customer(app, &app.admin, "Fulla").await;
        let description = "Call to +49 30 1234567 via trunk A, peak tariff, rated by the switch ".repeat(4);
        let rows: Vec<Value> = (0..10_000)
            .map(|n| {
                let mut row = usage(party, &format!("full-{n}"), "0.01234");
                row["description"] = json!(description);
                row
            })
            .collect();
        let body = json!({"xdrs": rows});
        assert!(body.to_string().len() > 2 * 1024 * 1024, "the batch is larger than the server-wide body limit");
        let answer = app.post(XDRS, &app.admin, body).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", &answer.text[..answer.text.len().min(500)]);
        assert_eq!(answer.body["items"].as_array().map(Vec::len), Some(10_000));
    }
}

on_both_backends! {
    async fn records_without_an_external_id_may_repeat(app) {
        // The key index also holds keyless records (migration 0033); SQLite lets their NULL keys repeat.
        let party = customer(app, &app.admin, "Nils").await;
        let keyless = json!({"party_id": party, "occurred_at": "2025-03-07T08:00:00Z", "kind": "usage",
                             "service": "data", "quantity": "1", "amount": "0.10000"});
        let first = app.post(XDRS, &app.admin, json!({"xdrs": [keyless.clone(), keyless.clone()]})).await;
        assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
        let again = app.post(XDRS, &app.admin, json!({"xdrs": [keyless]})).await;
        assert_eq!(again.status, StatusCode::CREATED, "{}", again.text);
        let read = stored(app, party).await;
        assert_eq!(read.len(), 3);
        let ids: std::collections::BTreeSet<i64> = read.iter().filter_map(|x| x["id"].as_i64()).collect();
        assert_eq!(ids.len(), 3);
    }
}
