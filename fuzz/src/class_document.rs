//! The class document of `POST /customer-classes` and `PATCH /customer-classes/{id}`.
//!
//! A JSON input goes through the domain's reading, normalisation, validation (with an empty and with a
//! stored-class context) and revision diff, and then through the engine exactly as the routes call it: as a
//! create body and as a merge patch previewed against a stored class. Inputs that are not JSON edit a seed
//! document (see [`structured`]).

use classbill_domain::Owner;
use classbill_domain::class::{
    self, BusinessModel, ClassContext, StoredClass, apply_merge_patch, diff, settings_from_json,
};
use classbill_engine::Actor;
use serde_json::Value;

use crate::installation::{self, Installation};
use crate::structured;

/// The seed documents that non-JSON inputs edit (the corpus's valid ones).
const SEEDS: &[&str] = &[
    include_str!("../corpus/class_document/business_eu.json"),
    include_str!("../corpus/class_document/retail_at.json"),
    include_str!("../corpus/class_document/cloud_pbx.json"),
    include_str!("../corpus/class_document/taxes_and_owner.json"),
    include_str!("../corpus/class_document/prepaid_generic_vat.json"),
];

pub fn check(data: &[u8]) {
    let body = structured::document(data, SEEDS);
    check_domain(&body);
    installation::with(|installation| {
        installation.runtime.block_on(async {
            let engine = &installation.engine;
            let _ = engine
                .preview_class(&Actor::system(), installation.class_id, body.clone())
                .await;
            let _ = engine.create_class(&Actor::system(), body, Installation::now()).await;
        });
    });
}

fn check_domain(body: &Value) {
    let stored = ClassContext {
        stored: Some(StoredClass {
            is_default: false,
            name: "Stored".to_owned(),
            currency: None,
            managed_by: Owner::Reseller { reseller_id: 7 },
            business_model: BusinessModel::default(),
            member_count: 3,
        }),
        ..ClassContext::default()
    };
    if let Ok(mut settings) = settings_from_json(body.clone()) {
        for context in [&ClassContext::default(), &stored] {
            let _ = class::validate(&settings, context);
        }
        class::normalize(&mut settings);
        let _ = class::validate(&settings, &ClassContext::default());
        let _ = class::name_key(&settings.name);
    }
    let base = settings_from_json(serde_json::json!({"name": "Base", "currency": "EUR"}))
        .ok()
        .and_then(|settings| serde_json::to_value(settings).ok())
        .expect("the base document reads back");
    let mut merged = base.clone();
    apply_merge_patch(&mut merged, body);
    let _ = diff(&base, &merged);
    let _ = settings_from_json(merged);
}
