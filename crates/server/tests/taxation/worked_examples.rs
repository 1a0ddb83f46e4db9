//! The taxes of the worked examples §7.1 item 3, §7.2, §7.3 items 1–3, §7.6 and the generic VAT example of §5.5,
//! with exact tax lines and totals.

use serde_json::json;

use crate::fixtures::*;
use crate::on_both_backends;

on_both_backends! {
    async fn example_7_1_item_3_tax_line(app) {
        let class = invoicing_class(app, "Business EU", "EUR", fixed_vat("19", false)).await;
        let party = berlin_customer(app, &class).await;
        app.section_7_1_march_charges(party).await;
        assert_eq!(bill(app, "2025-04-01T04:00:00Z").await["invoices_issued"], json!(1));

        let invoice = only_invoice(app, party).await;
        assert_eq!(tax_lines(&invoice), vec![row(["VAT", "19", "66.34812", "12.60614", "12.60614"])]);
        assert_eq!(totals(&invoice), ["78.96000", "0.00574", "66.34812", "12.60614"].map(String::from));
        let tax = &tax_xdrs(app, party).await[0];
        assert_eq!(
            (tax["reverse_charge"].clone(), tax["outside_scope"].clone(), tax["occurred_at"].clone()),
            (json!(false), json!(false), json!("2025-03-31T22:00:00Z"))
        );
    }
}

on_both_backends! {
    async fn example_7_2_inclusive_weekly_invoice(app) {
        // One class per rounding method of §7.2 items 2 and 4, each with a customer holding the same xDRs.
        let expected = [
            ("half_away_from_zero", ["13.32000", "-0.00332", "11.10277", "2.22055"]),
            ("away_from_zero", ["13.33000", "0.00668", "11.10277", "2.22055"]),
            ("special", ["13.30000", "-0.02332", "11.10277", "2.22055"]),
        ];
        let mut parties = Vec::new();
        for (method, _) in &expected {
            let mut extra = fixed_vat("20", true);
            merge(&mut extra, json!({
                "general_info": {"rounding_method": method},
                "regular_invoices": {"payment_terms": {"type": "due_upon_receipt"}},
            }));
            let class = invoicing_class(app, &format!("Retail AT {method}"), "EUR", extra).await;
            let party = customer(app, json!({"name": format!("Customer 1002 {method}"), "currency": "EUR",
                "class_id": class["id"], "time_zone": "Europe/Vienna", "billing_period": "weekly",
                "activated_at": "2025-06-11T14:30:00+02:00"})).await;
            post_xdrs(app, vec![
                xdr(party, "r", "2025-06-11T15:00:00+02:00", "recurring", "plan", "9.99"),
                xdr(party, "d1", "2025-06-12T10:00:00+02:00", "usage", "data", "1.23456"),
                xdr(party, "d2", "2025-06-13T10:00:00+02:00", "usage", "data", "0.98765"),
                xdr(party, "d3", "2025-06-14T10:00:00+02:00", "usage", "data", "1.11111"),
            ]).await;
            parties.push(party);
        }
        assert_eq!(bill(app, "2025-06-16T04:00:00Z").await["invoices_issued"], json!(3));
        for ((method, amounts), party) in expected.iter().zip(parties) {
            let invoice = only_invoice(app, party).await;
            assert_eq!(totals(&invoice), amounts.map(String::from), "{method}");
            // The inclusive tax adds nothing: its line amount is 0, the tax sits inside the charges.
            assert_eq!(tax_lines(&invoice), vec![row(["VAT", "20", "11.10277", "2.22055", "0.00000"])], "{method}");
            assert_eq!(tax_xdrs(app, party).await[0]["amount"], json!("0.00000"));
        }
    }
}

on_both_backends! {
    async fn example_7_3_custom_taxes_with_scopes(app) {
        let ids = [
            custom_tax(app, "State sales tax", "6.25", "all").await,
            custom_tax(app, "Telecom excise", "3", "usage").await,
            custom_tax(app, "Regulatory recovery", "1.5", "recurring").await,
        ];
        let extra = json!({"general_info": {"rounding_method": "special"},
                           "taxation": {"method": "custom", "custom_tax_ids": ids}});
        let class = invoicing_class(app, "US Telecom", "USD", extra).await;
        let party = customer(app, json!({"name": "Customer 1003", "currency": "USD", "class_id": class["id"],
            "time_zone": "America/Chicago", "billing_period": "monthly",
            "activated_at": "2025-05-01T00:00:00-05:00"})).await;
        post_xdrs(app, vec![
            xdr(party, "u", "2025-05-02T10:00:00-05:00", "usage", "voice", "100.12345"),
            xdr(party, "o", "2025-05-03T10:00:00-05:00", "one_time", "setup", "15"),
            xdr(party, "r", "2025-05-04T10:00:00-05:00", "recurring", "line", "40"),
            xdr(party, "c", "2025-05-05T10:00:00-05:00", "credit", "voice", "-5"),
            xdr(party, "l", "2025-05-06T10:00:00-05:00", "late_fee", "collections", "2"),
        ]).await;
        assert_eq!(bill(app, "2025-06-02T00:00:00Z").await["invoices_issued"], json!(1));

        let invoice = only_invoice(app, party).await;
        assert_eq!(tax_lines(&invoice), vec![
            row(["State sales tax", "6.25", "150.12345", "9.38272", "9.38272"]),
            row(["Telecom excise", "3", "115.12345", "3.45370", "3.45370"]),
            row(["Regulatory recovery", "1.5", "40.00000", "0.60000", "0.60000"]),
        ]);
        // U = 152.12345 + 13.43642 = 165.55987; special rounding keeps 165.55.
        assert_eq!(totals(&invoice), ["165.55000", "-0.00987", "152.12345", "13.43642"].map(String::from));
    }
}

on_both_backends! {
    async fn example_7_6_class_edit_mid_period(app) {
        let class = invoicing_class(app, "Business EU", "EUR", fixed_vat("19", false)).await;
        let party = berlin_customer(app, &class).await;
        app.section_7_1_march_charges(party).await;
        let revision = class["revision"].as_i64().expect("revision");
        let patched = app
            .patch(&format!("/api/v1/customer-classes/{}", class["id"]), &app.admin,
                   json!({"taxation": {"fixed_vat": {"rate_percent": "20"}}}), revision)
            .await;
        assert_eq!(patched.status, reqwest::StatusCode::OK, "{}", patched.text);

        bill(app, "2025-04-01T04:00:00Z").await;
        let invoice = only_invoice(app, party).await;
        assert_eq!(invoice["class_revision"], json!(revision + 1));
        assert_eq!(tax_lines(&invoice), vec![row(["VAT", "20", "66.34812", "13.26962", "13.26962"])]);
        assert_eq!(totals(&invoice), ["79.62000", "0.00226", "66.34812", "13.26962"].map(String::from));
    }
}

on_both_backends! {
    async fn example_5_5_generic_vat_by_country(app) {
        vat_rate(app, "DE", "19", Some("EU")).await;
        vat_rate(app, "AT", "20", Some("EU")).await;
        vat_rate(app, "US", "0", None).await;
        let extra = json!({"taxation": {"method": "generic_vat", "generic_vat": {"home_country": "DE"}}});
        let class = invoicing_class(app, "EU wide", "EUR", extra).await;
        let de_consumer = march_customer(app, &class, "DE consumer", json!({"country": "DE"})).await;
        let at_consumer = march_customer(app, &class, "AT consumer", json!({"country": "AT"})).await;
        let at_business = march_customer(app, &class, "AT business",
            json!({"country": "AT", "tax_id": "ATU12345678", "tax_registered": true})).await;
        let us_customer = march_customer(app, &class, "US customer", json!({"country": "US"})).await;
        for party in [de_consumer, at_consumer, at_business, us_customer] {
            post_xdrs(app, vec![xdr(party, "a", "2025-03-05T00:00:00Z", "usage", "voice", "10")]).await;
        }
        assert_eq!(bill(app, "2025-04-01T06:00:00Z").await["invoices_issued"], json!(4));

        let cases = [
            (de_consumer, ["VAT", "19", "10.00000", "1.90000", "1.90000"], "11.90000", None),
            (at_consumer, ["VAT", "20", "10.00000", "2.00000", "2.00000"], "12.00000", None),
            (at_business, ["VAT", "0", "10.00000", "0.00000", "0.00000"], "10.00000", Some("reverse_charge")),
            (us_customer, ["VAT", "0", "10.00000", "0.00000", "0.00000"], "10.00000", Some("outside_scope")),
        ];
        for (party, line, total, flag) in cases {
            let invoice = only_invoice(app, party).await;
            assert_eq!(tax_lines(&invoice), vec![row(line)], "party {party}");
            assert_eq!(invoice["total"], json!(total), "party {party}");
            let tax = invoice["lines"].as_array().expect("lines").iter().find(|l| l["kind"] == json!("tax"))
                .expect("tax line").clone();
            for name in ["reverse_charge", "outside_scope"] {
                assert_eq!(tax[name], json!(flag == Some(name)), "party {party} {name}");
            }
            assert_eq!(tax["note"].is_string(), flag.is_some(), "party {party}: {tax}");
            let stored = &tax_xdrs(app, party).await[0];
            assert_eq!(stored["reverse_charge"], json!(flag == Some("reverse_charge")));
            assert_eq!(stored["outside_scope"], json!(flag == Some("outside_scope")));
        }
    }
}

on_both_backends! {
    async fn exempt_parties_get_no_tax_and_the_reason_on_the_invoice(app) {
        let class = invoicing_class(app, "Business EU", "EUR", fixed_vat("19", false)).await;
        let exempt = march_customer(app, &class, "Charity",
            json!({"tax_exempt": true, "tax_exemption_reason": "Charitable organisation, § 4 Nr. 18 UStG"})).await;
        let taxed = march_customer(app, &class, "Shop", json!({})).await;
        for party in [exempt, taxed] {
            post_xdrs(app, vec![xdr(party, "a", "2025-03-05T00:00:00Z", "usage", "voice", "10")]).await;
        }
        assert_eq!(bill(app, "2025-04-01T06:00:00Z").await["invoices_issued"], json!(2));

        let invoice = only_invoice(app, exempt).await;
        assert!(tax_lines(&invoice).is_empty(), "{invoice}");
        assert_eq!(totals(&invoice), ["10.00000", "0.00000", "10.00000", "0.00000"].map(String::from));
        assert_eq!(invoice["tax_exemption_reason"], json!("Charitable organisation, § 4 Nr. 18 UStG"));
        assert!(tax_xdrs(app, exempt).await.is_empty());
        let other = only_invoice(app, taxed).await;
        assert!(other.get("tax_exemption_reason").is_none(), "{other}");
        assert_eq!(other["tax_total"], json!("1.90000"));
    }
}
