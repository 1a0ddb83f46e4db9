//! The accounting exports (`/reports/{kind}`) reconcile with the ledger: the §7.1 customer billed for February
//! and March, paid twice, and every report checked against `/invoices` and the payments posted.

mod support;

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{TestApp, units};

async fn pay(app: &TestApp, party: i64, amount: &str, received_at: &str) -> Value {
    let answer = app
        .post(
            "/api/v1/payments",
            &app.admin,
            json!({"party_id": party, "amount": amount, "currency": "EUR", "received_at": received_at}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}: {}", app.backend, answer.text);
    answer.body
}

/// Customer 1001 (Europe/Berlin) with the February invoice (50.00, issued 2025-03-01, due 03-16) and the March
/// invoice (78.96, issued 2025-04-01, due 04-16). Paid: 60.00 on 2025-03-10 (50.00 to February, 10.00 taken
/// by the March close) and 5.00 at 2025-03-31T22:30Z, which is already 1 April in Berlin.
async fn billed_and_paid(app: &TestApp) -> (i64, Value, Value) {
    let class = app.business_eu(&app.admin).await;
    let answer = app
        .post(
            "/api/v1/customers",
            &app.admin,
            json!({"name": "Customer 1001", "currency": "EUR", "class_id": class["id"], "time_zone": "Europe/Berlin",
                   "billing_period": "monthly", "activated_at": "2025-02-01T00:00:00+01:00"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
    let party = answer.body["id"].as_i64().expect("customer id");
    let february = json!({"party_id": party, "external_id": "f1", "occurred_at": "2025-02-01T00:00:00+01:00",
        "kind": "recurring", "service": "sip_trunk", "rate_code": "TRUNK-M", "quantity": "1", "amount": "42.01681"});
    let answer = app.post("/api/v1/xdrs", &app.admin, json!({"xdrs": [february]})).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
    app.section_7_1_march_charges(party).await;
    app.bill("2025-03-01T05:00:00Z").await;
    let first = pay(app, party, "60.00", "2025-03-10T11:00:00+01:00").await;
    app.bill("2025-04-01T04:00:00Z").await;
    let second = pay(app, party, "5.00", "2025-03-31T22:30:00Z").await;
    (party, first, second)
}

async fn report(app: &TestApp, token: &str, query: &str) -> Value {
    let answer = app.get(&format!("/api/v1/reports/{query}"), token).await;
    assert_eq!(
        answer.status,
        StatusCode::OK,
        "{}: {query}: {}",
        app.backend,
        answer.text
    );
    answer.body
}

async fn invoices(app: &TestApp) -> Vec<Value> {
    let answer = app.get("/api/v1/invoices", &app.admin).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.body["items"].as_array().expect("items").clone()
}

fn sum(items: &[Value], field: &str) -> i64 {
    items.iter().map(|item| units(&item[field])).sum()
}

on_both_backends! {
    async fn journal_and_tax_reconcile_with_the_invoices(app) {
        billed_and_paid(app).await;
        let issued = invoices(app).await;
        assert_eq!(issued.len(), 2);

        let journal = report(app, &app.admin, "invoice-journal?from=2025-01-01&to=2025-12-31").await;
        assert_eq!(journal["report"], json!("invoice-journal"));
        assert_eq!((journal["from"].clone(), journal["to"].clone()), (json!("2025-01-01"), json!("2025-12-31")));
        let rows = journal["rows"].as_array().expect("rows");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0]["number"], json!("INV-000001"));
        assert_eq!(rows[0]["party_name"], json!("Customer 1001"));
        assert_eq!(rows[0]["issue_date"], json!("2025-03-01"));
        assert_eq!(rows[0]["currency"], json!("EUR"));
        assert_eq!(rows[0]["total"], json!("50.00000"));
        assert_eq!(rows[1]["total"], json!("78.96000"));
        let totals = &journal["totals"]["EUR"];
        assert_eq!(totals["invoices"], json!(2));
        assert_eq!(units(&totals["total"]), sum(&issued, "total"));
        assert_eq!(units(&totals["net_total"]), sum(&issued, "net_total"));
        assert_eq!(units(&totals["tax_total"]), sum(&issued, "tax_total"));
        assert_eq!(units(&totals["net_total"]) + units(&totals["tax_total"]) + sum(&issued, "rounding"),
                   units(&totals["total"]));

        // Issue dates are local dates: only the March invoice was issued in April.
        let april = report(app, &app.admin, "invoice-journal?from=2025-04-01&to=2025-04-30").await;
        assert_eq!(april["rows"].as_array().map(Vec::len), Some(1));
        assert_eq!(april["totals"]["EUR"]["total"], json!("78.96000"));

        let tax = report(app, &app.admin, "tax?from=2025-01-01&to=2025-12-31").await;
        let rows = tax["rows"].as_array().expect("rows");
        assert_eq!(rows.len(), 1, "{tax}");
        assert_eq!(rows[0]["rate_percent"], json!("19"));
        assert_eq!(rows[0]["country"], Value::Null);
        assert_eq!(rows[0]["currency"], json!("EUR"));
        assert_eq!(rows[0]["reverse_charge_base"], json!("0.00000"));
        assert_eq!(rows[0]["outside_scope_base"], json!("0.00000"));
        assert_eq!(units(&tax["totals"]["EUR"]["tax_amount"]), sum(&issued, "tax_total"));
        assert_eq!(units(&tax["totals"]["EUR"]["taxable_base"]), sum(&issued, "net_total"));

        let march_only = report(app, &app.admin, "tax?from=2025-03-01&to=2025-03-31").await;
        assert_eq!(units(&march_only["totals"]["EUR"]["tax_amount"]), units(&issued[0]["tax_total"]));
    }
}

on_both_backends! {
    async fn payments_report_by_local_date_with_allocations(app) {
        let (party, first, second) = billed_and_paid(app).await;
        let march = report(app, &app.admin, "payments?from=2025-03-01&to=2025-03-31").await;
        let rows = march["rows"].as_array().expect("rows");
        assert_eq!(rows.len(), 1, "{march}");
        let row = &rows[0];
        assert_eq!(row["xdr_id"], first["xdr_id"]);
        assert_eq!(row["party_id"], json!(party));
        assert_eq!(row["received_date"], json!("2025-03-10"));
        assert_eq!(row["amount"], json!("60.00000"));
        assert_eq!(row["allocated"], json!("60.00000"));
        assert_eq!(row["unallocated"], json!("0.00000"));
        let made: Vec<(Value, Value)> = row["allocations"]
            .as_array()
            .expect("allocations")
            .iter()
            .map(|a| (a["invoice_number"].clone(), a["amount"].clone()))
            .collect();
        assert_eq!(made, [(json!("INV-000001"), json!("50.00000")), (json!("INV-000002"), json!("10.00000"))]);
        assert_eq!(march["totals"]["EUR"]["amount"], json!("60.00000"));

        // 22:30 UTC on 31 March is 1 April in Berlin.
        let last_of_march = report(app, &app.admin, "payments?from=2025-03-31&to=2025-03-31").await;
        assert_eq!(last_of_march["rows"], json!([]));
        assert_eq!(last_of_march["totals"], json!({}));
        let april = report(app, &app.admin, "payments?from=2025-04-01&to=2025-04-30").await;
        assert_eq!(april["rows"][0]["xdr_id"], second["xdr_id"]);
        assert_eq!(april["rows"][0]["received_date"], json!("2025-04-01"));
        assert_eq!(april["rows"][0]["allocated"], json!("5.00000"));

        // Everything posted, and what the payments answered, adds up.
        let all = report(app, &app.admin, "payments?from=2025-01-01&to=2025-12-31").await;
        let totals = &all["totals"]["EUR"];
        assert_eq!(totals["payments"], json!(2));
        assert_eq!(totals["amount"], json!("65.00000"));
        // The 10.00 the first payment left unallocated was taken by the March close since.
        assert_eq!(first["unallocated"], json!("10.00000"));
        assert_eq!(totals["unallocated"], json!("0.00000"));
        assert_eq!(units(&totals["allocated"]) + units(&totals["unallocated"]), units(&totals["amount"]));
        let open: i64 = invoices(app).await.iter().map(|i| units(&i["open_amount"])).sum();
        assert_eq!(open, 50_00000 + 78_96000 - units(&totals["allocated"]));
    }
}

on_both_backends! {
    async fn ageing_buckets_the_open_march_invoice(app) {
        billed_and_paid(app).await;
        // Open: 78.96 − 10.00 − 5.00 = 63.96, due 2025-04-16; February is paid.
        for (to, bucket) in [
            ("2025-04-16", "current"),
            ("2025-04-17", "days_1_30"),
            ("2025-05-16", "days_1_30"),
            ("2025-05-17", "days_31_60"),
            ("2025-06-15", "days_31_60"),
            ("2025-07-15", "days_61_90"),
            ("2025-07-16", "days_over_90"),
        ] {
            let ageing = report(app, &app.admin, &format!("ageing?to={to}")).await;
            let rows = ageing["rows"].as_array().expect("rows");
            assert_eq!(rows.len(), 1, "{to}: {ageing}");
            assert_eq!(rows[0]["owner"], json!("administrator"));
            assert_eq!(rows[0]["currency"], json!("EUR"));
            assert_eq!(rows[0]["invoices"], json!(1));
            assert_eq!(rows[0][bucket], json!("63.96000"), "{to}: {}", rows[0]);
            assert_eq!(rows[0]["total"], json!("63.96000"));
            assert_eq!(ageing["totals"]["EUR"][bucket], json!("63.96000"));
        }
        // Before the March invoice was issued nothing of today's open amounts was receivable.
        let before = report(app, &app.admin, "ageing?from=2025-01-01&to=2025-03-31").await;
        assert_eq!(before["rows"], json!([]));
        assert_eq!(before["from"], json!("2025-01-01"));
    }
}

on_both_backends! {
    async fn csv_format_reseller_visibility_and_bad_parameters(app) {
        billed_and_paid(app).await;
        let answer = app.get("/api/v1/reports/invoice-journal?from=2025-01-01&to=2025-12-31&format=csv", &app.admin).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        let content_type = answer.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
        assert!(content_type.starts_with("text/csv"), "{content_type}");
        let lines: Vec<&str> = answer.text.lines().collect();
        assert_eq!(
            lines[0],
            "id,number,kind,party_id,party_name,issue_date,due_date,currency,net_total,tax_total,total,status"
        );
        assert_eq!(lines.len(), 4, "{}", answer.text);
        assert!(lines[1].contains(",INV-000001,regular,"), "{}", lines[1]);
        assert!(lines[1].contains(",50.00000,"), "{}", lines[1]);
        assert!(lines[3].starts_with("TOTAL,"), "{}", lines[3]);
        assert!(lines[3].contains(",EUR,") && lines[3].contains(",128.96000,"), "{}", lines[3]);

        let ageing = app.get("/api/v1/reports/ageing?to=2025-04-20&format=csv", &app.admin).await;
        assert_eq!(
            ageing.text,
            "owner,currency,invoices,current,days_1_30,days_31_60,days_61_90,days_over_90,total\n\
             administrator,EUR,1,0.00000,63.96000,0.00000,0.00000,0.00000,63.96000\n\
             TOTAL,EUR,1,0.00000,63.96000,0.00000,0.00000,0.00000,63.96000\n"
        );

        // A reseller user sees only its own parties' rows; the administrator sees them beside its own.
        let (reseller, token) = app.reseller_with_user("Alpha").await;
        let template = app.standard_template().await;
        let class = app
            .class(&token, json!({"name": "Alpha Gold", "currency": "EUR",
                "regular_invoices": {"enabled": true, "template_id": template,
                                     "payment_terms": {"type": "net", "days": 15}}}))
            .await;
        let answer = app
            .post("/api/v1/customers", &token, json!({"name": "Alpha 1", "currency": "EUR", "class_id": class["id"],
                "activated_at": "2025-03-01T00:00:00Z"}))
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
        let usage = json!({"party_id": answer.body["id"], "external_id": "a", "occurred_at": "2025-03-05T00:00:00Z",
            "kind": "usage", "service": "voice", "quantity": "1", "amount": "1.5"});
        let answer = app.post("/api/v1/xdrs", &app.admin, json!({"xdrs": [usage]})).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
        app.bill("2025-04-01T06:00:00Z").await;

        let year = "from=2025-01-01&to=2025-12-31";
        let theirs = report(app, &token, &format!("invoice-journal?{year}")).await;
        let rows = theirs["rows"].as_array().expect("rows");
        assert_eq!(rows.len(), 1, "{theirs}");
        assert_eq!(rows[0]["party_name"], json!("Alpha 1"));
        assert_eq!(theirs["totals"], json!({"EUR": {"invoices": 1, "net_total": "1.50000", "tax_total": "0.00000",
                                                     "total": "1.50000"}}));
        let all = report(app, &app.admin, &format!("invoice-journal?{year}")).await;
        assert_eq!(all["rows"].as_array().map(Vec::len), Some(3));
        assert_eq!(all["totals"]["EUR"]["total"], json!("130.46000"));
        let ageing = report(app, &token, "ageing?to=2025-04-20").await;
        assert_eq!(ageing["rows"].as_array().map(Vec::len), Some(1), "{ageing}");
        assert_eq!(ageing["rows"][0]["owner"], json!(reseller.to_string()));
        assert_eq!(ageing["rows"][0]["days_1_30"], json!("1.50000"));
        let every_owner = report(app, &app.admin, "ageing?to=2025-04-20").await;
        let owners: Vec<&Value> = every_owner["rows"].as_array().expect("rows").iter().map(|r| &r["owner"]).collect();
        assert_eq!(owners, [&json!("administrator"), &json!(reseller.to_string())]);
        assert_eq!(every_owner["totals"]["EUR"]["total"], json!("65.46000"));
        for query in [format!("payments?{year}"), format!("tax?{year}")] {
            let seen = report(app, &token, &query).await;
            assert_eq!((seen["rows"].clone(), seen["totals"].clone()), (json!([]), json!({})), "{query}");
        }

        let unknown = app.get("/api/v1/reports/balance-sheet?from=2025-01-01&to=2025-01-31", &app.admin).await;
        assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.text);
        let bad = app.get("/api/v1/reports/tax?from=2025-13-01&to=2025-01-31&format=xml", &app.admin).await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.text);
        assert!(bad.has_error("from", "invalid_date"), "{}", bad.text);
        assert!(bad.has_error("format", "invalid"), "{}", bad.text);
        let missing = app.get("/api/v1/reports/payments?from=2025-01-01", &app.admin).await;
        assert!(missing.has_error("to", "required"), "{}", missing.text);
        let reversed = app.get("/api/v1/reports/invoice-journal?from=2025-02-01&to=2025-01-31", &app.admin).await;
        assert!(reversed.has_error("to", "before_from"), "{}", reversed.text);
        let anonymous = app.send(reqwest::Method::GET, "/api/v1/reports/tax?from=2025-01-01&to=2025-01-31", None, None, None).await;
        assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    }
}
