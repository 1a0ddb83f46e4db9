//! Collections (customer-classes §5.8, §5.9) driven by collection runs at chosen instants: the worked example
//! §7.1 items 5–9 end to end, repeated runs, thresholds, manual blocks, termination and the records that a
//! terminated party still takes.

mod support;

use classbill_engine::collections::CollectionOptions;
use classbill_engine::notifications::DeliveryConfig;
use classbill_engine::{Actor, IngestMemo};
use classbill_testkit::SmtpReceiver;
use jiff::Timestamp;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{TestApp, import_usage};

/// Class 12 "Business EU" of §7.1 with its whole collection policy.
async fn business_eu(app: &TestApp, extra: Value) -> Value {
    let template = app.standard_template().await;
    let mut regular = json!({
        "enabled": true, "template_id": template, "payment_terms": {"type": "net", "days": 15},
        "due_reminder_days": [7, 3],
        "collection": {
            "resend_after_due_days": [0, 7], "late_fee": "5.00", "limit_after_days": 5,
            "suspend_after_days": 10, "suspend_notice_days": [3], "reactivation_fee": "10.00",
            "terminate_after_days": 30, "terminate_notice_days": [7]
        }
    });
    if let (Some(target), Some(more)) = (regular.as_object_mut(), extra.as_object()) {
        for (key, value) in more {
            target.insert(key.clone(), value.clone());
        }
    }
    app.class(
        &app.admin,
        json!({
            "name": "Business EU", "currency": "EUR", "regular_invoices": regular,
            "taxation": {"method": "fixed_vat", "fixed_vat": {"rate_percent": "19", "inclusive": false}},
        }),
    )
    .await
}

/// The installation calendar of §7.1: weekends off and Easter Monday 2025.
async fn section_7_1_calendar(app: &TestApp) {
    let answer = app
        .send(
            Method::PUT,
            "/api/v1/calendar",
            Some(&app.admin),
            Some(json!({"non_working_weekdays": ["saturday", "sunday"], "holidays": ["2025-04-21"]})),
            None,
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
}

async fn berlin_customer(app: &TestApp, class_id: &Value) -> i64 {
    let answer = app
        .post(
            "/api/v1/customers",
            &app.admin,
            json!({"name": "Customer 1001", "currency": "EUR", "class_id": class_id, "time_zone": "Europe/Berlin",
                   "billing_period": "monthly", "activated_at": "2025-02-01T00:00:00+01:00",
                   "email": "billing@customer-1001.example"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}: {}", app.backend, answer.text);
    answer.body["id"].as_i64().expect("customer id")
}

async fn pay(app: &TestApp, party: i64, amount: &str, received_at: &str) {
    let answer = app
        .post(
            "/api/v1/payments",
            &app.admin,
            json!({"party_id": party, "amount": amount, "currency": "EUR", "received_at": received_at}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}: {}", app.backend, answer.text);
}

async fn invoice(app: &TestApp, id: i64) -> Value {
    let answer = app.get(&format!("/api/v1/invoices/{id}"), &app.admin).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.body
}

async fn schedule(app: &TestApp, id: i64) -> Vec<Value> {
    let answer = app
        .get(&format!("/api/v1/invoices/{id}/collection-schedule"), &app.admin)
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.body["invoice_id"], json!(id));
    answer.body["items"].as_array().expect("items").clone()
}

/// `(event, date, state)` of every schedule item, in order.
fn states(items: &[Value]) -> Vec<(String, String, String)> {
    items
        .iter()
        .map(|item| {
            let text = |key: &str| item[key].as_str().unwrap_or_default().to_owned();
            (text("event"), text("date"), text("state"))
        })
        .collect()
}

fn expect_states(expected: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    expected
        .iter()
        .map(|(e, d, s)| ((*e).to_owned(), (*d).to_owned(), (*s).to_owned()))
        .collect()
}

async fn party_status(app: &TestApp, party: i64) -> String {
    let answer = app.get(&format!("/api/v1/customers/{party}"), &app.admin).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.body["status"].as_str().expect("status").to_owned()
}

async fn xdrs_of_kind(app: &TestApp, party: i64, kind: &str) -> Vec<Value> {
    let answer = app
        .get(&format!("/api/v1/xdrs?party_id={party}&kind={kind}"), &app.admin)
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.body["items"].as_array().expect("items").clone()
}

/// A §7.1 customer with the February invoice paid by xDR 3 (10.00 left as credit) and the March invoice
/// INV-000002 issued at the April close; answers the party and the March invoice's id.
async fn with_march_invoice(app: &TestApp, class: &Value) -> (i64, i64) {
    let party = berlin_customer(app, &class["id"]).await;
    let february = json!({"party_id": party, "external_id": "f1", "occurred_at": "2025-02-01T00:00:00+01:00",
                          "kind": "recurring", "service": "sip_trunk", "rate_code": "TRUNK-M", "quantity": "1",
                          "amount": "42.01681"});
    let answer = app.post("/api/v1/xdrs", &app.admin, json!({"xdrs": [february]})).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
    app.section_7_1_march_charges(party).await;
    app.run_to_completion("billing-runs", "2025-03-01T05:00:00Z").await;
    pay(app, party, "60.00", "2025-03-10T09:00:00+01:00").await;
    app.run_to_completion("billing-runs", "2025-04-01T04:00:00Z").await;
    let list = app.invoices_of(party).await;
    assert_eq!(list.len(), 2, "{list:?}");
    assert_eq!(list[0]["status"], json!("paid"));
    let march = list[1]["id"].as_i64().expect("invoice id");
    (party, march)
}

on_both_backends! {
    async fn the_worked_example_ladder_from_reminders_to_release(app) {
        section_7_1_calendar(app).await;
        let class = business_eu(app, json!({})).await;
        let (party, march) = with_march_invoice(app, &class).await;
        let issued = invoice(app, march).await;
        assert_eq!(issued["total"], json!("78.96000"));
        assert_eq!(issued["open_amount"], json!("68.96000"));
        assert_eq!(issued["status"], json!("partially_paid"));
        assert_eq!(issued["due_date"], json!("2025-04-16"));

        // Items 5–7: the frozen schedule, with the holiday and weekend shifts of limitation and suspension only.
        let items = schedule(app, march).await;
        assert_eq!(
            states(&items),
            expect_states(&[
                ("due_reminder", "2025-04-09", "pending"),
                ("due_reminder", "2025-04-13", "pending"),
                ("resend", "2025-04-16", "pending"),
                ("overdue", "2025-04-17", "pending"),
                ("late_fee", "2025-04-17", "pending"),
                ("limitation", "2025-04-22", "pending"),
                ("resend", "2025-04-23", "pending"),
                ("suspension_notice", "2025-04-25", "pending"),
                ("suspension", "2025-04-28", "pending"),
                ("termination_notice", "2025-05-09", "pending"),
                ("termination", "2025-05-16", "pending"),
            ]),
            "{}",
            app.backend
        );
        assert_eq!(items[3]["due_at"], json!("2025-04-16T22:00:00Z"));
        assert_eq!(items[5]["due_at"], json!("2025-04-21T22:00:00Z"));
        assert_eq!(items[0]["fired_at"], Value::Null);
        // The February invoice was paid before anything of its schedule was due.
        let february = app.invoices_of(party).await[0]["id"].as_i64().expect("id");
        assert!(schedule(app, february).await.iter().all(|i| i["state"] == json!("cancelled")));

        // Item 6: overdue and the late fee at 2025-04-17 00:00 local.
        let first = app.run_to_completion("collection-runs", "2025-04-16T22:00:00Z").await;
        assert_eq!(first["events_fired"], json!(5), "{first}");
        assert_eq!(invoice(app, march).await["status"], json!("overdue"));
        let fees = xdrs_of_kind(app, party, "late_fee").await;
        assert_eq!(fees.len(), 1, "{fees:?}");
        assert_eq!(fees[0]["amount"], json!("5.00000"));
        assert_eq!(fees[0]["occurred_at"], json!("2025-04-16T22:00:00Z"));
        assert_eq!(fees[0]["service"], json!("collections"));
        let items = schedule(app, march).await;
        assert!(items[..5].iter().all(|i| i["state"] == json!("fired") && i["fired_at"] == json!("2025-04-16T22:00:00Z")));
        // A repeated run fires nothing twice.
        let again = app.run_to_completion("collection-runs", "2025-04-16T22:00:00Z").await;
        assert_eq!(again["events_due"], json!(0), "{again}");
        assert_eq!(xdrs_of_kind(app, party, "late_fee").await.len(), 1);

        // Item 8: a partial payment keeps it overdue; limitation on 04-22, suspension on 04-28.
        pay(app, party, "30.00", "2025-04-20T11:00:00+02:00").await;
        let paid_part = invoice(app, march).await;
        assert_eq!(paid_part["open_amount"], json!("38.96000"));
        assert_eq!(paid_part["status"], json!("overdue"));
        app.run_to_completion("collection-runs", "2025-04-21T22:00:00Z").await;
        assert_eq!(party_status(app, party).await, "limited");
        app.run_to_completion("collection-runs", "2025-04-27T22:00:00Z").await;
        assert_eq!(party_status(app, party).await, "suspended");

        // Item 9: paying the rest releases both, costs the reactivation fee and cancels termination.
        pay(app, party, "38.96", "2025-04-29T10:15:00+02:00").await;
        assert_eq!(invoice(app, march).await["status"], json!("paid"));
        assert_eq!(party_status(app, party).await, "open");
        let reactivation = xdrs_of_kind(app, party, "reactivation_fee").await;
        assert_eq!(reactivation.len(), 1, "{reactivation:?}");
        assert_eq!(reactivation[0]["amount"], json!("10.00000"));
        assert_eq!(reactivation[0]["occurred_at"], json!("2025-04-29T08:15:00Z"));
        let tail: Vec<_> = states(&schedule(app, march).await).into_iter().skip(5).collect();
        assert_eq!(
            tail,
            expect_states(&[
                ("limitation", "2025-04-22", "fired"),
                ("resend", "2025-04-23", "fired"),
                ("suspension_notice", "2025-04-25", "fired"),
                ("suspension", "2025-04-28", "fired"),
                ("termination_notice", "2025-05-09", "cancelled"),
                ("termination", "2025-05-16", "cancelled"),
            ])
        );
        let history = app.get(&format!("/api/v1/customers/{party}/status-history"), &app.admin).await;
        let changes: Vec<(Value, Value, Value)> = history.body.as_array().expect("list").iter()
            .map(|c| (c["from_status"].clone(), c["to_status"].clone(), c["at"].clone()))
            .collect();
        assert_eq!(changes, vec![
            (json!("open"), json!("limited"), json!("2025-04-21T22:00:00Z")),
            (json!("limited"), json!("suspended"), json!("2025-04-27T22:00:00Z")),
            (json!("suspended"), json!("open"), json!("2025-04-29T08:15:00Z")),
        ]);

        // The April close: the late fee untaxed, the reactivation fee taxed (VAT 1.90000).
        app.run_to_completion("billing-runs", "2025-05-01T04:00:00Z").await;
        let april_id = app.invoices_of(party).await[2]["id"].as_i64().expect("id");
        let april = invoice(app, april_id).await;
        assert_eq!(april["net_total"], json!("15.00000"), "{april}");
        assert_eq!(april["tax_total"], json!("1.90000"), "{april}");
        let tax = april["lines"].as_array().expect("lines").iter().find(|l| l["kind"] == json!("tax")).cloned();
        let tax = tax.expect("a tax line");
        assert_eq!(tax["tax_base"], json!("10.00000"));
        assert_eq!(tax["tax_amount"], json!("1.90000"));
    }
}

on_both_backends! {
    async fn a_late_run_fires_every_step_with_its_own_date(app) {
        section_7_1_calendar(app).await;
        let class = business_eu(app, json!({})).await;
        let (party, march) = with_march_invoice(app, &class).await;
        // Nothing paid and no run until after the termination date: one run fires the whole ladder.
        let late = app.run_to_completion("collection-runs", "2025-06-01T00:00:00Z").await;
        assert_eq!(late["events_due"], json!(11), "{late}");
        assert_eq!(party_status(app, party).await, "closed");
        let fee = xdrs_of_kind(app, party, "late_fee").await;
        assert_eq!(fee[0]["occurred_at"], json!("2025-04-16T22:00:00Z"));
        let items = schedule(app, march).await;
        assert!(items.iter().all(|i| i["state"] == json!("fired") && i["fired_at"] == json!("2025-06-01T00:00:00Z")),
            "{items:?}");
        let history = app.get(&format!("/api/v1/customers/{party}/status-history"), &app.admin).await;
        let path: Vec<(Value, Value)> = history.body.as_array().expect("list").iter()
            .map(|c| (c["to_status"].clone(), c["at"].clone()))
            .collect();
        assert_eq!(path, vec![
            (json!("limited"), json!("2025-04-21T22:00:00Z")),
            (json!("suspended"), json!("2025-04-27T22:00:00Z")),
            (json!("closed"), json!("2025-05-15T22:00:00Z")),
        ]);
        // Termination ends the open period at the termination instant (§5.9 rule 5).
        let periods = app.get(&format!("/api/v1/periods?party_id={party}"), &app.admin).await;
        let ends: Vec<Value> = periods.body["items"].as_array().expect("items").iter().map(|p| p["end"].clone()).collect();
        assert_eq!(ends.last(), Some(&json!("2025-05-15T22:00:00Z")), "{ends:?}");
        // The final period closes like any other, and no period follows it.
        app.run_to_completion("billing-runs", "2025-06-01T04:00:00Z").await;
        let periods = app.get(&format!("/api/v1/periods?party_id={party}"), &app.admin).await;
        let last = periods.body["items"].as_array().expect("items").last().cloned().expect("a period");
        assert_eq!(last["end"], json!("2025-05-15T22:00:00Z"));
        assert_eq!(last["status"], json!("closed"));
    }
}

on_both_backends! {
    async fn a_small_remainder_within_the_threshold_lifts_the_suspension_only_when_the_class_says_so(app) {
        section_7_1_calendar(app).await;
        let class = business_eu(
            app,
            json!({"collection_threshold": "1.00", "restore_on_partial_within_threshold": true}),
        )
        .await;
        let (party, march) = with_march_invoice(app, &class).await;
        app.run_to_completion("collection-runs", "2025-04-27T22:00:00Z").await;
        assert_eq!(party_status(app, party).await, "suspended");
        // 68.46 of 68.96 leaves 0.50 open: within the threshold, so the invoice is not collected any more
        // and, with restore_on_partial_within_threshold, the suspension ends with its fee.
        pay(app, party, "68.46", "2025-04-29T10:15:00+02:00").await;
        let settled = invoice(app, march).await;
        assert_eq!(settled["status"], json!("do_not_collect"));
        assert_eq!(settled["open_amount"], json!("0.50000"));
        assert_eq!(party_status(app, party).await, "open");
        assert_eq!(xdrs_of_kind(app, party, "reactivation_fee").await.len(), 1);
        let pending = schedule(app, march).await.into_iter().filter(|i| i["state"] == json!("pending")).count();
        assert_eq!(pending, 0);
    }
}

on_both_backends! {
    async fn without_restore_the_threshold_stops_the_ladder_but_keeps_the_suspension(app) {
        section_7_1_calendar(app).await;
        let class = business_eu(app, json!({"collection_threshold": "1.00"})).await;
        let (party, march) = with_march_invoice(app, &class).await;
        app.run_to_completion("collection-runs", "2025-04-27T22:00:00Z").await;
        pay(app, party, "68.46", "2025-04-29T10:15:00+02:00").await;
        assert_eq!(invoice(app, march).await["status"], json!("do_not_collect"));
        assert_eq!(party_status(app, party).await, "suspended");
        assert!(xdrs_of_kind(app, party, "reactivation_fee").await.is_empty());
        // The termination was cancelled with the rest of the schedule: a late run changes nothing.
        let late = app.run_to_completion("collection-runs", "2025-06-01T00:00:00Z").await;
        assert_eq!(late["events_due"], json!(0), "{late}");
        assert_eq!(party_status(app, party).await, "suspended");
    }
}

on_both_backends! {
    async fn unblocking_a_suspended_party_leaves_it_suspended_and_free_of_charge(app) {
        section_7_1_calendar(app).await;
        let class = business_eu(app, json!({})).await;
        let (party, _) = with_march_invoice(app, &class).await;
        app.run_to_completion("collection-runs", "2025-04-27T22:00:00Z").await;
        let block = app.post(&format!("/api/v1/customers/{party}/block"), &app.admin, json!({})).await;
        assert!(block.status.is_success(), "{}", block.text);
        assert_eq!(party_status(app, party).await, "blocked");
        let unblock = app.post(&format!("/api/v1/customers/{party}/unblock"), &app.admin, json!({})).await;
        assert!(unblock.status.is_success(), "{}", unblock.text);
        assert_eq!(party_status(app, party).await, "suspended");
        assert!(xdrs_of_kind(app, party, "reactivation_fee").await.is_empty());
    }
}

on_both_backends! {
    async fn only_administrators_run_collections_and_resellers_see_only_their_schedules(app) {
        let (_, reseller) = app.reseller_with_user("Kappa").await;
        let denied = app.post("/api/v1/collection-runs", &reseller, json!({"as_of": "2025-04-01T00:00:00Z"})).await;
        assert_eq!(denied.status, StatusCode::FORBIDDEN, "{}", denied.text);
        let bad = app.post("/api/v1/collection-runs", &app.admin, json!({"as_of": "yesterday"})).await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.text);
        assert!(bad.has_error("as_of", "invalid"), "{}", bad.text);
        let far = app.post("/api/v1/billing-runs", &app.admin, json!({"as_of": "2395-01-01T00:00:00Z"})).await;
        assert!(far.has_error("as_of", "out_of_range"), "{}", far.text);

        section_7_1_calendar(app).await;
        let class = business_eu(app, json!({})).await;
        let (party, march) = with_march_invoice(app, &class).await;
        let hidden = app.get(&format!("/api/v1/invoices/{march}/collection-schedule"), &reseller).await;
        assert_eq!(hidden.status, StatusCode::NOT_FOUND, "{}", hidden.text);
        let history = app.get(&format!("/api/v1/customers/{party}/status-history"), &reseller).await;
        assert_eq!(history.status, StatusCode::NOT_FOUND, "{}", history.text);
    }
}

on_both_backends! {
    async fn an_invoice_in_review_collects_nothing_until_approved(app) {
        section_7_1_calendar(app).await;
        let class = business_eu(app, json!({"email_delivery": "after_review"})).await;
        let (party, march) = with_march_invoice(app, &class).await;
        assert_eq!(invoice(app, march).await["review_state"], json!("under_review"));
        let held = app.run_to_completion("collection-runs", "2025-04-27T22:00:00Z").await;
        assert_eq!(held["events_due"], json!(0), "{held}");
        assert_eq!(party_status(app, party).await, "open");

        let (_, reseller) = app.reseller_with_user("Lambda").await;
        let foreign = app.post(&format!("/api/v1/invoices/{march}/approve"), &reseller, json!({})).await;
        assert_eq!(foreign.status, StatusCode::NOT_FOUND, "{}", foreign.text);

        // Approved on 04-20: overdue and the late fee fire at once; passed reminders and the resend are dropped.
        let approved = app
            .post(&format!("/api/v1/invoices/{march}/approve"), &app.admin, json!({"as_of": "2025-04-20T06:00:00Z"}))
            .await;
        assert_eq!(approved.status, StatusCode::OK, "{}", approved.text);
        assert_eq!(approved.body["review_state"], json!("approved"));
        assert_eq!(approved.body["status"], json!("overdue"));
        let first: Vec<_> = states(&schedule(app, march).await).into_iter().take(6).collect();
        assert_eq!(
            first,
            expect_states(&[
                ("due_reminder", "2025-04-09", "dropped"),
                ("due_reminder", "2025-04-13", "dropped"),
                ("resend", "2025-04-16", "dropped"),
                ("overdue", "2025-04-17", "fired"),
                ("late_fee", "2025-04-17", "fired"),
                ("limitation", "2025-04-22", "pending"),
            ])
        );
        assert_eq!(xdrs_of_kind(app, party, "late_fee").await.len(), 1);
        let again = app.post(&format!("/api/v1/invoices/{march}/approve"), &app.admin, json!({})).await;
        assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text);
    }
}

on_both_backends! {
    async fn review_hold_days_approve_automatically_in_a_collection_run(app) {
        section_7_1_calendar(app).await;
        let class = business_eu(app, json!({"email_delivery": "after_review", "review_hold_days": 3})).await;
        let (_, march) = with_march_invoice(app, &class).await;
        // Issued 2025-04-01: approved automatically at 2025-04-04 00:00 Berlin, before any reminder was due.
        // A second before, only the February invoice (issued 2025-03-01) is approved.
        let early = app.run_to_completion("collection-runs", "2025-04-03T21:59:59Z").await;
        assert_eq!(early["approvals"], json!(1), "{early}");
        assert_eq!(invoice(app, march).await["review_state"], json!("under_review"));
        let due = app.run_to_completion("collection-runs", "2025-04-12T22:00:00Z").await;
        assert_eq!(due["approvals"], json!(1), "{due}");
        assert_eq!(due["events_fired"], json!(2), "both reminders: {due}");
        assert_eq!(invoice(app, march).await["review_state"], json!("auto_approved"));
    }
}

on_both_backends! {
    async fn charge_requests_go_out_on_the_due_date_and_retry_only_while_open(app) {
        section_7_1_calendar(app).await;
        let class = business_eu(app, json!({"auto_charge": "on_due_date", "auto_charge_retry_days": [2, 5]})).await;
        let (party, march) = with_march_invoice(app, &class).await;
        let charges = |items: &[Value]| items.iter().filter(|i| i["event"] == json!("charge_request")).count();
        assert_eq!(charges(&schedule(app, march).await), 3);

        let request = |attempt: i64| json!({"request_id": format!("chr_{march}_{attempt}"), "outcome": "failed",
                                            "at": "2025-04-16T09:00:00Z", "reason": "card declined"});
        let early = app.post("/api/v1/charge-results", &app.admin, request(1)).await;
        assert_eq!(early.status, StatusCode::NOT_FOUND, "not requested before the due date: {}", early.text);
        app.run_to_completion("collection-runs", "2025-04-15T22:00:00Z").await;
        // The charge succeeds: the retries find the payment made and are cancelled.
        let result = app
            .post("/api/v1/charge-results", &app.admin,
                  json!({"request_id": format!("chr_{march}_1"), "outcome": "succeeded", "at": "2025-04-16T09:00:00Z"}))
            .await;
        assert!(result.status.is_success(), "{}", result.text);
        assert_eq!(invoice(app, march).await["status"], json!("paid"));
        app.run_to_completion("collection-runs", "2025-04-30T22:00:00Z").await;
        let retry = app.post("/api/v1/charge-results", &app.admin, request(2)).await;
        assert_eq!(retry.status, StatusCode::NOT_FOUND, "{}", retry.text);
        assert_eq!(party_status(app, party).await, "open");
        let states: Vec<Value> = schedule(app, march).await.into_iter()
            .filter(|i| i["event"] == json!("charge_request")).map(|i| i["state"].clone()).collect();
        assert_eq!(states, vec![json!("fired"), json!("cancelled"), json!("cancelled")]);
    }
}

/// Delivers the outbox at an instant after everything written so far; answers how many messages went out.
async fn deliver(app: &TestApp) -> u64 {
    let at = Timestamp::from_second(Timestamp::now().as_second() + 60).expect("an instant");
    app.engine
        .deliver_outbox(&DeliveryConfig { smtp_url: None }, at)
        .await
        .expect("a delivery pass")
        .sent
}

on_both_backends! {
    async fn invoice_mail_carries_the_pdf_and_ladder_messages_follow_the_matrix(app) {
        let smtp = SmtpReceiver::start().await;
        let settings = json!({"smtp_url": smtp.url(), "default_sender": {"name": "Billing", "address": "billing@example.com"}});
        let answer = app.send(Method::PATCH, "/api/v1/settings", Some(&app.admin), Some(settings), None).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        section_7_1_calendar(app).await;
        let class = business_eu(app, json!({"email_delivery": "automatically"})).await;
        let (_, march) = with_march_invoice(app, &class).await;
        let number = invoice(app, march).await["number"].as_str().expect("number").to_owned();

        // Both invoices go out by e-mail, each with its PDF attached.
        assert_eq!(deliver(app).await, 2);
        let mails = smtp.messages();
        let march_mail = mails.iter().find(|m| m.data.contains(&format!("filename=\"{number}.pdf\""))).expect("the March mail");
        assert_eq!(march_mail.to, ["billing@customer-1001.example"]);
        assert!(march_mail.data.contains("Content-Type: application/pdf"), "{}", march_mail.data);
        assert!(march_mail.data.contains("JVBERi0"), "the attachment is a PDF (base64 of %PDF-)");

        // By 04-17: both reminders, the resend (with the PDF again), the overdue notice and the late fee.
        app.run_to_completion("collection-runs", "2025-04-16T22:00:00Z").await;
        assert_eq!(deliver(app).await, 5);
        let log = app.get("/api/v1/notifications?status=sent", &app.admin).await;
        let mut events: Vec<String> = log.body["items"].as_array().expect("items").iter()
            .filter_map(|e| e["event"].as_str().map(str::to_owned)).collect();
        events.sort();
        assert_eq!(events, ["invoice_due_soon", "invoice_due_soon", "invoice_issued", "invoice_issued",
                            "invoice_overdue", "invoice_resent", "late_fee_applied"]);
        let mails = smtp.messages();
        assert_eq!(mails.len(), 7);
        assert_eq!(mails.iter().filter(|m| m.data.contains(&format!("filename=\"{number}.pdf\""))).count(), 2);
        assert_eq!(deliver(app).await, 0, "nothing is sent twice");
    }
}

on_both_backends! {
    async fn voiding_an_invoice_returns_its_credit_and_ends_its_ladder(app) {
        section_7_1_calendar(app).await;
        let class = business_eu(app, json!({})).await;
        let (party, march) = with_march_invoice(app, &class).await;
        app.run_to_completion("collection-runs", "2025-04-27T22:00:00Z").await;
        assert_eq!(party_status(app, party).await, "suspended");

        let path = format!("/api/v1/invoices/{march}/void");
        let (_, reseller) = app.reseller_with_user("Mu").await;
        assert_eq!(app.post(&path, &reseller, json!({"reason": "x"})).await.status, StatusCode::NOT_FOUND);
        let blank = app.post(&path, &app.admin, json!({"reason": " "})).await;
        assert!(blank.has_error("reason", "required"), "{}", blank.text);
        // Issued 2025-04-01 in Berlin, which begins at 2025-03-31T22:00:00Z: no void before that.
        for early in ["0088-04-28T07:35:16Z", "2025-03-31T21:59:59Z"] {
            let refused = app.post(&path, &app.admin, json!({"reason": "x", "as_of": early})).await;
            assert!(refused.has_error("as_of", "before_issue"), "{early}: {}", refused.text);
        }

        let voided = app
            .post(&path, &app.admin, json!({"reason": "Billed twice", "as_of": "2025-04-29T08:15:00Z"}))
            .await;
        assert_eq!(voided.status, StatusCode::OK, "{}", voided.text);
        assert_eq!(voided.body["status"], json!("void"));
        assert_eq!(voided.body["allocations"], json!([]), "the 10.00 of credit is free again");
        // Void releases like payment does (§5.9 rule 3): the suspension ends with its fee, the rest is cancelled.
        assert_eq!(party_status(app, party).await, "open");
        let fee = xdrs_of_kind(app, party, "reactivation_fee").await;
        assert_eq!(fee[0]["occurred_at"], json!("2025-04-29T08:15:00Z"));
        assert!(schedule(app, march).await.iter().all(|i| i["state"] != json!("pending")));
        let again = app.post(&path, &app.admin, json!({"reason": "Twice"})).await;
        assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text);

        // The returned credit pays the next invoice.
        pay(app, party, "1.00", "2025-04-30T10:00:00+02:00").await;
        app.run_to_completion("billing-runs", "2025-05-01T04:00:00Z").await;
        let april = app.invoices_of(party).await[2]["id"].as_i64().expect("id");
        let credit: Vec<Value> = invoice(app, april).await["allocations"].as_array().expect("list").clone();
        let amounts: Vec<Value> = credit.iter().map(|a| a["amount"].clone()).collect();
        assert!(amounts.contains(&json!("10.00000")), "{credit:?}");
    }
}

on_both_backends! {
    async fn a_terminated_party_can_be_erased_and_keeps_its_invoices(app) {
        section_7_1_calendar(app).await;
        let class = business_eu(app, json!({})).await;
        let (party, _) = with_march_invoice(app, &class).await;
        let path = format!("/api/v1/customers/{party}/erase");
        let open = app.post(&path, &app.admin, json!({})).await;
        assert_eq!(open.status, StatusCode::CONFLICT, "only a terminated party: {}", open.text);

        app.run_to_completion("collection-runs", "2025-06-01T00:00:00Z").await;
        let erased = app.post(&path, &app.admin, json!({})).await;
        assert_eq!(erased.status, StatusCode::OK, "{}", erased.text);
        let customer = app.get(&format!("/api/v1/customers/{party}"), &app.admin).await.body;
        assert_eq!(customer["name"], json!(format!("Erased customer {party}")));
        assert_eq!(customer["email"], Value::Null);
        assert_eq!(customer["status"], json!("closed"));
        let invoices = app.invoices_of(party).await;
        assert_eq!(invoices.len(), 2);
        assert_eq!(invoices[1]["total"], json!("78.96000"));
        let audit = app.get("/api/v1/audit-log?object_type=customer", &app.admin).await;
        assert!(audit.text.contains("\"erase\""), "{}", audit.text);
    }
}

on_both_backends! {
    async fn recurring_fees_go_on_their_own_card_only_invoice_just_before_the_regular_one(app) {
        let template = app.standard_template().await;
        let class = app
            .class(&app.admin, json!({
                "name": "Split fees", "currency": "EUR",
                "regular_invoices": {"enabled": true, "template_id": template, "payment_terms": {"type": "net", "days": 15}},
                "out_of_turn_invoices": {"enabled": true, "template_id": template, "separate_recurring_fee_invoice": true,
                                         "auto_charge": "on_issue", "payment_terms": {"type": "net", "days": 5}},
                "taxation": {"method": "fixed_vat", "fixed_vat": {"rate_percent": "19", "inclusive": false}},
            }))
            .await;
        let answer = app
            .post("/api/v1/customers", &app.admin,
                  json!({"name": "Split", "currency": "EUR", "class_id": class["id"], "time_zone": "Europe/Berlin",
                         "activated_at": "2025-03-01T00:00:00+01:00"}))
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
        let party = answer.body["id"].as_i64().expect("id");
        app.section_7_1_march_charges(party).await;
        pay(app, party, "20.00", "2025-03-10T09:00:00+01:00").await;
        app.bill("2025-04-01T04:00:00Z").await;

        let list = app.invoices_of(party).await;
        assert_eq!(list.len(), 2, "{list:?}");
        let fees = invoice(app, list[0]["id"].as_i64().expect("id")).await;
        let regular = invoice(app, list[1]["id"].as_i64().expect("id")).await;
        assert_eq!((fees["kind"].clone(), regular["kind"].clone()), (json!("recurring_fees"), json!("regular")));
        assert!(fees["number"].as_str() < regular["number"].as_str(), "numbered just before the regular invoice");
        assert_eq!(fees["card_only"], json!(true));
        assert_eq!(fees["due_date"], json!("2025-04-06"), "the out-of-turn payment terms");
        // 29.90 + VAT 5.68100 = 35.581, rounded to 35.59; the unallocated 20.00 is not spent on it.
        assert_eq!(fees["tax_total"], json!("5.68100"));
        assert_eq!(fees["total"], json!("35.59000"));
        assert_eq!(fees["open_amount"], json!("35.59000"));
        let fee_lines: Vec<Value> = fees["lines"].as_array().expect("lines").iter()
            .filter(|l| l["kind"] != json!("tax") && l["kind"] != json!("rounding")).map(|l| l["rate_code"].clone()).collect();
        assert_eq!(fee_lines, vec![json!("TRUNK-M")]);
        let regular_codes: Vec<Value> = regular["lines"].as_array().expect("lines").iter().map(|l| l["rate_code"].clone()).collect();
        assert!(!regular_codes.contains(&json!("TRUNK-M")), "{regular_codes:?}");
        assert_eq!(regular["out_of_turn"], json!("35.59000"));
        assert_eq!(regular["net_total"], json!("36.44812"));
        // The charge connector was asked at issue; its success pays the fee invoice.
        let result = app
            .post("/api/v1/charge-results", &app.admin,
                  json!({"request_id": format!("chr_{}_1", fees["id"]), "outcome": "succeeded", "at": "2025-04-01T09:00:00Z"}))
            .await;
        assert!(result.status.is_success(), "{}", result.text);
        assert_eq!(invoice(app, fees["id"].as_i64().expect("id")).await["status"], json!("paid"));
    }
}

/// Twelve Berlin customers of the business class, each with one monthly fee billed at the March close: the
/// ladder then gives each eleven events to fire.
async fn twelve_billed_parties(app: &TestApp) -> Vec<i64> {
    section_7_1_calendar(app).await;
    let class = business_eu(app, json!({})).await;
    let mut parties = Vec::new();
    for n in 0..12 {
        let answer = app
            .post(
                "/api/v1/customers",
                &app.admin,
                json!({"name": format!("Parallel {n}"), "currency": "EUR", "class_id": class["id"],
                       "time_zone": "Europe/Berlin", "activated_at": "2025-03-01T00:00:00+01:00"}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
        let party = answer.body["id"].as_i64().expect("id");
        let fee = json!({"party_id": party, "external_id": "m1", "occurred_at": "2025-03-01T00:00:00+01:00",
                         "kind": "recurring", "service": "sip_trunk", "quantity": "1", "amount": "29.9"});
        let posted = app.post("/api/v1/xdrs", &app.admin, json!({"xdrs": [fee]})).await;
        assert_eq!(posted.status, StatusCode::CREATED, "{}", posted.text);
        parties.push(party);
    }
    app.bill("2025-04-01T04:00:00Z").await;
    parties
}

/// Every party's ladder ran to its end with one late fee.
async fn expect_ladders_finished(app: &TestApp, parties: Vec<i64>) {
    for party in parties {
        assert_eq!(xdrs_of_kind(app, party, "late_fee").await.len(), 1);
        assert_eq!(party_status(app, party).await, "closed");
    }
}

on_both_backends! {
    async fn concurrent_collection_runs_fire_every_event_once(app) {
        let parties = twelve_billed_parties(app).await;

        // Two runs at once, as two workers on one database would: every event settles exactly once.
        let as_of: Timestamp = "2025-06-01T00:00:00Z".parse().expect("instant");
        let now = Timestamp::now();
        let (a, b) = tokio::join!(app.engine.run_collections(as_of, now), app.engine.run_collections(as_of, now));
        let (a, b) = (a.expect("first run"), b.expect("second run"));
        assert_eq!(a.events_due + b.events_due, 12 * 11, "{a:?} {b:?}");
        expect_ladders_finished(app, parties).await;
    }
}

on_both_backends! {
    async fn a_collection_run_of_one_party_per_batch_fires_every_event_once(app) {
        let parties = twelve_billed_parties(app).await;
        // One party per batch: on PostgreSQL the run's two lanes take the batches side by side.
        let as_of: Timestamp = "2025-06-01T00:00:00Z".parse().expect("instant");
        let commits = std::sync::atomic::AtomicUsize::new(0);
        let count = || {
            commits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        };
        let options = CollectionOptions { batch_size: 1, on_commit: Some(&count) };
        let summary = app.engine.run_collections_with(as_of, Timestamp::now(), options).await.expect("run");
        assert_eq!(summary.events_due, 12 * 11, "{summary:?}");
        assert_eq!(summary.events_fired + summary.events_dropped, summary.events_due, "{summary:?}");
        assert_eq!(commits.into_inner(), 12, "one commit per party");
        expect_ladders_finished(app, parties).await;
    }
}

/// A party another transaction holds when the run reaches it (a payment, a killed process's transaction the server
/// has not rolled back yet) is waited for and its events fired by that run, not left pending in a run that reports
/// itself completed. Only PostgreSQL has row locks; SQLite's single writer makes the run wait for the whole
/// transaction instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collection_run_waits_for_a_party_another_transaction_holds() {
    let app = TestApp::start(classbill_testkit::Backend::Postgres).await;
    let parties = twelve_billed_parties(&app).await;
    let (held, free) = (parties[0], parties[11]);
    let lock = app.hold_party(held).await;
    let as_of: Timestamp = "2025-06-01T00:00:00Z".parse().expect("instant");
    let engine = app.engine.clone();
    let run = tokio::spawn(async move { engine.run_collections(as_of, Timestamp::now()).await });
    // The run fires the free parties' events and then waits for the held one.
    for _ in 0..200 {
        if party_status(&app, free).await == "closed" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(party_status(&app, free).await, "closed");
    assert!(!run.is_finished(), "the run waits for the held party");
    lock.commit().await.expect("released");
    let summary = run.await.expect("the run task").expect("the run");
    assert_eq!(summary.events_due, 12 * 11, "{summary:?}");
    expect_ladders_finished(&app, parties).await;
}

on_both_backends! {
    async fn a_terminated_party_takes_records_only_into_its_open_final_period(app) {
        section_7_1_calendar(app).await;
        let class = business_eu(app, json!({})).await;
        let (party, _) = with_march_invoice(app, &class).await;
        // Terminated at 2025-05-16 (§7.1 step 7): the open period ends there.
        app.run_to_completion("collection-runs", "2025-06-01T00:00:00Z").await;
        let usage = |id: &str, at: &str| {
            json!({"party_id": party, "external_id": id, "occurred_at": at, "kind": "usage", "service": "voice",
                   "quantity": "1", "amount": "1"})
        };
        let send = async |item: Value, as_of: &str| {
            app.post("/api/v1/xdrs", &app.admin, json!({"xdrs": [item], "as_of": as_of})).await
        };

        let after = send(usage("after", "2025-05-20T00:00:00Z"), "2025-06-01T00:00:00Z").await;
        assert_eq!(after.status, StatusCode::UNPROCESSABLE_ENTITY, "{}: {}", app.backend, after.text);
        assert!(after.has_error("xdrs[0].occurred_at", "after_termination"), "{}", after.text);
        let before = send(usage("before", "2025-05-10T00:00:00Z"), "2025-06-01T00:00:00Z").await;
        assert_eq!(before.status, StatusCode::CREATED, "{}", before.text);
        assert_eq!(before.body["items"][0]["late"], json!(false), "the final period is still open");

        // The final invoice closes that period: nothing is left to join.
        app.run_to_completion("billing-runs", "2025-06-02T00:00:00Z").await;
        let closed = send(usage("closed", "2025-05-12T00:00:00Z"), "2025-06-03T00:00:00Z").await;
        assert_eq!(closed.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", closed.text);
        assert!(closed.has_error("xdrs[0].party_id", "terminated"), "{}", closed.text);
        let again = send(usage("before", "2025-05-10T00:00:00Z"), "2025-06-03T00:00:00Z").await;
        assert_eq!(again.status, StatusCode::CREATED, "an identical re-send is answered: {}", again.text);
        assert_eq!(again.body["items"][0]["id"], before.body["items"][0]["id"]);

        // An import refuses such a line and stores the others.
        let other = app.utc_customer("Other", "2025-02-01T00:00:00Z").await;
        let window = ("2025-06-03T00:00:00Z".parse::<Timestamp>().expect("as_of"), Timestamp::now());
        let rows = [
            import_usage(2, party, "late", "2025-05-12T00:00:00Z"),
            import_usage(3, other, "fine", "2025-05-12T00:00:00Z"),
            import_usage(4, party, "later", "2025-05-30T00:00:00Z"),
        ];
        let outcome = app
            .engine
            .import_xdrs(&Actor::system(), &rows, &mut IngestMemo::default(), window)
            .await
            .expect("imported");
        assert_eq!(outcome.accepted, 1, "{:?}", outcome.rejected);
        let lines: Vec<u64> = outcome.rejected.iter().map(|r| r.line).collect();
        assert_eq!(lines, [2, 4]);
        assert!(outcome.rejected[0].reason.contains("party_id (terminated)"), "{:?}", outcome.rejected);
        assert!(outcome.rejected[1].reason.contains("occurred_at (after_termination)"), "{:?}", outcome.rejected);
    }
}
