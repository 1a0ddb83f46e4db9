use classbill_domain::class::{
    ClassContext, ClassSettings, ExternalTax, FixedVat, GenericVat, ReferencedObject, ReferencedTax, TaxMethod,
    TaxScope, TaxTiming, validate,
};
use classbill_domain::{Owner, Percent};

use super::{assert_only_error, assert_valid, check, errors_at, reseller, valid};

fn taxed(method: TaxMethod) -> ClassSettings {
    let mut settings = valid();
    settings.taxation.method = method;
    settings
}

fn tax(owner: Owner, shared: bool, scope: TaxScope) -> ReferencedTax {
    ReferencedTax {
        object: ReferencedObject { owner, shared },
        scope,
    }
}

fn external(url: &str, timeout_ms: i64) -> ExternalTax {
    ExternalTax {
        endpoint_url: url.into(),
        timeout_ms,
        secret_ref: "tax-engine".into(),
        prices_include_tax: false,
    }
}

#[test]
fn v21_fixed_vat_needs_a_rate() {
    let settings = taxed(TaxMethod::FixedVat);
    assert_only_error(
        &check(&settings),
        "taxation.fixed_vat.rate_percent",
        "required",
        "a rate is required for fixed_vat",
    );
}

#[test]
fn v21_fixed_vat_rate_between_0_and_100() {
    let mut settings = taxed(TaxMethod::FixedVat);
    settings.taxation.fixed_vat = Some(FixedVat {
        rate_percent: Percent::parse("100.0001").unwrap(),
        inclusive: false,
    });
    assert_only_error(
        &check(&settings),
        "taxation.fixed_vat.rate_percent",
        "out_of_range",
        "must be between 0 and 100",
    );
    settings.taxation.fixed_vat = Some(FixedVat {
        rate_percent: Percent::parse("19").unwrap(),
        inclusive: true,
    });
    assert_valid(&check(&settings));
}

#[test]
fn v21_other_methods_name_their_missing_parameters() {
    let validation = check(&taxed(TaxMethod::External));
    assert_only_error(
        &validation,
        "taxation.external.endpoint_url",
        "required",
        "an endpoint URL is required for external",
    );
    assert_only_error(
        &validation,
        "taxation.external.secret_ref",
        "required",
        "a secret is required for external",
    );
    let validation = check(&taxed(TaxMethod::GenericVat));
    assert_only_error(
        &validation,
        "taxation.generic_vat.home_country",
        "required",
        "a home country is required for generic_vat",
    );
}

#[test]
fn v21_parameters_of_unselected_methods_are_not_checked() {
    let mut settings = valid();
    settings.taxation.fixed_vat = Some(FixedVat {
        rate_percent: Percent::parse("400").unwrap(),
        inclusive: false,
    });
    settings.taxation.custom_tax_ids = vec![99];
    assert_valid(&check(&settings));
}

#[test]
fn v22_custom_needs_at_least_one_tax() {
    let validation = check(&taxed(TaxMethod::Custom));
    assert_only_error(
        &validation,
        "taxation.custom_tax_ids",
        "required",
        "custom taxation needs at least one custom tax",
    );
}

#[test]
fn v22_custom_taxes_exist_are_distinct_and_at_most_20() {
    let mut settings = taxed(TaxMethod::Custom);
    settings.taxation.custom_tax_ids = vec![1, 2, 1];
    let ctx = ClassContext {
        custom_taxes: [(1, tax(Owner::Administrator, true, TaxScope::All))].into(),
        ..ClassContext::default()
    };
    let validation = validate(&settings, &ctx);
    assert_only_error(
        &validation,
        "taxation.custom_tax_ids[1]",
        "unknown_tax",
        "custom tax 2 not found",
    );
    assert_eq!(errors_at(&validation, "taxation.custom_tax_ids[2]")[0].0, "duplicate");
    assert_eq!(validation.errors.len(), 2);

    settings.taxation.custom_tax_ids = (1..=21).collect();
    let ctx = ClassContext {
        custom_taxes: (1..=21)
            .map(|id| (id, tax(Owner::Administrator, true, TaxScope::All)))
            .collect(),
        ..ClassContext::default()
    };
    assert_eq!(
        errors_at(&validate(&settings, &ctx), "taxation.custom_tax_ids")[0].0,
        "too_many"
    );
}

#[test]
fn v23_taxes_at_payment_need_scope_all() {
    let mut settings = taxed(TaxMethod::Custom);
    settings.taxation.tax_timing = TaxTiming::AtPayment;
    settings.taxation.custom_tax_ids = vec![1, 2];
    let ctx = ClassContext {
        custom_taxes: [
            (1, tax(Owner::Administrator, true, TaxScope::All)),
            (2, tax(Owner::Administrator, true, TaxScope::Usage)),
        ]
        .into(),
        ..ClassContext::default()
    };
    assert_only_error(
        &validate(&settings, &ctx),
        "taxation.tax_timing",
        "unsupported_timing",
        "taxes at payment need every selected tax to have scope \"all\"",
    );
}

#[test]
fn v23_taxes_at_payment_only_with_fixed_custom_or_generic_vat() {
    let mut settings = valid();
    settings.taxation.tax_timing = TaxTiming::AtPayment;
    assert_eq!(
        errors_at(&check(&settings), "taxation.tax_timing")[0].0,
        "unsupported_timing"
    );
    settings.taxation.method = TaxMethod::GenericVat;
    settings.taxation.generic_vat = Some(GenericVat {
        home_country: "DE".into(),
        inclusive: false,
    });
    let ctx = ClassContext {
        vat_countries: ["DE".to_owned()].into(),
        ..ClassContext::default()
    };
    assert_valid(&validate(&settings, &ctx));
}

#[test]
fn v24_home_country_must_be_in_the_vat_table() {
    let mut settings = taxed(TaxMethod::GenericVat);
    settings.taxation.generic_vat = Some(GenericVat {
        home_country: "XX".into(),
        inclusive: false,
    });
    let ctx = ClassContext {
        vat_countries: ["DE".to_owned(), "AT".to_owned()].into(),
        ..ClassContext::default()
    };
    assert_only_error(
        &validate(&settings, &ctx),
        "taxation.generic_vat.home_country",
        "unknown_country",
        "no VAT rate configured for XX",
    );
}

#[test]
fn v25_external_engine_url_timeout_and_secret() {
    let mut settings = taxed(TaxMethod::External);
    settings.taxation.external = Some(external("http://tax.example.com/quote", 999));
    let validation = check(&settings);
    assert_only_error(
        &validation,
        "taxation.external.endpoint_url",
        "invalid",
        "must be an https URL",
    );
    assert_only_error(
        &validation,
        "taxation.external.timeout_ms",
        "invalid",
        "must be between 1000 and 30000",
    );
    assert_only_error(
        &validation,
        "taxation.external.secret_ref",
        "invalid",
        "secret tax-engine not found",
    );

    let ctx = ClassContext {
        secrets: ["tax-engine".to_owned()].into(),
        ..ClassContext::default()
    };
    settings.taxation.external = Some(external("http://127.0.0.1:8080/quote", 30_000));
    assert_valid(&validate(&settings, &ctx));
    settings.taxation.external = Some(external("https://tax.example.com/quote", 1000));
    assert_valid(&validate(&settings, &ctx));
}

#[test]
fn v32_custom_tax_of_another_owner_is_not_visible() {
    let mut settings = taxed(TaxMethod::Custom);
    settings.managed_by = reseller(7);
    settings.taxation.custom_tax_ids = vec![4, 5, 6];
    let ctx = ClassContext {
        custom_taxes: [
            (4, tax(reseller(8), true, TaxScope::All)),
            (5, tax(Owner::Administrator, false, TaxScope::All)),
            (6, tax(reseller(7), false, TaxScope::Recurring)),
        ]
        .into(),
        ..ClassContext::default()
    };
    let validation = validate(&settings, &ctx);
    assert_only_error(
        &validation,
        "taxation.custom_tax_ids[0]",
        "not_visible",
        "custom tax 4 not found",
    );
    assert_only_error(
        &validation,
        "taxation.custom_tax_ids[1]",
        "not_visible",
        "custom tax 5 not found",
    );
    assert_eq!(validation.errors.len(), 2);
}
