//! Header rules: V1 name, V3 Default name, V4 currency, V5 owner, V6 business model, V7 texts and sender.

use super::Validation;
use crate::class::context::ClassContext;
use crate::class::document::ClassSettings;
use crate::email::is_mail_address;

pub(super) fn check(settings: &ClassSettings, ctx: &ClassContext, report: &mut Validation) {
    let name = settings.name.trim();
    let length = name.chars().count();
    if !(1..=100).contains(&length) {
        report.error("name", "invalid_length", "must be 1 to 100 characters");
    } else if name.chars().any(char::is_control) {
        report.error("name", "invalid_length", "must not contain control characters");
    }

    match &ctx.stored {
        Some(stored) => {
            if stored.is_default && name != stored.name {
                report.error("name", "default_protected", "the Default class cannot be renamed");
            }
            if settings.currency != stored.currency {
                report.error("currency", "immutable", "currency cannot be changed after creation");
            }
            if settings.managed_by != stored.managed_by {
                report.error("managed_by", "immutable", "the owner of a class cannot be changed");
            }
            if settings.business_model != stored.business_model && stored.member_count > 0 {
                let members = if stored.member_count == 1 {
                    "1 member".to_owned()
                } else {
                    format!("{} members", stored.member_count)
                };
                report.error(
                    "business_model",
                    "in_use",
                    format!("cannot change the business model of a class with {members}"),
                );
            }
        }
        None => {
            if let (Some(currency), Some(enabled)) = (settings.currency, &ctx.enabled_currencies)
                && !enabled.contains(currency.as_str())
            {
                report.error(
                    "currency",
                    "unknown_currency",
                    format!("currency {currency} is not enabled"),
                );
            }
        }
    }

    if settings.description.chars().count() > 1000 {
        report.error("description", "invalid", "must be at most 1000 characters");
    }
    let sender = &settings.notification_sender;
    if let Some(sender_name) = &sender.name {
        let length = sender_name.trim().chars().count();
        if !(1..=100).contains(&length) || sender_name.chars().any(char::is_control) {
            report.error("notification_sender.name", "invalid", "must be 1 to 100 characters");
        }
    }
    if let Some(address) = &sender.address
        && !is_mail_address(address)
    {
        report.error(
            "notification_sender.address",
            "invalid",
            "must be a valid e-mail address",
        );
    }
}
