//! `general_info` rules: V8 statistics e-mail, V26 rounding, V27 period closure, V28 balance reset.

use super::Validation;
use crate::class::document::ClassSettings;
use crate::class::enums::{ClosureMode, StatisticsEmail};

pub(super) fn check(settings: &ClassSettings, report: &mut Validation) {
    let general = &settings.general_info;
    if general.statistics_email != StatisticsEmail::None && !general.archive_xdrs {
        report.error(
            "general_info.statistics_email",
            "requires_statistics",
            "statistics e-mail needs general_info.archive_xdrs",
        );
    }
    report.in_range("general_info.rounding_precision", general.rounding_precision, 0..=5);

    let closure = &general.period_closure;
    let delay_field = "general_info.period_closure.extra_delay_hours";
    if report.in_range(delay_field, closure.extra_delay_hours, 0..=168)
        && closure.mode == ClosureMode::UponApproval
        && closure.extra_delay_hours != 0
    {
        report.error(
            delay_field,
            "not_applicable",
            "a delay cannot be combined with upon_approval",
        );
    }

    if general.reset_balance_each_period && !general.billed_externally {
        report.error(
            "general_info.reset_balance_each_period",
            "requires_external_billing",
            "balance reset needs billed_externally",
        );
    }
    if general.hide_reset_xdr && !general.reset_balance_each_period {
        report.error(
            "general_info.hide_reset_xdr",
            "requires_reset",
            "hiding the reset xDR needs reset_balance_each_period",
        );
    }
}
