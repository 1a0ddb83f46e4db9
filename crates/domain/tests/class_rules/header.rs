use classbill_domain::Currency;
use classbill_domain::class::{BusinessModel, ClassContext, ClassSettings, StoredClass, validate};

use super::{assert_error, assert_only_error, assert_valid, check, errors_at, reseller, valid};

fn stored() -> StoredClass {
    StoredClass {
        is_default: false,
        name: "Retail".into(),
        currency: None,
        managed_by: classbill_domain::Owner::Administrator,
        business_model: BusinessModel::Universal,
        member_count: 0,
    }
}

fn updating(stored: StoredClass) -> ClassContext {
    ClassContext {
        stored: Some(stored),
        ..ClassContext::default()
    }
}

#[test]
fn default_document_with_a_name_is_valid() {
    let validation = check(&valid());
    assert_valid(&validation);
    assert!(validation.is_valid());
}

#[test]
fn v1_name_must_have_1_to_100_characters_after_trimming() {
    for name in ["", "   ", &"x".repeat(101)] {
        let settings = ClassSettings {
            name: name.to_owned(),
            ..valid()
        };
        assert_only_error(
            &check(&settings),
            "name",
            "invalid_length",
            "must be 1 to 100 characters",
        );
    }
    let settings = ClassSettings {
        name: format!("  {}  ", "ü".repeat(100)),
        ..valid()
    };
    assert_valid(&check(&settings));
}

#[test]
fn v1_name_without_control_characters() {
    let settings = ClassSettings {
        name: "Gold\u{7}".into(),
        ..valid()
    };
    assert_eq!(errors_at(&check(&settings), "name")[0].0, "invalid_length");
}

#[test]
fn v3_default_class_keeps_its_name() {
    let ctx = updating(StoredClass {
        is_default: true,
        name: "Default".into(),
        ..stored()
    });
    let renamed = ClassSettings {
        name: "Standard".into(),
        ..valid()
    };
    assert_only_error(
        &validate(&renamed, &ctx),
        "name",
        "default_protected",
        "the Default class cannot be renamed",
    );
    let same = ClassSettings {
        name: " Default ".into(),
        ..valid()
    };
    assert_valid(&validate(&same, &ctx));
}

#[test]
fn v4_currency_is_immutable_after_creation() {
    let eur = Currency::parse("EUR");
    let ctx = updating(StoredClass {
        currency: eur,
        ..stored()
    });
    let changed = ClassSettings {
        currency: Currency::parse("USD"),
        ..valid()
    };
    assert_only_error(
        &validate(&changed, &ctx),
        "currency",
        "immutable",
        "currency cannot be changed after creation",
    );
    let cleared = ClassSettings {
        currency: None,
        ..valid()
    };
    assert_eq!(errors_at(&validate(&cleared, &ctx), "currency").len(), 1);
    let kept = ClassSettings {
        currency: eur,
        ..valid()
    };
    assert_valid(&validate(&kept, &ctx));
}

#[test]
fn v4_currency_must_be_enabled_on_create() {
    let ctx = ClassContext {
        enabled_currencies: Some(["EUR".to_owned()].into()),
        ..ClassContext::default()
    };
    let usd = ClassSettings {
        currency: Currency::parse("USD"),
        ..valid()
    };
    assert_only_error(
        &validate(&usd, &ctx),
        "currency",
        "unknown_currency",
        "currency USD is not enabled",
    );
    let eur = ClassSettings {
        currency: Currency::parse("EUR"),
        ..valid()
    };
    assert_valid(&validate(&eur, &ctx));
    assert_valid(&check(&usd));
}

#[test]
fn v5_owner_is_immutable() {
    let ctx = updating(stored());
    let moved = ClassSettings {
        managed_by: reseller(7),
        ..valid()
    };
    assert_only_error(
        &validate(&moved, &ctx),
        "managed_by",
        "immutable",
        "the owner of a class cannot be changed",
    );
    assert_valid(&check(&moved));
}

#[test]
fn v6_business_model_is_frozen_while_the_class_has_members() {
    let changed = ClassSettings {
        business_model: BusinessModel::CloudPbx,
        ..valid()
    };
    let ctx = updating(StoredClass {
        member_count: 57,
        ..stored()
    });
    assert_only_error(
        &validate(&changed, &ctx),
        "business_model",
        "in_use",
        "cannot change the business model of a class with 57 members",
    );
    let ctx = updating(StoredClass {
        member_count: 1,
        ..stored()
    });
    assert_error(
        &validate(&changed, &ctx),
        "business_model",
        "in_use",
        "cannot change the business model of a class with 1 member",
    );
    assert_valid(&validate(&changed, &updating(stored())));
}

#[test]
fn v7_description_sender_name_and_address() {
    let mut settings = valid();
    settings.description = "d".repeat(1001);
    settings.notification_sender.name = Some(String::new());
    settings.notification_sender.address = Some("billing.example.com".into());
    let validation = check(&settings);
    assert_only_error(&validation, "description", "invalid", "must be at most 1000 characters");
    assert_only_error(
        &validation,
        "notification_sender.name",
        "invalid",
        "must be 1 to 100 characters",
    );
    assert_only_error(
        &validation,
        "notification_sender.address",
        "invalid",
        "must be a valid e-mail address",
    );

    settings.description = "d".repeat(1000);
    settings.notification_sender.name = Some("Alpha Telecom Billing".into());
    settings.notification_sender.address = Some("billing@alpha.example".into());
    assert_valid(&check(&settings));
}
