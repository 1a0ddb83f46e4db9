//! The authorization matrix: every `/api/v1` route of the OpenAPI document, walked with an administrator, the
//! users of resellers R and Q, the user of R's subreseller S, and no token. No route may answer without a
//! token, and none may show or touch an object of an owner the caller does not act for: such objects are 404.

mod support;

use std::collections::BTreeMap;

use classbill_engine::NewUserRole;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::TestApp;

/// Who owns an object, as the rules of visibility see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Owner {
    Administrator,
    Reseller(i64),
}

struct Caller {
    name: &'static str,
    token: String,
    /// `None` for the administrator.
    reseller: Option<i64>,
}

impl Caller {
    fn sees(&self, owner: Owner) -> bool {
        match (self.reseller, owner) {
            (None, _) => true,
            (Some(own), Owner::Reseller(id)) => own == id,
            (Some(_), Owner::Administrator) => false,
        }
    }
}

/// Objects of each kind, one per owner, keyed by the first path segment of their routes.
type Objects = BTreeMap<&'static str, Vec<(Owner, i64)>>;

async fn created_id(app: &TestApp, path: &str, token: &str, body: Value) -> i64 {
    let answer = app.post(path, token, body).await;
    assert_eq!(
        answer.status,
        StatusCode::CREATED,
        "{} {path}: {}",
        app.backend,
        answer.text
    );
    answer.body["id"].as_i64().expect("id")
}

/// Operator, R, Q and S (R's subreseller) each own a class, a customer, a subreseller, a template, a
/// notification set and a custom tax.
async fn world(app: &TestApp) -> (Vec<Caller>, Objects) {
    let r = app.reseller("Rho", None).await;
    let q = app.reseller("Quebec", None).await;
    let s = app.reseller("Sierra", Some(r)).await;
    let mut callers = vec![Caller {
        name: "administrator",
        token: app.admin.clone(),
        reseller: None,
    }];
    for (name, id) in [("reseller R", r), ("reseller Q", q), ("subreseller S", s)] {
        let login = name.replace(' ', "-");
        callers.push(Caller {
            name,
            token: app.user(&login, NewUserRole::Reseller(id)).await,
            reseller: Some(id),
        });
    }
    let mut objects = Objects::new();
    // One user per owner: the administrator and the users of R, Q and S.
    let users = app.get("/api/v1/users?limit=1000", &app.admin).await;
    for user in users.body["items"].as_array().expect("users") {
        let owner = user["reseller_id"]
            .as_i64()
            .map_or(Owner::Administrator, Owner::Reseller);
        objects
            .entry("users")
            .or_default()
            .push((owner, user["id"].as_i64().expect("user id")));
    }
    assert_eq!(objects["users"].len(), 4, "{}", users.text);
    let owners = [
        (Owner::Administrator, 0usize),
        (Owner::Reseller(r), 1),
        (Owner::Reseller(q), 2),
        (Owner::Reseller(s), 3),
    ];
    for (owner, caller) in owners {
        let token = callers[caller].token.clone();
        let class = created_id(
            app,
            "/api/v1/customer-classes",
            &token,
            json!({"name": "Matrix", "currency": "EUR"}),
        )
        .await;
        objects.entry("customer-classes").or_default().push((owner, class));
        let customer = created_id(
            app,
            "/api/v1/customers",
            &token,
            json!({"name": "Matrix customer", "class_id": class}),
        )
        .await;
        objects.entry("customers").or_default().push((owner, customer));
        let template = created_id(
            app,
            "/api/v1/invoice-templates",
            &token,
            json!({"name": "Matrix", "source": "= Invoice"}),
        )
        .await;
        objects.entry("invoice-templates").or_default().push((owner, template));
        let set = created_id(app, "/api/v1/notification-sets", &token, json!({"name": "Matrix"})).await;
        objects.entry("notification-sets").or_default().push((owner, set));
        let tax = created_id(
            app,
            "/api/v1/custom-taxes",
            &token,
            json!({"name": "Matrix", "rate_percent": "1", "scope": "all"}),
        )
        .await;
        objects.entry("custom-taxes").or_default().push((owner, tax));
        let secret = app
            .send(
                Method::PUT,
                "/api/v1/secrets/matrix-hook",
                Some(&token),
                Some(json!({"value": "k"})),
                None,
            )
            .await;
        assert!(secret.status.is_success(), "{}: {}", app.backend, secret.text);
        let endpoint = created_id(
            app,
            "/api/v1/webhook-endpoints",
            &token,
            json!({"url": "http://127.0.0.1:9/hook", "secret_ref": "matrix-hook"}),
        )
        .await;
        objects.entry("webhook-endpoints").or_default().push((owner, endpoint));
    }
    // Resellers are owned by their parent: R and Q by the operator, S by R; Q and S get subresellers too.
    let q_sub = app.reseller("Quebec sub", Some(q)).await;
    let s_sub = app.reseller("Sierra sub", Some(s)).await;
    objects.insert(
        "resellers",
        vec![
            (Owner::Administrator, q),
            (Owner::Reseller(r), s),
            (Owner::Reseller(q), q_sub),
            (Owner::Reseller(s), s_sub),
        ],
    );
    (callers, objects)
}

/// Every (method, path template) of the served OpenAPI document.
async fn routes(app: &TestApp) -> Vec<(Method, String)> {
    let document = app
        .send(Method::GET, "/api/v1/openapi.json", None, None, None)
        .await
        .body;
    let mut routes = Vec::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                routes.push((
                    Method::from_bytes(method.to_uppercase().as_bytes()).expect("method"),
                    path.clone(),
                ));
            }
        }
    }
    assert!(routes.len() > 40, "the document lists every route: {}", routes.len());
    routes
}

async fn call(app: &TestApp, method: &Method, path: &str, token: Option<&str>) -> (StatusCode, Value, String) {
    // A well-formed body, so that what is answered is the caller's right to the object, not the body's shape.
    let body = (*method != Method::GET && *method != Method::DELETE).then(|| {
        if path.ends_with("/members") {
            json!({"party_ids": []})
        } else {
            json!({})
        }
    });
    let answer = app
        .send(method.clone(), &format!("/api/v1{path}"), token, body, Some("\"1\""))
        .await;
    (answer.status, answer.body, answer.text)
}

fn concrete(template: &str, id: i64) -> String {
    template
        .replace("{id}", &id.to_string())
        .replace("{revision}", "1")
        .replace("{token_id}", "1")
        .replace("{name}", "matrix-secret")
}

/// The owner of a listed item, for the kinds whose lists must hold only visible items.
fn owner_of_item(kind: &str, item: &Value) -> Option<(Owner, bool)> {
    let reseller = |v: &Value| v.as_i64().map_or(Owner::Administrator, Owner::Reseller);
    match kind {
        "customer-classes" => Some((reseller(&item["managed_by"]["reseller_id"]), false)),
        "customers" => Some((reseller(&item["reseller_id"]), false)),
        "resellers" => Some((reseller(&item["parent_reseller_id"]), false)),
        "webhook-endpoints" => Some((reseller(&item["owner"]["reseller_id"]), false)),
        "invoice-templates" | "notification-sets" | "custom-taxes" => {
            Some((reseller(&item["owner"]["reseller_id"]), item["shared"] == json!(true)))
        }
        "audit-log" => Some((reseller(&item["owner_reseller_id"]), false)),
        "users" => Some((reseller(&item["reseller_id"]), false)),
        _ => None,
    }
}

on_both_backends! {
    async fn every_route_refuses_strangers_and_hides_other_owners_objects(app) {
        let (callers, objects) = world(app).await;
        let routes = routes(app).await;
        let mut checked = 0;
        for (method, template) in &routes {
            let kind = template.trim_start_matches('/').split('/').next().unwrap_or("");
            let instances: Vec<(Option<Owner>, String)> = match objects.get(kind) {
                Some(owned) if template.contains("{id}") => {
                    owned.iter().map(|(owner, id)| (Some(*owner), concrete(template, *id))).collect()
                }
                _ => vec![(None, concrete(template, 1))],
            };
            for (owner, path) in &instances {
                let (status, _, text) = call(app, method, path, None).await;
                let expected = if template == "/openapi.json" { StatusCode::OK } else { StatusCode::UNAUTHORIZED };
                assert_eq!(status, expected, "{} {method} {path} without a token: {text}", app.backend);
                for caller in &callers {
                    let visible = owner.is_none_or(|o| caller.sees(o));
                    if visible && *method == Method::DELETE {
                        // Deleting what the caller may see is covered by the feature suites; here it would
                        // remove the fixtures the other callers are checked against.
                        continue;
                    }
                    let (status, body, text) = call(app, method, path, Some(&caller.token)).await;
                    checked += 1;
                    let context = format!("{} {method} {path} as {}: {text}", app.backend, caller.name);
                    assert!(!status.is_server_error(), "{context}");
                    assert_ne!(status, StatusCode::UNAUTHORIZED, "{context}");
                    if !visible {
                        assert_eq!(status, StatusCode::NOT_FOUND, "another owner's object must stay hidden: {context}");
                    } else if owner.is_some() {
                        assert_ne!(status, StatusCode::NOT_FOUND, "{context}");
                        if *method == Method::GET {
                            assert_eq!(status, StatusCode::OK, "{context}");
                        }
                    } else if *method == Method::GET && status == StatusCode::OK {
                        for item in body["items"].as_array().into_iter().flatten() {
                            if let Some((item_owner, shared)) = owner_of_item(kind, item) {
                                let shared_by_operator = shared && item_owner == Owner::Administrator;
                                assert!(
                                    caller.sees(item_owner) || shared_by_operator,
                                    "a list shows an item of {item_owner:?}: {context}"
                                );
                            }
                        }
                    }
                }
            }
        }
        assert!(checked > 500, "the matrix made {checked} checks");
    }
}
