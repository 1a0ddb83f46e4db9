//! Measured services booked by the period close (S2, customer-classes §5.11, worked example §7.4) and the
//! statistics files written after the invoices (S5, §5.12) with their `/periods/{id}/statistics/…` downloads.

mod support;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::TestApp;

const FULL_HEADER: &str = "xdr_id,external_id,occurred_at_utc,occurred_at_local,kind,service,rate_code,description,\
quantity,amount,currency,invoice_number,late";

/// Class 30 "Cloud PBX" of §7.4: EUR, precision 2 away from zero, regular invoices with the Standard template.
async fn cloud_pbx(app: &TestApp) -> Value {
    let template = app.standard_template().await;
    app.class(
        &app.admin,
        json!({
            "name": "Cloud PBX", "currency": "EUR",
            "general_info": {"rounding_precision": 2, "rounding_method": "away_from_zero"},
            "regular_invoices": {"enabled": true, "template_id": template},
            "measured_services": {"metrics": [
                {"metric": "pbx_extensions", "charge_basis": "maximum", "price_per_item": "3.00", "free_items": 10,
                 "service": "cloud_pbx", "rate_code": "PBX-EXT"},
                {"metric": "active_calls", "charge_basis": "average", "price_per_item": "2.50", "free_items": 5,
                 "service": "voice", "rate_code": "ACT-CALLS"}
            ]}
        }),
    )
    .await
}

async fn customer(app: &TestApp, body: Value) -> Value {
    let answer = app.post("/api/v1/customers", &app.admin, body).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}: {}", app.backend, answer.text);
    answer.body
}

/// A monthly UTC customer of `class` activated on 2025-06-01.
async fn june_customer(app: &TestApp, name: &str, class: &Value) -> Value {
    customer(
        app,
        json!({"name": name, "currency": "EUR", "class_id": class["id"], "time_zone": "UTC",
               "billing_period": "monthly", "activated_at": "2025-06-01T00:00:00Z"}),
    )
    .await
}

/// The June samples of §7.4, plus the July one that must not count.
async fn june_samples(app: &TestApp, party: i64) {
    let sample =
        |metric: &str, at: &str, value: i64| json!({"party_id": party, "metric": metric, "at": at, "value": value});
    let answer = app
        .post(
            "/api/v1/measurements",
            &app.admin,
            json!({"measurements": [
                sample("pbx_extensions", "2025-06-01T00:00:00Z", 8),
                sample("pbx_extensions", "2025-06-08T00:00:00Z", 12),
                sample("pbx_extensions", "2025-06-15T00:00:00Z", 15),
                sample("pbx_extensions", "2025-06-29T23:59:59Z", 11),
                sample("pbx_extensions", "2025-07-01T00:00:00Z", 40),
                sample("active_calls", "2025-06-02T00:00:00Z", 10),
                sample("active_calls", "2025-06-12T00:00:00Z", 12),
                sample("active_calls", "2025-06-22T00:00:00Z", 15),
            ]}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}: {}", app.backend, answer.text);
}

/// Starts a run and waits for its end; answers the finished run.
async fn bill(app: &TestApp, as_of: &str) -> Value {
    let answer = app
        .post("/api/v1/billing-runs", &app.admin, json!({"as_of": as_of}))
        .await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}: {}", app.backend, answer.text);
    let id = answer.body["id"].as_i64().expect("run id");
    for _ in 0..200 {
        let run = app.get(&format!("/api/v1/billing-runs/{id}"), &app.admin).await;
        assert_eq!(run.status, StatusCode::OK, "{}", run.text);
        if run.body["status"] == json!("completed") || run.body["status"] == json!("failed") {
            return run.body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{}: billing run {id} did not finish", app.backend);
}

/// The party's single invoice, in full.
async fn only_invoice(app: &TestApp, party: i64) -> Value {
    let list = app.get(&format!("/api/v1/invoices?party_id={party}"), &app.admin).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    let items = list.body["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{}: {}", app.backend, list.text);
    let answer = app
        .get(&format!("/api/v1/invoices/{}", items[0]["id"]), &app.admin)
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.body
}

fn lines(invoice: &Value) -> Vec<String> {
    invoice["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|l| {
            ["kind", "service", "rate_code", "quantity", "amount"]
                .map(|f| l[f].as_str().unwrap_or("").to_owned())
                .join(" ")
        })
        .collect()
}

async fn first_period(app: &TestApp, party: i64) -> Value {
    let answer = app.get(&format!("/api/v1/periods?party_id={party}"), &app.admin).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.body["items"][0].clone()
}

/// A statistics download: status, `Content-Type`, `Content-Disposition` and body.
async fn download(app: &TestApp, token: &str, period: &Value, file: &str) -> (StatusCode, String, String, String) {
    let answer = app
        .get(&format!("/api/v1/periods/{}/statistics/{file}", period["id"]), token)
        .await;
    let header = |name: &str| {
        answer
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    (
        answer.status,
        header("content-type"),
        header("content-disposition"),
        answer.text.clone(),
    )
}

on_both_backends! {
    async fn measured_services_are_charged_taxed_and_invoiced_at_the_close(app) {
        let class = cloud_pbx(app).await;
        let plain = june_customer(app, "Customer 1004", &class).await;
        let plain_id = plain["id"].as_i64().expect("id");
        let overriding = june_customer(app, "Customer 1006", &class).await;
        let overriding_id = overriding["id"].as_i64().expect("id");
        let patched = app
            .send(
                reqwest::Method::PATCH,
                &format!("/api/v1/customers/{overriding_id}"),
                Some(&app.admin),
                Some(json!({"measured_services": [{"metric": "pbx_extensions", "free_items": 20}]})),
                None,
            )
            .await;
        assert_eq!(patched.status, StatusCode::OK, "{}: {}", app.backend, patched.text);
        june_samples(app, plain_id).await;
        june_samples(app, overriding_id).await;

        let run = bill(app, "2025-07-01T06:00:00Z").await;
        assert_eq!(run["status"], json!("completed"), "{run}");
        assert_eq!((run["periods_closed"].clone(), run["invoices_issued"].clone()), (json!(2), json!(2)), "{run}");
        assert_eq!(run["failures"], json!([]));

        let inv = only_invoice(app, plain_id).await;
        assert_eq!(
            lines(&inv),
            [
                "measured_service cloud_pbx PBX-EXT 5.00000 15.00000",
                "measured_service voice ACT-CALLS 7.33333 18.34000",
            ]
        );
        assert_eq!(inv["total"], json!("33.34000"));
        assert_eq!(inv["rounding"], json!("0.00000"));
        let other = only_invoice(app, overriding_id).await;
        assert_eq!(lines(&other), ["measured_service voice ACT-CALLS 7.33333 18.34000"]);
        assert_eq!(other["total"], json!("18.34000"));

        let xdrs = app.get(&format!("/api/v1/xdrs?party_id={plain_id}&kind=measured_service"), &app.admin).await;
        let items = xdrs.body["items"].as_array().expect("items");
        assert_eq!(items.len(), 2, "{}", xdrs.text);
        assert_eq!(items[1]["description"], json!("active_calls average 12.33333"));
        assert_eq!(items[0]["description"], json!("pbx_extensions maximum 15.00000"));
        assert_eq!(items[0]["occurred_at"], json!("2025-07-01T00:00:00Z"));

        // A second run books nothing twice.
        let again = bill(app, "2025-07-01T07:00:00Z").await;
        assert_eq!(again["periods_closed"], json!(0), "{again}");
        let xdrs = app.get(&format!("/api/v1/xdrs?party_id={plain_id}&kind=measured_service"), &app.admin).await;
        assert_eq!(xdrs.body["items"].as_array().expect("items").len(), 2);

        // S5: the files of the June period.
        let june = first_period(app, plain_id).await;
        let (status, kind, disposition, summary) = download(app, &app.admin, &june, "summary.csv").await;
        assert_eq!(status, StatusCode::OK, "{}: {summary}", app.backend);
        assert!(kind.starts_with("text/csv"), "{kind}");
        assert_eq!(disposition, format!("attachment; filename=\"{plain_id}_2025-06-01_2025-06-30_summary.csv\""));
        assert_eq!(
            summary,
            "service,kind,xdr_count,quantity,amount\n\
             cloud_pbx,measured_service,1,5.00000,15.00000\n\
             voice,measured_service,1,7.33333,18.34000\n\
             TOTAL,,2,,33.34000\n"
        );
        let (status, kind, disposition, full) = download(app, &app.admin, &june, "full.csv").await;
        assert_eq!(status, StatusCode::OK, "{}: {full}", app.backend);
        assert!(kind.starts_with("text/csv"), "{kind}");
        assert_eq!(disposition, format!("attachment; filename=\"{plain_id}_2025-06-01_2025-06-30_full.csv\""));
        let rows: Vec<&str> = full.lines().collect();
        assert_eq!(rows[0], FULL_HEADER);
        assert_eq!(rows.len(), 3, "{full}");
        let number = inv["number"].as_str().expect("number");
        assert_eq!(
            rows[1],
            format!(
                "{},close:{}:S2:pbx_extensions,2025-07-01T00:00:00Z,2025-07-01T00:00:00+00:00,measured_service,\
                 cloud_pbx,PBX-EXT,pbx_extensions maximum 15.00000,5.00000,15.00000,EUR,{number},false",
                items[0]["id"], june["id"]
            )
        );

        // Periods of other owners are invisible, and so are their files.
        let (_, stranger) = app.reseller_with_user("Elsewhere").await;
        for file in ["full.csv", "summary.csv"] {
            assert_eq!(download(app, &stranger, &june, file).await.0, StatusCode::NOT_FOUND);
        }
        let july = app.get(&format!("/api/v1/periods?party_id={plain_id}"), &app.admin).await;
        let july = july.body["items"][1].clone();
        assert_eq!(download(app, &app.admin, &july, "full.csv").await.0, StatusCode::NOT_FOUND);
    }
}

on_both_backends! {
    async fn statistics_leave_out_the_hidden_balance_reset(app) {
        let template = app.standard_template().await;
        let class = app
            .class(
                &app.admin,
                json!({"name": "Billed elsewhere", "currency": "EUR",
                       "regular_invoices": {"enabled": true, "template_id": template},
                       "general_info": {"billed_externally": true, "reset_balance_each_period": true,
                                        "hide_reset_xdr": true}}),
            )
            .await;
        let party = customer(app, json!({"name": "Wholesale", "currency": "EUR", "class_id": class["id"],
                                         "time_zone": "Europe/Berlin", "activated_at": "2025-03-01T00:00:00+01:00"}))
            .await;
        let party = party["id"].as_i64().expect("id");
        app.post_xdrs(json!([
            {"party_id": party, "external_id": "a", "occurred_at": "2025-03-05T10:00:00+01:00",
             "kind": "usage", "service": "voice", "rate_code": "DE-FIX", "quantity": "3", "amount": "10"},
            {"party_id": party, "external_id": "b", "occurred_at": "2025-03-06T00:00:00Z",
             "kind": "usage", "service": "voice", "quantity": "1", "amount": "2.5"},
        ])).await;
        let run = bill(app, "2025-04-01T06:00:00Z").await;
        assert_eq!((run["periods_closed"].clone(), run["invoices_issued"].clone()), (json!(1), json!(0)), "{run}");
        let xdrs = app.get(&format!("/api/v1/xdrs?party_id={party}"), &app.admin).await;
        let items = xdrs.body["items"].as_array().expect("items");
        assert_eq!(items.len(), 3, "{}", xdrs.text);
        assert_eq!(items[2]["hidden"], json!(true));

        let march = first_period(app, party).await;
        let (status, _, disposition, summary) = download(app, &app.admin, &march, "summary.csv").await;
        assert_eq!(status, StatusCode::OK, "{}: {summary}", app.backend);
        assert_eq!(disposition, format!("attachment; filename=\"{party}_2025-03-01_2025-03-31_summary.csv\""));
        assert_eq!(
            summary,
            "service,kind,xdr_count,quantity,amount\nvoice,usage,2,4.00000,12.50000\nTOTAL,,2,,12.50000\n"
        );
        let (status, _, _, full) = download(app, &app.admin, &march, "full.csv").await;
        assert_eq!(status, StatusCode::OK, "{}: {full}", app.backend);
        assert_eq!(
            full,
            format!(
                "{FULL_HEADER}\n\
                 {},a,2025-03-05T09:00:00Z,2025-03-05T10:00:00+01:00,usage,voice,DE-FIX,,3.00000,10.00000,EUR,,false\n\
                 {},b,2025-03-06T00:00:00Z,2025-03-06T01:00:00+01:00,usage,voice,,,1.00000,2.50000,EUR,,false\n",
                items[0]["id"], items[1]["id"]
            )
        );
        assert!(!full.contains("balance_reset"));
    }
}

on_both_backends! {
    async fn without_archive_no_statistics_are_written(app) {
        let class = app
            .class(&app.admin, json!({"name": "No archive", "currency": "EUR", "general_info": {"archive_xdrs": false}}))
            .await;
        let party = customer(app, json!({"name": "Plain", "currency": "EUR", "class_id": class["id"],
                                         "activated_at": "2025-03-01T00:00:00Z"}))
            .await;
        let party = party["id"].as_i64().expect("id");
        app.post_xdrs(json!([{"party_id": party, "external_id": "a", "occurred_at": "2025-03-05T00:00:00Z",
                              "kind": "usage", "service": "voice", "quantity": "1", "amount": "1"}]))
            .await;
        let run = bill(app, "2025-04-01T06:00:00Z").await;
        assert_eq!(run["periods_closed"], json!(1), "{run}");
        let march = first_period(app, party).await;
        assert_eq!(march["status"], json!("closed"));
        for file in ["full.csv", "summary.csv"] {
            assert_eq!(download(app, &app.admin, &march, file).await.0, StatusCode::NOT_FOUND);
        }
    }
}

on_both_backends! {
    async fn statistics_ready_is_mailed_when_the_class_or_the_party_asks_for_it(app) {
        let class = app
            .class(&app.admin, json!({"name": "Stats by mail", "currency": "EUR",
                                      "general_info": {"statistics_email": "summary"}}))
            .await;
        let mailed = customer(app, json!({"name": "Mailed", "currency": "EUR", "class_id": class["id"],
                                          "email": "stats@mailed.example", "activated_at": "2025-03-01T00:00:00Z"}))
            .await;
        let opted_out = customer(app, json!({"name": "Opted out", "currency": "EUR", "class_id": class["id"],
                                             "email": "stats@out.example", "activated_at": "2025-03-01T00:00:00Z",
                                             "statistics_email": "none"}))
            .await;
        bill(app, "2025-04-01T06:00:00Z").await;
        let log = |party: &Value| {
            let path = format!("/api/v1/notifications?party_id={}&event=statistics_ready", party["id"]);
            async move { app.get(&path, &app.admin).await.body["items"].as_array().cloned().unwrap_or_default() }
        };
        let sent = log(&mailed).await;
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert_eq!(sent[0]["channel"], json!("email"));
        assert_eq!(sent[0]["recipient"], json!("stats@mailed.example"));
        assert!(log(&opted_out).await.is_empty());
    }
}

on_both_backends! {
    async fn the_records_the_close_books_are_in_the_full_file_with_their_invoice(app) {
        let template = app.standard_template().await;
        let class = app
            .class(
                &app.admin,
                json!({"name": "Rounded", "currency": "EUR",
                       "general_info": {"rounding_precision": 2, "rounding_method": "away_from_zero"},
                       "regular_invoices": {"enabled": true, "template_id": template}}),
            )
            .await;
        let party = june_customer(app, "Rounded Ltd", &class).await;
        let party = party["id"].as_i64().expect("id");
        app.post_xdrs(json!([{"party_id": party, "external_id": "u1", "occurred_at": "2025-06-10T08:00:00Z",
                              "kind": "usage", "service": "voice", "quantity": "2", "amount": "10.00123"}]))
            .await;
        bill(app, "2025-07-01T06:00:00Z").await;
        let invoice = only_invoice(app, party).await;
        assert_eq!(invoice["rounding"], json!("0.00877"), "{invoice}");
        let number = invoice["number"].as_str().expect("number");

        let xdrs = app.get(&format!("/api/v1/xdrs?party_id={party}"), &app.admin).await;
        let items = xdrs.body["items"].as_array().expect("items");
        let rounding: Vec<&Value> = items.iter().filter(|x| x["kind"] == json!("rounding")).collect();
        assert_eq!(rounding.len(), 1, "{}", xdrs.text);
        let rounding = rounding[0];
        assert_eq!(rounding["invoice_id"], invoice["id"], "{}", xdrs.text);

        let (status, _, _, full) = download(app, &app.admin, &first_period(app, party).await, "full.csv").await;
        assert_eq!(status, StatusCode::OK, "{}: {full}", app.backend);
        let rows: Vec<&str> = full.lines().collect();
        assert_eq!(rows.len(), 3, "{full}");
        assert!(
            rows[1].starts_with(&format!("{},u1,2025-06-10T08:00:00Z,", items[0]["id"]))
                && rows[1].ends_with(&format!(",2.00000,10.00123,EUR,{number},false")),
            "{full}"
        );
        let external_id = rounding["external_id"].as_str().expect("the close keys its records");
        assert!(
            rows[2].starts_with(&format!("{},{external_id},", rounding["id"]))
                && rows[2].contains(",rounding,")
                && rows[2].ends_with(&format!(",1.00000,0.00877,EUR,{number},false")),
            "{full}"
        );
    }
}
