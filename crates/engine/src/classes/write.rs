//! Class writes: create, replace (PUT), merge patch and the copy-policy action. Each commits the class,
//! its references, its revision and its audit entry together.

use classbill_domain::class::{self, ClassSettings, Validation};
use classbill_domain::{FieldError, Owner};
use classbill_store::classes::{self, ClassRow, RevisionRow};
use classbill_store::{Tx, instants, parties};
use jiff::Timestamp;
use serde_json::{Map, Value};

use super::{ClassWritten, context, load_visible, record_of, references_of, view_of};
use crate::actor::Actor;
use crate::audit::{self, Change};
use crate::error::{EngineError, EngineResult};

const CHANGE_NOTE_MAX: usize = 500;

/// The §2.3 policy block that the copy-policy action copies from one invoice tab to the other.
const POLICY_KEYS: &[&str] = &[
    "payment_terms",
    "due_reminder_days",
    "auto_charge",
    "auto_charge_retry_days",
    "collection_threshold",
    "restore_on_partial_within_threshold",
    "collection",
];

/// A write body split into the document and the revision's change note.
pub(crate) struct WriteBody {
    pub document: Map<String, Value>,
    pub change_note: Option<String>,
}

impl WriteBody {
    pub(crate) fn parse(body: Value) -> EngineResult<Self> {
        let Value::Object(mut document) = body else {
            return Err(EngineError::invalid("", "invalid_type", "expected a JSON object"));
        };
        let change_note = match document.remove("change_note") {
            None | Some(Value::Null) => None,
            Some(Value::String(note)) if note.chars().count() <= CHANGE_NOTE_MAX => Some(note),
            Some(Value::String(_)) => {
                return Err(EngineError::invalid(
                    "change_note",
                    "out_of_range",
                    format!("must be at most {CHANGE_NOTE_MAX} characters"),
                ));
            }
            Some(_) => return Err(EngineError::invalid("change_note", "invalid_type", "expected a string")),
        };
        Ok(WriteBody { document, change_note })
    }
}

pub(crate) fn parse_settings(document: Value) -> EngineResult<ClassSettings> {
    class::settings_from_json(document).map_err(EngineError::Invalid)
}

/// Runs every rule of §3 that needs the store: the domain rules plus name uniqueness (V2).
pub(crate) async fn check(
    tx: &mut Tx,
    settings: &ClassSettings,
    stored: Option<&ClassRow>,
) -> EngineResult<Validation> {
    let ctx = context::gather(tx, settings, stored).await?;
    let mut validation = class::validate(settings, &ctx);
    let key = class::name_key(&settings.name);
    if !key.is_empty() && classes::name_taken(tx, settings.managed_by.reseller_id(), &key, stored.map(|r| r.id)).await?
    {
        validation.errors.push(FieldError::new(
            "name",
            "name_taken",
            format!(
                "a class named \"{}\" already exists for this owner",
                settings.name.trim()
            ),
        ));
    }
    Ok(validation)
}

fn name_taken_error(settings: &ClassSettings) -> EngineError {
    EngineError::Invalid(vec![FieldError::new(
        "name",
        "name_taken",
        format!(
            "a class named \"{}\" already exists for this owner",
            settings.name.trim()
        ),
    )])
}

pub(crate) fn stale(current: i64) -> EngineError {
    EngineError::Conflict {
        code: "stale_revision".into(),
        message: format!("the class changed meanwhile (current revision {current})"),
        errors: vec![FieldError::new(
            "revision",
            "stale_revision",
            format!("the class changed meanwhile (current revision {current})"),
        )],
    }
}

fn require_revision(expected: Option<i64>, row: &ClassRow) -> EngineResult<i64> {
    let expected = expected.ok_or_else(|| {
        EngineError::PreconditionRequired(format!(
            "class writes need If-Match: \"<revision>\" (current revision {})",
            row.revision
        ))
    })?;
    if expected != row.revision {
        return Err(stale(row.revision));
    }
    Ok(expected)
}

fn revision_row(
    class_id: i64,
    revision: i64,
    actor: &Actor,
    now: Timestamp,
    note: Option<String>,
    settings: &ClassSettings,
    diff: &[class::DiffEntry],
) -> EngineResult<RevisionRow> {
    Ok(RevisionRow {
        class_id,
        revision,
        owner_reseller_id: settings.managed_by.reseller_id(),
        author_type: actor.author_type().to_owned(),
        author_user_id: actor.recorded_user_id(),
        author_name: actor.login.clone(),
        at: instants::to_micros(now),
        change_note: note,
        snapshot: serde_json::to_string(settings)?,
        diff: serde_json::to_string(diff)?,
    })
}

impl crate::Engine {
    /// `POST /customer-classes`.
    pub async fn create_class(&self, actor: &Actor, body: Value, now: Timestamp) -> EngineResult<ClassWritten> {
        let WriteBody { document, change_note } = WriteBody::parse(body)?;
        let requested_owner = document.get("managed_by").cloned();
        let mut settings = parse_settings(Value::Object(document))?;
        let mut tx = self.store.write().await?;
        let (owner, owner_error) = resolve_owner(&mut tx, actor, requested_owner.as_ref(), settings.managed_by).await?;
        settings.managed_by = owner;
        let mut validation = check(&mut tx, &settings, None).await?;
        // An owner the actor may not name is one violation among the others, not a reason to stop looking.
        if let Some(error) = owner_error {
            validation.errors.insert(0, error);
        }
        if !validation.errors.is_empty() {
            return Err(EngineError::Invalid(validation.errors));
        }
        class::normalize(&mut settings);
        let id = insert_class(&mut tx, actor, now, &settings, false, change_note).await?;
        let row = classes::get(&mut tx, id)
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("class {id}")))?;
        tx.commit().await?;
        Ok(ClassWritten {
            class: view_of(&row)?,
            warnings: validation.warnings,
        })
    }

    /// `PUT /customer-classes/{id}`: omitted keys take their defaults, except currency and owner.
    pub async fn replace_class(
        &self,
        actor: &Actor,
        id: i64,
        expected_revision: Option<i64>,
        body: Value,
        now: Timestamp,
    ) -> EngineResult<ClassWritten> {
        let WriteBody {
            mut document,
            change_note,
        } = WriteBody::parse(body)?;
        let mut tx = self.store.write().await?;
        classes::lock(&mut tx, id).await?;
        let row = load_visible(&mut tx, actor, id).await?;
        let expected = require_revision(expected_revision, &row)?;
        let stored: Value = serde_json::from_str(&row.document)?;
        for key in ["currency", "managed_by"] {
            if !document.contains_key(key) {
                document.insert(key.to_owned(), stored[key].clone());
            }
        }
        let settings = parse_settings(Value::Object(document))?;
        self.save_revision(tx, actor, now, row, expected, settings, change_note)
            .await
    }

    /// `PATCH /customer-classes/{id}` with a JSON Merge Patch (RFC 7396).
    pub async fn patch_class(
        &self,
        actor: &Actor,
        id: i64,
        expected_revision: Option<i64>,
        patch: Value,
        now: Timestamp,
    ) -> EngineResult<ClassWritten> {
        let WriteBody { document, change_note } = WriteBody::parse(patch)?;
        let mut tx = self.store.write().await?;
        classes::lock(&mut tx, id).await?;
        let row = load_visible(&mut tx, actor, id).await?;
        let expected = require_revision(expected_revision, &row)?;
        let mut merged: Value = serde_json::from_str(&row.document)?;
        class::apply_merge_patch(&mut merged, &Value::Object(document));
        let settings = parse_settings(merged)?;
        self.save_revision(tx, actor, now, row, expected, settings, change_note)
            .await
    }

    /// `POST /customer-classes/{id}/out-of-turn-invoices/copy-policy-from-regular` (§2.5).
    pub async fn copy_policy_from_regular(
        &self,
        actor: &Actor,
        id: i64,
        expected_revision: Option<i64>,
        now: Timestamp,
    ) -> EngineResult<ClassWritten> {
        let mut tx = self.store.write().await?;
        classes::lock(&mut tx, id).await?;
        let row = load_visible(&mut tx, actor, id).await?;
        let expected = require_revision(expected_revision, &row)?;
        let mut document: Value = serde_json::from_str(&row.document)?;
        for key in POLICY_KEYS {
            let value = document["regular_invoices"][*key].clone();
            document["out_of_turn_invoices"][*key] = value;
        }
        let settings = parse_settings(document)?;
        let note = Some("copied the invoice policy from regular_invoices".to_owned());
        self.save_revision(tx, actor, now, row, expected, settings, note).await
    }

    #[allow(clippy::too_many_arguments)]
    async fn save_revision(
        &self,
        mut tx: Tx,
        actor: &Actor,
        now: Timestamp,
        row: ClassRow,
        expected: i64,
        mut settings: ClassSettings,
        change_note: Option<String>,
    ) -> EngineResult<ClassWritten> {
        let validation = check(&mut tx, &settings, Some(&row)).await?;
        if !validation.errors.is_empty() {
            return Err(EngineError::Invalid(validation.errors));
        }
        class::normalize(&mut settings);
        let old: Value = serde_json::from_str(&row.document)?;
        let new = serde_json::to_value(&settings)?;
        let diff = class::diff(&old, &new);
        if diff.is_empty() {
            return Ok(ClassWritten {
                class: view_of(&row)?,
                warnings: validation.warnings,
            });
        }
        let record = record_of(&settings, row.is_default)?;
        match classes::update(&mut tx, row.id, expected, &record, instants::to_micros(now)).await {
            Ok(true) => {}
            // Another write committed since the class was read: name the revision that is current now.
            Ok(false) => {
                let current = classes::get(&mut tx, row.id)
                    .await?
                    .map_or(row.revision, |r| r.revision);
                return Err(stale(current));
            }
            Err(e) if e.is_unique_violation() => return Err(name_taken_error(&settings)),
            Err(e) => return Err(e.into()),
        }
        classes::set_references(&mut tx, row.id, &references_of(&settings)).await?;
        let revision = expected + 1;
        classes::insert_revision(
            &mut tx,
            &revision_row(row.id, revision, actor, now, change_note, &settings, &diff)?,
        )
        .await?;
        audit::record(
            &mut tx,
            actor,
            now,
            Change {
                action: "update",
                object_type: "customer_class",
                object_id: row.id.to_string(),
                owner_reseller_id: row.owner_reseller_id,
                details: serde_json::json!({ "revision": revision, "diff": diff }),
            },
        )
        .await?;
        let saved = classes::get(&mut tx, row.id)
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("class {} not found", row.id)))?;
        tx.commit().await?;
        Ok(ClassWritten {
            class: view_of(&saved)?,
            warnings: validation.warnings,
        })
    }
}

/// Who will own a new class (§1.5, V5): a reseller user always creates for its reseller; an administrator
/// names any existing reseller or takes the administrator. A refused choice comes back as a violation next to
/// the owner that the remaining rules are checked against.
async fn resolve_owner(
    tx: &mut Tx,
    actor: &Actor,
    requested: Option<&Value>,
    parsed: Owner,
) -> EngineResult<(Owner, Option<FieldError>)> {
    let own = actor.owner();
    if !actor.is_administrator() {
        if requested.is_some() && parsed != own {
            let error = FieldError::new(
                "managed_by",
                "forbidden_owner",
                "resellers can only create classes they manage",
            );
            return Ok((own, Some(error)));
        }
        return Ok((own, None));
    }
    if let Owner::Reseller { reseller_id } = parsed {
        let exists = parties::get(tx, reseller_id)
            .await?
            .is_some_and(|p| p.kind == "reseller");
        if !exists {
            let error = FieldError::new("managed_by", "not_found", format!("reseller {reseller_id} not found"));
            return Ok((parsed, Some(error)));
        }
    }
    Ok((parsed, None))
}

/// Stores a new class with its first revision; used for created classes and for Default classes.
pub(crate) async fn insert_class(
    tx: &mut Tx,
    actor: &Actor,
    now: Timestamp,
    settings: &ClassSettings,
    is_default: bool,
    change_note: Option<String>,
) -> EngineResult<i64> {
    let record = record_of(settings, is_default)?;
    let id = match classes::insert(tx, &record, instants::to_micros(now)).await {
        Ok(id) => id,
        Err(e) if e.is_unique_violation() => return Err(name_taken_error(settings)),
        Err(e) => return Err(e.into()),
    };
    classes::set_references(tx, id, &references_of(settings)).await?;
    let diff = class::diff(&Value::Null, &serde_json::to_value(settings)?);
    classes::insert_revision(tx, &revision_row(id, 1, actor, now, change_note, settings, &diff)?).await?;
    audit::record(
        tx,
        actor,
        now,
        Change {
            action: "create",
            object_type: "customer_class",
            object_id: id.to_string(),
            owner_reseller_id: settings.managed_by.reseller_id(),
            details: serde_json::json!({ "name": settings.name }),
        },
    )
    .await?;
    Ok(id)
}

/// The Default class of a new owner (§1.2): every tab at its defaults, no currency.
pub(crate) async fn insert_default_class(
    tx: &mut Tx,
    actor: &Actor,
    now: Timestamp,
    owner: Owner,
) -> EngineResult<i64> {
    let settings = ClassSettings {
        name: "Default".to_owned(),
        managed_by: owner,
        ..ClassSettings::default()
    };
    insert_class(tx, actor, now, &settings, true, None).await
}
