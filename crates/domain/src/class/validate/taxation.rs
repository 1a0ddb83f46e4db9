//! Taxation rules: V21–V25, and V32 for custom taxes. Only the selected method's parameters are checked; the
//! others are cleared on save.

use std::collections::BTreeSet;

use super::{Validation, distinct};
use crate::class::context::ClassContext;
use crate::class::document::{ClassSettings, ExternalTax};
use crate::class::enums::{TaxMethod, TaxScope, TaxTiming};
use crate::class::parse::required_message;
use crate::percent::Percent;

const RATE_FIELD: &str = "taxation.fixed_vat.rate_percent";
const COUNTRY_FIELD: &str = "taxation.generic_vat.home_country";
const URL_FIELD: &str = "taxation.external.endpoint_url";
const SECRET_FIELD: &str = "taxation.external.secret_ref";

pub(super) fn check(settings: &ClassSettings, ctx: &ClassContext, report: &mut Validation) {
    let taxation = &settings.taxation;
    match taxation.method {
        TaxMethod::None => {}
        TaxMethod::FixedVat => match &taxation.fixed_vat {
            None => report.error(RATE_FIELD, "required", required_message(RATE_FIELD)),
            Some(fixed) => {
                if !(0..=100 * Percent::UNITS_PER_PERCENT).contains(&fixed.rate_percent.units()) {
                    report.error(RATE_FIELD, "out_of_range", "must be between 0 and 100");
                }
            }
        },
        TaxMethod::Custom => custom_taxes(settings, ctx, report),
        TaxMethod::GenericVat => match &taxation.generic_vat {
            None => report.error(COUNTRY_FIELD, "required", required_message(COUNTRY_FIELD)),
            Some(generic) => {
                if !ctx.vat_countries.contains(&generic.home_country) {
                    report.error(
                        COUNTRY_FIELD,
                        "unknown_country",
                        format!("no VAT rate configured for {}", generic.home_country),
                    );
                }
            }
        },
        TaxMethod::External => match &taxation.external {
            None => {
                report.error(URL_FIELD, "required", required_message(URL_FIELD));
                report.error(SECRET_FIELD, "required", required_message(SECRET_FIELD));
            }
            Some(external) => external_engine(external, ctx, report),
        },
    }

    if taxation.tax_timing == TaxTiming::AtPayment {
        match taxation.method {
            TaxMethod::None | TaxMethod::External => report.error(
                "taxation.tax_timing",
                "unsupported_timing",
                format!(
                    "taxes at payment need fixed_vat, custom or generic_vat, not {}",
                    taxation.method.as_str()
                ),
            ),
            TaxMethod::Custom => {
                let narrow = taxation
                    .custom_tax_ids
                    .iter()
                    .any(|id| ctx.custom_taxes.get(id).is_some_and(|tax| tax.scope != TaxScope::All));
                if narrow {
                    report.error(
                        "taxation.tax_timing",
                        "unsupported_timing",
                        "taxes at payment need every selected tax to have scope \"all\"",
                    );
                }
            }
            TaxMethod::FixedVat | TaxMethod::GenericVat => {}
        }
    }
}

/// V22 and V32: 1–20 distinct custom taxes that exist and are usable by the class owner.
fn custom_taxes(settings: &ClassSettings, ctx: &ClassContext, report: &mut Validation) {
    let ids = &settings.taxation.custom_tax_ids;
    if ids.is_empty() {
        report.error(
            "taxation.custom_tax_ids",
            "required",
            "custom taxation needs at least one custom tax",
        );
    }
    report.list_limit("taxation.custom_tax_ids", distinct(ids), 20, "custom taxes");
    let mut seen = BTreeSet::new();
    for (index, id) in ids.iter().enumerate() {
        let field = format!("taxation.custom_tax_ids[{index}]");
        if !seen.insert(*id) {
            report.error(
                field,
                "duplicate",
                format!("custom tax {id} is selected more than once"),
            );
            continue;
        }
        match ctx.custom_taxes.get(id) {
            None => report.error(field, "unknown_tax", format!("custom tax {id} not found")),
            Some(tax) if !tax.object.is_visible_to(settings.managed_by) => {
                report.error(field, "not_visible", format!("custom tax {id} not found"));
            }
            Some(_) => {}
        }
    }
}

/// V25: endpoint scheme, timeout and secret of the external tax engine.
fn external_engine(external: &ExternalTax, ctx: &ClassContext, report: &mut Validation) {
    if !is_allowed_endpoint(&external.endpoint_url) {
        report.error(URL_FIELD, "invalid", "must be an https URL");
    }
    if !(1000..=30_000).contains(&external.timeout_ms) {
        report.error(
            "taxation.external.timeout_ms",
            "invalid",
            "must be between 1000 and 30000",
        );
    }
    if !ctx.secrets.contains(&external.secret_ref) {
        report.error(
            SECRET_FIELD,
            "invalid",
            format!("secret {} not found", external.secret_ref),
        );
    }
}

/// An absolute `https://` URL, or `http://` to a loopback host (`localhost`, `127.0.0.0/8`, `[::1]`).
fn is_allowed_endpoint(url: &str) -> bool {
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let lower = url.to_ascii_lowercase();
    let (secure, rest) = match (lower.strip_prefix("https://"), lower.strip_prefix("http://")) {
        (Some(rest), _) => (true, rest),
        (None, Some(rest)) => (false, rest),
        (None, None) => return false,
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_and_port = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let (host, port) = if let Some(literal) = host_and_port.strip_prefix('[') {
        let Some((inside, after)) = literal.split_once(']') else {
            return false;
        };
        (inside, after.strip_prefix(':'))
    } else {
        match host_and_port.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_and_port, None),
        }
    };
    let port_ok = port.is_none_or(|port| port.parse::<u16>().is_ok_and(|port| port > 0));
    let host_ok = !host.is_empty() && host.chars().all(|c| c.is_alphanumeric() || ".-:".contains(c));
    port_ok && host_ok && (secure || is_loopback(host))
}

fn is_loopback(host: &str) -> bool {
    if host == "localhost" || host == "::1" {
        return true;
    }
    let octets: Vec<&str> = host.split('.').collect();
    octets.len() == 4 && octets[0] == "127" && octets.iter().all(|octet| octet.parse::<u8>().is_ok())
}

#[cfg(test)]
mod tests {
    use super::is_allowed_endpoint;

    #[test]
    fn endpoint_needs_https_unless_loopback() {
        for good in [
            "https://tax.example.com/v1/quote",
            "HTTPS://tax.example.com:8443",
            "http://127.0.0.1:9000/tax",
            "http://localhost/tax",
            "http://[::1]:8080/",
        ] {
            assert!(is_allowed_endpoint(good), "{good}");
        }
        for bad in [
            "http://tax.example.com",
            "ftp://tax.example.com",
            "https://",
            "tax.example.com",
            "https://tax example.com",
            "http://127.0.0.1.evil.com/",
            "http://localhost.evil.com/",
            "https://host:99999/",
            "http://[::2]/",
        ] {
            assert!(!is_allowed_endpoint(bad), "{bad}");
        }
    }
}
