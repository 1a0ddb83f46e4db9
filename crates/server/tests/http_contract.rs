//! The HTTP contract of `/api/v1` (interfaces.md, "HTTP API"): every refusal is an RFC 9457 problem document,
//! a refused request writes nothing, and the server keeps answering after any bad input.

mod support;

use reqwest::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{Answer, TestApp};

const CLASSES: &str = "/api/v1/customer-classes";

/// Asserts that `answer` is a problem document for `status` with the four members the contract requires.
fn assert_problem(answer: &Answer, status: StatusCode, context: &str) {
    assert_eq!(answer.status, status, "{context}: {}", answer.text);
    let content_type = answer
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(
        content_type.starts_with("application/problem+json"),
        "{context}: content type {content_type:?}, body {}",
        answer.text
    );
    for member in ["type", "title", "detail"] {
        assert!(
            answer.body[member].as_str().is_some_and(|s| !s.is_empty()),
            "{context}: `{member}` missing or empty in {}",
            answer.text
        );
    }
    assert_eq!(
        answer.body["status"],
        json!(status.as_u16()),
        "{context}: `status` member in {}",
        answer.text
    );
}

/// Asserts a 422 whose `errors` name `field` with `code`.
fn assert_invalid(answer: &Answer, field: &str, code: &str, context: &str) {
    assert_problem(answer, StatusCode::UNPROCESSABLE_ENTITY, context);
    assert!(
        answer.has_error(field, code),
        "{context}: expected {field}/{code} in {:?}",
        answer.error_codes()
    );
    for error in answer.body["errors"].as_array().into_iter().flatten() {
        assert!(
            error["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{context}: every error has a message: {error}"
        );
    }
}

/// Number of classes the administrator sees.
async fn class_count(app: &TestApp) -> usize {
    let list = app.get(&format!("{CLASSES}?limit=1000"), &app.admin).await;
    assert_eq!(list.status, StatusCode::OK, "{} class list: {}", app.backend, list.text);
    list.body["items"].as_array().expect("items").len()
}

/// The server still serves an ordinary authenticated read.
async fn assert_still_serving(app: &TestApp, context: &str) {
    let list = app.get(CLASSES, &app.admin).await;
    assert_eq!(
        list.status,
        StatusCode::OK,
        "{context}: server stopped answering: {}",
        list.text
    );
    let health = app.raw(Method::GET, "/healthz").send().await.expect("healthz answers");
    assert_eq!(health.status(), StatusCode::OK, "{context}: /healthz");
}

/// Sends a raw body with a content type as the administrator.
async fn send_bytes(app: &TestApp, method: Method, path: &str, content_type: &str, body: Vec<u8>) -> Answer {
    let response = app
        .raw(method, path)
        .bearer_auth(&app.admin)
        .header(CONTENT_TYPE, content_type)
        .body(body)
        .send()
        .await
        .expect("request sent");
    TestApp::read(response).await
}

/// Posts a class body that must be refused with 422 naming `field`/`code`, and checks nothing was written.
async fn refused_class(app: &TestApp, body: Value, field: &str, code: &str) {
    let before = class_count(app).await;
    let answer = app.post(CLASSES, &app.admin, body.clone()).await;
    assert_invalid(&answer, field, code, &format!("{} POST {body}", app.backend));
    assert_eq!(
        class_count(app).await,
        before,
        "{}: a refused class was stored: {body}",
        app.backend
    );
}

/// Sum of every sample of `classbill_http_requests_total` in a Prometheus text.
fn requests_total(metrics: &str) -> u64 {
    metrics
        .lines()
        .filter(|line| line.starts_with("classbill_http_requests_total"))
        .filter_map(|line| line.rsplit(' ').next())
        .map(|n| n.parse::<u64>().expect("a counter value is an integer"))
        .sum()
}

on_both_backends! {
    async fn malformed_json_is_a_400_problem_and_writes_nothing(app) {
        let before = class_count(app).await;
        for body in [&b"{\"name\": "[..], b"{name: 'x'}", b"", b"[1, 2", b"{\"name\": \"A\"} trailing"] {
            let answer = send_bytes(app, Method::POST, CLASSES, "application/json", body.to_vec()).await;
            assert_problem(
                &answer,
                StatusCode::BAD_REQUEST,
                &format!("{} malformed {:?}", app.backend, String::from_utf8_lossy(body)),
            );
        }
        assert_eq!(class_count(app).await, before);
        assert_still_serving(app, "after malformed JSON").await;
    }
}

on_both_backends! {
    async fn a_body_that_is_not_json_is_a_415_problem(app) {
        let before = class_count(app).await;
        let body = br#"{"name": "Typed wrong"}"#.to_vec();
        for content_type in ["text/plain", "application/x-www-form-urlencoded", "application/xml"] {
            let answer = send_bytes(app, Method::POST, CLASSES, content_type, body.clone()).await;
            assert_problem(
                &answer,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                &format!("{} {content_type}", app.backend),
            );
        }
        // No content type at all is refused the same way.
        let response = app
            .raw(Method::POST, CLASSES)
            .bearer_auth(&app.admin)
            .body(body.clone())
            .send()
            .await
            .expect("request sent");
        let answer = TestApp::read(response).await;
        assert_problem(&answer, StatusCode::UNSUPPORTED_MEDIA_TYPE, "no content type");
        // A typed body (the secret) is refused the same way.
        let answer = send_bytes(app, Method::PUT, "/api/v1/secrets/smtp", "text/plain", br#"{"value":"x"}"#.to_vec())
            .await;
        assert_problem(&answer, StatusCode::UNSUPPORTED_MEDIA_TYPE, "secret as text/plain");
        // Parameters of the media type are allowed.
        let answer = send_bytes(app, Method::POST, CLASSES, "application/json; charset=utf-8", body).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
        assert_eq!(class_count(app).await, before + 1);
    }
}

on_both_backends! {
    async fn unknown_fields_are_named_by_their_dotted_path(app) {
        refused_class(app, json!({"name": "Extra", "colour": "red"}), "colour", "unknown_field").await;
        refused_class(
            app,
            json!({"name": "Nested", "general_info": {"rounding_precision": 2, "colour": "red"}}),
            "general_info.colour",
            "unknown_field",
        )
        .await;
        refused_class(
            app,
            json!({"name": "Deep", "general_info": {"period_closure": {"mode": "automatic", "colour": 1}}}),
            "general_info.period_closure.colour",
            "unknown_field",
        )
        .await;
        refused_class(
            app,
            json!({"name": "Ladder", "regular_invoices": {"collection": {"late_fee": "1.00", "colour": 1}}}),
            "regular_invoices.collection.colour",
            "unknown_field",
        )
        .await;
        assert_still_serving(app, "after unknown fields").await;
    }
}

on_both_backends! {
    async fn a_value_of_the_wrong_type_is_a_422_naming_it(app) {
        refused_class(
            app,
            json!({"name": "Typed", "general_info": {"rounding_precision": "two"}}),
            "general_info.rounding_precision",
            "invalid_type",
        )
        .await;
        refused_class(app, json!({"name": 42}), "name", "invalid_type").await;
        refused_class(
            app,
            json!({"name": "Flag", "general_info": {"archive_xdrs": "yes"}}),
            "general_info.archive_xdrs",
            "invalid_type",
        )
        .await;
        refused_class(
            app,
            json!({"name": "Tab", "regular_invoices": "enabled"}),
            "regular_invoices",
            "invalid_type",
        )
        .await;
        // Not an object at all.
        let before = class_count(app).await;
        let answer = app.post(CLASSES, &app.admin, json!(["name", "List"])).await;
        assert_problem(&answer, StatusCode::UNPROCESSABLE_ENTITY, "array body");
        assert_eq!(class_count(app).await, before);
        // Every violation is listed, not only the first.
        let answer = app
            .post(
                CLASSES,
                &app.admin,
                json!({"name": "Many", "colour": 1, "general_info": {"rounding_precision": "two"}}),
            )
            .await;
        assert_invalid(&answer, "colour", "unknown_field", "two violations");
        assert_invalid(&answer, "general_info.rounding_precision", "invalid_type", "two violations");
        assert_eq!(class_count(app).await, before);
    }
}

on_both_backends! {
    async fn money_travels_only_as_a_string_with_at_most_five_decimals(app) {
        let field = "regular_invoices.collection_threshold";
        refused_class(
            app,
            json!({"name": "Number", "regular_invoices": {"collection_threshold": 12.5}}),
            field,
            "invalid_type",
        )
        .await;
        refused_class(
            app,
            json!({"name": "Integer", "regular_invoices": {"collection_threshold": 12}}),
            field,
            "invalid_type",
        )
        .await;
        let before = class_count(app).await;
        let answer = app
            .post(
                CLASSES,
                &app.admin,
                json!({"name": "Six", "regular_invoices": {"collection_threshold": "12.345678"}}),
            )
            .await;
        assert_problem(&answer, StatusCode::UNPROCESSABLE_ENTITY, "six decimals");
        assert!(
            answer.error_codes().iter().any(|(f, _)| f == field),
            "six decimals: {:?}",
            answer.error_codes()
        );
        assert_eq!(class_count(app).await, before);
        // Five decimals are accepted and answered with five.
        let created = app
            .class(
                &app.admin,
                json!({"name": "Five", "regular_invoices": {"collection_threshold": "12.34567"}}),
            )
            .await;
        assert_eq!(created["regular_invoices"]["collection_threshold"], json!("12.34567"));
        let created = app
            .class(
                &app.admin,
                json!({"name": "Short", "regular_invoices": {"collection_threshold": "12.3"}}),
            )
            .await;
        assert_eq!(created["regular_invoices"]["collection_threshold"], json!("12.30000"));
    }
}

on_both_backends! {
    async fn numbers_out_of_range_are_refused(app) {
        refused_class(
            app,
            json!({"name": "Precise", "general_info": {"rounding_precision": 9}}),
            "general_info.rounding_precision",
            "out_of_range",
        )
        .await;
        refused_class(
            app,
            json!({"name": "Negative", "general_info": {"rounding_precision": -1}}),
            "general_info.rounding_precision",
            "out_of_range",
        )
        .await;
        refused_class(
            app,
            json!({"name": "Patient", "regular_invoices": {"payment_terms": {"type": "net", "days": 100000}}}),
            "regular_invoices.payment_terms.days",
            "out_of_range",
        )
        .await;
        // Beyond a 64-bit integer is still a 422, not a crash or a 400.
        let before = class_count(app).await;
        let body = br#"{"name": "Huge", "general_info": {"rounding_precision": 99999999999999999999999}}"#;
        let answer = send_bytes(app, Method::POST, CLASSES, "application/json", body.to_vec()).await;
        assert!(
            answer.status == StatusCode::UNPROCESSABLE_ENTITY || answer.status == StatusCode::BAD_REQUEST,
            "{}",
            answer.text
        );
        assert_problem(&answer, answer.status, "huge integer");
        assert_eq!(class_count(app).await, before);
        // A page size beyond the maximum.
        let answer = app.get(&format!("{CLASSES}?limit=1001"), &app.admin).await;
        assert_invalid(&answer, "limit", "out_of_range", "limit=1001");
        let answer = app.get(&format!("{CLASSES}?limit=0"), &app.admin).await;
        assert_invalid(&answer, "limit", "out_of_range", "limit=0");
        let answer = app.get(&format!("{CLASSES}?limit=many"), &app.admin).await;
        assert_problem(&answer, StatusCode::UNPROCESSABLE_ENTITY, "limit=many");
        assert_still_serving(app, "after out-of-range values").await;
    }
}

on_both_backends! {
    async fn a_ten_megabyte_body_is_a_413_problem_and_the_server_goes_on(app) {
        let before = class_count(app).await;
        let name = "x".repeat(10 * 1024 * 1024);
        let body = serde_json::to_vec(&json!({"name": name})).expect("serializes");
        let answer = send_bytes(app, Method::POST, CLASSES, "application/json", body).await;
        assert_problem(&answer, StatusCode::PAYLOAD_TOO_LARGE, &format!("{} 10 MB body", app.backend));
        assert_eq!(class_count(app).await, before);
        assert_still_serving(app, "after a 10 MB body").await;
        // A body just under the limit is read (and refused on its merits, not its size).
        let padding = "y".repeat(classbill_server::BODY_LIMIT_BYTES / 2);
        let answer = app
            .post(CLASSES, &app.admin, json!({"name": "Padded", "description": padding, "colour": 1}))
            .await;
        assert_invalid(&answer, "colour", "unknown_field", "large but allowed body");
    }
}

on_both_backends! {
    async fn bytes_that_are_not_utf8_are_a_4xx_problem(app) {
        let before = class_count(app).await;
        let mut body = b"{\"name\": \"".to_vec();
        body.extend_from_slice(&[0xff, 0xfe, 0xc3, 0x28]);
        body.extend_from_slice(b"\"}");
        let answer = send_bytes(app, Method::POST, CLASSES, "application/json", body).await;
        assert!(answer.status.is_client_error(), "{}: {}", answer.status, answer.text);
        assert_problem(&answer, answer.status, "non-UTF-8 body");
        assert_eq!(class_count(app).await, before);
        // A query string with an invalid percent-encoded byte.
        let answer = app.get(&format!("{CLASSES}?name=%FF%FE"), &app.admin).await;
        assert!(
            answer.status == StatusCode::OK || answer.status.is_client_error(),
            "{}: {}",
            answer.status,
            answer.text
        );
        if answer.status != StatusCode::OK {
            assert_problem(&answer, answer.status, "non-UTF-8 query");
        }
        assert_still_serving(app, "after non-UTF-8 bytes").await;
    }
}

on_both_backends! {
    async fn sql_looking_text_is_stored_verbatim(app) {
        let name = "Robert'); DROP TABLE customer_classes;--";
        let before = class_count(app).await;
        let created = app.class(&app.admin, json!({"name": name, "description": "1' OR '1'='1"})).await;
        let id = created["id"].as_i64().expect("id");
        let read = app.get(&format!("{CLASSES}/{id}"), &app.admin).await;
        assert_eq!(read.status, StatusCode::OK, "{}", read.text);
        assert_eq!(read.body["name"], json!(name));
        assert_eq!(read.body["description"], json!("1' OR '1'='1"));
        assert_eq!(class_count(app).await, before + 1);
        let list = app.get(CLASSES, &app.admin).await;
        assert!(
            list.body["items"].as_array().expect("items").iter().any(|c| c["name"] == json!(name)),
            "{}",
            list.text
        );
        // Filters are data too: quotes and LIKE wildcards match only themselves.
        let filtered = app.get(&format!("{CLASSES}?name=%27%29%3B%20drop"), &app.admin).await;
        assert_eq!(filtered.status, StatusCode::OK, "{}", filtered.text);
        let names: Vec<&Value> = filtered.body["items"].as_array().expect("items").iter().map(|c| &c["name"]).collect();
        assert_eq!(names, vec![&json!(name)]);
        for wildcard in ["%25", "r_b", "b%25t", "%27%20OR%20%271%27%3D%271"] {
            let filtered = app.get(&format!("{CLASSES}?name={wildcard}"), &app.admin).await;
            assert_eq!(filtered.status, StatusCode::OK, "{}", filtered.text);
            assert_eq!(
                filtered.body["items"],
                json!([]),
                "{} ?name={wildcard} matched: {}",
                app.backend,
                filtered.text
            );
        }
    }
}

on_both_backends! {
    async fn unknown_routes_and_methods_are_problems(app) {
        for path in ["/api/v1/no-such-thing", "/api/v1/customer-classes/1/nothing", "/no-such-page"] {
            let answer = app.get(path, &app.admin).await;
            assert_problem(&answer, StatusCode::NOT_FOUND, path);
        }
        let answer = app.get(&format!("{CLASSES}/999999"), &app.admin).await;
        assert_problem(&answer, StatusCode::NOT_FOUND, "missing class");
        let before = class_count(app).await;
        let answer = app.post("/api/v1/customer-classes-new", &app.admin, json!({"name": "Lost"})).await;
        assert_problem(&answer, StatusCode::NOT_FOUND, "POST to an unknown collection");
        for (method, path, allowed) in [
            (Method::DELETE, CLASSES, "GET,POST"),
            (Method::PUT, "/api/v1/resellers", "GET,POST"),
            (Method::GET, "/api/v1/customer-classes/delete", "POST"),
            (Method::POST, "/api/v1/audit-log", "GET"),
            (Method::POST, "/healthz", "GET"),
            (Method::DELETE, "/api/v1/openapi.json", "GET"),
        ] {
            let body = (method != Method::GET).then(|| json!({"name": "Misrouted"}));
            let answer = app.send(method.clone(), path, Some(&app.admin), body, None).await;
            let context = format!("{method} {path}");
            assert_problem(&answer, StatusCode::METHOD_NOT_ALLOWED, &context);
            // RFC 9110 §15.5.6: a 405 lists the methods the resource does support.
            let allow = answer.headers.get("allow").and_then(|v| v.to_str().ok()).unwrap_or("");
            let mut listed: Vec<String> = allow.split(',').map(|m| m.trim().to_owned()).collect();
            listed.retain(|m| m != "HEAD");
            listed.sort();
            assert_eq!(listed.join(","), allowed, "{context}: Allow {allow:?}");
        }
        assert_eq!(class_count(app).await, before, "a misrouted request wrote something");
        assert_still_serving(app, "after unknown routes").await;
    }
}

on_both_backends! {
    async fn a_path_parameter_of_the_wrong_type_is_a_problem(app) {
        for path in [format!("{CLASSES}/abc"), format!("{CLASSES}/1/revisions/first"), "/api/v1/resellers/-x".into()] {
            let answer = app.get(&path, &app.admin).await;
            assert!(answer.status.is_client_error(), "{path}: {}", answer.status);
            assert_problem(&answer, answer.status, &path);
        }
    }
}

on_both_backends! {
    async fn requests_without_a_valid_token_are_401(app) {
        let before = class_count(app).await;
        let answer = app.send(Method::GET, CLASSES, None, None, None).await;
        assert_problem(&answer, StatusCode::UNAUTHORIZED, "no token");
        let challenge = answer.headers.get(WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()).unwrap_or("");
        assert!(challenge.starts_with("Bearer"), "WWW-Authenticate: {challenge:?}");

        let answer = app.send(Method::POST, CLASSES, None, Some(json!({"name": "Anonymous"})), None).await;
        assert_problem(&answer, StatusCode::UNAUTHORIZED, "no token on a write");
        assert!(answer.headers.contains_key(WWW_AUTHENTICATE));

        let answer = app.get(CLASSES, "not-a-real-token").await;
        assert_problem(&answer, StatusCode::UNAUTHORIZED, "wrong token");
        assert!(answer.headers.contains_key(WWW_AUTHENTICATE));

        let forged = format!("{}x", app.admin);
        let answer = app.post(CLASSES, &forged, json!({"name": "Forged"})).await;
        assert_problem(&answer, StatusCode::UNAUTHORIZED, "altered token");

        // Other schemes are not a bearer token.
        let response = app
            .raw(Method::GET, CLASSES)
            .basic_auth("admin", Some("a long enough password"))
            .send()
            .await
            .expect("request sent");
        let answer = TestApp::read(response).await;
        assert_problem(&answer, StatusCode::UNAUTHORIZED, "basic auth");
        assert_eq!(class_count(app).await, before);
    }
}

on_both_backends! {
    async fn health_metrics_and_openapi_need_no_token(app) {
        let health = app.raw(Method::GET, "/healthz").send().await.expect("healthz");
        assert_eq!(health.status(), StatusCode::OK);

        let openapi = TestApp::read(app.raw(Method::GET, "/api/v1/openapi.json").send().await.expect("openapi")).await;
        assert_eq!(openapi.status, StatusCode::OK, "{}", openapi.text);
        assert!(
            openapi.headers[CONTENT_TYPE].to_str().unwrap_or("").starts_with("application/json"),
            "{:?}",
            openapi.headers
        );
        assert!(openapi.body["openapi"].as_str().is_some_and(|v| v.starts_with("3.1")), "{}", openapi.text);
        assert_eq!(
            openapi.body,
            serde_json::to_value(classbill_server::openapi_document()).expect("document serializes"),
            "the served document is the generated one"
        );
    }
}

on_both_backends! {
    async fn metrics_count_the_requests_answered(app) {
        let read = |text: String| requests_total(&text);
        let first = app.raw(Method::GET, "/metrics").bearer_auth(&app.admin).send().await.expect("metrics");
        assert_eq!(first.status(), StatusCode::OK);
        let content_type = first.headers()[CONTENT_TYPE].to_str().unwrap_or("").to_owned();
        assert!(content_type.starts_with("text/plain"), "{content_type}");
        let text = first.text().await.expect("metrics body");
        assert!(text.contains("# TYPE classbill_http_requests_total counter"), "{text}");
        let before = read(text);

        for _ in 0..3 {
            assert_eq!(app.get(CLASSES, &app.admin).await.status, StatusCode::OK);
        }
        assert_eq!(app.get(CLASSES, "wrong").await.status, StatusCode::UNAUTHORIZED);
        let text = app
            .raw(Method::GET, "/metrics")
            .bearer_auth(&app.admin)
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("body");
        // The four requests above and the first /metrics scrape.
        assert!(read(text.clone()) >= before + 5, "before {before}, now:\n{text}");
        assert!(text.contains("status=\"401\""), "{text}");
        assert!(text.contains("status=\"200\""), "{text}");
    }
}

on_both_backends! {
    async fn request_ids_are_echoed_or_assigned(app) {
        let response = app
            .raw(Method::GET, CLASSES)
            .bearer_auth(&app.admin)
            .header("x-request-id", "trace-me-42")
            .send()
            .await
            .expect("request sent");
        assert_eq!(response.headers()["x-request-id"], "trace-me-42");

        // Errors carry it too.
        let response = app
            .raw(Method::GET, CLASSES)
            .header("x-request-id", "unauthenticated-7")
            .send()
            .await
            .expect("request sent");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()["x-request-id"], "unauthenticated-7");

        // A request without one gets a fresh id each time.
        let a = app.get(CLASSES, &app.admin).await;
        let b = app.get(CLASSES, &app.admin).await;
        let id_of = |answer: &Answer| {
            answer
                .headers
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
                .filter(|v| !v.is_empty())
                .expect("an x-request-id is assigned")
        };
        assert_ne!(id_of(&a), id_of(&b));
    }
}

on_both_backends! {
    async fn class_writes_need_a_current_if_match(app) {
        let created = app.class(&app.admin, json!({"name": "Guarded"})).await;
        let id = created["id"].as_i64().expect("id");
        let path = format!("{CLASSES}/{id}");

        let answer = app
            .send(Method::PATCH, &path, Some(&app.admin), Some(json!({"description": "no precondition"})), None)
            .await;
        assert_problem(&answer, StatusCode::PRECONDITION_REQUIRED, "PATCH without If-Match");
        let answer = app.send(Method::PUT, &path, Some(&app.admin), Some(json!({"name": "Guarded"})), None).await;
        assert_problem(&answer, StatusCode::PRECONDITION_REQUIRED, "PUT without If-Match");

        let answer = app.patch(&path, &app.admin, json!({"description": "stale"}), 7).await;
        assert_problem(&answer, StatusCode::CONFLICT, "stale If-Match");

        let answer = app
            .send(Method::PATCH, &path, Some(&app.admin), Some(json!({"description": "odd"})), Some("yesterday"))
            .await;
        assert!(answer.status.is_client_error(), "{}", answer.text);
        assert_problem(&answer, answer.status, "unparsable If-Match");

        let read = app.get(&path, &app.admin).await;
        assert_eq!(read.etag().as_deref(), Some("\"1\""), "refused writes leave the revision alone");
        assert_eq!(read.body["description"], created["description"]);

        // A merge patch may be sent as application/merge-patch+json.
        let response = app
            .raw(Method::PATCH, &path)
            .bearer_auth(&app.admin)
            .header(CONTENT_TYPE, "application/merge-patch+json")
            .header("If-Match", "\"1\"")
            .body(r#"{"description": "patched"}"#)
            .send()
            .await
            .expect("request sent");
        let answer = TestApp::read(response).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        assert_eq!(answer.etag().as_deref(), Some("\"2\""));
        assert_eq!(answer.body["description"], json!("patched"));
        assert!(answer.body["warnings"].is_array(), "{}", answer.text);
    }
}

on_both_backends! {
    async fn the_default_class_cannot_be_deleted(app) {
        let list = app.get(CLASSES, &app.admin).await;
        let default = list.body["items"]
            .as_array()
            .and_then(|items| items.iter().find(|c| c["is_default"] == json!(true)))
            .and_then(|c| c["id"].as_i64())
            .expect("the administrator's Default class is listed");
        let before = class_count(app).await;
        let answer = app.delete(&format!("{CLASSES}/{default}"), &app.admin).await;
        assert_problem(&answer, StatusCode::CONFLICT, "DELETE Default");
        assert_eq!(answer.body["code"], json!("protected_default"), "{}", answer.text);
        assert_eq!(class_count(app).await, before);
    }
}
