//! A real Classbill server on 127.0.0.1 over a fresh database, driven through HTTP like any client.
#![allow(dead_code)] // each test binary uses a different part of the harness

use classbill_engine::{Engine, ImportRow, NewReseller, NewUserRole, XdrText};
use classbill_store::Store;
use classbill_testkit::{Backend, TestDatabase, database_url};
use jiff::Timestamp;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Line `line` of an import file: a usage record of `party` in EUR, one unit for 0.5.
pub fn import_usage(line: u64, party: i64, external_id: &str, occurred_at: &str) -> ImportRow {
    ImportRow {
        line,
        text: XdrText {
            party_id: Some(party.to_string()),
            external_id: Some(external_id.to_owned()),
            occurred_at: Some(occurred_at.to_owned()),
            kind: Some("usage".to_owned()),
            service: Some("voice".to_owned()),
            rate_code: None,
            description: None,
            quantity: Some("1".to_owned()),
            amount: Some("0.5".to_owned()),
            currency: Some("EUR".to_owned()),
        },
    }
}

/// A decimal money string of the API (`"-12.34567"`) as 10⁻⁵ units, for sums a test recomputes.
pub fn units(text: &Value) -> i64 {
    let text = text
        .as_str()
        .unwrap_or_else(|| panic!("{text} is not a decimal string"));
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let magnitude = whole.trim_start_matches('-').parse::<i64>().expect("whole part") * 100_000
        + format!("{fraction:0<5}").parse::<i64>().expect("fraction part");
    if whole.starts_with('-') { -magnitude } else { magnitude }
}

/// Generates one `#[tokio::test]` per backend from an async story taking `&TestApp`.
#[macro_export]
macro_rules! on_both_backends {
    ($(#[$meta:meta])* async fn $name:ident($app:ident) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn story($app: &$crate::support::TestApp) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let app = $crate::support::TestApp::start(classbill_testkit::Backend::Sqlite).await;
                story(&app).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let app = $crate::support::TestApp::start(classbill_testkit::Backend::Postgres).await;
                story(&app).await;
            }
        }
    };
}

pub struct TestApp {
    pub backend: Backend,
    pub base: String,
    pub engine: Engine,
    /// The server's clock: tests move it forward instead of sleeping.
    pub clock: classbill_server::Clock,
    pub admin: String,
    client: reqwest::Client,
    _db: TestDatabase,
}

/// An HTTP answer with its body already read.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Answer {
    /// The `field`/`code` pairs of a problem document.
    pub fn error_codes(&self) -> Vec<(String, String)> {
        self.body["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .map(|e| {
                        (
                            e["field"].as_str().unwrap_or("").to_owned(),
                            e["code"].as_str().unwrap_or("").to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn has_error(&self, field: &str, code: &str) -> bool {
        self.error_codes().iter().any(|(f, c)| f == field && c == code)
    }

    pub fn etag(&self) -> Option<String> {
        self.headers
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

impl TestApp {
    /// Starts a server over a fresh database of `backend` with one administrator.
    pub async fn start(backend: Backend) -> TestApp {
        TestApp::start_behind(backend, classbill_server::TrustedProxies::default()).await
    }

    /// [`TestApp::start`] for a server that takes the client from `X-Forwarded-For` behind these proxies.
    pub async fn start_behind(backend: Backend, trusted_proxies: classbill_server::TrustedProxies) -> TestApp {
        let db = database_url(backend).await;
        let store = Store::connect(&db.url).await.expect("database opens");
        let engine = Engine::new(store);
        engine.initialize(Timestamp::now()).await.expect("schema migrates");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("port");
        let addr = listener.local_addr().expect("address");
        let served = engine.clone();
        let clock = classbill_server::Clock::default();
        let server_clock = clock.clone();
        tokio::spawn(async move {
            let options = classbill_server::ServeOptions {
                clock: server_clock,
                trusted_proxies,
                queue_runs_only: false,
            };
            classbill_server::serve_with(served, options, listener, std::future::pending())
                .await
                .expect("server runs");
        });
        let mut app = TestApp {
            backend,
            base: format!("http://{addr}"),
            engine,
            clock,
            admin: String::new(),
            client: reqwest::Client::new(),
            _db: db,
        };
        app.admin = app.user("admin", NewUserRole::Administrator).await;
        app
    }

    /// Creates a user and answers a token for it.
    pub async fn user(&self, login: &str, role: NewUserRole) -> String {
        self.engine
            .add_user(login, "a long enough password", role, Timestamp::now())
            .await
            .expect("user created");
        self.engine.create_token(login, Timestamp::now()).await.expect("token")
    }

    /// Creates a reseller through the engine (as the administrator) and answers its id.
    pub async fn reseller(&self, name: &str, parent: Option<i64>) -> i64 {
        let admin = self.engine.authenticate_token(&self.admin).await.expect("admin token");
        self.engine
            .create_reseller(
                &admin,
                NewReseller {
                    name: name.to_owned(),
                    currency: Some("EUR".to_owned()),
                    parent_reseller_id: parent,
                    ..NewReseller::default()
                },
                Timestamp::now(),
            )
            .await
            .expect("reseller created")
            .id
    }

    /// A reseller with one user; answers (reseller id, token).
    pub async fn reseller_with_user(&self, name: &str) -> (i64, String) {
        let id = self.reseller(name, None).await;
        let token = self
            .user(&format!("{}-user", name.to_lowercase()), NewUserRole::Reseller(id))
            .await;
        (id, token)
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        if_match: Option<&str>,
    ) -> Answer {
        let mut request = self.client.request(method, format!("{}{}", self.base, path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        if let Some(revision) = if_match {
            request = request.header("If-Match", revision);
        }
        Self::read(request.send().await.expect("request sent")).await
    }

    pub async fn read(response: reqwest::Response) -> Answer {
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body read");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
            text,
        }
    }

    /// A raw request for bad-input tests.
    pub fn raw(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, format!("{}{}", self.base, path))
    }

    pub async fn get(&self, path: &str, token: &str) -> Answer {
        self.send(Method::GET, path, Some(token), None, None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Answer {
        self.send(Method::POST, path, Some(token), Some(body), None).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value, revision: i64) -> Answer {
        self.send(
            Method::PATCH,
            path,
            Some(token),
            Some(body),
            Some(&format!("\"{revision}\"")),
        )
        .await
    }

    pub async fn put(&self, path: &str, token: &str, body: Value, revision: i64) -> Answer {
        self.send(
            Method::PUT,
            path,
            Some(token),
            Some(body),
            Some(&format!("\"{revision}\"")),
        )
        .await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Answer {
        self.send(Method::DELETE, path, Some(token), None, None).await
    }

    /// Stores `xdrs` (the items of a `POST /xdrs`) as the administrator; every one must be taken (201).
    pub async fn post_xdrs(&self, xdrs: Value) -> Value {
        let answer = self.post("/api/v1/xdrs", &self.admin, json!({ "xdrs": xdrs })).await;
        assert_eq!(
            answer.status,
            StatusCode::CREATED,
            "{} xDRs: {}",
            self.backend,
            answer.text
        );
        answer.body
    }

    /// Creates a class as `token` and answers its document; panics unless 201.
    pub async fn class(&self, token: &str, body: Value) -> Value {
        let answer = self.post("/api/v1/customer-classes", token, body).await;
        assert_eq!(
            answer.status,
            StatusCode::CREATED,
            "{} class creation: {}",
            self.backend,
            answer.text
        );
        answer.body
    }

    /// Creates, as `token`, a class issuing regular invoices on the Standard template, payable net 15 days, with
    /// `extra` merged over that body; answers its document.
    pub async fn invoicing_class(&self, token: &str, name: &str, currency: &str, extra: Value) -> Value {
        let template = self.standard_template().await;
        let mut body = json!({
            "name": name, "currency": currency,
            "regular_invoices": {"enabled": true, "template_id": template, "payment_terms": {"type": "net", "days": 15}},
        });
        merge(&mut body, extra);
        self.class(token, body).await
    }

    /// The six March 2025 charges of customer-classes §7.1 for `party` (xDR 3, the payment, goes through
    /// `/payments` where a test needs it).
    pub async fn section_7_1_march_charges(&self, party: i64) {
        let rows = [
            (
                "x1",
                "2025-03-01T00:00:00+01:00",
                "recurring",
                "sip_trunk",
                "TRUNK-M",
                "1",
                "29.9",
            ),
            (
                "x2",
                "2025-03-03T10:12:00+01:00",
                "usage",
                "voice",
                "DE-FIX",
                "412",
                "12.34567",
            ),
            (
                "x4",
                "2025-03-11T17:40:00+01:00",
                "usage",
                "voice",
                "DE-MOB",
                "1203",
                "20.00001",
            ),
            (
                "x5",
                "2025-03-19T08:05:00+01:00",
                "usage",
                "voice",
                "INTL-AT",
                "96",
                "5.11244",
            ),
            ("x6", "2025-03-21T12:00:00+01:00", "usage", "sms", "SMS-DE", "9", "0.99"),
            (
                "x7",
                "2025-03-25T09:30:00+01:00",
                "credit",
                "voice",
                "GOODWILL",
                "1",
                "-2",
            ),
        ];
        let xdrs: Vec<Value> = rows
            .iter()
            .map(|(key, at, kind, service, rate, quantity, amount)| {
                json!({"party_id": party, "external_id": key, "occurred_at": at, "kind": kind, "service": service,
                       "rate_code": rate, "quantity": quantity, "amount": amount})
            })
            .collect();
        let answer = self.post("/api/v1/xdrs", &self.admin, json!({ "xdrs": xdrs })).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}: {}", self.backend, answer.text);
    }

    /// Class "Business EU" of §7.1 (regular invoices with the Standard template, net 15, fixed VAT 19 %
    /// exclusive), created by `token`.
    pub async fn business_eu(&self, token: &str) -> Value {
        let template = self.standard_template().await;
        self.class(
            token,
            json!({
                "name": "Business EU", "currency": "EUR",
                "regular_invoices": {"enabled": true, "template_id": template,
                                     "payment_terms": {"type": "net", "days": 15}},
                "taxation": {"method": "fixed_vat", "fixed_vat": {"rate_percent": "19", "inclusive": false}},
            }),
        )
        .await
    }

    /// A EUR customer billed monthly in UTC, activated at `activated_at`, created by the admin; answers its id.
    pub async fn utc_customer(&self, name: &str, activated_at: &str) -> i64 {
        let answer = self
            .post(
                "/api/v1/customers",
                &self.admin,
                json!({"name": name, "currency": "EUR", "time_zone": "UTC", "activated_at": activated_at}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}: {}", self.backend, answer.text);
        answer.body["id"].as_i64().expect("customer id")
    }

    /// Customer 1001 of §7.1: monthly, Europe/Berlin, activated 2025-02-01 so that February is its first
    /// period; created by `token`.
    pub async fn berlin_customer(&self, token: &str, class_id: &Value) -> i64 {
        let answer = self
            .post(
                "/api/v1/customers",
                token,
                json!({"name": "Customer 1001", "currency": "EUR", "class_id": class_id,
                       "time_zone": "Europe/Berlin", "billing_period": "monthly",
                       "activated_at": "2025-02-01T00:00:00+01:00"}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}: {}", self.backend, answer.text);
        answer.body["id"].as_i64().expect("customer id")
    }

    /// The February charge of §7.1: 42.01681 net, so that with 19 % VAT the invoice total is exactly 50.00.
    pub async fn section_7_1_february_charge(&self, party: i64) {
        let february = json!({"party_id": party, "external_id": "f1", "occurred_at": "2025-02-01T00:00:00+01:00",
                              "kind": "recurring", "service": "sip_trunk", "rate_code": "TRUNK-M",
                              "quantity": "1", "amount": "42.01681"});
        let answer = self
            .post("/api/v1/xdrs", &self.admin, json!({"xdrs": [february]}))
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}: {}", self.backend, answer.text);
    }

    /// The §7.1 customer 1001 of class "Business EU", billed for February (INV-000001, 50.00, unpaid) with the
    /// March charges booked: answers the party and the February invoice as listed.
    pub async fn section_7_1_february(&self) -> (i64, Value) {
        let class = self.business_eu(&self.admin).await;
        let party = self.berlin_customer(&self.admin, &class["id"]).await;
        self.section_7_1_february_charge(party).await;
        self.section_7_1_march_charges(party).await;
        self.bill("2025-03-01T05:00:00Z").await;
        let list = self
            .get(&format!("/api/v1/invoices?party_id={party}"), &self.admin)
            .await;
        let items = list.body["items"].as_array().expect("items");
        assert_eq!(items.len(), 1, "{}", list.text);
        assert_eq!(items[0]["total"], json!("50.00000"));
        (party, items[0].clone())
    }

    /// [`Self::section_7_1_february`], then 60.00 paid on 03-10 (10.00 left as credit) and March billed:
    /// answers the party and the March invoice (INV-000002, total 78.96, open 68.96).
    pub async fn section_7_1_billed(&self) -> (i64, Value) {
        let (party, _) = self.section_7_1_february().await;
        let payment = json!({"party_id": party, "amount": "60.00", "currency": "EUR",
                             "received_at": "2025-03-10T11:00:00+01:00"});
        let answer = self.post("/api/v1/payments", &self.admin, payment).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
        self.bill("2025-04-01T04:00:00Z").await;
        let list = self
            .get(&format!("/api/v1/invoices?party_id={party}&kind=regular"), &self.admin)
            .await;
        let march_id = list.body["items"][1]["id"].clone();
        let march = self.get(&format!("/api/v1/invoices/{march_id}"), &self.admin).await;
        assert_eq!(march.body["number"], json!("INV-000002"), "{}", list.text);
        assert_eq!(march.body["total"], json!("78.96000"));
        assert_eq!(march.body["open_amount"], json!("68.96000"));
        (party, march.body)
    }

    /// The invoices of a party as `/invoices` lists them (one page).
    pub async fn invoices_of(&self, party: i64) -> Vec<Value> {
        let answer = self
            .get(&format!("/api/v1/invoices?party_id={party}"), &self.admin)
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        answer.body["items"].as_array().expect("items").clone()
    }

    /// One invoice with its lines and allocations.
    pub async fn invoice(&self, id: &Value) -> Value {
        let answer = self.get(&format!("/api/v1/invoices/{id}"), &self.admin).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        answer.body
    }

    /// Starts a `/billing-runs` or `/collection-runs` run (`kind`) at `as_of` and waits for it to complete;
    /// answers the finished run.
    pub async fn run_to_completion(&self, kind: &str, as_of: &str) -> Value {
        let answer = self
            .post(&format!("/api/v1/{kind}"), &self.admin, json!({"as_of": as_of}))
            .await;
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{}: {}", self.backend, answer.text);
        let id = answer.body["id"].as_i64().expect("run id");
        for _ in 0..400 {
            let run = self.get(&format!("/api/v1/{kind}/{id}"), &self.admin).await;
            assert_eq!(run.status, StatusCode::OK, "{}", run.text);
            if run.body["status"] == json!("completed") {
                return run.body;
            }
            assert_ne!(run.body["status"], json!("failed"), "{}", run.text);
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("{}: {kind} {id} did not finish", self.backend);
    }

    /// An open transaction holding the party's row, as a payment does while it allocates: the caller commits it
    /// to let go. Only PostgreSQL locks rows; on SQLite this holds the single writer.
    pub async fn hold_party(&self, party: i64) -> classbill_store::Tx {
        let mut lock = self.engine.store.write().await.expect("a transaction");
        lock.execute(
            "SELECT id FROM parties WHERE id = $1 FOR UPDATE",
            classbill_store::args![party],
        )
        .await
        .expect("the party is locked");
        lock
    }

    /// A billing run at `as_of` that closes every due period without a failure.
    pub async fn bill(&self, as_of: &str) {
        let run = self.run_to_completion("billing-runs", as_of).await;
        assert_eq!(run["failures"], json!([]), "{run}");
    }

    /// The id of the built-in Standard template.
    pub async fn standard_template(&self) -> i64 {
        let list = self.get("/api/v1/invoice-templates", &self.admin).await;
        list.body["items"]
            .as_array()
            .and_then(|items| items.iter().find(|t| t["name"] == json!("Standard")))
            .and_then(|t| t["id"].as_i64())
            .expect("the Standard template exists")
    }
}

/// Merges `patch` into `target`: objects key by key, anything else replaced.
pub fn merge(target: &mut Value, patch: Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                merge(t.entry(k).or_insert(Value::Null), v);
            }
        }
        (t, p) => *t = p,
    }
}
