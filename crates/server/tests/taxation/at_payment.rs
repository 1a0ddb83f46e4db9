//! Tax timing `at_payment` (§5.5 last paragraph, §7.3 items 4–5): prepaid customers are taxed on each payment
//! and never again at the close; postpaid members of the same class are taxed at the close.

use reqwest::StatusCode;
use serde_json::json;

use crate::fixtures::*;
use crate::on_both_backends;

on_both_backends! {
    async fn example_7_3_prepaid_tax_at_payment(app) {
        let mut extra = fixed_vat("19", false);
        merge(&mut extra, json!({"taxation": {"tax_timing": "at_payment"}}));
        let class = invoicing_class(app, "Prepaid DE", "EUR", extra).await;
        let prepaid = customer(app, json!({"name": "Customer 1005", "currency": "EUR", "class_id": class["id"],
            "prepaid": true, "time_zone": "Europe/Berlin", "activated_at": "2025-05-01T00:00:00+02:00"})).await;
        let postpaid = customer(app, json!({"name": "Postpaid", "currency": "EUR", "class_id": class["id"],
            "time_zone": "Europe/Berlin", "activated_at": "2025-05-01T00:00:00+02:00"})).await;

        for party in [prepaid, postpaid] {
            let paid = app.post("/api/v1/payments", &app.admin, json!({"party_id": party, "amount": "50",
                "currency": "EUR", "received_at": "2025-05-05T10:00:00+02:00"})).await;
            assert_eq!(paid.status, StatusCode::CREATED, "{}", paid.text);
        }
        // §7.3 item 4: 50 × 19 / 119 = 7.9831932… at the payment instant, reducing the funds.
        let taxes = tax_xdrs(app, prepaid).await;
        assert_eq!(taxes.len(), 1, "{taxes:?}");
        let tax = &taxes[0];
        assert_eq!(
            [&tax["amount"], &tax["tax_amount"], &tax["tax_base"], &tax["tax_rate_percent"], &tax["occurred_at"]],
            [&json!("7.98319"), &json!("7.98319"), &json!("42.01681"), &json!("19"), &json!("2025-05-05T08:00:00Z")]
        );
        let balance: i64 = app.get(&format!("/api/v1/xdrs?party_id={prepaid}"), &app.admin).await.body["items"]
            .as_array().expect("items").iter()
            .map(|x| x["amount"].as_str().expect("amount").replace('.', "").parse::<i64>().expect("units"))
            .sum();
        assert_eq!(balance, -4_201_681);
        assert!(tax_xdrs(app, postpaid).await.is_empty());

        for party in [prepaid, postpaid] {
            post_xdrs(app, vec![xdr(party, "use", "2025-05-20T12:00:00+02:00", "usage", "voice", "30")]).await;
        }
        assert_eq!(bill(app, "2025-06-01T04:00:00Z").await["invoices_issued"], json!(2));

        // §7.3 item 5: no second tax at the close.
        assert_eq!(tax_xdrs(app, prepaid).await.len(), 1);
        let invoice = only_invoice(app, prepaid).await;
        assert_eq!(totals(&invoice), ["37.99000", "0.00681", "30.00000", "7.98319"].map(String::from));
        assert_eq!(tax_lines(&invoice), vec![row(["VAT", "19", "42.01681", "7.98319", "7.98319"])]);
        assert_eq!(
            [&invoice["status"], &invoice["amount_due"], &invoice["credit_carried"], &invoice["payments"]],
            [&json!("paid"), &json!("0.00000"), &json!("12.01000"), &json!("-50.00000")]
        );

        // The postpaid member is taxed at the close: 30 × 19 % = 5.70.
        let other = only_invoice(app, postpaid).await;
        assert_eq!(tax_lines(&other), vec![row(["VAT", "19", "30.00000", "5.70000", "5.70000"])]);
        assert_eq!(other["total"], json!("35.70000"));
    }
}

on_both_backends! {
    async fn a_refund_to_a_customer_taxed_at_payment_books_its_tax_back(app) {
        let mut extra = fixed_vat("19", false);
        merge(&mut extra, json!({"taxation": {"tax_timing": "at_payment"}}));
        let class = invoicing_class(app, "Prepaid DE", "EUR", extra).await;
        let party = customer(app, json!({"name": "Customer 1005", "currency": "EUR", "class_id": class["id"],
            "prepaid": true, "time_zone": "Europe/Berlin", "activated_at": "2025-05-01T00:00:00+02:00"})).await;
        let paid = app.post("/api/v1/payments", &app.admin, json!({"party_id": party, "amount": "50",
            "currency": "EUR", "received_at": "2025-05-05T10:00:00+02:00"})).await;
        assert_eq!(paid.status, StatusCode::CREATED, "{}", paid.text);
        post_xdrs(app, vec![xdr(party, "use", "2025-05-20T12:00:00+02:00", "usage", "voice", "30")]).await;
        bill(app, "2025-06-01T04:00:00Z").await;
        assert_eq!(only_invoice(app, party).await["credit_carried"], json!("12.01000"));

        // A refund is a payment in reverse: the 19 % inside the 12.01 paid back is booked back with it.
        let refund = app.post(&format!("/api/v1/customers/{party}/refunds"), &app.admin, json!({
            "amount": "12.01", "reason": "Contract ended", "as_of": "2025-06-02T10:00:00+02:00"})).await;
        assert_eq!(refund.status, StatusCode::CREATED, "{}", refund.text);
        // 12.01 × 19 / 119 = 1.9175630… → −1.91756.
        assert_eq!([&refund.body["reversed_tax"], &refund.body["remaining_credit"]],
                   [&json!("-1.91756"), &json!("0.00000")]);
        let taxes = tax_xdrs(app, party).await;
        assert_eq!(taxes.len(), 2, "{taxes:?}");
        let back = taxes.iter().find(|t| t["amount"] == json!("-1.91756")).expect("the tax booked back");
        assert_eq!([&back["tax_base"], &back["occurred_at"]], [&json!("-10.09244"), &json!("2025-06-02T08:00:00Z")]);

        // June's invoice carries the tax booked back as a credit: −1.91756, rounded away from zero to −1.92.
        bill(app, "2025-07-01T04:00:00Z").await;
        let june = app.invoices_of(party).await.iter().find(|i| i["issue_date"] == json!("2025-07-01")).cloned()
            .expect("the June invoice");
        let june = app.invoice(&june["id"]).await;
        assert_eq!(totals(&june), ["-1.92000", "-0.00244", "0.00000", "-1.91756"].map(String::from));
        assert_eq!([&june["amount_due"], &june["credit_carried"]], [&json!("0.00000"), &json!("1.92000")]);
    }
}
