//! Who sees, edits, deletes and assigns which class (customer-classes §1.3, §1.5), the resellers endpoints as
//! a reseller user sees them, and the class list of §2.10: columns, filters and keyset pagination.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{Answer, TestApp};

const CLASSES: &str = "/api/v1/customer-classes";

/// The ids of a list answer, in the order given.
fn ids(answer: &Answer) -> Vec<i64> {
    assert_eq!(answer.status, StatusCode::OK, "list: {}", answer.text);
    answer.body["items"]
        .as_array()
        .expect("a list has items")
        .iter()
        .map(|item| item["id"].as_i64().expect("every item has an id"))
        .collect()
}

fn sorted(mut ids: Vec<i64>) -> Vec<i64> {
    ids.sort_unstable();
    ids
}

async fn create(app: &TestApp, token: &str, body: Value) -> i64 {
    app.class(token, body).await["id"]
        .as_i64()
        .expect("created class has an id")
}

/// The Default class of a reseller, as the reseller record names it.
async fn default_of(app: &TestApp, reseller: i64) -> i64 {
    let answer = app.get(&format!("/api/v1/resellers/{reseller}"), &app.admin).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.body["default_class_id"]
        .as_i64()
        .expect("a reseller has a Default class")
}

async fn admin_default(app: &TestApp) -> i64 {
    let answer = app
        .get(&format!("{CLASSES}?managed_by=administrator&name=default"), &app.admin)
        .await;
    answer.body["items"]
        .as_array()
        .and_then(|items| items.iter().find(|c| c["name"] == json!("Default")))
        .and_then(|c| c["id"].as_i64())
        .expect("the administrator's Default class exists")
}

async fn user_id(app: &TestApp, token: &str) -> i64 {
    app.engine
        .authenticate_token(token)
        .await
        .expect("token is valid")
        .user_id
}

/// Two top-level resellers R ("Alpha") and Q ("Beta") with a user each, R's subreseller S ("Sub"), and one
/// non-default class per owner.
struct World {
    r: i64,
    r_user: String,
    q: i64,
    q_user: String,
    s: i64,
    admin_class: i64,
    r_class: i64,
    q_class: i64,
    s_class: i64,
    admin_default: i64,
    r_default: i64,
    q_default: i64,
    s_default: i64,
}

async fn world(app: &TestApp) -> World {
    let (r, r_user) = app.reseller_with_user("Alpha").await;
    let (q, q_user) = app.reseller_with_user("Beta").await;
    let s = app.reseller("Sub", Some(r)).await;
    let admin_class = create(app, &app.admin, json!({"name": "Operator Gold", "currency": "EUR"})).await;
    let r_class = create(app, &r_user, json!({"name": "Alpha Silver", "currency": "EUR"})).await;
    let q_class = create(app, &q_user, json!({"name": "Beta Bronze"})).await;
    let s_class = create(
        app,
        &app.admin,
        json!({"name": "Sub Copper", "managed_by": {"type": "reseller", "reseller_id": s}}),
    )
    .await;
    World {
        r,
        r_user,
        q,
        q_user,
        s,
        admin_class,
        r_class,
        q_class,
        s_class,
        admin_default: admin_default(app).await,
        r_default: default_of(app, r).await,
        q_default: default_of(app, q).await,
        s_default: default_of(app, s).await,
    }
}

/// Every class the token can list, walking all pages.
async fn list_all(app: &TestApp, token: &str, query: &str) -> Vec<i64> {
    let mut found = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("{CLASSES}?limit=1000{query}");
        if let Some(cursor) = &cursor {
            path.push_str(&format!("&cursor={cursor}"));
        }
        let answer = app.get(&path, token).await;
        found.extend(ids(&answer));
        match answer.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return found,
        }
    }
}

/// The ids a filtered list answers, sorted.
async fn filtered(app: &TestApp, token: &str, query: &str) -> Vec<i64> {
    sorted(ids(&app.get(&format!("{CLASSES}?limit=1000&{query}"), token).await))
}

async fn problem_status(app: &TestApp, method: Method, path: &str, token: &str, body: Option<Value>) -> StatusCode {
    app.send(method, path, Some(token), body, Some("\"1\"")).await.status
}

on_both_backends! {
    async fn an_administrator_lists_views_and_reads_the_history_of_every_class(app) {
        let w = world(app).await;
        let every = [
            w.admin_class, w.r_class, w.q_class, w.s_class, w.admin_default, w.r_default, w.q_default, w.s_default,
        ];
        assert_eq!(sorted(list_all(app, &app.admin, "").await), sorted(every.to_vec()), "{}", app.backend);
        for id in every {
            let view = app.get(&format!("{CLASSES}/{id}"), &app.admin).await;
            assert_eq!(view.status, StatusCode::OK, "class {id}: {}", view.text);
            assert_eq!(view.body["id"], json!(id));
            let history = app.get(&format!("{CLASSES}/{id}/revisions"), &app.admin).await;
            assert_eq!(history.status, StatusCode::OK, "revisions of {id}: {}", history.text);
            assert_eq!(history.body["items"][0]["revision"], json!(1));
        }
        // Search reaches reseller classes too.
        let found = ids(&app.get(&format!("{CLASSES}?name=bronze"), &app.admin).await);
        assert_eq!(found, vec![w.q_class]);
    }
}

on_both_backends! {
    async fn a_reseller_user_sees_only_its_own_classes_not_those_of_the_administrator_other_resellers_or_subresellers(app) {
        let w = world(app).await;
        assert_eq!(
            sorted(list_all(app, &w.r_user, "").await),
            sorted(vec![w.r_class, w.r_default]),
            "R lists only its classes ({})",
            app.backend
        );
        assert_eq!(
            sorted(list_all(app, &w.q_user, "").await),
            sorted(vec![w.q_class, w.q_default]),
            "Q lists only its classes"
        );
        // Search never reaches another owner's classes.
        assert!(ids(&app.get(&format!("{CLASSES}?name=bronze"), &w.r_user).await).is_empty());
        assert!(ids(&app.get(&format!("{CLASSES}?name=gold"), &w.r_user).await).is_empty());
        assert!(ids(&app.get(&format!("{CLASSES}?name=copper"), &w.r_user).await).is_empty());
        assert_eq!(ids(&app.get(&format!("{CLASSES}?name=silver"), &w.r_user).await), vec![w.r_class]);
        // Asking for another owner's classes by filter gives nothing either.
        assert!(ids(&app.get(&format!("{CLASSES}?managed_by=administrator"), &w.r_user).await).is_empty());
        assert!(ids(&app.get(&format!("{CLASSES}?managed_by={}", w.q), &w.r_user).await).is_empty());
        assert!(ids(&app.get(&format!("{CLASSES}?managed_by={}", w.s), &w.r_user).await).is_empty());

        for (token, invisible) in [
            (&w.r_user, [w.admin_class, w.admin_default, w.q_class, w.q_default, w.s_class, w.s_default]),
            (&w.q_user, [w.admin_class, w.admin_default, w.r_class, w.r_default, w.s_class, w.s_default]),
        ] {
            for id in invisible {
                for path in [
                    format!("{CLASSES}/{id}"),
                    format!("{CLASSES}/{id}/revisions"),
                    format!("{CLASSES}/{id}/revisions/1"),
                ] {
                    let answer = app.get(&path, token).await;
                    assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}: {}", answer.text);
                    assert_eq!(answer.body["status"], json!(404));
                }
            }
        }
        for id in [w.r_class, w.r_default] {
            assert_eq!(app.get(&format!("{CLASSES}/{id}"), &w.r_user).await.status, StatusCode::OK);
            assert_eq!(app.get(&format!("{CLASSES}/{id}/revisions"), &w.r_user).await.status, StatusCode::OK);
            assert_eq!(app.get(&format!("{CLASSES}/{id}/revisions/1"), &w.r_user).await.status, StatusCode::OK);
        }
    }
}

on_both_backends! {
    async fn a_reseller_user_creates_classes_managed_by_its_reseller_only(app) {
        let w = world(app).await;
        let implicit = app.class(&w.r_user, json!({"name": "Implicit"})).await;
        assert_eq!(implicit["managed_by"], json!({"type": "reseller", "reseller_id": w.r}), "{}", app.backend);
        let explicit = app
            .class(&w.r_user, json!({"name": "Explicit", "managed_by": {"type": "reseller", "reseller_id": w.r}}))
            .await;
        assert_eq!(explicit["managed_by"], json!({"type": "reseller", "reseller_id": w.r}));

        for owner in [
            json!({"type": "reseller", "reseller_id": w.q}),
            json!({"type": "reseller", "reseller_id": w.s}),
            json!({"type": "administrator"}),
        ] {
            let refused = app.post(CLASSES, &w.r_user, json!({"name": "Elsewhere", "managed_by": owner})).await;
            assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{owner}: {}", refused.text);
            assert!(refused.has_error("managed_by", "forbidden_owner"), "{}", refused.text);
            let message = refused.body["errors"][0]["message"].as_str().unwrap_or_default();
            assert_eq!(message, "resellers can only create classes they manage");
        }
        // Nothing was created for the refused owners.
        assert!(ids(&app.get(&format!("{CLASSES}?name=elsewhere"), &app.admin).await).is_empty());
        // Names are unique per owner only: another owner's class of the same name neither blocks nor shows.
        let same_name = app.post(CLASSES, &w.r_user, json!({"name": "beta bronze"})).await;
        assert_eq!(same_name.status, StatusCode::CREATED, "{}", same_name.text);
        let taken = app.post(CLASSES, &w.r_user, json!({"name": "ALPHA SILVER"})).await;
        assert!(taken.has_error("name", "name_taken"), "{}", taken.text);
        // An administrator may name any existing reseller, at any depth, but nothing else.
        let missing = app
            .post(CLASSES, &app.admin, json!({"name": "Nobody's", "managed_by": {"type": "reseller", "reseller_id": 987_654}}))
            .await;
        assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", missing.text);
        assert!(missing.error_codes().iter().any(|(field, _)| field == "managed_by"), "{}", missing.text);
    }
}

on_both_backends! {
    async fn an_administrator_creates_and_edits_a_class_for_a_reseller_and_is_recorded_as_the_author(app) {
        let w = world(app).await;
        let admin_id = user_id(app, &app.admin).await;
        let created = app
            .class(&app.admin, json!({"name": "Made For Alpha", "managed_by": {"type": "reseller", "reseller_id": w.r}}))
            .await;
        let id = created["id"].as_i64().unwrap();
        assert_eq!(created["managed_by"], json!({"type": "reseller", "reseller_id": w.r}), "{}", app.backend);
        // The reseller's user now sees it as its own; the other reseller does not.
        assert_eq!(app.get(&format!("{CLASSES}/{id}"), &w.r_user).await.status, StatusCode::OK);
        assert_eq!(app.get(&format!("{CLASSES}/{id}"), &w.q_user).await.status, StatusCode::NOT_FOUND);

        let edited = app.patch(&format!("{CLASSES}/{id}"), &app.admin, json!({"description": "by the operator"}), 1).await;
        assert_eq!(edited.status, StatusCode::OK, "{}", edited.text);
        let history = app.get(&format!("{CLASSES}/{id}/revisions"), &w.r_user).await;
        assert_eq!(history.status, StatusCode::OK, "{}", history.text);
        for revision in history.body["items"].as_array().unwrap() {
            assert_eq!(
                revision["author"],
                json!({"type": "administrator", "user_id": admin_id, "name": "admin"}),
                "revision {}",
                revision["revision"]
            );
        }
        assert_eq!(history.body["items"].as_array().unwrap().len(), 2);

        // The administrator edits a class the reseller made; the author is still the administrator.
        let edited = app.patch(&format!("{CLASSES}/{}", w.r_class), &app.admin, json!({"description": "x"}), 1).await;
        assert_eq!(edited.status, StatusCode::OK, "{}", edited.text);
        let history = app.get(&format!("{CLASSES}/{}/revisions", w.r_class), &w.r_user).await;
        assert_eq!(history.body["items"][0]["author"]["type"], json!("administrator"));
        assert_eq!(history.body["items"][0]["author"]["user_id"], json!(admin_id));
        assert_eq!(history.body["items"][1]["author"]["type"], json!("reseller_user"));

        // And previews it.
        let preview = app.post(&format!("{CLASSES}/{}/preview", w.q_class), &app.admin, json!({"description": "y"})).await;
        assert_eq!(preview.status, StatusCode::OK, "{}", preview.text);
        assert_eq!(preview.body["valid"], json!(true));
    }
}

on_both_backends! {
    async fn a_reseller_user_cannot_edit_or_preview_classes_of_others_404(app) {
        let w = world(app).await;
        for id in [w.admin_class, w.admin_default, w.q_class, w.s_class] {
            let path = format!("{CLASSES}/{id}");
            let patch = json!({"description": "taken over"});
            assert_eq!(
                problem_status(app, Method::PATCH, &path, &w.r_user, Some(patch.clone())).await,
                StatusCode::NOT_FOUND,
                "PATCH {path} ({})",
                app.backend
            );
            assert_eq!(
                problem_status(app, Method::PUT, &path, &w.r_user, Some(json!({"name": "Taken"}))).await,
                StatusCode::NOT_FOUND,
                "PUT {path}"
            );
            // Even without If-Match the class stays invisible rather than asking for a revision.
            let bare = app.send(Method::PATCH, &path, Some(&w.r_user), Some(patch.clone()), None).await;
            assert_eq!(bare.status, StatusCode::NOT_FOUND, "bare PATCH {path}: {}", bare.text);
            let preview = app.post(&format!("{path}/preview"), &w.r_user, patch.clone()).await;
            assert_eq!(preview.status, StatusCode::NOT_FOUND, "preview {path}: {}", preview.text);
            let copy = problem_status(
                app,
                Method::POST,
                &format!("{path}/out-of-turn-invoices/copy-policy-from-regular"),
                &w.r_user,
                None,
            )
            .await;
            assert_eq!(copy, StatusCode::NOT_FOUND, "copy-policy {path}");
            // Untouched.
            let stored = app.get(&path, &app.admin).await;
            assert_eq!(stored.body["revision"], json!(1));
            assert_eq!(stored.body["description"], json!(""));
        }
        // Its own class it edits and previews.
        let path = format!("{CLASSES}/{}", w.r_class);
        let preview = app.post(&format!("{path}/preview"), &w.r_user, json!({"description": "mine"})).await;
        assert_eq!(preview.status, StatusCode::OK, "{}", preview.text);
        let edited = app.patch(&path, &w.r_user, json!({"description": "mine"}), 1).await;
        assert_eq!(edited.status, StatusCode::OK, "{}", edited.text);
        assert_eq!(edited.body["description"], json!("mine"));
    }
}

on_both_backends! {
    async fn a_reseller_user_cannot_delete_classes_of_others_404_and_not_found_in_a_batch(app) {
        let w = world(app).await;
        for id in [w.admin_class, w.q_class, w.s_class] {
            let answer = app.delete(&format!("{CLASSES}/{id}"), &w.r_user).await;
            assert_eq!(answer.status, StatusCode::NOT_FOUND, "class {id} ({}): {}", app.backend, answer.text);
        }
        let spare = create(app, &w.r_user, json!({"name": "Spare"})).await;
        let batch = app
            .post(
                &format!("{CLASSES}/delete"),
                &w.r_user,
                json!({"ids": [w.admin_class, w.q_class, spare, w.r_default, w.s_class, 999_999]}),
            )
            .await;
        assert_eq!(batch.status, StatusCode::OK, "{}", batch.text);
        let outcomes: Vec<(i64, String)> = batch.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| (item["id"].as_i64().unwrap(), item["outcome"].as_str().unwrap().to_owned()))
            .collect();
        assert_eq!(
            outcomes,
            vec![
                (w.admin_class, "not_found".to_owned()),
                (w.q_class, "not_found".to_owned()),
                (spare, "deleted".to_owned()),
                (w.r_default, "protected_default".to_owned()),
                (w.s_class, "not_found".to_owned()),
                (999_999, "not_found".to_owned()),
            ]
        );
        for id in [w.admin_class, w.q_class, w.s_class, w.r_default] {
            assert_eq!(app.get(&format!("{CLASSES}/{id}"), &app.admin).await.status, StatusCode::OK, "{id} survives");
        }
        assert_eq!(app.get(&format!("{CLASSES}/{spare}"), &w.r_user).await.status, StatusCode::NOT_FOUND);
        // A class with members is in use, for its owner as for the administrator.
        let used = create(app, &w.r_user, json!({"name": "Used"})).await;
        let member = app
            .post("/api/v1/resellers", &w.r_user, json!({"name": "Member", "currency": "EUR", "parent_reseller_id": w.r, "class_id": used}))
            .await;
        assert_eq!(member.status, StatusCode::CREATED, "{}", member.text);
        let batch = app.post(&format!("{CLASSES}/delete"), &w.r_user, json!({"ids": [used]})).await;
        assert_eq!(batch.body["items"], json!([{"id": used, "outcome": "in_use", "member_count": 1}]), "{}", batch.text);
        for token in [&w.r_user, &app.admin] {
            let single = app.delete(&format!("{CLASSES}/{used}"), token).await;
            assert_eq!(single.status, StatusCode::CONFLICT, "{}", single.text);
            assert_eq!(single.body["code"], json!("in_use"));
        }
        // The administrator deletes any owner's class except a Default.
        assert_eq!(app.delete(&format!("{CLASSES}/{}", w.q_class), &app.admin).await.status, StatusCode::NO_CONTENT);
        let protected = app.delete(&format!("{CLASSES}/{}", w.q_default), &app.admin).await;
        assert_eq!(protected.status, StatusCode::CONFLICT, "{}", protected.text);
        assert_eq!(protected.body["code"], json!("protected_default"));
    }
}

on_both_backends! {
    async fn the_class_picker_offers_only_classes_passing_a1_to_a4(app) {
        let w = world(app).await;
        let admin_usd = create(app, &app.admin, json!({"name": "Operator Dollar", "currency": "USD"})).await;
        let admin_any = create(app, &app.admin, json!({"name": "Operator Any"})).await;
        let r_usd = create(app, &w.r_user, json!({"name": "Alpha Dollar", "currency": "USD"})).await;
        let r_any = create(app, &w.r_user, json!({"name": "Alpha Any"})).await;

        // R is a top-level EUR reseller: the administrator may give it administrator classes in EUR or without currency.
        let offered = ids(&app.get(&format!("{CLASSES}?assignable_to={}", w.r), &app.admin).await);
        assert_eq!(
            sorted(offered),
            sorted(vec![w.admin_class, admin_any, w.admin_default]),
            "{}",
            app.backend
        );
        // S is R's subreseller: only R's users may assign it a class, so the administrator gets none.
        let offered = ids(&app.get(&format!("{CLASSES}?assignable_to={}", w.s), &app.admin).await);
        assert!(offered.is_empty(), "administrator offered {offered:?} for a subreseller");
        // R's user gets R's EUR and currency-less classes for S, never S's own classes or anyone else's.
        let offered = ids(&app.get(&format!("{CLASSES}?assignable_to={}", w.s), &w.r_user).await);
        assert_eq!(sorted(offered.clone()), sorted(vec![w.r_class, r_any, w.r_default]));
        assert!(!offered.contains(&r_usd) && !offered.contains(&admin_usd), "{offered:?}");
        // Q's user cannot pick for R's subreseller.
        let foreign = app.get(&format!("{CLASSES}?assignable_to={}", w.s), &w.q_user).await;
        assert!(
            foreign.status != StatusCode::OK || ids(&foreign).is_empty(),
            "Q's user was offered classes for S: {}",
            foreign.text
        );
        // The picker combines with the other filters.
        let offered = ids(&app.get(&format!("{CLASSES}?assignable_to={}&name=any", w.r), &app.admin).await);
        assert_eq!(offered, vec![admin_any]);
    }
}

on_both_backends! {
    async fn creating_a_reseller_with_a_class_of_the_wrong_owner_fails_a2_a3_a4(app) {
        let w = world(app).await;
        let resellers = "/api/v1/resellers";
        // A2: the administrator may not assign a class managed by reseller R, whoever the party is.
        for parent in [Some(w.r), None] {
            let refused = app
                .post(
                    resellers,
                    &app.admin,
                    json!({"name": "Refused", "currency": "EUR", "parent_reseller_id": parent, "class_id": w.r_class}),
                )
                .await;
            assert_eq!(refused.status, StatusCode::FORBIDDEN, "{} parent {parent:?}: {}", app.backend, refused.text);
            assert_eq!(refused.body["type"], json!("urn:classbill:problem:forbidden-assignment"));
            assert_eq!(
                refused.body["errors"],
                json!([{
                    "field": "class_id",
                    "code": "not_assignable",
                    "message": format!(
                        "class {} is managed by reseller {}; only that reseller's users may assign it",
                        w.r_class, w.r
                    ),
                }])
            );
        }
        // A3: an administrator class does not fit a subreseller of R.
        let refused = app
            .post(
                resellers,
                &app.admin,
                json!({"name": "Refused", "currency": "EUR", "parent_reseller_id": w.r, "class_id": w.admin_class}),
            )
            .await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.text);
        assert!(refused.has_error("class_id", "owner_mismatch"), "{}", refused.text);
        let message = refused.body["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(
            message.starts_with(&format!("class {} is managed by the administrator; ", w.admin_class))
                && message.ends_with(&format!(" need a class managed by reseller {}", w.r)),
            "{message}"
        );
        // A4: the class currency must match the party's.
        let refused = app
            .post(resellers, &app.admin, json!({"name": "Refused", "currency": "USD", "class_id": w.admin_class}))
            .await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.text);
        assert_eq!(
            refused.body["errors"],
            json!([{
                "field": "class_id",
                "code": "currency_mismatch",
                "message": "class currency EUR does not match party currency USD",
            }])
        );
        let refused = app
            .post(
                resellers,
                &w.r_user,
                json!({"name": "Refused", "currency": "USD", "parent_reseller_id": w.r, "class_id": w.r_class}),
            )
            .await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.text);
        assert!(refused.has_error("class_id", "currency_mismatch"), "{}", refused.text);
        // A1: classes R's user cannot see are simply not found.
        for invisible in [w.admin_class, w.q_class, w.s_class] {
            let refused = app
                .post(
                    resellers,
                    &w.r_user,
                    json!({"name": "Refused", "currency": "EUR", "parent_reseller_id": w.r, "class_id": invisible}),
                )
                .await;
            assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.text);
            assert_eq!(
                refused.body["errors"],
                json!([{"field": "class_id", "code": "not_found", "message": format!("class {invisible} not found")}])
            );
        }
        // Nothing was created by the refusals.
        let listed = app.get("/api/v1/resellers?limit=1000", &app.admin).await;
        assert!(
            listed.body["items"].as_array().unwrap().iter().all(|r| r["name"] != json!("Refused")),
            "{}",
            listed.text
        );
        // The right owner succeeds.
        let made = app
            .post(
                resellers,
                &w.r_user,
                json!({"name": "Accepted", "parent_reseller_id": w.r, "class_id": w.r_class}),
            )
            .await;
        assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
        assert_eq!(made.body["class_id"], json!(w.r_class));
        assert_eq!(made.body["currency"], json!("EUR"));
        let made = app
            .post(resellers, &app.admin, json!({"name": "Top", "class_id": w.admin_class}))
            .await;
        assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
        assert_eq!(made.body["class_id"], json!(w.admin_class));
        assert_eq!(made.body["parent_reseller_id"], Value::Null);
    }
}

on_both_backends! {
    async fn a_reseller_user_sees_only_its_direct_subresellers(app) {
        let w = world(app).await;
        let s2 = app.reseller("Sub Two", Some(w.r)).await;
        let deeper = app.reseller("Deeper", Some(w.s)).await;
        let q_sub = app.reseller("Beta Sub", Some(w.q)).await;

        let listed = ids(&app.get("/api/v1/resellers?limit=1000", &w.r_user).await);
        assert_eq!(sorted(listed), sorted(vec![w.s, s2]), "{}", app.backend);
        let listed = ids(&app.get("/api/v1/resellers?limit=1000", &w.q_user).await);
        assert_eq!(listed, vec![q_sub]);
        let listed = ids(&app.get("/api/v1/resellers?limit=1000", &app.admin).await);
        assert_eq!(sorted(listed), sorted(vec![w.r, w.q, w.s, s2, deeper, q_sub]));

        for id in [w.s, s2] {
            let answer = app.get(&format!("/api/v1/resellers/{id}"), &w.r_user).await;
            assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
            assert_eq!(answer.body["parent_reseller_id"], json!(w.r));
        }
        for id in [w.r, w.q, deeper, q_sub, 999_999] {
            let answer = app.get(&format!("/api/v1/resellers/{id}"), &w.r_user).await;
            assert_eq!(answer.status, StatusCode::NOT_FOUND, "reseller {id}: {}", answer.text);
        }
        assert_eq!(app.get(&format!("/api/v1/resellers/{}", w.s), &w.q_user).await.status, StatusCode::NOT_FOUND);
        // Paging walks the same set.
        let first = app.get("/api/v1/resellers?limit=1", &w.r_user).await;
        let cursor = first.body["next_cursor"].as_str().expect("a second page").to_owned();
        let second = app.get(&format!("/api/v1/resellers?limit=1&cursor={cursor}"), &w.r_user).await;
        assert_eq!(sorted([ids(&first), ids(&second)].concat()), sorted(vec![w.s, s2]));
        assert_eq!(second.body["next_cursor"], Value::Null);
    }
}

on_both_backends! {
    async fn the_list_shows_the_columns_of_the_list_page(app) {
        let w = world(app).await;
        let template = app.standard_template().await;
        let full = create(
            app,
            &app.admin,
            json!({
                "name": "Business EU",
                "currency": "EUR",
                "description": "VAT customers",
                "business_model": "sip_trunking",
                "regular_invoices": {"enabled": true, "template_id": template},
                "taxation": {"method": "fixed_vat", "fixed_vat": {"rate_percent": "19"}},
            }),
        )
        .await;
        let both = create(
            app,
            &w.r_user,
            json!({
                "name": "Alpha Both",
                "general_info": {"archive_xdrs": true},
                "regular_invoices": {"enabled": true, "template_id": template},
                "out_of_turn_invoices": {"enabled": true, "template_id": template},
            }),
        )
        .await;
        let oot = create(
            app,
            &app.admin,
            json!({
                "name": "Oot Only",
                "general_info": {"archive_xdrs": false},
                "out_of_turn_invoices": {"enabled": true, "template_id": template},
            }),
        )
        .await;
        // One member for the member count.
        let member = app
            .post("/api/v1/resellers", &app.admin, json!({"name": "Member", "class_id": full}))
            .await;
        assert_eq!(member.status, StatusCode::CREATED, "{}", member.text);

        let listed = app.get(&format!("{CLASSES}?limit=1000"), &app.admin).await;
        let item = |id: i64| {
            listed.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["id"] == json!(id))
                .cloned()
                .unwrap_or_else(|| panic!("class {id} listed: {}", listed.text))
        };
        let row = item(full);
        for (key, expected) in [
            ("id", json!(full)),
            ("name", json!("Business EU")),
            ("currency", json!("EUR")),
            ("archive_xdrs", json!(true)),
            ("invoices", json!("regular_only")),
            ("taxation_method", json!("fixed_vat")),
            ("description", json!("VAT customers")),
            ("business_model", json!("sip_trunking")),
            ("revision", json!(1)),
            ("member_count", json!(1)),
        ] {
            assert_eq!(row[key], expected, "{key} of {row} ({})", app.backend);
        }
        assert_eq!(row["managed_by"]["type"], json!("administrator"));
        assert!(row["managed_by"]["name"].as_str().is_some_and(|n| !n.is_empty()), "{row}");

        let row = item(both);
        assert_eq!(row["managed_by"], json!({"type": "reseller", "reseller_id": w.r, "name": "Alpha"}));
        assert_eq!(row["invoices"], json!("regular_and_out_of_turn"));
        assert_eq!(row["currency"], Value::Null);
        assert_eq!(row["taxation_method"], json!("none"));
        assert_eq!(row["business_model"], json!("universal"));
        assert_eq!(row["member_count"], json!(0));

        let row = item(oot);
        assert_eq!(row["invoices"], json!("out_of_turn_only"));
        assert_eq!(row["archive_xdrs"], json!(false));

        let row = item(w.s_class);
        assert_eq!(row["managed_by"], json!({"type": "reseller", "reseller_id": w.s, "name": "Sub"}));
        assert_eq!(row["invoices"], json!("none"));

        // The reseller's own list shows the same columns.
        let own = app.get(CLASSES, &w.r_user).await;
        let row = own.body["items"].as_array().unwrap().iter().find(|c| c["id"] == json!(both)).cloned().unwrap();
        assert_eq!(row["managed_by"]["name"], json!("Alpha"));

        // An edit is reflected in the list columns.
        let edited = app
            .patch(&format!("{CLASSES}/{full}"), &app.admin, json!({"regular_invoices": {"enabled": false}}), 1)
            .await;
        assert_eq!(edited.status, StatusCode::OK, "{}", edited.text);
        let listed = ids(&app.get(&format!("{CLASSES}?invoices=none&name=business"), &app.admin).await);
        assert_eq!(listed, vec![full]);
        let row = app.get(&format!("{CLASSES}?name=business"), &app.admin).await.body["items"][0].clone();
        assert_eq!(row["revision"], json!(2));
    }
}

on_both_backends! {
    async fn the_list_filters_narrow_the_visible_classes(app) {
        let w = world(app).await;
        let template = app.standard_template().await;
        let gold = create(
            app,
            &app.admin,
            json!({
                "name": "Gold",
                "currency": "EUR",
                "business_model": "sip_trunking",
                "regular_invoices": {"enabled": true, "template_id": template},
                "taxation": {"method": "fixed_vat", "fixed_vat": {"rate_percent": "19"}},
            }),
        )
        .await;
        let rose = create(
            app,
            &app.admin,
            json!({"name": "Rose GOLD", "currency": "USD", "business_model": "mobile"}),
        )
        .await;
        let plain = create(
            app,
            &app.admin,
            json!({"name": "Plain", "out_of_turn_invoices": {"enabled": true, "template_id": template}}),
        )
        .await;
        let golden = create(
            app,
            &app.admin,
            json!({
                "name": "Golden Alpha",
                "currency": "EUR",
                "managed_by": {"type": "reseller", "reseller_id": w.r},
                "regular_invoices": {"enabled": true, "template_id": template},
                "out_of_turn_invoices": {"enabled": true, "template_id": template},
            }),
        )
        .await;
        let admin = app.admin.as_str();
        let r_user = w.r_user.as_str();
        assert_eq!(
            filtered(app, admin, "name=gOl").await,
            sorted(vec![w.admin_class, gold, rose, golden]),
            "{}",
            app.backend
        );
        assert_eq!(filtered(app, admin, "name=ROSE%20G").await, vec![rose]);
        assert_eq!(filtered(app, admin, "name=olden%20al").await, vec![golden]);
        assert!(filtered(app, admin, "name=platinum").await.is_empty());
        assert_eq!(
            filtered(app, admin, "managed_by=administrator").await,
            sorted(vec![w.admin_class, w.admin_default, gold, rose, plain])
        );
        assert_eq!(
            filtered(app, admin, &format!("managed_by={}", w.r)).await,
            sorted(vec![w.r_class, w.r_default, golden])
        );
        assert_eq!(filtered(app, admin, "business_model=mobile").await, vec![rose]);
        assert_eq!(filtered(app, admin, "business_model=sip_trunking").await, vec![gold]);
        assert_eq!(
            filtered(app, admin, "currency=EUR").await,
            sorted(vec![w.admin_class, w.r_class, gold, golden])
        );
        assert_eq!(filtered(app, admin, "currency=USD").await, vec![rose]);
        assert_eq!(
            filtered(app, admin, "currency=none").await,
            sorted(vec![plain, w.q_class, w.s_class, w.admin_default, w.r_default, w.q_default, w.s_default])
        );
        assert_eq!(filtered(app, admin, "invoices=regular_only").await, vec![gold]);
        assert_eq!(filtered(app, admin, "invoices=regular_and_out_of_turn").await, vec![golden]);
        assert_eq!(filtered(app, admin, "invoices=out_of_turn_only").await, vec![plain]);
        let without = filtered(app, admin, "invoices=none").await;
        assert!(without.contains(&rose) && without.contains(&w.admin_class), "{without:?}");
        assert!(!without.contains(&gold) && !without.contains(&plain) && !without.contains(&golden));
        assert_eq!(filtered(app, admin, "taxation_method=fixed_vat").await, vec![gold]);
        assert!(filtered(app, admin, "taxation_method=custom").await.is_empty());
        assert_eq!(
            filtered(app, admin, "name=gold&managed_by=administrator").await,
            sorted(vec![w.admin_class, gold, rose])
        );
        assert_eq!(filtered(app, admin, "name=gold&currency=EUR&invoices=regular_only").await, vec![gold]);

        // A reseller user's filters apply within its own classes.
        assert_eq!(filtered(app, r_user, "name=gold").await, vec![golden]);
        assert_eq!(filtered(app, r_user, "currency=EUR").await, sorted(vec![w.r_class, golden]));
        assert_eq!(
            filtered(app, r_user, &format!("managed_by={}", w.r)).await,
            sorted(vec![w.r_class, w.r_default, golden])
        );
        assert_eq!(filtered(app, r_user, "currency=none").await, vec![w.r_default]);

        // The name filter is a plain substring: wildcard characters match only themselves, and case folding
        // covers non-ASCII letters.
        let percent = create(app, &app.admin, json!({"name": "100% Pure"})).await;
        let underscore = create(app, &app.admin, json!({"name": "under_score"})).await;
        let backslash = create(app, &app.admin, json!({"name": "back\\slash"})).await;
        let umlaut = create(app, &app.admin, json!({"name": "ÄRZTE Tarif"})).await;
        assert_eq!(filtered(app, admin, "name=%25").await, vec![percent]);
        assert_eq!(filtered(app, admin, "name=_").await, vec![underscore]);
        assert_eq!(filtered(app, admin, "name=%5C").await, vec![backslash]);
        assert_eq!(filtered(app, admin, "name=k%5Cs").await, vec![backslash]);
        assert_eq!(filtered(app, admin, "name=%C3%A4rzte").await, vec![umlaut]);
        assert_eq!(filtered(app, admin, "name=%C3%84rZ").await, vec![umlaut]);

        // Unknown filter values are refused, not ignored.
        for query in ["managed_by=someone", "business_model=teleport", "invoices=some", "taxation_method=vat"] {
            let answer = app.get(&format!("{CLASSES}?{query}"), &app.admin).await;
            assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {}", answer.text);
        }
    }
}

on_both_backends! {
    async fn keyset_pagination_walks_every_class_once_in_name_key_order(app) {
        let (r, r_user) = app.reseller_with_user("Alpha").await;
        let mut made: Vec<(String, i64)> = Vec::new();
        for (token, name) in [
            (&app.admin, "beta"),
            (&app.admin, "Alpha"),
            (&r_user, "alpha"),
            (&app.admin, "alpha 2"),
            (&app.admin, "Éclair"),
            (&app.admin, "zulu"),
            (&app.admin, "Zeta"),
            (&app.admin, "_under"),
            (&app.admin, "Mango"),
            (&app.admin, "ALPHA:B"),
        ] {
            let id = create(app, token, json!({"name": name})).await;
            made.push((name.to_lowercase(), id));
        }
        made.push(("default".into(), admin_default(app).await));
        made.push(("default".into(), default_of(app, r).await));
        // name_key order is bytewise on the lower-cased name, ties by id.
        made.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()).then(a.1.cmp(&b.1)));
        let expected: Vec<i64> = made.iter().map(|(_, id)| *id).collect();

        let mut walked = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let path = match &cursor {
                None => format!("{CLASSES}?limit=2"),
                Some(c) => format!("{CLASSES}?limit=2&cursor={c}"),
            };
            let page = app.get(&path, &app.admin).await;
            let items = ids(&page);
            assert!(items.len() <= 2, "{}", page.text);
            walked.extend(items);
            pages += 1;
            assert!(pages <= 20, "pagination does not end");
            match page.body["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        assert_eq!(walked, expected, "{}", app.backend);
        assert_eq!(pages, expected.len().div_ceil(2));

        // Without a limit, one page in the same order.
        let one = app.get(CLASSES, &app.admin).await;
        assert_eq!(ids(&one), expected);
        assert_eq!(one.body["next_cursor"], Value::Null);

        // The reseller user's walk visits its own classes only.
        let first = app.get(&format!("{CLASSES}?limit=1"), &r_user).await;
        let next = first.body["next_cursor"].as_str().expect("a second page").to_owned();
        let second = app.get(&format!("{CLASSES}?limit=1&cursor={next}"), &r_user).await;
        assert_eq!(second.body["next_cursor"], Value::Null, "{}", second.text);
        let own: Vec<i64> = made.iter().filter(|(key, _)| key == "alpha" || key == "default").map(|(_, id)| *id).collect();
        let walked = [ids(&first), ids(&second)].concat();
        assert_eq!(walked.len(), 2);
        assert!(walked.iter().all(|id| own.contains(id)), "{walked:?}");
    }
}

on_both_backends! {
    async fn limits_above_1000_and_foreign_cursors_are_422(app) {
        let limit = app.get(&format!("{CLASSES}?limit=1001"), &app.admin).await;
        assert_eq!(limit.status, StatusCode::UNPROCESSABLE_ENTITY, "{} {}", app.backend, limit.text);
        assert!(limit.has_error("limit", "out_of_range"), "{}", limit.text);
        assert_eq!(
            limit.headers.get("content-type").and_then(|v| v.to_str().ok()),
            Some("application/problem+json")
        );
        let zero = app.get(&format!("{CLASSES}?limit=0"), &app.admin).await;
        assert!(zero.has_error("limit", "out_of_range"), "{}", zero.text);
        assert_eq!(app.get(&format!("{CLASSES}?limit=1000"), &app.admin).await.status, StatusCode::OK);
        for cursor in ["not-a-cursor", "zz", "6869", "%20"] {
            let bad = app.get(&format!("{CLASSES}?cursor={cursor}"), &app.admin).await;
            assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "cursor {cursor}: {}", bad.text);
            assert!(bad.error_codes().iter().any(|(field, _)| field == "cursor"), "{}", bad.text);
        }
        let text = app.get(&format!("{CLASSES}?limit=ten"), &app.admin).await;
        assert_eq!(text.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", text.text);
    }
}

on_both_backends! {
    async fn requests_without_a_valid_token_are_401_problems(app) {
        for (method, path) in [
            (Method::GET, CLASSES.to_owned()),
            (Method::POST, CLASSES.to_owned()),
            (Method::GET, format!("{CLASSES}/1")),
            (Method::GET, "/api/v1/resellers".to_owned()),
            (Method::GET, "/api/v1/invoice-templates".to_owned()),
            (Method::GET, "/api/v1/audit-log".to_owned()),
        ] {
            let body = (method == Method::POST).then(|| json!({"name": "Anonymous"}));
            for token in [None, Some("cb_not-a-real-token")] {
                let answer = app.send(method.clone(), &path, token, body.clone(), None).await;
                assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{method} {path} ({}): {}", app.backend, answer.text);
                assert_eq!(
                    answer.headers.get("content-type").and_then(|v| v.to_str().ok()),
                    Some("application/problem+json")
                );
                assert_eq!(answer.body["status"], json!(401));
                assert!(answer.body["type"].is_string() && answer.body["title"].is_string(), "{}", answer.text);
            }
        }
        assert!(ids(&app.get(&format!("{CLASSES}?name=anonymous"), &app.admin).await).is_empty());
    }
}
