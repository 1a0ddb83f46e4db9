//! Security rules of the HTTP edge: login limits and lock-out, session fixation, the login form's CSRF token,
//! the UI's security headers, secrets kept out of every answer, run bodies refusing unknown keys, and a 503
//! instead of a 500 when the database pool is exhausted.

mod support;
mod ui_support;

use std::time::Duration;

use classbill_engine::{Engine, NewUserRole};
use classbill_store::{PoolLimits, Store};
use classbill_testkit::{Backend, database_url};
use jiff::{SignedDuration, Timestamp};
use reqwest::header::HeaderMap;
use reqwest::redirect::Policy;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::TestApp;
use ui_support::{PASSWORD, UiClient, login_form, set_cookie};

const LOCKED: &str = "is locked after too many failed attempts until";
const WRONG: &str = "Wrong login or password.";

/// A browser without a cookie jar: each test says which cookies it sends.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .expect("client")
}

#[derive(Debug)]
struct LoginAnswer {
    status: StatusCode,
    headers: HeaderMap,
    html: String,
}

impl LoginAnswer {
    /// The `name=value` of the session cookie set by this answer.
    fn session_cookie(&self) -> Option<String> {
        set_cookie(&self.headers, "classbill_session").map(|c| c.split(';').next().unwrap_or_default().to_owned())
    }
}

/// Posts the login form with the given cookies (`Cookie` header value, may be empty) and form token.
async fn post_login(app: &TestApp, cookies: &str, csrf: Option<&str>, login: &str, password: &str) -> LoginAnswer {
    post_login_via(app, None, cookies, csrf, login, password).await
}

/// [`post_login`] through a proxy that sends `forwarded` as `X-Forwarded-For`.
async fn post_login_via(
    app: &TestApp,
    forwarded: Option<&str>,
    cookies: &str,
    csrf: Option<&str>,
    login: &str,
    password: &str,
) -> LoginAnswer {
    let mut form = vec![("login", login), ("password", password), ("next", "/classes")];
    if let Some(csrf) = csrf {
        form.push(("csrf", csrf));
    }
    let mut request = browser().post(format!("{}/login", app.base)).form(&form);
    if !cookies.is_empty() {
        request = request.header("cookie", cookies);
    }
    if let Some(forwarded) = forwarded {
        request = request.header("x-forwarded-for", forwarded);
    }
    let response = request.send().await.expect("login sent");
    LoginAnswer {
        status: response.status(),
        headers: response.headers().clone(),
        html: response.text().await.expect("body"),
    }
}

/// Opens the login page and signs in with it.
async fn attempt(app: &TestApp, login: &str, password: &str) -> LoginAnswer {
    let (cookie, csrf) = login_form(&browser(), &app.base).await;
    post_login(app, &cookie, Some(&csrf), login, password).await
}

/// [`attempt`] through a proxy that names the client `forwarded`.
async fn attempt_via(app: &TestApp, forwarded: &str, login: &str, password: &str) -> LoginAnswer {
    let (cookie, csrf) = login_form(&browser(), &app.base).await;
    post_login_via(app, Some(forwarded), &cookie, Some(&csrf), login, password).await
}

/// Fails 20 logins from `forwarded` (4 on each of five users), which reaches the limit of one address.
async fn twenty_failures_via(app: &TestApp, forwarded: &str) {
    for n in 0..5 {
        app.user(&format!("proxied-{n}"), NewUserRole::Administrator).await;
    }
    for n in 0..20 {
        let answer = attempt_via(app, forwarded, &format!("proxied-{}", n % 5), "not the password").await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}: attempt {n}", app.backend);
    }
}

/// A page of the UI requested with `cookie`.
async fn page(app: &TestApp, path: &str, cookie: &str) -> reqwest::Response {
    browser()
        .get(format!("{}{path}", app.base))
        .header("cookie", cookie)
        .send()
        .await
        .expect("page requested")
}

async fn user_id(app: &TestApp, login: &str) -> i64 {
    let users = app.get("/api/v1/users?limit=1000", &app.admin).await;
    users.body["items"]
        .as_array()
        .and_then(|items| items.iter().find(|u| u["login"] == json!(login)))
        .and_then(|u| u["id"].as_i64())
        .expect("user listed")
}

async fn audit_actions(app: &TestApp) -> Vec<Value> {
    let log = app.get("/api/v1/audit-log?limit=1000", &app.admin).await;
    assert_eq!(log.status, StatusCode::OK, "{}", log.text);
    log.body["items"].as_array().cloned().unwrap_or_default()
}

on_both_backends! {
    async fn five_failures_lock_a_login_for_fifteen_minutes_even_against_the_right_password(app) {
        app.user("alice", NewUserRole::Administrator).await;
        for n in 1..=4 {
            let answer = attempt(app, "alice", "not the password").await;
            assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}: attempt {n}", app.backend);
            assert!(answer.html.contains(WRONG), "attempt {n}: {}", answer.html);
        }
        let fifth = attempt(app, "alice", "not the password").await;
        assert_eq!(fifth.status, StatusCode::UNAUTHORIZED);
        assert!(fifth.html.contains(LOCKED), "{}", fifth.html);
        let right = attempt(app, "alice", PASSWORD).await;
        assert_eq!(right.status, StatusCode::UNAUTHORIZED, "{}: the right password is refused while locked", app.backend);
        assert!(right.html.contains(LOCKED) && right.html.contains(" UTC"), "says until when: {}", right.html);
        assert!(right.session_cookie().is_none());

        let lock = audit_actions(app).await.into_iter().find(|e| e["action"] == json!("lock_out")).expect("audited");
        assert_eq!(lock["object_id"], json!("alice"));
        assert_eq!(lock["details"]["client_ip"], json!("127.0.0.1"));

        app.clock.advance(SignedDuration::from_mins(14));
        assert_eq!(attempt(app, "alice", PASSWORD).await.status, StatusCode::UNAUTHORIZED, "still locked at 14 minutes");
        app.clock.advance(SignedDuration::from_secs(61));
        let after = attempt(app, "alice", PASSWORD).await;
        assert_eq!(after.status, StatusCode::SEE_OTHER, "{}: {}", app.backend, after.html);
        assert!(after.session_cookie().is_some());
    }
}

on_both_backends! {
    async fn failures_spread_over_more_than_fifteen_minutes_do_not_lock_and_a_success_clears_the_count(app) {
        app.user("bruno", NewUserRole::Administrator).await;
        for _ in 0..4 {
            attempt(app, "bruno", "wrong password").await;
        }
        app.clock.advance(SignedDuration::from_mins(16));
        for n in 0..4 {
            let answer = attempt(app, "bruno", "wrong password").await;
            assert!(answer.html.contains(WRONG), "{}: the old failures left the window ({n})", app.backend);
        }
        assert_eq!(attempt(app, "bruno", PASSWORD).await.status, StatusCode::SEE_OTHER);
        for n in 0..4 {
            let answer = attempt(app, "bruno", "wrong password").await;
            assert!(answer.html.contains(WRONG), "{}: the success cleared the count ({n})", app.backend);
        }
        assert_eq!(attempt(app, "bruno", PASSWORD).await.status, StatusCode::SEE_OTHER);
    }
}

on_both_backends! {
    async fn an_unknown_login_is_answered_exactly_like_a_real_one(app) {
        app.user("carla", NewUserRole::Administrator).await;
        for n in 1..=6 {
            let password = if n == 6 { PASSWORD } else { "not the password" };
            let real = attempt(app, "carla", password).await;
            let unknown = attempt(app, "nobody-here", password).await;
            assert_eq!(real.status, unknown.status, "{}: attempt {n}", app.backend);
            assert_eq!(real.session_cookie().is_some(), unknown.session_cookie().is_some());
            let expected = if n < 5 { WRONG } else { LOCKED };
            assert!(real.html.contains(expected) && unknown.html.contains(expected), "attempt {n}: {}", unknown.html);
            // Apart from the login echoed into the form and the lock's end, the pages are the same.
            let strip = |html: &str, login: &str| {
                let html = html.replace(login, "LOGIN");
                match html.find(LOCKED) {
                    Some(at) => html[..at].to_owned(),
                    None => html,
                }
            };
            let strip_token = |html: String| {
                let marker = "name=\"csrf\" value=\"";
                match html.find(marker) {
                    Some(at) => {
                        let token = html[at + marker.len()..at + marker.len() + 64].to_owned();
                        html.replace(&token, "TOKEN")
                    }
                    None => html,
                }
            };
            assert_eq!(
                strip(&strip_token(real.html.clone()), "carla"),
                strip(&strip_token(unknown.html.clone()), "nobody-here"),
                "attempt {n}"
            );
        }
        let locks: Vec<Value> = audit_actions(app).await.into_iter().filter(|e| e["action"] == json!("lock_out")).collect();
        assert_eq!(locks.len(), 2, "both lock-outs are audited: {locks:?}");
    }
}

on_both_backends! {
    async fn twenty_failures_from_one_address_answer_429_with_retry_after(app) {
        for n in 0..5 {
            app.user(&format!("user-{n}"), NewUserRole::Administrator).await;
        }
        // Four failures on each of five logins: no login locks, but the address reaches its limit.
        for n in 0..20 {
            let answer = attempt(app, &format!("user-{}", n % 5), "not the password").await;
            assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}: attempt {n}", app.backend);
            assert!(answer.html.contains(WRONG), "attempt {n}: {}", answer.html);
        }
        let refused = attempt(app, "admin", PASSWORD).await;
        assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS, "{}: {}", app.backend, refused.html);
        assert!(refused.session_cookie().is_none());
        let retry_after: i64 = refused.headers.get("retry-after").and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok()).expect("Retry-After in seconds");
        assert!((840..=900).contains(&retry_after), "{retry_after}");
        assert!(refused.html.contains("Too many failed logins from your address"), "{}", refused.html);

        app.clock.advance(SignedDuration::from_secs(retry_after + 1));
        let later = attempt(app, "admin", PASSWORD).await;
        assert_eq!(later.status, StatusCode::SEE_OTHER, "{}: {}", app.backend, later.html);
    }
}

on_both_backends! {
    async fn an_administrator_unlocks_a_locked_user_at_once(app) {
        let (reseller, reseller_token) = app.reseller_with_user("Delta").await;
        app.user("delta-colleague", NewUserRole::Reseller(reseller)).await;
        for _ in 0..5 {
            attempt(app, "delta-colleague", "not the password").await;
        }
        assert!(attempt(app, "delta-colleague", PASSWORD).await.html.contains(LOCKED));
        let id = user_id(app, "delta-colleague").await;

        let by_reseller = app.post(&format!("/api/v1/users/{id}/unlock"), &reseller_token, json!({})).await;
        assert_eq!(by_reseller.status, StatusCode::FORBIDDEN, "{}: {}", app.backend, by_reseller.text);
        let admin_id = user_id(app, "admin").await;
        let hidden = app.post(&format!("/api/v1/users/{admin_id}/unlock"), &reseller_token, json!({})).await;
        assert_eq!(hidden.status, StatusCode::NOT_FOUND, "{}", hidden.text);
        assert!(attempt(app, "delta-colleague", PASSWORD).await.html.contains(LOCKED), "still locked");

        let unlocked = app.post(&format!("/api/v1/users/{id}/unlock"), &app.admin, json!({})).await;
        assert_eq!(unlocked.status, StatusCode::NO_CONTENT, "{}: {}", app.backend, unlocked.text);
        assert_eq!(attempt(app, "delta-colleague", PASSWORD).await.status, StatusCode::SEE_OTHER);
        let entry = audit_actions(app).await.into_iter().find(|e| e["action"] == json!("unlock")).expect("audited");
        assert_eq!(entry["object_id"], json!(id.to_string()));
        assert_eq!(entry["details"]["was_locked"], json!(true));
        assert_eq!(app.post("/api/v1/users/999999/unlock", &app.admin, json!({})).await.status, StatusCode::NOT_FOUND);
    }
}

on_both_backends! {
    async fn login_issues_a_new_session_id_and_logout_ends_it_on_the_server(app) {
        // An id planted in the browser before the login (session fixation) is not adopted.
        let (form_cookie, csrf) = login_form(&browser(), &app.base).await;
        let planted = format!("classbill_session={}", "ab".repeat(32));
        let answer = post_login(app, &format!("{form_cookie}; {planted}"), Some(&csrf), "admin", PASSWORD).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}: {}", app.backend, answer.html);
        let first = answer.session_cookie().expect("a session cookie");
        assert_ne!(first, planted);
        let form_value = form_cookie.split_once('=').map(|(_, v)| v.to_owned()).unwrap_or_default();
        assert!(!first.contains(&form_value), "the pre-session id is not reused");
        let cleared = set_cookie(&answer.headers, "classbill_login").expect("the pre-session cookie is dropped");
        assert!(cleared.contains("Max-Age=0"), "{cleared}");
        assert_eq!(page(app, "/classes", &planted).await.status(), StatusCode::SEE_OTHER, "the planted id is no session");
        let pre_session = format!("classbill_session={form_value}");
        assert_eq!(page(app, "/classes", &pre_session).await.status(), StatusCode::SEE_OTHER);
        assert_eq!(page(app, "/classes", &first).await.status(), StatusCode::OK);

        // Signing in again from a signed-in browser replaces its session; the old id stops working.
        let (form_cookie, csrf) = login_form(&browser(), &app.base).await;
        let again = post_login(app, &format!("{form_cookie}; {first}"), Some(&csrf), "admin", PASSWORD).await;
        let second = again.session_cookie().expect("a session cookie");
        assert_ne!(second, first);
        assert_eq!(page(app, "/classes", &first).await.status(), StatusCode::SEE_OTHER, "{}", app.backend);
        assert_eq!(page(app, "/classes", &second).await.status(), StatusCode::OK);

        // Logout ends the session on the server, not just in the browser: replaying the cookie fails.
        let html = page(app, "/classes", &second).await.text().await.expect("body");
        let marker = "name=\"csrf\" value=\"";
        let start = html.find(marker).expect("a form with a token") + marker.len();
        let token = &html[start..start + 64];
        let logout = browser().post(format!("{}/logout", app.base)).header("cookie", &second)
            .form(&[("csrf", token)]).send().await.expect("logout sent");
        assert_eq!(logout.status(), StatusCode::SEE_OTHER);
        let replayed = page(app, "/classes", &second).await;
        assert_eq!(replayed.status(), StatusCode::SEE_OTHER, "{}", app.backend);
        assert!(replayed.headers()["location"].to_str().unwrap_or("").starts_with("/login"));
    }
}

on_both_backends! {
    async fn the_login_form_needs_the_token_of_its_own_pre_session(app) {
        let (cookie_a, csrf_a) = login_form(&browser(), &app.base).await;
        let (cookie_b, csrf_b) = login_form(&browser(), &app.base).await;
        assert_ne!(csrf_a, csrf_b);
        let refusals = [
            ("", None, "neither cookie nor token"),
            (cookie_a.as_str(), None, "no token"),
            ("", Some(csrf_a.as_str()), "no cookie"),
            (cookie_a.as_str(), Some(csrf_b.as_str()), "another form's token"),
            (cookie_a.as_str(), Some(cookie_a.split_once('=').map_or("", |(_, v)| v)), "the cookie itself as token"),
        ];
        for (cookies, csrf, case) in refusals {
            let answer = post_login(app, cookies, csrf, "admin", PASSWORD).await;
            assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}: {case}: {}", app.backend, answer.html);
            assert!(answer.session_cookie().is_none(), "{case}");
        }
        // A cross-site form cannot know the token; refused posts do not count as failed logins either.
        for _ in 0..6 {
            post_login(app, "", None, "admin", "guess").await;
        }
        assert_eq!(post_login(app, &cookie_b, Some(&csrf_b), "admin", PASSWORD).await.status, StatusCode::SEE_OTHER);
        // The page keeps the pre-session a browser already has, so two open tabs both work.
        let reload = browser().get(format!("{}/login", app.base)).header("cookie", &cookie_a).send().await.expect("page");
        let kept = set_cookie(reload.headers(), "classbill_login").expect("cookie refreshed");
        assert!(kept.starts_with(&cookie_a), "{kept}");
        assert!(reload.text().await.expect("body").contains(&csrf_a));
        let cookie = set_cookie(&post_login(app, &cookie_a, Some(&csrf_a), "admin", "wrong").await.headers, "classbill_login")
            .expect("the failed login keeps the form usable");
        assert!(cookie.contains("SameSite=Strict") && cookie.contains("HttpOnly") && cookie.contains("Path=/login"), "{cookie}");
    }
}

/// Asserts the headers every UI page carries.
fn assert_security_headers(headers: &HeaderMap, what: &str) {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let csp = header("content-security-policy");
    for directive in [
        "default-src 'self'",
        "frame-ancestors 'none'",
        "form-action 'self'",
        "base-uri 'none'",
    ] {
        assert!(csp.contains(directive), "{what}: CSP lacks {directive}: {csp:?}");
    }
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{what}: {csp}"
    );
    assert_eq!(header("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(header("x-frame-options"), "DENY", "{what}");
    assert_eq!(header("referrer-policy"), "same-origin", "{what}");
}

on_both_backends! {
    async fn every_kind_of_ui_answer_carries_the_security_headers(app) {
        let anonymous = [("/login", StatusCode::OK), ("/classes", StatusCode::SEE_OTHER), ("/static/ui.css", StatusCode::OK)];
        for (path, status) in anonymous {
            let answer = page(app, path, "").await;
            assert_eq!(answer.status(), status, "{path}");
            assert_security_headers(answer.headers(), path);
        }
        let refused = post_login(app, "", None, "admin", PASSWORD).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        assert_security_headers(&refused.headers, "refused login");
        let wrong = attempt(app, "admin", "wrong").await;
        assert_security_headers(&wrong.headers, "failed login");
        assert_eq!(wrong.headers.get("cache-control").and_then(|v| v.to_str().ok()), Some("no-store"));

        let ui = UiClient::login(app, "admin").await;
        for (path, status) in [("/classes", StatusCode::OK), ("/customers", StatusCode::OK),
                               ("/classes/999999", StatusCode::NOT_FOUND), ("/tokens", StatusCode::OK)] {
            let answer = ui.get(path).await;
            assert_eq!(answer.status, status, "{path}");
            assert_security_headers(&answer.headers, path);
            assert_eq!(answer.headers.get("cache-control").and_then(|v| v.to_str().ok()), Some("no-store"), "{path}");
        }
        let forged = ui.post("/classes/new", &[("name", "x"), ("csrf", "forged")]).await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN);
        assert_security_headers(&forged.headers, "refused form");
    }
}

/// Every GET route of the OpenAPI document, with `{id}`-like parameters set to `id`.
async fn get_routes(app: &TestApp, id: i64) -> Vec<String> {
    let document = app
        .send(Method::GET, "/api/v1/openapi.json", None, None, None)
        .await
        .body;
    document["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .filter(|(_, item)| item.get("get").is_some())
        .map(|(path, _)| {
            let mut concrete = String::new();
            let mut rest = path.as_str();
            while let Some(start) = rest.find('{') {
                concrete.push_str(&rest[..start]);
                let end = rest[start..].find('}').map_or(rest.len(), |e| start + e + 1);
                let value = match &rest[start..end] {
                    "{owner}" => "administrator".to_owned(),
                    "{kind}" => "invoices".to_owned(),
                    _ => id.to_string(),
                };
                concrete.push_str(&value);
                rest = &rest[end..];
            }
            concrete.push_str(rest);
            concrete
        })
        .collect()
}

on_both_backends! {
    async fn secrets_never_appear_in_any_api_answer(app) {
        let webhook_secret = "whsec-4f1d2c9e8b7a";
        let tax_key = "taxkey-77e3a1b0c5d2";
        let smtp_password = "smtp-pw-9c8d7e6f5a";
        for (name, value) in [("hook", webhook_secret), ("tax-engine", tax_key)] {
            let put = app.send(Method::PUT, &format!("/api/v1/secrets/{name}"), Some(&app.admin),
                Some(json!({"value": value})), None).await;
            assert_eq!(put.status, StatusCode::NO_CONTENT, "{}: {}", app.backend, put.text);
            assert!(!put.text.contains(value));
        }
        let endpoint = app.post("/api/v1/webhook-endpoints", &app.admin,
            json!({"url": "http://127.0.0.1:9/hook", "secret_ref": "hook"})).await;
        assert_eq!(endpoint.status, StatusCode::CREATED, "{}", endpoint.text);
        let settings = app.send(Method::PATCH, "/api/v1/settings", Some(&app.admin),
            Some(json!({"smtp_url": format!("smtp://mailer:{smtp_password}@127.0.0.1:2525")})), None).await;
        assert_eq!(settings.status, StatusCode::OK, "{}", settings.text);
        assert!(!settings.text.contains(smtp_password), "{}", settings.text);
        let class = app.class(&app.admin, json!({"name": "Taxed elsewhere", "currency": "EUR",
            "taxation": {"method": "external", "external": {"endpoint_url": "http://127.0.0.1:9/tax",
            "timeout_ms": 1000, "secret_ref": "tax-engine", "prices_include_tax": false}}})).await;
        let class_id = class["id"].as_i64().expect("class id");
        assert_eq!(class["taxation"]["external"]["secret_ref"], json!("tax-engine"));

        let mut read = 0;
        for id in [class_id, endpoint.body["id"].as_i64().expect("endpoint id"), 1] {
            for path in get_routes(app, id).await {
                let answer = app.get(&format!("/api/v1{path}"), &app.admin).await;
                assert!(!answer.status.is_server_error(), "{} {path}: {}", app.backend, answer.text);
                for secret in [webhook_secret, tax_key, smtp_password] {
                    assert!(!answer.text.contains(secret), "{} GET {path} shows a secret: {}", app.backend, answer.text);
                }
                read += 1;
            }
        }
        assert!(read > 120, "{read} answers read");
    }
}

on_both_backends! {
    async fn run_bodies_refuse_unknown_keys(app) {
        for kind in ["billing-runs", "collection-runs"] {
            let path = format!("/api/v1/{kind}");
            let extra = app.post(&path, &app.admin, json!({"as_of": "2025-03-01T00:00:00Z", "dry_run": true})).await;
            assert_eq!(extra.status, StatusCode::UNPROCESSABLE_ENTITY, "{} {kind}: {}", app.backend, extra.text);
            assert_eq!(extra.error_codes(), vec![("dry_run".to_owned(), "unknown_field".to_owned())], "{}", extra.text);
            let misspelt = app.post(&path, &app.admin, json!({"asof": "2025-03-01T00:00:00Z"})).await;
            assert_eq!(misspelt.status, StatusCode::UNPROCESSABLE_ENTITY);
            assert!(misspelt.has_error("asof", "unknown_field") && misspelt.has_error("as_of", "invalid"), "{}", misspelt.text);
            let listed = app.get(&path, &app.admin).await;
            assert_eq!(listed.body["items"], json!([]), "nothing was started: {}", listed.text);
            let reseller = app.reseller_with_user(&format!("Echo{}", kind.len())).await.1;
            let forbidden = app.post(&path, &reseller, json!({"as_of": "2025-03-01T00:00:00Z"})).await;
            assert_eq!(forbidden.status, StatusCode::FORBIDDEN, "{}", forbidden.text);
            let run = app.run_to_completion(kind, "2025-03-01T00:00:00Z").await;
            assert_eq!(run["status"], json!("completed"));
        }
    }
}

/// A server over a store whose pool has one connection and waits 300 ms for it; answers its base URL, an
/// administrator token and the store.
async fn tiny_pool_server(backend: Backend) -> (String, String, Store, classbill_testkit::TestDatabase) {
    let db = database_url(backend).await;
    let limits = PoolLimits {
        max_connections: 1,
        acquire_timeout: Duration::from_millis(300),
    };
    let store = Store::connect_with(&db.url, Some(limits))
        .await
        .expect("database opens");
    let engine = Engine::new(store.clone());
    engine.initialize(Timestamp::now()).await.expect("schema migrates");
    engine
        .add_user("admin", PASSWORD, NewUserRole::Administrator, Timestamp::now())
        .await
        .expect("user");
    let token = engine.create_token("admin", Timestamp::now()).await.expect("token");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("port");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move {
        classbill_server::serve(engine, listener, std::future::pending())
            .await
            .expect("server runs");
    });
    (base, token, store, db)
}

async fn pool_exhaustion_answers_503_with_retry_after(backend: Backend) {
    let (base, token, store, _db) = tiny_pool_server(backend).await;
    let client = reqwest::Client::new();
    let get = || {
        client
            .get(format!("{base}/api/v1/customer-classes"))
            .bearer_auth(&token)
            .send()
    };
    assert_eq!(get().await.expect("sent").status(), StatusCode::OK);

    // Every connection a request could use is held by a transaction that does not end.
    let held = store.read().await.expect("the only connection");
    let busy = get().await.expect("sent");
    assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE, "{backend}");
    assert_eq!(
        busy.headers().get("retry-after").and_then(|v| v.to_str().ok()),
        Some("1")
    );
    assert_eq!(
        busy.headers().get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );
    let problem: Value = busy.json().await.expect("problem document");
    assert_eq!(problem["code"], json!("unavailable"), "{problem}");
    assert_eq!(problem["status"], json!(503));
    drop(held);

    assert_eq!(
        get().await.expect("sent").status(),
        StatusCode::OK,
        "{backend}: served again once free"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_exhaustion_answers_503_with_retry_after_on_sqlite() {
    pool_exhaustion_answers_503_with_retry_after(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_exhaustion_answers_503_with_retry_after_on_postgres() {
    pool_exhaustion_answers_503_with_retry_after(Backend::Postgres).await;
}

/// Behind a trusted proxy (here: the test's own 127.0.0.1), failures count against the client the proxy names,
/// not against the proxy; a hop the client wrote itself to the left of it changes nothing.
async fn failures_behind_a_trusted_proxy_count_against_the_forwarded_client(backend: Backend) {
    let proxies = "127.0.0.1/32, 10.0.0.0/8".parse().expect("proxy list");
    let app = &TestApp::start_behind(backend, proxies).await;
    twenty_failures_via(app, "203.0.113.7").await;
    let refused = attempt_via(app, "203.0.113.7", "admin", PASSWORD).await;
    assert_eq!(
        refused.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{backend:?}: {}",
        refused.html
    );
    let spoofed = attempt_via(app, "198.51.100.9, 203.0.113.7, 10.1.1.1", "admin", PASSWORD).await;
    assert_eq!(
        spoofed.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{backend:?}: {}",
        spoofed.html
    );
    let other = attempt_via(app, "198.51.100.4", "admin", PASSWORD).await;
    assert_eq!(
        other.status,
        StatusCode::SEE_OTHER,
        "another client behind the proxy: {}",
        other.html
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_behind_a_trusted_proxy_count_against_the_forwarded_client_sqlite() {
    failures_behind_a_trusted_proxy_count_against_the_forwarded_client(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_behind_a_trusted_proxy_count_against_the_forwarded_client_postgres() {
    failures_behind_a_trusted_proxy_count_against_the_forwarded_client(Backend::Postgres).await;
}

on_both_backends! {
    async fn without_trusted_proxies_x_forwarded_for_is_ignored(app) {
        twenty_failures_via(app, "203.0.113.7").await;
        let refused = attempt_via(app, "198.51.100.4", "admin", PASSWORD).await;
        assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS, "{}: {}", app.backend, refused.html);
    }
}
