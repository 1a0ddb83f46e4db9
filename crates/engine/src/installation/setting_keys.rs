//! The settings of `/settings`: their keys, checks, defaults and the view with sources.

use super::*;

/// The settings of `/settings`, in the order the contract lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Key {
    EnabledCurrencies,
    CloseDelayHours,
    DefaultSender,
    TimeZone,
    SmtpUrl,
    PublicBaseUrl,
    SmsGatewayUrl,
    TaxRetryBaseMs,
    OutboxRetryBaseMs,
}

impl Key {
    pub(super) const ALL: [Key; 9] = [
        Key::EnabledCurrencies,
        Key::CloseDelayHours,
        Key::DefaultSender,
        Key::TimeZone,
        Key::SmtpUrl,
        Key::PublicBaseUrl,
        Key::SmsGatewayUrl,
        Key::TaxRetryBaseMs,
        Key::OutboxRetryBaseMs,
    ];

    pub(super) fn name(self) -> &'static str {
        match self {
            Key::EnabledCurrencies => "enabled_currencies",
            Key::CloseDelayHours => "billing.close_delay_hours",
            Key::DefaultSender => "default_sender",
            Key::TimeZone => "time_zone",
            Key::SmtpUrl => "smtp_url",
            Key::PublicBaseUrl => "public_base_url",
            Key::SmsGatewayUrl => "sms_gateway_url",
            Key::TaxRetryBaseMs => "tax.retry_base_ms",
            Key::OutboxRetryBaseMs => "outbox.retry_base_ms",
        }
    }

    pub(super) fn from_name(name: &str) -> Option<Key> {
        Key::ALL.into_iter().find(|key| key.name() == name)
    }

    /// Validates a non-null submitted value and answers it in stored form, or records why it is refused.
    pub(super) fn check(self, value: &Value, errors: &mut Vec<FieldError>) -> Option<Value> {
        let field = self.name();
        match self {
            Key::EnabledCurrencies => check_currencies(value, errors),
            Key::CloseDelayHours => check_integer(field, value, CLOSE_DELAY_RANGE, errors),
            Key::TaxRetryBaseMs | Key::OutboxRetryBaseMs => check_integer(field, value, RETRY_BASE_RANGE, errors),
            Key::DefaultSender => check_sender(value, errors),
            Key::TimeZone => {
                let Some(zone) = value.as_str() else {
                    errors.push(type_error(
                        field,
                        "an IANA time zone name such as \"Europe/Berlin\"",
                        value,
                    ));
                    return None;
                };
                if time_zone(zone).is_err() {
                    errors.push(FieldError::new(
                        field,
                        "unknown_time_zone",
                        format!("{zone:?} is not an IANA time zone"),
                    ));
                    return None;
                }
                Some(Value::from(zone))
            }
            Key::SmtpUrl => {
                let Some(url) = value.as_str() else {
                    errors.push(type_error(field, "an smtp:// or smtps:// URL, or null", value));
                    return None;
                };
                // The message never repeats the submitted text: it may carry a password.
                match smtp_server(url) {
                    Ok(_) => Some(Value::from(url)),
                    Err(reason) => {
                        errors.push(FieldError::new(field, "invalid", reason));
                        None
                    }
                }
            }
            Key::PublicBaseUrl | Key::SmsGatewayUrl => {
                let Some(url) = value.as_str() else {
                    errors.push(type_error(field, "an absolute http:// or https:// URL, or null", value));
                    return None;
                };
                match UrlParts::split(url) {
                    Some(parts) if parts.is_web() && parts.user.is_none() => Some(Value::from(url)),
                    _ => {
                        errors.push(FieldError::new(
                            field,
                            "invalid",
                            "must be an absolute http:// or https:// URL without credentials, such as https://billing.example.com",
                        ));
                        None
                    }
                }
            }
        }
    }
}

pub(super) fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

pub(super) fn type_error(field: &str, expected: &str, found: &Value) -> FieldError {
    FieldError::new(
        field,
        "invalid_type",
        format!("expected {expected}, found {}", json_kind(found)),
    )
}

pub(super) fn check_integer(
    field: &str,
    value: &Value,
    range: std::ops::RangeInclusive<i64>,
    errors: &mut Vec<FieldError>,
) -> Option<Value> {
    let Some(number) = value.as_i64() else {
        errors.push(type_error(field, "a whole number", value));
        return None;
    };
    if !range.contains(&number) {
        errors.push(FieldError::new(
            field,
            "out_of_range",
            format!("must be between {} and {}", range.start(), range.end()),
        ));
        return None;
    }
    Some(Value::from(number))
}

/// A list of enabled ISO 4217 codes, stored sorted and without repeats.
pub(super) fn check_currencies(value: &Value, errors: &mut Vec<FieldError>) -> Option<Value> {
    let field = Key::EnabledCurrencies.name();
    let Some(items) = value.as_array() else {
        errors.push(type_error(field, "a list of ISO 4217 codes, or null for all", value));
        return None;
    };
    let before = errors.len();
    let mut codes = BTreeSet::new();
    for (index, item) in items.iter().enumerate() {
        let at = format!("{field}[{index}]");
        match item.as_str() {
            Some(code) if Currency::parse(code).is_some() => {
                codes.insert(code.to_owned());
            }
            Some(code) => errors.push(FieldError::new(
                at,
                "unknown_currency",
                format!("{code:?} is not an ISO 4217 currency code"),
            )),
            None => errors.push(type_error(&at, "an ISO 4217 code such as \"EUR\"", item)),
        }
    }
    if items.is_empty() {
        errors.push(FieldError::new(
            field,
            "out_of_range",
            "must enable at least one currency (null enables all)",
        ));
    }
    (errors.len() == before).then(|| json!(codes))
}

/// `{name, address}`, both optional; every key present in the stored form.
pub(super) fn check_sender(value: &Value, errors: &mut Vec<FieldError>) -> Option<Value> {
    let field = Key::DefaultSender.name();
    let Some(object) = value.as_object() else {
        errors.push(type_error(field, "an object {name, address}", value));
        return None;
    };
    let before = errors.len();
    let mut sender = DefaultSender::default();
    for (key, item) in object {
        let at = format!("{field}.{key}");
        match (key.as_str(), item) {
            (_, Value::Null) if key == "name" || key == "address" => {}
            ("name", Value::String(name)) => {
                let trimmed = name.trim();
                let length = trimmed.chars().count();
                if !(1..=100).contains(&length) || trimmed.chars().any(char::is_control) {
                    errors.push(FieldError::new(
                        at,
                        "invalid",
                        "must be 1 to 100 characters without control characters",
                    ));
                } else {
                    sender.name = Some(trimmed.to_owned());
                }
            }
            ("address", Value::String(address)) => {
                if classbill_domain::email::is_mail_address(address) {
                    sender.address = Some(address.clone());
                } else {
                    errors.push(FieldError::new(at, "invalid", "must be a valid e-mail address"));
                }
            }
            ("name" | "address", other) => errors.push(type_error(&at, "a string or null", other)),
            _ => errors.push(FieldError::new(
                at,
                "unknown_field",
                "the default sender has only name and address",
            )),
        }
    }
    (errors.len() == before).then(|| json!({"name": sender.name, "address": sender.address}))
}

/// Every ISO 4217 code.
pub(super) fn all_currency_codes() -> &'static BTreeSet<String> {
    static CODES: OnceLock<BTreeSet<String>> = OnceLock::new();
    CODES.get_or_init(|| Currency::all().map(|c| c.as_str().to_owned()).collect())
}

/// The installation settings in force, each with its default applied when it is not configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallationSettings {
    /// `None`: every ISO 4217 code is enabled.
    pub enabled_currencies: Option<BTreeSet<String>>,
    /// `billing.close_delay_hours`, 0–168.
    pub close_delay_hours: i64,
    pub default_sender: DefaultSender,
    /// IANA name of the installation's zone.
    pub time_zone: String,
    /// The URL as configured, password included: for delivering mail only, never for display (see
    /// [`redact_smtp_url`]). `--smtp-url` takes precedence, see [`InstallationSettings::smtp_url_for_delivery`].
    pub smtp_url: Option<String>,
    pub public_base_url: Option<String>,
    /// `sms_gateway_url`: where SMS messages are POSTed as JSON.
    pub sms_gateway_url: Option<String>,
    /// `tax.retry_base_ms`
    pub tax_retry_base_ms: i64,
    /// `outbox.retry_base_ms`
    pub outbox_retry_base_ms: i64,
    /// Configured values in stored form; keys without an entry have their default.
    pub(super) configured: BTreeMap<Key, Value>,
}

impl Default for InstallationSettings {
    fn default() -> Self {
        InstallationSettings::from_configured(BTreeMap::new())
    }
}

impl InstallationSettings {
    /// Reads every setting; missing or unusable values take their defaults.
    pub async fn load(tx: &mut Tx) -> EngineResult<InstallationSettings> {
        let mut configured = BTreeMap::new();
        for key in Key::ALL {
            if let Some(value) = load_key(tx, key).await? {
                configured.insert(key, value);
            }
        }
        Ok(InstallationSettings::from_configured(configured))
    }

    pub(super) fn from_configured(configured: BTreeMap<Key, Value>) -> InstallationSettings {
        let integer = |key: Key, default: i64| configured.get(&key).and_then(Value::as_i64).unwrap_or(default);
        let text = |key: Key| configured.get(&key).and_then(Value::as_str).map(str::to_owned);
        InstallationSettings {
            enabled_currencies: configured
                .get(&Key::EnabledCurrencies)
                .and_then(|value| serde_json::from_value(value.clone()).ok()),
            close_delay_hours: integer(Key::CloseDelayHours, DEFAULT_CLOSE_DELAY_HOURS),
            default_sender: configured
                .get(&Key::DefaultSender)
                .and_then(|value| serde_json::from_value(value.clone()).ok())
                .unwrap_or_default(),
            time_zone: text(Key::TimeZone).unwrap_or_else(|| DEFAULT_TIME_ZONE.to_owned()),
            smtp_url: text(Key::SmtpUrl),
            public_base_url: text(Key::PublicBaseUrl),
            sms_gateway_url: text(Key::SmsGatewayUrl),
            tax_retry_base_ms: integer(Key::TaxRetryBaseMs, DEFAULT_TAX_RETRY_BASE_MS),
            outbox_retry_base_ms: integer(Key::OutboxRetryBaseMs, DEFAULT_OUTBOX_RETRY_BASE_MS),
            configured,
        }
    }

    /// True when `code` may be used for new classes and parties.
    pub fn currency_enabled(&self, code: &str) -> bool {
        Currency::parse(code).is_some() && self.enabled_currencies.as_ref().is_none_or(|list| list.contains(code))
    }

    /// The SMTP URL mail goes out through: the command line's `--smtp-url` / `CLASSBILL_SMTP_URL` when given,
    /// else the `smtp_url` setting.
    pub fn smtp_url_for_delivery<'a>(&'a self, command_line: Option<&'a str>) -> Option<&'a str> {
        command_line.or(self.smtp_url.as_deref())
    }

    pub(super) fn source(&self, key: Key) -> SettingSource {
        if self.configured.contains_key(&key) {
            SettingSource::Database
        } else {
            SettingSource::Default
        }
    }

    /// The value in force as the API shows it (the SMTP password hidden).
    pub(super) fn shown(&self, key: Key) -> Value {
        match key {
            Key::EnabledCurrencies => json!(self.enabled_currencies),
            Key::CloseDelayHours => json!(self.close_delay_hours),
            Key::DefaultSender => json!({"name": self.default_sender.name, "address": self.default_sender.address}),
            Key::TimeZone => json!(self.time_zone),
            Key::SmtpUrl => json!(self.smtp_url.as_deref().map(redact_smtp_url)),
            Key::PublicBaseUrl => json!(self.public_base_url),
            Key::SmsGatewayUrl => json!(self.sms_gateway_url),
            Key::TaxRetryBaseMs => json!(self.tax_retry_base_ms),
            Key::OutboxRetryBaseMs => json!(self.outbox_retry_base_ms),
        }
    }

    /// The view of `GET /settings`.
    pub fn view(&self) -> SettingsView {
        let shown = |key: Key| Sourced {
            value: self.shown(key),
            source: self.source(key),
        };
        SettingsView {
            enabled_currencies: shown(Key::EnabledCurrencies),
            close_delay_hours: shown(Key::CloseDelayHours),
            default_sender: shown(Key::DefaultSender),
            time_zone: shown(Key::TimeZone),
            smtp_url: shown(Key::SmtpUrl),
            public_base_url: shown(Key::PublicBaseUrl),
            sms_gateway_url: shown(Key::SmsGatewayUrl),
            tax_retry_base_ms: shown(Key::TaxRetryBaseMs),
            outbox_retry_base_ms: shown(Key::OutboxRetryBaseMs),
        }
    }

    /// Applies a JSON Merge Patch: answers the configured values afterwards (a `null` drops a key back to its
    /// default), or every violation.
    pub(super) fn patched(&self, patch: &Value) -> Result<BTreeMap<Key, Value>, Vec<FieldError>> {
        let Some(changes) = patch.as_object() else {
            return Err(vec![type_error("", "a JSON object of settings", patch)]);
        };
        let mut configured = self.configured.clone();
        let mut errors = Vec::new();
        for (name, change) in changes {
            let Some(key) = Key::from_name(name) else {
                let hint = if name.starts_with("collections.") {
                    "the calendar is changed through /calendar"
                } else {
                    "not an installation setting"
                };
                errors.push(FieldError::new(name.clone(), "unknown_field", hint));
                continue;
            };
            if change.is_null() {
                configured.remove(&key);
                continue;
            }
            let submitted = match (key, change) {
                // The sender is one object: the patch merges into the sender in force.
                (Key::DefaultSender, Value::Object(fields)) => {
                    let mut merged = self.shown(Key::DefaultSender);
                    if let Value::Object(target) = &mut merged {
                        target.extend(fields.iter().map(|(k, v)| (k.clone(), v.clone())));
                    }
                    merged
                }
                _ => change.clone(),
            };
            let Some(mut value) = key.check(&submitted, &mut errors) else {
                continue;
            };
            if key == Key::SmtpUrl {
                value = self.keep_hidden_password(value);
            }
            configured.insert(key, value);
        }
        if errors.is_empty() { Ok(configured) } else { Err(errors) }
    }

    /// An SMTP URL sent back as shown (password `***`) keeps the password stored now.
    pub(super) fn keep_hidden_password(&self, value: Value) -> Value {
        let (Some(url), Some(stored)) = (value.as_str(), self.smtp_url.as_deref()) else {
            return value;
        };
        let stored_password = UrlParts::split(stored).and_then(|parts| parts.password);
        match (UrlParts::split(url), stored_password) {
            (Some(parts), Some(password)) if parts.password == Some(HIDDEN_PASSWORD) => {
                Value::from(parts.with_password(password))
            }
            _ => value,
        }
    }
}

/// Where a setting's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SettingSource {
    /// Not configured: the built-in default applies.
    Default,
    /// Configured on this installation.
    Database,
}

/// One setting with the origin of its value.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Sourced {
    pub value: Value,
    pub source: SettingSource,
}

/// The installation settings with their sources. Keys are named as in the contract, dots included.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SettingsView {
    /// List of ISO 4217 codes, or `null` meaning every code (the default).
    pub enabled_currencies: Sourced,
    /// Hours between a period's end and its close, 0–168 (default 6).
    #[serde(rename = "billing.close_delay_hours")]
    pub close_delay_hours: Sourced,
    /// `{name, address}`, each null by default.
    pub default_sender: Sourced,
    /// IANA zone of the installation (default `UTC`).
    pub time_zone: Sourced,
    /// `smtp://` or `smtps://` URL with any password shown as `***`; null by default. `--smtp-url` takes
    /// precedence.
    pub smtp_url: Sourced,
    /// Absolute http(s) URL the installation is reached at; null by default.
    pub public_base_url: Sourced,
    /// Absolute http(s) URL of the SMS gateway: each SMS is POSTed to it as `{"to", "text", "sender"}`; null
    /// (the default) means SMS messages cannot be sent and become dead letters saying so.
    pub sms_gateway_url: Sourced,
    /// 1–3,600,000 (default 30000).
    #[serde(rename = "tax.retry_base_ms")]
    pub tax_retry_base_ms: Sourced,
    /// 1–3,600,000 (default 60000).
    #[serde(rename = "outbox.retry_base_ms")]
    pub outbox_retry_base_ms: Sourced,
}
