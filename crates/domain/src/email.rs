//! E-mail addresses as Classbill accepts them (class senders, installation sender, party addresses).

/// An RFC 5322 addr-spec in dot-atom form (`local@domain`), at most 254 characters; UTF-8 letters are allowed
/// as in RFC 6531. Quoted local parts and address literals are not accepted.
pub fn is_mail_address(address: &str) -> bool {
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
    use super::is_mail_address;

    #[test]
    fn addr_spec_accepts_common_addresses_only() {
        for good in [
            "billing@example.com",
            "a.b+c@mail.example.co.uk",
            "ops@localhost",
            "jörg@müller.de",
        ] {
            assert!(is_mail_address(good), "{good}");
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
            assert!(!is_mail_address(bad), "{bad}");
        }
        assert!(!is_mail_address(&format!("{}@example.com", "a".repeat(65))));
    }
}
