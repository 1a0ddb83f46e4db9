use classbill_domain::class::{ClosureMode, StatisticsEmail};

use super::{assert_only_error, assert_valid, check, errors_at, valid};

#[test]
fn v8_statistics_email_needs_archived_xdrs() {
    let mut settings = valid();
    settings.general_info.archive_xdrs = false;
    settings.general_info.statistics_email = StatisticsEmail::Summary;
    assert_only_error(
        &check(&settings),
        "general_info.statistics_email",
        "requires_statistics",
        "statistics e-mail needs general_info.archive_xdrs",
    );
    settings.general_info.statistics_email = StatisticsEmail::None;
    assert_valid(&check(&settings));
}

#[test]
fn v26_rounding_precision_between_0_and_5() {
    let mut settings = valid();
    for precision in [-1, 6] {
        settings.general_info.rounding_precision = precision;
        assert_only_error(
            &check(&settings),
            "general_info.rounding_precision",
            "out_of_range",
            "must be between 0 and 5",
        );
    }
    settings.general_info.rounding_precision = 5;
    assert_valid(&check(&settings));
}

#[test]
fn v27_extra_delay_cannot_be_combined_with_upon_approval() {
    let mut settings = valid();
    settings.general_info.period_closure.mode = ClosureMode::UponApproval;
    settings.general_info.period_closure.extra_delay_hours = 4;
    let field = "general_info.period_closure.extra_delay_hours";
    assert_only_error(
        &check(&settings),
        field,
        "not_applicable",
        "a delay cannot be combined with upon_approval",
    );
    settings.general_info.period_closure.mode = ClosureMode::AfterDelay;
    assert_valid(&check(&settings));
    settings.general_info.period_closure.extra_delay_hours = 169;
    assert_only_error(&check(&settings), field, "out_of_range", "must be between 0 and 168");
}

#[test]
fn v28_reset_needs_external_billing_and_hiding_needs_reset() {
    let mut settings = valid();
    settings.general_info.reset_balance_each_period = true;
    let validation = check(&settings);
    assert_only_error(
        &validation,
        "general_info.reset_balance_each_period",
        "requires_external_billing",
        "balance reset needs billed_externally",
    );
    settings.general_info.billed_externally = true;
    assert_valid(&check(&settings));

    settings.general_info.reset_balance_each_period = false;
    settings.general_info.hide_reset_xdr = true;
    assert_eq!(
        errors_at(&check(&settings), "general_info.hide_reset_xdr")[0].0,
        "requires_reset"
    );
}
