//! Class assignment (customer-classes §1.2, §1.3, §7.5): checks A1–A6 on single parties, the worked example
//! row by row, and bulk assignment through `/customer-classes/{id}/members`.

mod support;

use std::time::Instant;

use classbill_engine::NewUserRole;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{Answer, TestApp};

const CLASSES: &str = "/api/v1/customer-classes";
const CUSTOMERS: &str = "/api/v1/customers";

fn id_of(answer: &Answer) -> i64 {
    answer.body["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("an id in {}", answer.text))
}

async fn class(app: &TestApp, token: &str, body: Value) -> i64 {
    app.class(token, body).await["id"].as_i64().expect("class id")
}

async fn customer(app: &TestApp, token: &str, body: Value) -> i64 {
    let answer = app.post(CUSTOMERS, token, body).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}: {}", app.backend, answer.text);
    id_of(&answer)
}

async fn patch_customer(app: &TestApp, token: &str, id: i64, body: Value) -> Answer {
    app.send(
        Method::PATCH,
        &format!("{CUSTOMERS}/{id}"),
        Some(token),
        Some(body),
        None,
    )
    .await
}

/// The answer carries exactly this one error, with this status.
fn assert_refused(answer: &Answer, status: StatusCode, field: &str, code: &str, message: &str) {
    assert_eq!(answer.status, status, "{}", answer.text);
    assert_eq!(
        answer.body["errors"],
        json!([{"field": field, "code": code, "message": message}]),
        "{}",
        answer.text
    );
}

async fn member_count(app: &TestApp, id: i64) -> i64 {
    let answer = app.get(&format!("{CLASSES}/{id}"), &app.admin).await;
    answer.body["member_count"].as_i64().expect("member_count")
}

async fn class_of(app: &TestApp, token: &str, customer: i64) -> i64 {
    let answer = app.get(&format!("{CUSTOMERS}/{customer}"), token).await;
    answer.body["class_id"].as_i64().expect("class_id")
}

/// Marks a party closed the way a termination will (no API closes parties yet).
async fn close(app: &TestApp, party: i64) {
    let mut tx = app.engine.store.write().await.expect("write");
    tx.execute(
        "UPDATE parties SET status = 'closed' WHERE id = $1",
        classbill_store::args![party],
    )
    .await
    .expect("closed");
    tx.commit().await.expect("commit");
}

/// The cast of §7.5: reseller 7 with its user, administrator class 5 (EUR) holding the reseller, class 31
/// "Alpha Gold" (reseller 7, EUR), administrator class 12, customers 2001 (R7, EUR), 2002 (R7, USD) and 1001
/// (operator, EUR).
struct Example {
    reseller: i64,
    user: String,
    class_5: i64,
    class_12: i64,
    class_31: i64,
    c2001: i64,
    c2002: i64,
    c1001: i64,
}

async fn example(app: &TestApp) -> Example {
    let class_5 = class(app, &app.admin, json!({"name": "Resellers", "currency": "EUR"})).await;
    let class_12 = class(app, &app.admin, json!({"name": "Business EU", "currency": "EUR"})).await;
    let made = app
        .post(
            "/api/v1/resellers",
            &app.admin,
            json!({"name": "Alpha Telecom", "class_id": class_5}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    let reseller = id_of(&made);
    let user = app.user("alpha-user", NewUserRole::Reseller(reseller)).await;
    let class_31 = class(app, &user, json!({"name": "Alpha Gold", "currency": "EUR"})).await;
    let c2001 = customer(app, &user, json!({"name": "Customer 2001", "currency": "EUR"})).await;
    let c2002 = customer(app, &user, json!({"name": "Customer 2002", "currency": "USD"})).await;
    let c1001 = customer(app, &app.admin, json!({"name": "Customer 1001", "class_id": class_12})).await;
    Example {
        reseller,
        user,
        class_5,
        class_12,
        class_31,
        c2001,
        c2002,
        c1001,
    }
}

on_both_backends! {
    async fn example_7_5_reseller_class_assignment_refusals(app) {
        let x = example(app).await;
        let r = x.reseller;
        assert_eq!(class_of(app, &app.admin, x.c1001).await, x.class_12);
        let reseller = app.get(&format!("/api/v1/resellers/{r}"), &app.admin).await;
        assert_eq!(reseller.body["class_id"], json!(x.class_5));

        // Row 1: the administrator may not assign a reseller-managed class.
        let answer = patch_customer(app, &app.admin, x.c2001, json!({"class_id": x.class_31})).await;
        let a2 = format!("class {} is managed by reseller {r}; only that reseller's users may assign it", x.class_31);
        assert_refused(&answer, StatusCode::FORBIDDEN, "class_id", "not_assignable", &a2);
        assert_eq!(answer.body["type"], json!("urn:classbill:problem:forbidden-assignment"));
        assert_eq!(answer.body["title"], json!("Assignment not permitted"));
        assert_eq!(answer.body["status"], json!(403));

        // Row 2: A2 is checked before A3.
        let answer = patch_customer(app, &app.admin, x.c1001, json!({"class_id": x.class_31})).await;
        assert_refused(&answer, StatusCode::FORBIDDEN, "class_id", "not_assignable", &a2);

        // Row 3: currency.
        let answer = patch_customer(app, &x.user, x.c2002, json!({"class_id": x.class_31})).await;
        assert_refused(
            &answer,
            StatusCode::UNPROCESSABLE_ENTITY,
            "class_id",
            "currency_mismatch",
            "class currency EUR does not match party currency USD",
        );

        // Row 4: administrator classes are invisible to reseller users.
        let answer = patch_customer(app, &x.user, x.c2001, json!({"class_id": x.class_12})).await;
        let a1 = format!("class {} not found", x.class_12);
        assert_refused(&answer, StatusCode::UNPROCESSABLE_ENTITY, "class_id", "not_found", &a1);

        // Row 5: A3.
        let answer = patch_customer(app, &app.admin, x.c2001, json!({"class_id": x.class_12})).await;
        let a3 = format!(
            "class {} is managed by the administrator; customers of reseller {r} need a class managed by reseller {r}",
            x.class_12
        );
        assert_refused(&answer, StatusCode::UNPROCESSABLE_ENTITY, "class_id", "owner_mismatch", &a3);

        // None of the refusals moved anybody.
        assert_eq!(member_count(app, x.class_31).await, 0);
        assert_ne!(class_of(app, &x.user, x.c2001).await, x.class_31);

        // Row 6: the reseller's own user succeeds.
        let answer = patch_customer(app, &x.user, x.c2001, json!({"class_id": x.class_31})).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        assert_eq!(answer.body["class_id"], json!(x.class_31));
        assert_eq!(member_count(app, x.class_31).await, 1);
    }
}

on_both_backends! {
    async fn a1_an_invisible_or_missing_class_is_not_found(app) {
        let x = example(app).await;
        for missing in [x.class_12, 999_999] {
            let answer = app
                .post(CUSTOMERS, &x.user, json!({"name": "New", "currency": "EUR", "class_id": missing}))
                .await;
            assert_refused(
                &answer,
                StatusCode::UNPROCESSABLE_ENTITY,
                "class_id",
                "not_found",
                &format!("class {missing} not found"),
            );
        }
    }
}

on_both_backends! {
    async fn a2_the_administrator_cannot_assign_a_reseller_class(app) {
        let x = example(app).await;
        let answer = app
            .post(CUSTOMERS, &app.admin, json!({"name": "New", "reseller_id": x.reseller, "class_id": x.class_31}))
            .await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.text);
        assert!(answer.has_error("class_id", "not_assignable"), "{}", answer.text);
    }
}

on_both_backends! {
    async fn a3_a_class_of_another_owner_does_not_fit(app) {
        let x = example(app).await;
        // An operator class for a customer of reseller 7, named by the administrator.
        let answer = app
            .post(CUSTOMERS, &app.admin, json!({"name": "New", "reseller_id": x.reseller, "class_id": x.class_12}))
            .await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", answer.text);
        assert!(answer.has_error("class_id", "owner_mismatch"), "{}", answer.text);
        // The operator's direct resellers get operator classes only.
        let answer = patch_customer(app, &app.admin, x.c1001, json!({"class_id": x.class_5})).await;
        assert_eq!(answer.status, StatusCode::OK, "an operator class fits an operator customer: {}", answer.text);
    }
}

on_both_backends! {
    async fn a4_currency_must_match(app) {
        let x = example(app).await;
        let answer = app
            .post(CUSTOMERS, &app.admin, json!({"name": "New", "currency": "USD", "class_id": x.class_12}))
            .await;
        assert_refused(
            &answer,
            StatusCode::UNPROCESSABLE_ENTITY,
            "class_id",
            "currency_mismatch",
            "class currency EUR does not match party currency USD",
        );
    }
}

on_both_backends! {
    async fn a5_a_mandatory_field_without_value_blocks_joining(app) {
        let field = app
            .post("/api/v1/custom-fields", &app.admin,
                json!({"key": "contract_no", "label": "Contract", "type": "text", "mandatory": true}))
            .await;
        let field = id_of(&field);
        let business = class(app, &app.admin,
            json!({"name": "Business EU", "currency": "EUR", "custom_fields": {"enabled_field_ids": [field]}}))
            .await;
        let plain = customer(app, &app.admin, json!({"name": "Plain", "currency": "EUR"})).await;
        let answer = patch_customer(app, &app.admin, plain, json!({"class_id": business})).await;
        assert_refused(
            &answer,
            StatusCode::UNPROCESSABLE_ENTITY,
            "custom_fields.contract_no",
            "required",
            "required by class \"Business EU\"",
        );
        // The value in the same request satisfies A5.
        let answer = patch_customer(app, &app.admin, plain,
            json!({"class_id": business, "custom_fields": {"contract_no": "C-1"}}))
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        assert_eq!(answer.body["custom_fields"], json!({"contract_no": "C-1"}));
    }
}

on_both_backends! {
    async fn a6_a_closed_party_keeps_its_class(app) {
        let x = example(app).await;
        close(app, x.c1001).await;
        let answer = patch_customer(app, &app.admin, x.c1001, json!({"class_id": x.class_5})).await;
        assert_refused(
            &answer,
            StatusCode::CONFLICT,
            "class_id",
            "party_closed",
            &format!("party {} is closed", x.c1001),
        );
        // A6 comes last: a class of the wrong owner is reported first.
        let answer = patch_customer(app, &app.admin, x.c1001, json!({"class_id": x.class_31})).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.text);
        // Other fields of a closed party may still change.
        let answer = patch_customer(app, &app.admin, x.c1001, json!({"email": "closed@example.com"})).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    }
}

on_both_backends! {
    async fn a_party_without_class_id_gets_its_owners_default(app) {
        let x = example(app).await;
        let reseller = app.get(&format!("/api/v1/resellers/{}", x.reseller), &app.admin).await;
        let reseller_default = reseller.body["default_class_id"].as_i64().expect("a Default");
        // Even when the administrator creates it (§1.2 rule 4).
        let made = app
            .post(CUSTOMERS, &app.admin, json!({"name": "Via admin", "reseller_id": x.reseller, "currency": "EUR"}))
            .await;
        assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
        assert_eq!(made.body["class_id"], json!(reseller_default));
        assert_eq!(made.body["reseller_id"], json!(x.reseller));
        assert_eq!(class_of(app, &x.user, x.c2001).await, reseller_default);
    }
}

on_both_backends! {
    async fn assignable_to_lists_the_classes_a_customer_may_join(app) {
        let x = example(app).await;
        let ids = |answer: &Answer| -> Vec<i64> {
            answer.body["items"].as_array().expect("items").iter().map(|c| c["id"].as_i64().unwrap()).collect()
        };
        let offered = app.get(&format!("{CLASSES}?assignable_to={}", x.c2001), &x.user).await;
        let reseller_default = app.get(&format!("/api/v1/resellers/{}", x.reseller), &app.admin).await.body
            ["default_class_id"].as_i64().unwrap();
        let mut offered = ids(&offered);
        offered.sort_unstable();
        assert_eq!(offered, vec![reseller_default, x.class_31]);
        let offered = app.get(&format!("{CLASSES}?assignable_to={}", x.c2002), &x.user).await;
        assert_eq!(ids(&offered), vec![reseller_default], "USD excludes the EUR class");
        let offered = app.get(&format!("{CLASSES}?assignable_to={}", x.c2001), &app.admin).await;
        assert!(ids(&offered).is_empty(), "the administrator assigns no reseller class");
    }
}

on_both_backends! {
    async fn bulk_assignment_reports_one_outcome_per_party(app) {
        let x = example(app).await;
        close(app, x.c2002).await;
        let extra = customer(app, &x.user, json!({"name": "Extra", "currency": "EUR"})).await;
        let body = json!({"party_ids": [x.c2001, x.c2002, x.c1001, 999_999, extra]});
        let answer = app.post(&format!("{CLASSES}/{}/members", x.class_31), &x.user, body.clone()).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        let items = answer.body["items"].as_array().expect("items");
        assert_eq!(items.len(), 5);
        assert_eq!(items[0], json!({"party_id": x.c2001, "outcome": "assigned", "status": 200, "errors": []}));
        // 2002: USD fails A4 before its closure would fail A6.
        assert_eq!(items[1]["outcome"], json!("rejected"));
        assert_eq!(items[1]["status"], json!(422));
        assert_eq!(items[1]["errors"][0]["code"], json!("currency_mismatch"));
        // 1001 belongs to the operator: invisible to the reseller user.
        assert_eq!(items[2]["outcome"], json!("rejected"));
        assert_eq!(items[2]["status"], json!(404));
        assert_eq!(items[3]["status"], json!(404));
        assert_eq!(items[3]["errors"][0]["field"], json!("party_ids[3]"));
        assert_eq!(items[4]["outcome"], json!("assigned"));
        assert_eq!(member_count(app, x.class_31).await, 2);

        // Sending the same list again changes nothing.
        let again = app.post(&format!("{CLASSES}/{}/members", x.class_31), &x.user, body).await;
        let again = again.body["items"].as_array().expect("items").clone();
        assert_eq!(again[0]["outcome"], json!("unchanged"));
        assert_eq!(again[4]["outcome"], json!("unchanged"));
        assert_eq!(again[1]["outcome"], json!("rejected"));

        // The administrator: A2 for every visible party, A6 for a closed one in its own class.
        let answer = app
            .post(&format!("{CLASSES}/{}/members", x.class_31), &app.admin, json!({"party_ids": [x.c1001]}))
            .await;
        assert_eq!(answer.body["items"][0]["status"], json!(403), "{}", answer.text);
        assert_eq!(answer.body["items"][0]["errors"][0]["code"], json!("not_assignable"));
        close(app, x.c1001).await;
        let answer = app
            .post(&format!("{CLASSES}/{}/members", x.class_5), &app.admin, json!({"party_ids": [x.c1001]}))
            .await;
        assert_eq!(
            answer.body["items"][0],
            json!({"party_id": x.c1001, "outcome": "rejected", "status": 409, "errors": [
                {"field": "class_id", "code": "party_closed", "message": format!("party {} is closed", x.c1001)}]})
        );

        // The member list and the class list agree.
        let members = app.get(&format!("{CLASSES}/{}/members", x.class_31), &x.user).await;
        let listed: Vec<i64> = members.body["items"].as_array().unwrap().iter().map(|m| m["id"].as_i64().unwrap()).collect();
        assert_eq!(listed, vec![x.c2001, extra]);
        let list = app.get(&format!("{CLASSES}?name=alpha"), &x.user).await;
        assert_eq!(list.body["items"][0]["member_count"], json!(2), "{}", list.text);
        let first = app.get(&format!("{CLASSES}/{}/members?limit=1", x.class_31), &x.user).await;
        let cursor = first.body["next_cursor"].as_str().expect("a second page").to_owned();
        let second = app.get(&format!("{CLASSES}/{}/members?limit=1&cursor={cursor}", x.class_31), &x.user).await;
        assert_eq!(second.body["items"][0]["id"], json!(extra));
        assert_eq!(second.body["next_cursor"], Value::Null);
        // An invisible class has no member list.
        let hidden = app.get(&format!("{CLASSES}/{}/members", x.class_12), &x.user).await;
        assert_eq!(hidden.status, StatusCode::NOT_FOUND);
    }
}

on_both_backends! {
    async fn a_class_with_customer_members_cannot_be_deleted(app) {
        let x = example(app).await;
        let answer = patch_customer(app, &x.user, x.c2001, json!({"class_id": x.class_31})).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        let answer = app.delete(&format!("{CLASSES}/{}", x.class_31), &x.user).await;
        assert_eq!(answer.status, StatusCode::CONFLICT, "{}", answer.text);
        assert_eq!(answer.body["code"], json!("in_use"));
        let answer = app.post(&format!("{CLASSES}/delete"), &x.user, json!({"ids": [x.class_31]})).await;
        assert_eq!(answer.body["items"][0]["outcome"], json!("in_use"), "{}", answer.text);
        // Moving the member out frees the class.
        let answer = patch_customer(app, &x.user, x.c2001, json!({"class_id": null})).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        let answer = app.delete(&format!("{CLASSES}/{}", x.class_31), &x.user).await;
        assert_eq!(answer.status, StatusCode::NO_CONTENT, "{}", answer.text);
    }
}

on_both_backends! {
    async fn bulk_assignment_of_10000_parties_is_one_quick_transaction(app) {
        const COUNT: usize = 10_000;
        let target = class(app, &app.admin, json!({"name": "Target", "currency": "EUR"})).await;
        let default = app.get(&format!("{CLASSES}?name=default"), &app.admin).await.body["items"][0]["id"]
            .as_i64()
            .expect("the Default class");
        let mut ids = Vec::with_capacity(COUNT);
        let mut tx = app.engine.store.write().await.expect("write");
        for n in 0..COUNT {
            let id = classbill_store::parties::insert(
                &mut tx,
                classbill_store::parties::NewParty {
                    kind: "customer",
                    owner_reseller_id: None,
                    currency: "EUR".to_owned(),
                    fields: classbill_store::parties::PartyFields {
                        name: format!("Bulk {n}"),
                        class_id: default,
                        billing_period: "monthly".to_owned(),
                        time_zone: "UTC".to_owned(),
                        activated_at: 0,
                        prepaid: false,
                        country: None,
                        email: None,
                        phone: None,
                        tax_id: None,
                        tax_registered: false,
                        tax_exempt: false,
                        tax_exemption_reason: None,
                        custom_fields: json!({}),
                        overrides: json!({}),
                    },
                    created_at: 0,
                },
            )
            .await
            .expect("party stored");
            ids.push(id);
        }
        tx.commit().await.expect("commit");

        let started = Instant::now();
        let outcomes = app
            .engine
            .assign_members(
                &app.engine.authenticate_token(&app.admin).await.expect("admin"),
                target,
                &ids,
                jiff::Timestamp::now(),
            )
            .await
            .expect("bulk assignment");
        let elapsed = started.elapsed();
        println!("{}: bulk assignment of {COUNT} parties took {elapsed:?}", app.backend);
        assert_eq!(outcomes.len(), COUNT);
        assert!(outcomes.iter().all(|o| o.outcome == classbill_engine::MemberOutcomeKind::Assigned));
        assert_eq!(member_count(app, target).await, COUNT as i64);
        assert!(elapsed.as_secs() < 10, "{elapsed:?}");

        // Through HTTP as well: the same list again is all unchanged.
        let answer = app.post(&format!("{CLASSES}/{target}/members"), &app.admin, json!({"party_ids": ids})).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.status);
        let items = answer.body["items"].as_array().expect("items");
        assert!(items.iter().all(|i| i["outcome"] == json!("unchanged")));
    }
}
