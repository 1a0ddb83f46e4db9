//! Installation-wide configuration: the settings behind `/settings` and the calendar behind `/calendar`.
//!
//! Every value is one row of `installation_settings`, keyed by the name the contract gives it
//! (`billing.close_delay_hours`, `collections.holidays`, …). A key that is missing, holds JSON `null`, or holds
//! something that would no longer pass validation reads as its default; a PATCH with `null` therefore returns a
//! setting to its default. The rest of the engine reads these values through [`InstallationSettings`],
//! [`Calendar`] and [`enabled_currencies`], so the keys and their shapes are known in this module only.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use classbill_domain::effective::{DefaultSender, InstallationValues};
use classbill_domain::period::time_zone;
use classbill_domain::{Currency, FieldError};
use classbill_store::{Tx, classes, parties, settings as stored_settings};
use jiff::Timestamp;
use jiff::civil::{Date, Weekday};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use crate::Engine;
use crate::actor::Actor;
use crate::audit::{self, Change};
use crate::error::{EngineError, EngineResult};

pub const DEFAULT_CLOSE_DELAY_HOURS: i64 = 6;
pub const DEFAULT_TIME_ZONE: &str = "UTC";
pub const DEFAULT_TAX_RETRY_BASE_MS: i64 = 30_000;
pub const DEFAULT_OUTBOX_RETRY_BASE_MS: i64 = 60_000;
/// Longest holiday list the calendar keeps (counted after removing repeats).
pub const MAX_HOLIDAYS: usize = 1000;

const CLOSE_DELAY_RANGE: std::ops::RangeInclusive<i64> = 0..=168;
const RETRY_BASE_RANGE: std::ops::RangeInclusive<i64> = 1..=3_600_000;
/// What an answer shows in place of the password of `smtp_url`. Sent back in a PATCH, it keeps the stored one.
const HIDDEN_PASSWORD: &str = "***";

const NON_WORKING_WEEKDAYS_KEY: &str = "collections.non_working_weekdays";
const HOLIDAYS_KEY: &str = "collections.holidays";

mod calendar;
mod setting_keys;
mod smtp_url;

pub use calendar::*;
pub use setting_keys::*;
pub use smtp_url::*;

/// The stored value of one setting in its checked form; `None` when it is absent, null or no longer valid.
async fn load_key(tx: &mut Tx, key: Key) -> EngineResult<Option<Value>> {
    let Some(stored) = stored_settings::get(tx, key.name()).await? else {
        return Ok(None);
    };
    if stored.is_null() {
        return Ok(None);
    }
    let mut errors = Vec::new();
    let checked = key.check(&stored, &mut errors);
    if checked.is_none() {
        tracing::warn!(
            key = key.name(),
            "stored installation setting is not valid; its default applies"
        );
    }
    Ok(checked)
}

/// The installation's enabled currencies (customer-classes §1.4 rule 1); `None` = every ISO 4217 code.
pub async fn enabled_currencies(tx: &mut Tx) -> EngineResult<Option<BTreeSet<String>>> {
    Ok(load_key(tx, Key::EnabledCurrencies)
        .await?
        .and_then(|value| serde_json::from_value(value).ok()))
}

/// The installation values of the effective settings (§4, `installation.*`).
pub(crate) async fn installation_values(tx: &mut Tx) -> EngineResult<InstallationValues> {
    let settings = InstallationSettings::load(tx).await?;
    let calendar = Calendar::load(tx).await?;
    Ok(InstallationValues {
        close_delay_hours: settings.close_delay_hours,
        default_sender: settings.default_sender,
        time_zone: settings.time_zone,
        non_working_weekdays: calendar.weekday_names(),
        holidays: calendar.holiday_texts(),
    })
}

fn require_administrator(actor: &Actor) -> EngineResult<()> {
    if actor.is_administrator() {
        Ok(())
    } else {
        Err(EngineError::forbidden(
            "installation settings are managed by administrators only",
        ))
    }
}

/// One `in_use` violation per currency the new list would disable while a class or a party still uses it.
async fn currencies_in_use(
    tx: &mut Tx,
    before: &InstallationSettings,
    after: &InstallationSettings,
) -> EngineResult<Vec<FieldError>> {
    let enabled = |settings: &InstallationSettings| -> BTreeSet<String> {
        settings
            .enabled_currencies
            .clone()
            .unwrap_or_else(|| all_currency_codes().clone())
    };
    let still_enabled = enabled(after);
    let mut errors = Vec::new();
    for code in enabled(before).difference(&still_enabled) {
        let class_filter = classes::ClassFilter {
            currency: Some(Some(code.clone())),
            ..classes::ClassFilter::default()
        };
        let user = if let Some(class) = classes::list(tx, &class_filter, None, 1).await?.into_iter().next() {
            Some(format!("class {:?}", class.name))
        } else {
            let party_filter = parties::PartyFilter {
                currency: Some(code.clone()),
                ..parties::PartyFilter::default()
            };
            parties::list(tx, &party_filter, None, 1)
                .await?
                .into_iter()
                .next()
                .map(|party| format!("{} {} ({:?})", party.kind, party.id, party.name))
        };
        if let Some(user) = user {
            errors.push(FieldError::new(
                Key::EnabledCurrencies.name(),
                "in_use",
                format!("currency {code} cannot be disabled: {user} uses it"),
            ));
        }
    }
    Ok(errors)
}

impl Engine {
    /// `GET /settings`: every installation setting with its source. Administrators only.
    pub async fn installation_settings(&self, actor: &Actor) -> EngineResult<SettingsView> {
        require_administrator(actor)?;
        let mut tx = self.store.read().await?;
        Ok(InstallationSettings::load(&mut tx).await?.view())
    }

    /// `PATCH /settings`: applies a JSON Merge Patch of settings. Every violation is reported and nothing is
    /// written unless all pass; the change is audited with old and new values (SMTP password hidden).
    pub async fn update_installation_settings(
        &self,
        actor: &Actor,
        patch: &Value,
        now: Timestamp,
    ) -> EngineResult<SettingsView> {
        require_administrator(actor)?;
        let mut tx = self.store.write().await?;
        let before = InstallationSettings::load(&mut tx).await?;
        let configured = before.patched(patch).map_err(EngineError::Invalid)?;
        let after = InstallationSettings::from_configured(configured);
        if before.enabled_currencies != after.enabled_currencies {
            let refused = currencies_in_use(&mut tx, &before, &after).await?;
            if !refused.is_empty() {
                return Err(EngineError::Invalid(refused));
            }
        }

        let mut changes = Map::new();
        for key in Key::ALL {
            let (old, new) = (before.configured.get(&key), after.configured.get(&key));
            if old == new {
                continue;
            }
            stored_settings::put(&mut tx, key.name(), new.unwrap_or(&Value::Null)).await?;
            changes.insert(
                key.name().to_owned(),
                json!({
                    "old": before.shown(key), "old_source": before.source(key),
                    "new": after.shown(key), "new_source": after.source(key),
                }),
            );
        }
        if !changes.is_empty() {
            audit::record(
                &mut tx,
                actor,
                now,
                Change {
                    action: "update",
                    object_type: "installation_settings",
                    object_id: "settings".to_owned(),
                    owner_reseller_id: None,
                    details: json!({ "changes": changes }),
                },
            )
            .await?;
            tx.commit().await?;
        }
        Ok(after.view())
    }

    /// `GET /calendar`. Administrators only.
    pub async fn calendar(&self, actor: &Actor) -> EngineResult<CalendarDocument> {
        require_administrator(actor)?;
        let mut tx = self.store.read().await?;
        Ok(Calendar::load(&mut tx).await?.document())
    }

    /// `PUT /calendar`: replaces the calendar with the normalised body (weekdays in week order, holidays sorted
    /// without repeats). Audited with the old and new calendar.
    pub async fn replace_calendar(
        &self,
        actor: &Actor,
        body: &Value,
        now: Timestamp,
    ) -> EngineResult<CalendarDocument> {
        require_administrator(actor)?;
        let calendar = Calendar::from_document(body).map_err(EngineError::Invalid)?;
        let mut tx = self.store.write().await?;
        let before = Calendar::load(&mut tx).await?;
        let document = calendar.document();
        stored_settings::put(&mut tx, NON_WORKING_WEEKDAYS_KEY, &json!(document.non_working_weekdays)).await?;
        stored_settings::put(&mut tx, HOLIDAYS_KEY, &json!(document.holidays)).await?;
        audit::record(
            &mut tx,
            actor,
            now,
            Change {
                action: "update",
                object_type: "installation_calendar",
                object_id: "calendar".to_owned(),
                owner_reseller_id: None,
                details: json!({ "old": before.document(), "new": document }),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(document)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_passwords_are_hidden_and_kept() {
        assert_eq!(
            redact_smtp_url("smtps://mailer:s3cret@mail.example.com:465"),
            "smtps://mailer:***@mail.example.com:465"
        );
        assert_eq!(redact_smtp_url("smtp://mail.example.com"), "smtp://mail.example.com");
        assert_eq!(
            redact_smtp_url("smtp://user@[::1]:25?tls=none"),
            "smtp://user@[::1]:25?tls=none"
        );

        let before =
            InstallationSettings::from_configured([(Key::SmtpUrl, json!("smtp://u:old@mail.example.com"))].into());
        let configured = before
            .patched(&json!({"smtp_url": "smtp://u:***@mail.example.com:2525"}))
            .expect("valid");
        assert_eq!(configured[&Key::SmtpUrl], json!("smtp://u:old@mail.example.com:2525"));
    }

    #[test]
    fn urls_are_checked() {
        for bad in [
            "mail.example.com",
            "smtp://",
            "smtp://host:0",
            "smtp://host:99999",
            "smtp://ho st",
            "smtp://a..b",
            "smtp://user:25/pass@mail.example.com",
        ] {
            assert!(smtp_server(bad).is_err(), "{bad}");
        }
        assert!(UrlParts::split("https://billing.example.com/base/").is_some_and(|p| p.is_web()));
        assert!(UrlParts::split("ftp://billing.example.com").is_some_and(|p| !p.is_web()));
    }

    #[test]
    fn smtp_urls_name_their_tls_mode_and_private_ca() {
        let options = |url| smtp_server(url).map(|server| (server.security, server.ca_file));
        assert_eq!(options("smtp://mail.example.com"), Ok((SmtpSecurity::Plain, None)));
        assert_eq!(
            options("smtp://mail.example.com?tls=none"),
            Ok((SmtpSecurity::Plain, None))
        );
        assert_eq!(
            options("smtp://mail.example.com?tls=opportunistic"),
            Ok((SmtpSecurity::StartTlsOpportunistic, None))
        );
        assert_eq!(
            options("smtp://mail.example.com:587?tls=required&ca=/etc/classbill/ca.pem"),
            Ok((SmtpSecurity::StartTlsRequired, Some("/etc/classbill/ca.pem".to_owned())))
        );
        assert_eq!(
            options("smtps://u:p@mail.example.com?ca=/srv/private%20ca.pem"),
            Ok((SmtpSecurity::ImplicitTls, Some("/srv/private ca.pem".to_owned())))
        );
        assert_eq!(
            options("smtp://h?tls=bogus"),
            Err("tls= must be required, opportunistic or none")
        );
        for bad in [
            "smtp://h?tls=required&tls=none",
            "smtp://h?TLS=required",
            "smtp://h?insecure=true",
            "smtps://h?tls=required",
            "smtp://h?ca=/etc/ca.pem",
            "smtp://h?tls=required&ca=",
        ] {
            assert!(options(bad).is_err(), "{bad}");
        }
        assert_eq!(
            redact_smtp_url("smtps://mailer:s3cret@mail.example.com?ca=/etc/ca.pem"),
            "smtps://mailer:***@mail.example.com?ca=/etc/ca.pem"
        );
    }

    #[test]
    fn the_calendar_is_normalised_and_shifts_to_working_days() {
        let calendar = Calendar::from_document(&json!({
            "non_working_weekdays": ["sunday", "saturday", "sunday"],
            "holidays": ["2026-12-26", "2026-12-25", "2026-12-25"],
        }))
        .expect("valid");
        assert_eq!(calendar.weekday_names(), ["saturday", "sunday"]);
        assert_eq!(calendar.holiday_texts(), ["2026-12-25", "2026-12-26"]);
        // Friday 25 and Saturday 26 December 2026 are off, so is Sunday: Monday 28 is next.
        let christmas = Date::new(2026, 12, 25).expect("date");
        assert_eq!(
            calendar.next_working_day(christmas),
            Date::new(2026, 12, 28).expect("date")
        );
        assert!(calendar.is_working_day(Date::new(2026, 12, 24).expect("date")));

        let errors = Calendar::from_document(&json!({
            "non_working_weekdays": ["funday", 3],
            "holidays": ["2026-02-30", "20260101"],
            "extra": true,
        }))
        .expect_err("invalid");
        let fields: Vec<(&str, &str)> = errors.iter().map(|e| (e.field.as_str(), e.code.as_str())).collect();
        assert_eq!(
            fields,
            [
                ("extra", "unknown_field"),
                ("non_working_weekdays[0]", "out_of_range"),
                ("non_working_weekdays[1]", "invalid_type"),
                ("holidays[0]", "out_of_range"),
                ("holidays[1]", "out_of_range"),
            ]
        );
    }

    #[test]
    fn every_iso_code_is_found() {
        let codes = all_currency_codes();
        assert!(codes.contains("EUR") && codes.contains("JPY") && codes.contains("USD"));
        assert!(codes.len() > 150, "{}", codes.len());
    }
}
