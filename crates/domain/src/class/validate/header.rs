//! Header rules: V1 name, V3 Default name, V4 currency, V5 owner, V6 business model, V7 texts and sender.

use super::Validation;
use crate::class::context::ClassContext;
use crate::class::document::ClassSettings;

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
        && !is_addr_spec(address)
    {
        report.error(
            "notification_sender.address",
            "invalid",
            "must be a valid e-mail address",
        );
    }
}

/// An RFC 5322 addr-spec in dot-atom form (`local@domain`), at most 254 characters; UTF-8 letters are allowed
/// as in RFC 6531. Quoted local parts and address literals are not accepted.
fn is_addr_spec(address: &str) -> bool {
    let Some((local, domain)) = address.rsplit_once('@') else {
        return false;
    };
    address.chars().count() <= 254 && local.chars().count() <= 64 && is_dot_atom(local) && is_domain(domain)
}

fn is_dot_atom(text: &str) -> bool {
    let is_atext = |c: char| {
        c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || (!c.is_ascii() && c.is_alphanumeric())
    };
    text.split('.')
        .all(|atom| !atom.is_empty() && atom.chars().all(is_atext))
}

fn is_domain(domain: &str) -> bool {
    domain.split('.').all(|label| {
        let length = label.chars().count();
        (1..=63).contains(&length)
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c == '-' || c.is_alphanumeric())
    })
}

#[cfg(test)]
mod tests {
    use super::is_addr_spec;

    #[test]
    fn addr_spec_accepts_common_addresses_only() {
        for good in [
            "billing@example.com",
            "a.b+c@mail.example.co.uk",
            "ops@localhost",
            "jörg@müller.de",
        ] {
            assert!(is_addr_spec(good), "{good}");
        }
        for bad in [
            "",
            "billing",
            "@example.com",
            "a@",
            "a..b@example.com",
            "a@-x.com",
            "a b@example.com",
            "a@b@c",
            "a@example..com",
        ] {
            assert!(!is_addr_spec(bad), "{bad}");
        }
        assert!(!is_addr_spec(&format!("{}@example.com", "a".repeat(65))));
    }
}
