//! The OpenAPI 3.1 document: it describes exactly the routes the server answers, it is internally
//! consistent, and every change to it shows up in review as a snapshot diff.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use classbill_testkit::Backend;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use support::TestApp;

/// Every operation of `/api/v1`, as (path, methods). A route added to the router must be added here too.
const EXPECTED_OPERATIONS: &[(&str, &[&str])] = &[
    ("/customer-classes", &["get", "post"]),
    ("/customer-classes/delete", &["post"]),
    ("/customer-classes/{id}", &["get", "put", "patch", "delete"]),
    ("/customer-classes/{id}/revisions", &["get"]),
    ("/customer-classes/{id}/revisions/{revision}", &["get"]),
    ("/customer-classes/{id}/preview", &["post"]),
    (
        "/customer-classes/{id}/out-of-turn-invoices/copy-policy-from-regular",
        &["post"],
    ),
    ("/customer-classes/{id}/members", &["get", "post"]),
    ("/customers", &["get", "post"]),
    ("/customers/{id}", &["get", "patch"]),
    ("/customers/{id}/block", &["post"]),
    ("/customers/{id}/unblock", &["post"]),
    ("/resellers", &["get", "post"]),
    ("/resellers/{id}", &["get", "patch"]),
    ("/resellers/{id}/block", &["post"]),
    ("/resellers/{id}/unblock", &["post"]),
    ("/resellers/{id}/effective-settings", &["get"]),
    ("/customers/{id}/effective-settings", &["get"]),
    ("/invoice-templates", &["get", "post"]),
    ("/invoice-templates/{id}", &["get", "patch", "delete"]),
    ("/notification-sets", &["get", "post"]),
    ("/notification-sets/{id}", &["get", "patch", "delete"]),
    ("/notification-sets/preview", &["post"]),
    ("/custom-taxes", &["get", "post"]),
    ("/custom-taxes/{id}", &["get", "patch", "delete"]),
    ("/custom-fields", &["get", "post"]),
    ("/custom-fields/{id}", &["get", "patch", "delete"]),
    ("/vat-rates", &["get", "post"]),
    ("/vat-rates/{id}", &["get", "patch", "delete"]),
    ("/audit-log", &["get"]),
    ("/secrets/{name}", &["put"]),
    ("/settings", &["get", "patch"]),
    ("/calendar", &["get", "put"]),
    ("/xdrs", &["get", "post"]),
    ("/periods", &["get"]),
    ("/periods/{id}", &["get"]),
    ("/periods/{id}/approve", &["post"]),
    ("/periods/{id}/statistics/full.csv", &["get"]),
    ("/periods/{id}/statistics/summary.csv", &["get"]),
    ("/billing-runs", &["get", "post"]),
    ("/billing-runs/{id}", &["get"]),
    ("/invoices", &["get"]),
    ("/invoices/{id}", &["get"]),
    ("/invoices/{id}/pdf", &["get"]),
    ("/invoices/{id}/html", &["get"]),
    ("/invoices/{id}/collection-schedule", &["get"]),
    ("/invoices/{id}/approve", &["post"]),
    ("/invoices/{id}/void", &["post"]),
    ("/collection-runs", &["get", "post"]),
    ("/collection-runs/{id}", &["get"]),
    ("/customers/{id}/status-history", &["get"]),
    ("/customers/{id}/erase", &["post"]),
    ("/resellers/{id}/erase", &["post"]),
    ("/resellers/{id}/status-history", &["get"]),
    ("/invoice-sequences/{owner}", &["get", "patch"]),
    ("/credit-note-sequences/{owner}", &["get", "patch"]),
    ("/invoices/{id}/credit-notes", &["get", "post"]),
    ("/payments", &["post"]),
    ("/customers/{id}/refunds", &["get", "post"]),
    ("/resellers/{id}/refunds", &["get", "post"]),
    ("/purges", &["post"]),
    ("/reports/{kind}", &["get"]),
    ("/users", &["get", "post"]),
    ("/users/{id}", &["get", "patch"]),
    ("/users/{id}/reset-password", &["post"]),
    ("/users/{id}/unlock", &["post"]),
    ("/users/{id}/tokens", &["get"]),
    ("/users/{id}/tokens/{token_id}", &["delete"]),
    ("/charge-results", &["post"]),
    ("/customers/{id}/out-of-turn-invoices", &["post"]),
    ("/resellers/{id}/out-of-turn-invoices", &["post"]),
    ("/notifications", &["get"]),
    ("/notifications/{id}", &["get"]),
    ("/webhook-endpoints", &["get", "post"]),
    ("/webhook-endpoints/{id}", &["delete"]),
    ("/measurements", &["post"]),
    ("/customers/{id}/measurements", &["get"]),
    ("/resellers/{id}/measurements", &["get"]),
    ("/openapi.json", &["get"]),
];

/// The keys of a path item that are operations (OpenAPI 3.1 §4.8.9).
const HTTP_METHODS: &[&str] = &["get", "put", "post", "delete", "options", "head", "patch", "trace"];

fn document() -> Value {
    serde_json::to_value(classbill_server::openapi_document()).expect("the document serializes")
}

fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let mut found = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("`paths` is an object") {
        for (key, operation) in item.as_object().expect("a path item is an object") {
            if HTTP_METHODS.contains(&key.as_str()) {
                found.push((path.clone(), key.clone(), operation));
            }
        }
    }
    found
}

fn expected() -> BTreeSet<(String, String)> {
    EXPECTED_OPERATIONS
        .iter()
        .flat_map(|(path, methods)| methods.iter().map(|m| ((*path).to_owned(), (*m).to_owned())))
        .collect()
}

/// Resolves a local reference (`#/a/b`) as a JSON pointer into `doc`.
fn resolve<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    let pointer = reference.strip_prefix('#')?;
    doc.pointer(pointer)
}

/// Every `$ref` string in the document, with the JSON pointer where it was found.
fn references(value: &Value, at: String, found: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                if key == "$ref"
                    && let Value::String(reference) = child
                {
                    found.push((at.clone(), reference.clone()));
                }
                references(
                    child,
                    format!("{at}/{}", key.replace('~', "~0").replace('/', "~1")),
                    found,
                );
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                references(child, format!("{at}/{index}"), found);
            }
        }
        _ => {}
    }
}

#[test]
fn the_document_is_openapi_3_1_with_an_info_block() {
    let doc = document();
    let version = doc["openapi"].as_str().expect("`openapi` is a string");
    assert!(version.starts_with("3.1"), "openapi = {version}");
    assert!(doc["info"]["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(doc["info"]["version"].as_str().is_some_and(|v| !v.is_empty()));
    assert_eq!(doc["servers"][0]["url"], "/api/v1", "paths are relative to /api/v1");
    // Only the keys OpenAPI 3.1 defines at the top level (or extensions).
    let allowed = [
        "openapi",
        "info",
        "jsonSchemaDialect",
        "servers",
        "paths",
        "webhooks",
        "components",
        "security",
        "tags",
        "externalDocs",
    ];
    for key in doc.as_object().expect("an object").keys() {
        assert!(
            allowed.contains(&key.as_str()) || key.starts_with("x-"),
            "unexpected top-level key {key}"
        );
    }
}

#[test]
fn every_route_is_documented_and_nothing_else() {
    let doc = document();
    let documented: BTreeSet<(String, String)> = operations(&doc)
        .into_iter()
        .map(|(path, method, _)| (path, method))
        .collect();
    let expected = expected();
    let missing: Vec<_> = expected.difference(&documented).collect();
    let unexpected: Vec<_> = documented.difference(&expected).collect();
    assert!(missing.is_empty(), "routes without a `paths` entry: {missing:?}");
    assert!(
        unexpected.is_empty(),
        "documented operations missing from EXPECTED_OPERATIONS (add them there): {unexpected:?}"
    );
}

/// The server answers every documented operation (never 405, never the router's 404), and answers 405 for the
/// methods a documented path does not list — so the router and the document describe the same routes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_router_serves_exactly_the_documented_operations() {
    let app = TestApp::start(Backend::Sqlite).await;
    let mut by_path: BTreeMap<&str, &[&str]> = BTreeMap::new();
    for (path, methods) in EXPECTED_OPERATIONS {
        by_path.insert(path, methods);
    }
    // A path that does not exist at all: the router's own answer, to compare with.
    let nowhere = app.get("/api/v1/no-such-route-anywhere", &app.admin).await;
    assert_eq!(nowhere.status, StatusCode::NOT_FOUND);
    let router_not_found = nowhere.body["detail"].clone();

    for (template, methods) in by_path {
        let path = format!(
            "/api/v1{}",
            template
                .replace("{id}", "999999")
                .replace("{revision}", "1")
                .replace("{name}", "probe")
        );
        for method in ["get", "post", "put", "patch", "delete"] {
            let http = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            let answer = app.send(http, &path, Some(&app.admin), None, None).await;
            if methods.contains(&method) {
                assert_ne!(
                    answer.status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path} is documented but not routed"
                );
                if answer.status == StatusCode::NOT_FOUND {
                    assert_ne!(
                        answer.body["detail"], router_not_found,
                        "{method} {path} is documented but the router does not know the path"
                    );
                }
            } else {
                assert_eq!(
                    answer.status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path} is routed but not documented: {}",
                    answer.text
                );
            }
        }
    }
}

#[test]
fn every_reference_resolves_inside_the_document() {
    let doc = document();
    let mut found = Vec::new();
    references(&doc, String::new(), &mut found);
    assert!(!found.is_empty(), "the document uses component references");
    for (at, reference) in &found {
        assert!(reference.starts_with("#/"), "{at}: external reference {reference}");
        assert!(resolve(&doc, reference).is_some(), "{at}: {reference} does not resolve");
    }
}

#[test]
fn every_operation_is_complete() {
    let doc = document();
    let mut operation_ids = BTreeSet::new();
    for (path, method, operation) in operations(&doc) {
        let at = format!("{method} {path}");
        if let Some(id) = operation["operationId"].as_str() {
            assert!(
                operation_ids.insert(id.to_owned()),
                "{at}: operationId {id} is used twice"
            );
        }
        assert!(
            operation["tags"].as_array().is_some_and(|tags| !tags.is_empty()),
            "{at}: no tag"
        );

        let responses = operation["responses"]
            .as_object()
            .unwrap_or_else(|| panic!("{at}: no responses"));
        assert!(!responses.is_empty(), "{at}: empty responses");
        assert!(
            responses.keys().any(|code| code.starts_with('2')),
            "{at}: no success response in {:?}",
            responses.keys()
        );
        for (code, response) in responses {
            assert!(
                code == "default" || (code.len() == 3 && code.parse::<u16>().is_ok_and(|c| (100..600).contains(&c))),
                "{at}: response key {code}"
            );
            let response = match response.get("$ref").and_then(Value::as_str) {
                Some(reference) => resolve(&doc, reference).unwrap_or_else(|| panic!("{at}: {reference}")),
                None => response,
            };
            assert!(
                response["description"].is_string(),
                "{at} {code}: a response needs a description"
            );
            if code.starts_with('4') || code.starts_with('5') {
                let content = response["content"].as_object();
                if let Some(content) = content {
                    assert!(
                        content.keys().all(|media| media == "application/problem+json"),
                        "{at} {code}: errors are sent as application/problem+json, documented as {:?}",
                        content.keys()
                    );
                    let schema = &content["application/problem+json"]["schema"]["$ref"];
                    assert_eq!(schema, "#/components/schemas/Problem", "{at} {code}: error body");
                }
            }
        }
        // A 2xx other than 204 says what it answers.
        for (code, response) in responses {
            if code.starts_with('2') && code != "204" {
                assert!(
                    response["content"].as_object().is_some_and(|c| !c.is_empty()),
                    "{at} {code}: the success response has no content"
                );
            }
        }

        if let Some(body) = operation.get("requestBody") {
            let content = body["content"]
                .as_object()
                .unwrap_or_else(|| panic!("{at}: request body without content"));
            assert!(!content.is_empty(), "{at}: request body without a media type");
            for (media, entry) in content {
                assert!(
                    media == "application/json" || media == "application/merge-patch+json",
                    "{at}: request media type {media}"
                );
                assert!(
                    entry["schema"].is_object(),
                    "{at}: request body {media} without a schema"
                );
                if let Some(reference) = entry["schema"]["$ref"].as_str() {
                    assert!(
                        resolve(&doc, reference).is_some(),
                        "{at}: request body {reference} missing"
                    );
                }
            }
        }
        if matches!(method.as_str(), "put" | "patch") && path != "/secrets/{name}" {
            assert!(
                operation.get("requestBody").is_some(),
                "{at}: a write without a request body"
            );
        }

        // Every `{param}` of the template is declared as a required path parameter, and nothing more.
        let declared: BTreeSet<String> = operation["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "path")
            .map(|p| {
                assert_eq!(
                    p["required"], true,
                    "{at}: path parameter {} must be required",
                    p["name"]
                );
                assert!(
                    p["schema"].is_object(),
                    "{at}: path parameter {} without a schema",
                    p["name"]
                );
                p["name"].as_str().expect("parameter name").to_owned()
            })
            .collect();
        let in_template: BTreeSet<String> = path
            .split('/')
            .filter_map(|segment| segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(str::to_owned)
            .collect();
        assert_eq!(declared, in_template, "{at}: path parameters");
        for parameter in operation["parameters"].as_array().into_iter().flatten() {
            assert!(
                matches!(parameter["in"].as_str(), Some("path" | "query" | "header" | "cookie")),
                "{at}: parameter {parameter}"
            );
        }
    }
}

/// In an `allOf`, a member that forbids additional properties rejects the properties its siblings add, so
/// no value could ever match the combination.
#[test]
fn no_all_of_member_forbids_its_siblings_properties() {
    fn check(doc: &Value, value: &Value, at: &str) {
        match value {
            Value::Object(map) => {
                if let Some(members) = map.get("allOf").and_then(Value::as_array) {
                    for (index, member) in members.iter().enumerate() {
                        let target = match member.get("$ref").and_then(Value::as_str) {
                            Some(reference) => resolve(doc, reference).expect("reference resolves"),
                            None => member,
                        };
                        assert_ne!(
                            target.get("additionalProperties"),
                            Some(&Value::Bool(false)),
                            "{at}/allOf/{index} is closed, so nothing can match this allOf"
                        );
                    }
                }
                for (key, child) in map {
                    check(doc, child, &format!("{at}/{key}"));
                }
            }
            Value::Array(items) => {
                for (index, child) in items.iter().enumerate() {
                    check(doc, child, &format!("{at}/{index}"));
                }
            }
            _ => {}
        }
    }
    let doc = document();
    check(&doc, &doc, "#");
}

/// The custom-field properties are written untagged, every key present (`null` included), so each shape the API
/// answers with must match exactly one member of the `oneOf`: its keys hold what a member requires and no more
/// than the member allows.
#[test]
fn each_custom_field_properties_shape_matches_one_member_of_its_one_of() {
    let doc = document();
    let members = doc["components"]["schemas"]["CustomFieldProperties"]["oneOf"]
        .as_array()
        .expect("a oneOf");
    let keys_of = |member: &Value| -> BTreeSet<String> {
        member["properties"]
            .as_object()
            .expect("an object member")
            .keys()
            .cloned()
            .collect()
    };
    let admits = |member: &Value, keys: &BTreeSet<String>| {
        let required = member["required"].as_array().map(Vec::as_slice).unwrap_or_default();
        let all_required = required.iter().all(|key| keys.contains(key.as_str().expect("a key")));
        let not_too_many = member["maxProperties"]
            .as_u64()
            .is_none_or(|most| keys.len() as u64 <= most);
        all_required && not_too_many
    };
    assert_eq!(members.len(), 4, "text, number, bounds, list");
    for (index, member) in members.iter().enumerate() {
        let written = keys_of(member);
        let matching: Vec<usize> = (0..members.len())
            .filter(|&other| admits(&members[other], &written))
            .collect();
        assert_eq!(matching, vec![index], "{written:?} matches members {matching:?}");
    }
}

#[test]
fn authentication_is_declared_and_only_the_document_is_public() {
    let doc = document();
    let scheme = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!(scheme["type"], "http");
    assert_eq!(
        scheme["scheme"].as_str().map(str::to_ascii_lowercase).as_deref(),
        Some("bearer")
    );
    assert_eq!(doc["security"], serde_json::json!([{"bearer": []}]));
    for (path, method, operation) in operations(&doc) {
        let at = format!("{method} {path}");
        if path == "/openapi.json" {
            assert_eq!(operation["security"], serde_json::json!([{}]), "{at} needs no token");
        } else {
            assert!(
                operation.get("security").is_none(),
                "{at} overrides the global bearer requirement"
            );
            assert!(
                operation["responses"].get("401").is_some(),
                "{at}: an authenticated operation documents its 401"
            );
        }
    }
}

#[test]
fn class_writes_document_if_match() {
    let doc = document();
    for (path, method) in [
        ("/customer-classes/{id}", "put"),
        ("/customer-classes/{id}", "patch"),
        (
            "/customer-classes/{id}/out-of-turn-invoices/copy-policy-from-regular",
            "post",
        ),
    ] {
        let operation = &doc["paths"][path][method];
        let if_match =
            operation["parameters"].as_array().into_iter().flatten().find(|p| {
                p["in"] == "header" && p["name"].as_str().is_some_and(|n| n.eq_ignore_ascii_case("if-match"))
            });
        assert!(if_match.is_some(), "{method} {path}: If-Match header parameter");
        for code in ["409", "428"] {
            assert!(
                operation["responses"].get(code).is_some(),
                "{method} {path}: response {code}"
            );
        }
    }
}

#[test]
fn the_document_is_snapshotted() {
    insta::assert_json_snapshot!("openapi_document", document());
}
