//! Header rules V1–V7 (§2.1, §3).

use reqwest::StatusCode;
use serde_json::json;

use super::*;
use crate::on_both_backends;

on_both_backends! {
    async fn v1_name_has_1_to_100_characters_without_control_characters(app) {
        for name in [json!(""), json!("   "), json!("x".repeat(101))] {
            let answer = create(app, &app.admin, json!({"name": name})).await;
            assert_only_violation(&answer, "name", "invalid_length", Some("must be 1 to 100 characters"));
        }
        let answer = create(app, &app.admin, json!({})).await;
        assert_violation(&answer, "name", "invalid_length", None);
        let answer = create(app, &app.admin, json!({"name": "Gold\u{7}"})).await;
        assert_only_violation(&answer, "name", "invalid_length", None);

        // 100 characters after trimming are fine, and the stored name is trimmed.
        let hundred = "ä".repeat(100);
        let answer = create(app, &app.admin, json!({"name": format!("  {hundred} ")})).await;
        assert_accepted(&answer, StatusCode::CREATED);
        assert_eq!(answer.body["name"], json!(hundred));

        // The same rule on PATCH.
        let id = id_of(&answer.body);
        let answer = patch_current(app, &app.admin, id, json!({"name": " "})).await;
        assert_only_violation(&answer, "name", "invalid_length", Some("must be 1 to 100 characters"));
    }
}

on_both_backends! {
    async fn v2_name_is_unique_per_owner_case_insensitively(app) {
        let gold = app.class(&app.admin, json!({"name": "Gold"})).await;

        let answer = create(app, &app.admin, json!({"name": "Gold"})).await;
        assert_only_violation(
            &answer,
            "name",
            "name_taken",
            Some("a class named \"Gold\" already exists for this owner"),
        );
        let answer = create(app, &app.admin, json!({"name": " gold "})).await;
        assert_only_violation(&answer, "name", "name_taken", None);
        // Unicode lower-casing, not ASCII only.
        app.class(&app.admin, json!({"name": "ÄRZTE"})).await;
        let answer = create(app, &app.admin, json!({"name": "ärzte"})).await;
        assert_only_violation(&answer, "name", "name_taken", None);
        // The administrator's Default class takes its name too.
        let answer = create(app, &app.admin, json!({"name": "DEFAULT"})).await;
        assert_only_violation(&answer, "name", "name_taken", None);

        // Another owner may use the same name: created by the administrator for a reseller ...
        let (reseller, reseller_token) = app.reseller_with_user("Beta").await;
        let owner = json!({"type": "reseller", "reseller_id": reseller});
        let answer = create(app, &app.admin, json!({"name": "gold", "managed_by": owner})).await;
        assert_accepted(&answer, StatusCode::CREATED);
        // ... which is then taken for that reseller's own users.
        let answer = create(app, &reseller_token, json!({"name": "GOLD "})).await;
        assert_only_violation(&answer, "name", "name_taken", None);

        // Renaming into a taken name is refused; keeping one's own name with another case is not a clash.
        let silver = app.class(&app.admin, json!({"name": "Silver"})).await;
        let answer = patch_current(app, &app.admin, id_of(&silver), json!({"name": "GOLD"})).await;
        assert_only_violation(&answer, "name", "name_taken", None);
        let answer = patch_current(app, &app.admin, id_of(&gold), json!({"name": "GoLd"})).await;
        assert_accepted(&answer, StatusCode::OK);
        assert_eq!(answer.body["name"], json!("GoLd"));

        // Creates racing for one name: exactly one wins, the others hear name_taken.
        let racer = || create(app, &app.admin, json!({"name": "Race"}));
        let (a, b, c, d) = tokio::join!(racer(), racer(), racer(), racer());
        let mut statuses: Vec<u16> = [&a, &b, &c, &d].iter().map(|answer| answer.status.as_u16()).collect();
        statuses.sort_unstable();
        assert_eq!(statuses, [201, 422, 422, 422], "{} | {} | {} | {}", a.text, b.text, c.text, d.text);
        for answer in [&a, &b, &c, &d] {
            if answer.status == StatusCode::UNPROCESSABLE_ENTITY {
                assert_only_violation(answer, "name", "name_taken", None);
            }
        }
    }
}

on_both_backends! {
    async fn v3_default_class_keeps_its_name(app) {
        let default = administrator_default(app).await;
        let before = read(app, &app.admin, default).await;
        assert_eq!(before["name"], json!("Default"));
        assert_eq!(before["is_default"], json!(true));

        for name in ["Standard", "default", "Default "] {
            let answer = patch_current(app, &app.admin, default, json!({"name": name})).await;
            if name == "Default " {
                // Trimmed, it is the same name.
                assert_accepted(&answer, StatusCode::OK);
                continue;
            }
            assert_only_violation(&answer, "name", "default_protected", Some("the Default class cannot be renamed"));
        }
        let answer = put_current(app, &app.admin, default, json!({"name": "Renamed"})).await;
        assert_only_violation(&answer, "name", "default_protected", Some("the Default class cannot be renamed"));

        // Every other field stays editable.
        let answer = patch_current(app, &app.admin, default, json!({"description": "catch-all",
            "general_info": {"rounding_precision": 3}}))
            .await;
        assert_accepted(&answer, StatusCode::OK);
        assert_eq!(answer.body["name"], json!("Default"));
        assert_eq!(answer.body["description"], json!("catch-all"));
    }
}

on_both_backends! {
    async fn v4_currency_is_enabled_and_immutable(app) {
        let answer = create(app, &app.admin, json!({"name": "Odd", "currency": "XYZ"})).await;
        assert_only_violation(&answer, "currency", "unknown_currency", Some("currency XYZ is not enabled"));

        let created = app.class(&app.admin, json!({"name": "Dollar", "currency": "USD"})).await;
        let answer = patch_current(app, &app.admin, id_of(&created), json!({"currency": "EUR"})).await;
        assert_only_violation(&answer, "currency", "immutable", Some("currency cannot be changed after creation"));
        let answer = put_current(app, &app.admin, id_of(&created), json!({"name": "Dollar", "currency": "EUR"})).await;
        assert_only_violation(&answer, "currency", "immutable", Some("currency cannot be changed after creation"));
        assert_eq!(read(app, &app.admin, id_of(&created)).await["currency"], json!("USD"));
    }
}

on_both_backends! {
    async fn v5_owner_is_immutable_and_resellers_create_only_for_themselves(app) {
        let (own, token) = app.reseller_with_user("Gamma").await;
        let other = app.reseller("Delta", None).await;

        // Reseller users: no other owner, be it the administrator or another reseller.
        for owner in [json!({"type": "administrator"}), json!({"type": "reseller", "reseller_id": other})] {
            let answer = create(app, &token, json!({"name": "Mine", "managed_by": owner})).await;
            assert_only_violation(
                &answer,
                "managed_by",
                "forbidden_owner",
                Some("resellers can only create classes they manage"),
            );
        }
        // Naming itself, or nothing, gives a class of its own.
        let itself = json!({"type": "reseller", "reseller_id": own});
        let answer = create(app, &token, json!({"name": "Mine", "managed_by": itself}))
            .await;
        assert_accepted(&answer, StatusCode::CREATED);
        assert_eq!(answer.body["managed_by"], json!({"type": "reseller", "reseller_id": own}));
        let answer = create(app, &token, json!({"name": "Mine too"})).await;
        assert_accepted(&answer, StatusCode::CREATED);
        assert_eq!(answer.body["managed_by"], json!({"type": "reseller", "reseller_id": own}));

        // The administrator may create for a reseller, but only for one that exists.
        let answer = create(app, &app.admin, json!({"name": "Nobody's",
            "managed_by": {"type": "reseller", "reseller_id": 987_654}}))
            .await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", answer.text);
        assert!(answer.error_codes().iter().any(|(field, _)| field == "managed_by"), "{}", answer.text);

        // After creation the owner never changes, whoever asks.
        let admin_class = app.class(&app.admin, json!({"name": "Operator"})).await;
        let answer = patch_current(app, &app.admin, id_of(&admin_class),
            json!({"managed_by": {"type": "reseller", "reseller_id": own}}))
            .await;
        assert_only_violation(&answer, "managed_by", "immutable", Some("the owner of a class cannot be changed"));
        let reseller_class = app
            .class(&app.admin, json!({"name": "Theirs", "managed_by": {"type": "reseller", "reseller_id": own}}))
            .await;
        let answer = patch_current(app, &token, id_of(&reseller_class),
            json!({"managed_by": {"type": "reseller", "reseller_id": other}}))
            .await;
        assert_only_violation(&answer, "managed_by", "immutable", Some("the owner of a class cannot be changed"));
        assert_eq!(
            read(app, &app.admin, id_of(&reseller_class)).await["managed_by"],
            json!({"type": "reseller", "reseller_id": own})
        );
    }
}

on_both_backends! {
    async fn v6_business_model_is_frozen_while_the_class_has_members(app) {
        let class = app.class(&app.admin, json!({"name": "Trunks", "business_model": "sip_trunking"})).await;
        let id = id_of(&class);
        // Without members it may change.
        let answer = patch_current(app, &app.admin, id, json!({"business_model": "cloud_pbx"})).await;
        assert_accepted(&answer, StatusCode::OK);

        let member = reseller_in(app, "Member One", "EUR", Some(id)).await;
        assert_eq!(member["class_id"], json!(id));
        assert_eq!(read(app, &app.admin, id).await["member_count"], json!(1));
        let answer = patch_current(app, &app.admin, id, json!({"business_model": "mobile"})).await;
        assert_only_violation(
            &answer,
            "business_model",
            "in_use",
            Some("cannot change the business model of a class with 1 member"),
        );
        reseller_in(app, "Member Two", "USD", Some(id)).await;
        let answer = put_current(app, &app.admin, id, json!({"name": "Trunks"})).await;
        assert_only_violation(
            &answer,
            "business_model",
            "in_use",
            Some("cannot change the business model of a class with 2 members"),
        );
        // Other edits remain possible, and the model stays.
        let answer = patch_current(app, &app.admin, id, json!({"description": "still trunks"})).await;
        assert_accepted(&answer, StatusCode::OK);
        assert_eq!(answer.body["business_model"], json!("cloud_pbx"));
        assert_eq!(answer.body["member_count"], json!(2));
    }
}

on_both_backends! {
    async fn v7_description_and_notification_sender(app) {
        let answer = create(app, &app.admin, json!({"name": "Texts", "description": "d".repeat(1001),
            "notification_sender": {"name": "  ", "address": "billing.example.com"}}))
            .await;
        assert_violation(&answer, "description", "invalid", None);
        assert_violation(&answer, "notification_sender.name", "invalid", None);
        assert_violation(
            &answer,
            "notification_sender.address",
            "invalid",
            Some("must be a valid e-mail address"),
        );
        assert_eq!(answer.error_codes().len(), 3, "{}", answer.text);

        let answer = create(app, &app.admin, json!({"name": "Texts", "notification_sender": {"name": "n".repeat(101)}}))
            .await;
        assert_only_violation(&answer, "notification_sender.name", "invalid", None);
        // Every part is well formed, but the whole is longer than 254 characters.
        let long_address = format!("{}@{}", "a".repeat(64), vec!["b".repeat(60); 4].join("."));
        let answer = create(app, &app.admin, json!({"name": "Texts", "notification_sender": {"address": long_address}}))
            .await;
        assert_only_violation(&answer, "notification_sender.address", "invalid", None);

        let answer = create(app, &app.admin, json!({"name": "Texts", "description": "d".repeat(1000),
            "notification_sender": {"name": "Billing Team", "address": "billing@example.com"}}))
            .await;
        assert_accepted(&answer, StatusCode::CREATED);
        assert_eq!(
            answer.body["notification_sender"],
            json!({"name": "Billing Team", "address": "billing@example.com"})
        );
    }
}
