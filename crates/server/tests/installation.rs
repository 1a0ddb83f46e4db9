//! `/settings` and `/calendar`: defaults and their sources, merge-patch changes, validation, who may look, the
//! hidden SMTP password, enabled currencies, the calendar, and the installation values of effective settings.

mod support;

use classbill_engine::installation::InstallationSettings;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{Answer, TestApp};

const SETTINGS: &str = "/api/v1/settings";
const CALENDAR: &str = "/api/v1/calendar";

async fn patch_settings(app: &TestApp, token: &str, body: Value) -> Answer {
    app.send(Method::PATCH, SETTINGS, Some(token), Some(body), None).await
}

async fn put_calendar(app: &TestApp, token: &str, body: Value) -> Answer {
    app.send(Method::PUT, CALENDAR, Some(token), Some(body), None).await
}

fn defaults() -> Value {
    let default = |value: Value| json!({"value": value, "source": "default"});
    json!({
        "enabled_currencies": default(Value::Null),
        "billing.close_delay_hours": default(json!(6)),
        "default_sender": default(json!({"name": null, "address": null})),
        "time_zone": default(json!("UTC")),
        "smtp_url": default(Value::Null),
        "public_base_url": default(Value::Null),
        "sms_gateway_url": default(Value::Null),
        "tax.retry_base_ms": default(json!(30000)),
        "outbox.retry_base_ms": default(json!(60000)),
    })
}

/// The audit entries of one object type, newest first.
async fn audit_entries(app: &TestApp, object_type: &str) -> Vec<Value> {
    let answer = app.get("/api/v1/audit-log?limit=1000", &app.admin).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|entry| entry["object_type"] == object_type)
        .cloned()
        .collect()
}

async fn create_customer(app: &TestApp, body: Value) -> Answer {
    app.post("/api/v1/customers", &app.admin, body).await
}

on_both_backends! {
    async fn a_fresh_installation_answers_the_defaults(app) {
        let answer = app.get(SETTINGS, &app.admin).await;
        assert_eq!(answer.status, StatusCode::OK, "{}: {}", app.backend, answer.text);
        assert_eq!(answer.body, defaults());

        let answer = app.get(CALENDAR, &app.admin).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        assert_eq!(answer.body, json!({"non_working_weekdays": ["saturday", "sunday"], "holidays": []}));
    }
}

on_both_backends! {
    async fn patched_settings_come_from_the_database_and_null_restores_the_default(app) {
        let answer = patch_settings(
            app,
            &app.admin,
            json!({
                "enabled_currencies": ["USD", "EUR", "EUR"],
                "billing.close_delay_hours": 12,
                "default_sender": {"name": "  Billing  ", "address": "billing@example.com"},
                "time_zone": "Europe/Berlin",
                "smtp_url": "smtp://mail.example.com:2525",
                "public_base_url": "https://billing.example.com",
                "sms_gateway_url": "https://sms.example.com/send",
                "tax.retry_base_ms": 1,
                "outbox.retry_base_ms": 3600000,
            }),
        )
        .await;
        assert_eq!(answer.status, StatusCode::OK, "{}: {}", app.backend, answer.text);
        let database = |value: Value| json!({"value": value, "source": "database"});
        let expected = json!({
            "enabled_currencies": database(json!(["EUR", "USD"])),
            "billing.close_delay_hours": database(json!(12)),
            "default_sender": database(json!({"name": "Billing", "address": "billing@example.com"})),
            "time_zone": database(json!("Europe/Berlin")),
            "smtp_url": database(json!("smtp://mail.example.com:2525")),
            "public_base_url": database(json!("https://billing.example.com")),
            "sms_gateway_url": database(json!("https://sms.example.com/send")),
            "tax.retry_base_ms": database(json!(1)),
            "outbox.retry_base_ms": database(json!(3600000)),
        });
        assert_eq!(answer.body, expected);
        assert_eq!(app.get(SETTINGS, &app.admin).await.body, expected);

        // The sender merges key by key; null restores a default.
        let answer = patch_settings(
            app,
            &app.admin,
            json!({"default_sender": {"name": null}, "billing.close_delay_hours": null, "enabled_currencies": null}),
        )
        .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        assert_eq!(
            answer.body["default_sender"],
            database(json!({"name": null, "address": "billing@example.com"}))
        );
        assert_eq!(answer.body["billing.close_delay_hours"], json!({"value": 6, "source": "default"}));
        assert_eq!(answer.body["enabled_currencies"], json!({"value": null, "source": "default"}));
        assert_eq!(answer.body["time_zone"], database(json!("Europe/Berlin")));

        // Each change is audited with old and new values; a patch changing nothing writes no entry.
        let entries = audit_entries(app, "installation_settings").await;
        assert_eq!(entries.len(), 2, "{entries:?}");
        let latest = &entries[0]["details"]["changes"];
        assert_eq!(latest["billing.close_delay_hours"]["old"], 12);
        assert_eq!(latest["billing.close_delay_hours"]["new"], 6);
        assert_eq!(latest["billing.close_delay_hours"]["new_source"], "default");
        assert_eq!(latest["enabled_currencies"]["old"], json!(["EUR", "USD"]));
        assert!(latest.get("time_zone").is_none(), "{latest}");
        assert_eq!(entries[1]["details"]["changes"]["time_zone"]["old"], "UTC");
        assert_eq!(entries[0]["action"], "update");
        let answer = patch_settings(app, &app.admin, json!({"time_zone": "Europe/Berlin"})).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        assert_eq!(audit_entries(app, "installation_settings").await.len(), 2);

        // The engine reads the same values through its typed accessor.
        let mut tx = app.engine.store.read().await.expect("read");
        let settings = InstallationSettings::load(&mut tx).await.expect("settings load");
        assert_eq!(settings.time_zone, "Europe/Berlin");
        assert_eq!(settings.close_delay_hours, 6);
        assert_eq!(settings.default_sender.address.as_deref(), Some("billing@example.com"));
        assert_eq!(settings.tax_retry_base_ms, 1);
        assert!(settings.currency_enabled("JPY"));
    }
}

on_both_backends! {
    async fn every_invalid_setting_is_listed_and_nothing_is_written(app) {
        let answer = patch_settings(
            app,
            &app.admin,
            json!({
                "enabled_currencies": ["EUR", "XYZ", 7],
                "billing.close_delay_hours": 169,
                "default_sender": {"name": "", "address": "not an address", "reply_to": "x@example.com"},
                "time_zone": "Mars/Olympus",
                "smtp_url": "http://user:hunter2@mail.example.com",
                "public_base_url": "billing.example.com",
                "tax.retry_base_ms": 0,
                "outbox.retry_base_ms": "60000",
                "collections.holidays": [],
                "colour": "blue",
            }),
        )
        .await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{}: {}", app.backend, answer.text);
        assert_eq!(answer.headers["content-type"], "application/problem+json");
        let mut codes = answer.error_codes();
        codes.sort();
        let mut expected: Vec<(String, String)> = [
            ("enabled_currencies[1]", "unknown_currency"),
            ("enabled_currencies[2]", "invalid_type"),
            ("billing.close_delay_hours", "out_of_range"),
            ("default_sender.name", "invalid"),
            ("default_sender.address", "invalid"),
            ("default_sender.reply_to", "unknown_field"),
            ("time_zone", "unknown_time_zone"),
            ("smtp_url", "invalid"),
            ("public_base_url", "invalid"),
            ("tax.retry_base_ms", "out_of_range"),
            ("outbox.retry_base_ms", "invalid_type"),
            ("collections.holidays", "unknown_field"),
            ("colour", "unknown_field"),
        ]
        .iter()
        .map(|(field, code)| ((*field).to_owned(), (*code).to_owned()))
        .collect();
        expected.sort();
        assert_eq!(codes, expected);
        assert!(!answer.text.contains("hunter2"), "{}", answer.text);

        // More failures one key at a time.
        for (body, field, code) in [
            (json!({"enabled_currencies": []}), "enabled_currencies", "out_of_range"),
            (json!({"enabled_currencies": "EUR"}), "enabled_currencies", "invalid_type"),
            (json!({"billing.close_delay_hours": -1}), "billing.close_delay_hours", "out_of_range"),
            (json!({"billing.close_delay_hours": 1.5}), "billing.close_delay_hours", "invalid_type"),
            (json!({"default_sender": {"name": "x".repeat(101)}}), "default_sender.name", "invalid"),
            (json!({"default_sender": "billing@example.com"}), "default_sender", "invalid_type"),
            (json!({"time_zone": 1}), "time_zone", "invalid_type"),
            (json!({"smtp_url": "smtp://mail.example.com:0"}), "smtp_url", "invalid"),
            (json!({"public_base_url": "https://user:pw@billing.example.com"}), "public_base_url", "invalid"),
            (json!({"tax.retry_base_ms": 3600001}), "tax.retry_base_ms", "out_of_range"),
            (json!({"outbox.retry_base_ms": 0}), "outbox.retry_base_ms", "out_of_range"),
            (json!(["not", "an", "object"]), "", "invalid_type"),
        ] {
            let answer = patch_settings(app, &app.admin, body.clone()).await;
            assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {}", answer.text);
            assert_eq!(answer.error_codes(), [(field.to_owned(), code.to_owned())], "{body}");
        }

        // A valid key next to an invalid one is not written either.
        let answer = patch_settings(app, &app.admin, json!({"time_zone": "Europe/Paris", "tax.retry_base_ms": 0})).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", answer.text);
        assert_eq!(app.get(SETTINGS, &app.admin).await.body, defaults());
        assert!(audit_entries(app, "installation_settings").await.is_empty());
    }
}

on_both_backends! {
    async fn only_administrators_see_or_change_installation_configuration(app) {
        let (_, reseller_token) = app.reseller_with_user("Alpha").await;
        for (method, path, body) in [
            (Method::GET, SETTINGS, None),
            (Method::PATCH, SETTINGS, Some(json!({"time_zone": "Europe/Berlin"}))),
            (Method::GET, CALENDAR, None),
            (Method::PUT, CALENDAR, Some(json!({"non_working_weekdays": [], "holidays": []}))),
        ] {
            let answer = app.send(method.clone(), path, Some(&reseller_token), body.clone(), None).await;
            assert_eq!(answer.status, StatusCode::FORBIDDEN, "{} {method} {path}: {}", app.backend, answer.text);
            assert_eq!(answer.headers["content-type"], "application/problem+json");
            let answer = app.send(method.clone(), path, None, body, None).await;
            assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{method} {path}: {}", answer.text);
        }
        assert_eq!(app.get(SETTINGS, &app.admin).await.body, defaults());
        assert_eq!(
            app.get(CALENDAR, &app.admin).await.body,
            json!({"non_working_weekdays": ["saturday", "sunday"], "holidays": []})
        );
    }
}

on_both_backends! {
    async fn the_smtp_password_is_never_shown(app) {
        let answer = patch_settings(
            app,
            &app.admin,
            json!({"smtp_url": "smtps://mailer:s3cr3t-pw@mail.example.com:465"}),
        )
        .await;
        assert_eq!(answer.status, StatusCode::OK, "{}: {}", app.backend, answer.text);
        let shown = json!({"value": "smtps://mailer:***@mail.example.com:465", "source": "database"});
        assert_eq!(answer.body["smtp_url"], shown);
        assert!(!answer.text.contains("s3cr3t-pw"));
        let answer = app.get(SETTINGS, &app.admin).await;
        assert_eq!(answer.body["smtp_url"], shown);
        assert!(!answer.text.contains("s3cr3t-pw"));

        // Sending the shown URL back (here with another port) keeps the stored password.
        let answer = patch_settings(
            app,
            &app.admin,
            json!({"smtp_url": "smtps://mailer:***@mail.example.com:587"}),
        )
        .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        let mut tx = app.engine.store.read().await.expect("read");
        let settings = InstallationSettings::load(&mut tx).await.expect("settings load");
        drop(tx);
        assert_eq!(
            settings.smtp_url.as_deref(),
            Some("smtps://mailer:s3cr3t-pw@mail.example.com:587")
        );
        assert_eq!(settings.smtp_url_for_delivery(Some("smtp://override")), Some("smtp://override"));

        let answer = patch_settings(app, &app.admin, json!({"smtp_url": "smtp://other:n3w-pw@relay.example.com"})).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        let answer = patch_settings(app, &app.admin, json!({"smtp_url": null})).await;
        assert_eq!(answer.body["smtp_url"], json!({"value": null, "source": "default"}));

        let log = app.get("/api/v1/audit-log?limit=1000", &app.admin).await;
        assert_eq!(log.status, StatusCode::OK, "{}", log.text);
        assert!(!log.text.contains("s3cr3t-pw") && !log.text.contains("n3w-pw"), "{}", log.text);
        let entries = audit_entries(app, "installation_settings").await;
        assert_eq!(entries.len(), 4);
        assert_eq!(
            entries[3]["details"]["changes"]["smtp_url"]["new"],
            "smtps://mailer:***@mail.example.com:465"
        );
        assert_eq!(entries[0]["details"]["changes"]["smtp_url"]["old"], "smtp://other:***@relay.example.com");
    }
}

on_both_backends! {
    async fn only_enabled_currencies_may_be_used(app) {
        let answer = patch_settings(app, &app.admin, json!({"enabled_currencies": ["EUR", "USD"]})).await;
        assert_eq!(answer.status, StatusCode::OK, "{}: {}", app.backend, answer.text);

        let answer = app.post("/api/v1/customer-classes", &app.admin, json!({"name": "Sterling", "currency": "GBP"})).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", answer.text);
        assert!(answer.has_error("currency", "unknown_currency"), "{}", answer.text);
        app.class(&app.admin, json!({"name": "Euro", "currency": "EUR"})).await;

        let answer = create_customer(app, json!({"name": "Pound Ltd", "currency": "GBP"})).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", answer.text);
        let answer = create_customer(app, json!({"name": "Dollar Inc", "currency": "USD"})).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);

        // Enabling every currency again lifts the restriction.
        let answer = patch_settings(app, &app.admin, json!({"enabled_currencies": null})).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        app.class(&app.admin, json!({"name": "Sterling", "currency": "GBP"})).await;
    }
}

on_both_backends! {
    async fn a_currency_in_use_cannot_be_disabled(app) {
        app.class(&app.admin, json!({"name": "Euro", "currency": "EUR"})).await;
        let answer = create_customer(app, json!({"name": "Pound Ltd", "currency": "GBP"})).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}: {}", app.backend, answer.text);

        // From "all": every code but USD would be disabled, and EUR and GBP are used.
        let answer = patch_settings(app, &app.admin, json!({"enabled_currencies": ["USD"]})).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", answer.text);
        assert_eq!(
            answer.error_codes(),
            [
                ("enabled_currencies".to_owned(), "in_use".to_owned()),
                ("enabled_currencies".to_owned(), "in_use".to_owned()),
            ]
        );
        let messages: Vec<&str> = answer.body["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .filter_map(|e| e["message"].as_str())
            .collect();
        assert!(messages[0].contains("EUR") && messages[0].contains("Euro"), "{messages:?}");
        assert!(messages[1].contains("GBP") && messages[1].contains("Pound Ltd"), "{messages:?}");
        assert_eq!(app.get(SETTINGS, &app.admin).await.body, defaults());

        // Keeping the used ones is fine; removing one of them later is refused again.
        let answer = patch_settings(app, &app.admin, json!({"enabled_currencies": ["GBP", "EUR", "USD"]})).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        let answer = patch_settings(app, &app.admin, json!({"enabled_currencies": ["EUR", "USD"]})).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", answer.text);
        assert!(answer.has_error("enabled_currencies", "in_use"));
        let answer = patch_settings(app, &app.admin, json!({"enabled_currencies": ["EUR", "GBP"]})).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        assert_eq!(answer.body["enabled_currencies"]["value"], json!(["EUR", "GBP"]));
    }
}

on_both_backends! {
    async fn the_calendar_is_normalised_checked_and_audited(app) {
        let answer = put_calendar(
            app,
            &app.admin,
            json!({"non_working_weekdays": ["sunday", "friday", "sunday"],
                   "holidays": ["2026-12-26", "2026-01-01", "2026-12-25", "2026-12-26"]}),
        )
        .await;
        assert_eq!(answer.status, StatusCode::OK, "{}: {}", app.backend, answer.text);
        let stored = json!({"non_working_weekdays": ["friday", "sunday"],
                            "holidays": ["2026-01-01", "2026-12-25", "2026-12-26"]});
        assert_eq!(answer.body, stored);
        assert_eq!(app.get(CALENDAR, &app.admin).await.body, stored);

        let entries = audit_entries(app, "installation_calendar").await;
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0]["details"]["old"]["non_working_weekdays"], json!(["saturday", "sunday"]));
        assert_eq!(entries[0]["details"]["new"], stored);

        let everyday = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];
        let too_many_holidays: Vec<String> = (0..1001)
            .map(|day| {
                (jiff::civil::date(2000, 1, 1) + jiff::Span::new().days(day)).to_string()
            })
            .collect();
        for (body, errors) in [
            (
                json!({"non_working_weekdays": everyday, "holidays": []}),
                vec![("non_working_weekdays", "too_many")],
            ),
            (
                json!({"non_working_weekdays": ["Saturday", "someday", null],
                       "holidays": ["2026-02-29", "2026-13-01", "1 May", "2026-5-1", 20260501]}),
                vec![
                    ("non_working_weekdays[0]", "out_of_range"),
                    ("non_working_weekdays[1]", "out_of_range"),
                    ("non_working_weekdays[2]", "invalid_type"),
                    ("holidays[0]", "out_of_range"),
                    ("holidays[1]", "out_of_range"),
                    ("holidays[2]", "out_of_range"),
                    ("holidays[3]", "out_of_range"),
                    ("holidays[4]", "invalid_type"),
                ],
            ),
            (
                json!({"non_working_weekdays": [], "holidays": too_many_holidays}),
                vec![("holidays", "too_many")],
            ),
            (
                json!({"holidays": [], "year": 2026}),
                vec![("year", "unknown_field"), ("non_working_weekdays", "required")],
            ),
            (
                json!({"non_working_weekdays": "saturday", "holidays": {}}),
                vec![("non_working_weekdays", "invalid_type"), ("holidays", "invalid_type")],
            ),
        ] {
            let answer = put_calendar(app, &app.admin, body.clone()).await;
            assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {}", answer.text);
            let expected: Vec<(String, String)> =
                errors.iter().map(|(f, c)| ((*f).to_owned(), (*c).to_owned())).collect();
            assert_eq!(answer.error_codes(), expected, "{body}");
        }
        // Repeats do not count against the limit, and no weekday at all is a valid choice.
        let mut repeated = vec!["2026-05-01".to_owned(); 1500];
        repeated.extend(too_many_holidays[..999].iter().cloned());
        let answer = put_calendar(app, &app.admin, json!({"non_working_weekdays": [], "holidays": repeated})).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        assert_eq!(answer.body["holidays"].as_array().map(Vec::len), Some(1000));
        assert_eq!(answer.body["non_working_weekdays"], json!([]));
        assert_eq!(audit_entries(app, "installation_calendar").await.len(), 2);
    }
}

on_both_backends! {
    async fn effective_settings_show_the_installation_values(app) {
        let answer = create_customer(app, json!({"name": "Acme", "currency": "EUR"})).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}: {}", app.backend, answer.text);
        let customer = answer.body["id"].as_i64().expect("customer id");
        let path = format!("/api/v1/customers/{customer}/effective-settings");
        let installation = |value: Value| json!({"value": value, "source": "installation"});

        let before = app.get(&path, &app.admin).await;
        assert_eq!(before.status, StatusCode::OK, "{}", before.text);
        assert_eq!(before.body["installation"]["time_zone"], installation(json!("UTC")));

        let answer = patch_settings(
            app,
            &app.admin,
            json!({"time_zone": "America/New_York", "billing.close_delay_hours": 24,
                   "default_sender": {"name": "Operator billing", "address": "billing@operator.example"}}),
        )
        .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        let answer = put_calendar(
            app,
            &app.admin,
            json!({"non_working_weekdays": ["sunday"], "holidays": ["2026-07-04"]}),
        )
        .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);

        let after = app.get(&path, &app.admin).await;
        assert_eq!(after.status, StatusCode::OK, "{}", after.text);
        let values = &after.body["installation"];
        assert_eq!(values["time_zone"], installation(json!("America/New_York")));
        assert_eq!(values["billing"]["close_delay_hours"], installation(json!(24)));
        assert_eq!(values["default_sender"]["name"], installation(json!("Operator billing")));
        assert_eq!(values["default_sender"]["address"], installation(json!("billing@operator.example")));
        assert_eq!(values["collections"]["non_working_weekdays"], installation(json!(["sunday"])));
        assert_eq!(values["collections"]["holidays"], installation(json!(["2026-07-04"])));

        // New direct customers of the operator take the installation zone.
        let answer = create_customer(app, json!({"name": "Later", "currency": "EUR"})).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
        assert_eq!(answer.body["time_zone"], "America/New_York");
    }
}
