//! The SMTP and public URLs of the settings, taken apart far enough to check them and hide a password.

use super::*;

/// The pieces of `scheme://[user[:password]@]host[:port][rest]` that the settings care about.
pub(super) struct UrlParts<'a> {
    pub(super) scheme: String,
    pub(super) user: Option<&'a str>,
    pub(super) password: Option<&'a str>,
    pub(super) host: &'a str,
    pub(super) port: Option<&'a str>,
    pub(super) rest: &'a str,
}

impl<'a> UrlParts<'a> {
    /// `None` unless the text is an absolute URL with a plausible host and, if given, a port 1–65535.
    pub(super) fn split(url: &'a str) -> Option<UrlParts<'a>> {
        if url.is_empty() || url.len() > 2048 || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return None;
        }
        let (scheme, after) = url.split_once("://")?;
        let authority_end = after.find(['/', '?', '#']).unwrap_or(after.len());
        let (authority, rest) = after.split_at(authority_end);
        let (userinfo, host_port) = match authority.rsplit_once('@') {
            Some((userinfo, host_port)) => (Some(userinfo), host_port),
            None => (None, authority),
        };
        let (user, password) = match userinfo {
            None => (None, None),
            Some(info) => match info.split_once(':') {
                Some((user, password)) => (Some(user), Some(password)),
                None => (Some(info), None),
            },
        };
        let (host, port) = if let Some(literal) = host_port.strip_prefix('[') {
            let (inside, after) = literal.split_once(']')?;
            let port = match after {
                "" => None,
                _ => Some(after.strip_prefix(':')?),
            };
            if inside.is_empty() || !inside.chars().all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.') {
                return None;
            }
            (&host_port[..inside.len() + 2], port)
        } else {
            let (host, port) = match host_port.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (host_port, None),
            };
            let labels_ok = host
                .split('.')
                .all(|label| !label.is_empty() && label.chars().all(|c| c == '-' || c.is_alphanumeric()));
            if host.is_empty() || !labels_ok {
                return None;
            }
            (host, port)
        };
        if port.is_some_and(|port| !port.parse::<u16>().is_ok_and(|port| port > 0)) {
            return None;
        }
        Some(UrlParts {
            scheme: scheme.to_ascii_lowercase(),
            user,
            password,
            host,
            port,
            rest,
        })
    }

    /// An SMTP URL has nothing after its authority that could hold an `@`: a password with an unescaped `/`
    /// would otherwise pass as host, port and path and be shown unredacted.
    fn has_smtp_form(&self) -> bool {
        matches!(self.scheme.as_str(), "smtp" | "smtps") && !self.rest.contains('@')
    }

    /// The security mode and private CA file named by the scheme and the query, or why they do not fit together.
    /// Only options this build understands pass, so a misspelt `tls=` cannot quietly fall back to plain SMTP.
    /// The reasons never quote the URL, which may carry a password.
    fn smtp_options(&self) -> Result<(SmtpSecurity, Option<String>), &'static str> {
        let implicit = self.scheme == "smtps";
        let query = self.rest.split_once('?').map_or("", |(_, query)| query);
        let mut mode = None;
        let mut ca_file = None;
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            match key.as_ref() {
                "tls" if implicit => return Err("smtps:// is TLS from the first byte and takes no tls= option"),
                "tls" if mode.is_some() => return Err("tls= is given more than once"),
                "tls" => {
                    mode = Some(match value.as_ref() {
                        "required" => SmtpSecurity::StartTlsRequired,
                        "opportunistic" => SmtpSecurity::StartTlsOpportunistic,
                        "none" => SmtpSecurity::Plain,
                        _ => return Err("tls= must be required, opportunistic or none"),
                    });
                }
                "ca" if ca_file.is_some() => return Err("ca= is given more than once"),
                "ca" if value.is_empty() => return Err("ca= must name a PEM file"),
                "ca" => ca_file = Some(value.into_owned()),
                _ => return Err("the only options an SMTP URL takes are tls= and ca="),
            }
        }
        let mode = if implicit {
            SmtpSecurity::ImplicitTls
        } else {
            mode.unwrap_or(SmtpSecurity::Plain)
        };
        if ca_file.is_some() && mode == SmtpSecurity::Plain {
            return Err("ca= needs TLS: use smtps:// or tls=required");
        }
        Ok((mode, ca_file))
    }

    pub(super) fn is_web(&self) -> bool {
        matches!(self.scheme.as_str(), "http" | "https")
    }

    /// The URL again, with `password` in place of the one it had (if it had one).
    pub(super) fn with_password(&self, password: &str) -> String {
        let mut url = format!("{}://", self.scheme);
        if let Some(user) = self.user {
            url.push_str(user);
            if self.password.is_some() {
                url.push(':');
                url.push_str(password);
            }
            url.push('@');
        }
        url.push_str(self.host);
        if let Some(port) = self.port {
            url.push(':');
            url.push_str(port);
        }
        url.push_str(self.rest);
        url
    }
}

/// An SMTP URL fit for answers, logs and the audit log: its password, if any, is replaced by `***`.
pub fn redact_smtp_url(url: &str) -> String {
    match UrlParts::split(url) {
        Some(parts) if parts.password.is_some() => parts.with_password(HIDDEN_PASSWORD),
        Some(_) => url.to_owned(),
        // Not a URL this module would have stored; show nothing of it rather than risk a secret.
        None => HIDDEN_PASSWORD.to_owned(),
    }
}

/// How mail goes to the SMTP server. Certificates are always verified: against the bundled web PKI roots and,
/// with `ca=`, a private authority.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// `smtp://` without `tls=`, or `tls=none`.
    Plain,
    /// `tls=opportunistic`: STARTTLS when the server offers it, plain otherwise.
    StartTlsOpportunistic,
    /// `tls=required`: STARTTLS, and nothing is sent when the server does not offer it.
    StartTlsRequired,
    /// `smtps://`: TLS from the first byte.
    ImplicitTls,
}

/// An SMTP URL taken apart for sending mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpServer {
    /// From the scheme and `tls=`.
    pub security: SmtpSecurity,
    /// Host name or IP address (an IPv6 literal without its brackets).
    pub host: String,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub password: Option<String>,
    /// `ca=`: a PEM file with the certificate of a private authority to trust besides the web PKI roots.
    pub ca_file: Option<String>,
}

/// `url` taken apart if the settings would accept it; otherwise why not, in words that never quote the URL.
pub fn smtp_server(url: &str) -> Result<SmtpServer, &'static str> {
    let parts = UrlParts::split(url)
        .filter(UrlParts::has_smtp_form)
        .ok_or("must be an smtp:// or smtps:// URL such as smtps://user:password@mail.example.com:465")?;
    let (security, ca_file) = parts.smtp_options()?;
    Ok(SmtpServer {
        security,
        host: parts.host.trim_start_matches('[').trim_end_matches(']').to_owned(),
        port: parts.port.and_then(|port| port.parse().ok()),
        user: parts.user.map(str::to_owned),
        password: parts.password.map(str::to_owned),
        ca_file,
    })
}
