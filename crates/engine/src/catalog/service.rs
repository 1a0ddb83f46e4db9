//! Create, list, read, update and delete for every catalog kind, with ownership and "in use" checks.

use classbill_domain::{FieldError, Owner};
use classbill_store::catalog::{self, CatalogRecord, CatalogRow};
use classbill_store::{Tx, classes, instants};
use jiff::Timestamp;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use utoipa::ToSchema;

use crate::actor::{Actor, Role};
use crate::audit::{self, Change};
use crate::error::{EngineError, EngineResult};
use crate::page::{Page, PageRequest};

/// What distinguishes one catalog kind from another.
pub trait CatalogKind {
    /// The `kind` column value and reference kind.
    const KIND: &'static str;
    /// How errors name an object of this kind ("template 9 not found").
    const LABEL: &'static str;
    /// Owned objects belong to the administrator or a reseller; the others are installation-wide, written by
    /// administrators and readable by everyone.
    const OWNED: bool;
    type Document: Serialize + DeserializeOwned + Clone;

    /// Checks a complete document (after merging a patch on update).
    fn check(document: &Self::Document) -> Vec<FieldError>;
    /// Top-level keys that may not change once stored, each with the message naming the rule. They are
    /// compared on the merged JSON, so a change is reported together with every other violation.
    const IMMUTABLE: &'static [(&'static str, &'static str)] = &[];
    /// The key unique per owner; also what classes reference when not the id.
    fn key(document: &Self::Document) -> String;
    /// What classes store as the reference to this object.
    fn reference(id: i64, _document: &Self::Document) -> String {
        id.to_string()
    }
    fn parse(value: Value) -> Result<Self::Document, Vec<FieldError>> {
        super::parse_json(value)
    }
}

/// A catalog object as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CatalogItem<D> {
    pub id: i64,
    pub owner: Owner,
    pub shared: bool,
    pub builtin: bool,
    #[serde(flatten)]
    pub document: D,
}

fn item_of<K: CatalogKind>(row: &CatalogRow) -> EngineResult<CatalogItem<K::Document>> {
    Ok(CatalogItem {
        id: row.id,
        owner: Owner::from_reseller_id(row.owner_reseller_id),
        shared: row.shared,
        builtin: row.builtin,
        document: serde_json::from_str(&row.document)?,
    })
}

/// Visible: installation-wide kinds to everyone; owned kinds to their owner, and shared administrator objects
/// to every reseller user.
fn visible<K: CatalogKind>(actor: &Actor, row: &CatalogRow) -> bool {
    !K::OWNED
        || actor.sees(Owner::from_reseller_id(row.owner_reseller_id))
        || (row.owner_reseller_id.is_none() && row.shared)
}

/// Writable: installation-wide kinds by administrators; owned kinds by their owner's users (and administrators).
fn writable<K: CatalogKind>(actor: &Actor, row: &CatalogRow) -> bool {
    if K::OWNED {
        actor.sees(Owner::from_reseller_id(row.owner_reseller_id))
    } else {
        actor.is_administrator()
    }
}

async fn load<K: CatalogKind>(tx: &mut Tx, actor: &Actor, id: i64) -> EngineResult<CatalogRow> {
    catalog::get(tx, K::KIND, id)
        .await?
        .filter(|row| visible::<K>(actor, row))
        .ok_or_else(|| EngineError::NotFound(format!("{} {id} not found", K::LABEL)))
}

/// Splits the envelope keys (`owner`, `shared`) from the kind's own document.
struct Envelope {
    owner: Option<Owner>,
    shared: Option<bool>,
    document: Value,
}

fn envelope(body: Value) -> EngineResult<Envelope> {
    let Value::Object(mut map) = body else {
        return Err(EngineError::invalid("", "invalid_type", "expected a JSON object"));
    };
    for key in ["id", "builtin"] {
        map.remove(key);
    }
    let owner = match map.remove("owner") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            serde_json::from_value::<Owner>(v)
                .map_err(|e| EngineError::invalid("owner", "invalid_type", e.to_string()))?,
        ),
    };
    let shared = match map.remove("shared") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(b),
        Some(_) => return Err(EngineError::invalid("shared", "invalid_type", "expected true or false")),
    };
    Ok(Envelope {
        owner,
        shared,
        document: Value::Object(map),
    })
}

fn checked<K: CatalogKind>(document: Value) -> EngineResult<K::Document> {
    checked_with::<K>(document, Vec::new())
}

/// Parses and checks a document; violations already found (passed in `errors`) are reported with its own.
fn checked_with<K: CatalogKind>(document: Value, mut errors: Vec<FieldError>) -> EngineResult<K::Document> {
    match K::parse(document) {
        Ok(parsed) => {
            errors.extend(K::check(&parsed));
            if errors.is_empty() {
                Ok(parsed)
            } else {
                Err(EngineError::Invalid(errors))
            }
        }
        Err(parse_errors) => {
            errors.extend(parse_errors);
            Err(EngineError::Invalid(errors))
        }
    }
}

/// What an update may not change: the kind's immutable keys, and for a built-in object its name and its
/// sharing (the built-ins are what every owner falls back to).
fn unchangeable<K: CatalogKind>(stored: &Value, merged: &Value, builtin: bool, shared: bool) -> Vec<FieldError> {
    let mut errors: Vec<FieldError> = K::IMMUTABLE
        .iter()
        .filter(|(key, _)| stored.get(key) != merged.get(key))
        .map(|(key, message)| FieldError::new(*key, "immutable", *message))
        .collect();
    if builtin {
        if stored.get("name") != merged.get("name") {
            errors.push(FieldError::new(
                "name",
                "immutable",
                format!("the built-in {} keeps its name", K::LABEL),
            ));
        }
        if !shared {
            errors.push(FieldError::new(
                "shared",
                "immutable",
                format!("the built-in {} stays shared", K::LABEL),
            ));
        }
    }
    errors
}

fn key_taken<K: CatalogKind>(key: &str) -> EngineError {
    let field = if K::KIND == super::kinds::VAT_RATE {
        "country"
    } else if K::KIND == super::kinds::CUSTOM_FIELD {
        "key"
    } else {
        "name"
    };
    EngineError::Invalid(vec![FieldError::new(
        field,
        "name_taken",
        format!("a {} named \"{key}\" already exists for this owner", K::LABEL),
    )])
}

impl crate::Engine {
    pub async fn list_catalog<K: CatalogKind>(
        &self,
        actor: &Actor,
        page: PageRequest,
    ) -> EngineResult<Page<CatalogItem<K::Document>>> {
        let visible_to = match actor.role {
            Role::Reseller(id) if K::OWNED => Some(id),
            _ => None,
        };
        let mut tx = self.store.read().await?;
        let rows = catalog::list(&mut tx, K::KIND, visible_to, page.cursor_id()?, page.limit + 1).await?;
        let items = rows.iter().map(item_of::<K>).collect::<EngineResult<Vec<_>>>()?;
        Ok(Page::from_rows(items, page.limit, |item| item.id.to_string()))
    }

    pub async fn get_catalog<K: CatalogKind>(&self, actor: &Actor, id: i64) -> EngineResult<CatalogItem<K::Document>> {
        let mut tx = self.store.read().await?;
        item_of::<K>(&load::<K>(&mut tx, actor, id).await?)
    }

    pub async fn create_catalog<K: CatalogKind>(
        &self,
        actor: &Actor,
        body: Value,
        now: Timestamp,
    ) -> EngineResult<CatalogItem<K::Document>> {
        if !K::OWNED && !actor.is_administrator() {
            return Err(EngineError::forbidden(format!(
                "only administrators manage {}s",
                K::LABEL
            )));
        }
        let envelope = envelope(body)?;
        let owner = match (K::OWNED, envelope.owner) {
            (false, _) => Owner::Administrator,
            (true, Some(owner)) if actor.is_administrator() || owner == actor.owner() => owner,
            (true, Some(_)) => {
                return Err(EngineError::invalid(
                    "owner",
                    "forbidden_owner",
                    "resellers can only create objects they own",
                ));
            }
            (true, None) => actor.owner(),
        };
        let shared = envelope.shared.unwrap_or(false);
        if shared && owner != Owner::Administrator {
            return Err(EngineError::invalid(
                "shared",
                "forbidden",
                "only administrator objects can be shared",
            ));
        }
        let document = checked::<K>(envelope.document)?;
        let mut tx = self.store.write().await?;
        if let Owner::Reseller { reseller_id } = owner {
            let exists = classbill_store::parties::get(&mut tx, reseller_id)
                .await?
                .is_some_and(|p| p.kind == "reseller");
            if !exists {
                return Err(EngineError::invalid(
                    "owner",
                    "not_found",
                    format!("reseller {reseller_id} not found"),
                ));
            }
        }
        let key = K::key(&document);
        if catalog::by_key(&mut tx, K::KIND, owner.reseller_id(), &key)
            .await?
            .is_some()
        {
            return Err(key_taken::<K>(&key));
        }
        let record = CatalogRecord {
            kind: K::KIND,
            owner_reseller_id: owner.reseller_id(),
            name_key: key.clone(),
            shared,
            builtin: false,
            document: serde_json::to_value(&document)?,
        };
        let id = match catalog::insert(&mut tx, &record, instants::to_micros(now)).await {
            Ok(id) => id,
            Err(e) if e.is_unique_violation() => return Err(key_taken::<K>(&key)),
            Err(e) => return Err(e.into()),
        };
        audit::record(
            &mut tx,
            actor,
            now,
            Change {
                action: "create",
                object_type: K::KIND,
                object_id: id.to_string(),
                owner_reseller_id: owner.reseller_id(),
                details: record.document.clone(),
            },
        )
        .await?;
        let row = catalog::get(&mut tx, K::KIND, id)
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("{} {id} not found", K::LABEL)))?;
        tx.commit().await?;
        item_of::<K>(&row)
    }

    /// A JSON Merge Patch over the stored document; the result is checked like a new one.
    pub async fn update_catalog<K: CatalogKind>(
        &self,
        actor: &Actor,
        id: i64,
        patch: Value,
        now: Timestamp,
    ) -> EngineResult<CatalogItem<K::Document>> {
        let envelope = envelope(patch)?;
        let mut tx = self.store.write().await?;
        let row = load::<K>(&mut tx, actor, id).await?;
        if !writable::<K>(actor, &row) {
            return Err(EngineError::forbidden(format!(
                "{} {id} is shared by the administrator and read-only here",
                K::LABEL
            )));
        }
        if envelope
            .owner
            .is_some_and(|o| o != Owner::from_reseller_id(row.owner_reseller_id))
        {
            return Err(EngineError::invalid(
                "owner",
                "immutable",
                "the owner cannot be changed",
            ));
        }
        let shared = envelope.shared.unwrap_or(row.shared);
        if shared && row.owner_reseller_id.is_some() {
            return Err(EngineError::invalid(
                "shared",
                "forbidden",
                "only administrator objects can be shared",
            ));
        }
        let stored: Value = serde_json::from_str(&row.document)?;
        let mut merged = stored.clone();
        classbill_domain::class::apply_merge_patch(&mut merged, &envelope.document);
        let errors = unchangeable::<K>(&stored, &merged, row.builtin, shared);
        let document = checked_with::<K>(merged, errors)?;
        let key = K::key(&document);
        if let Some(other) = catalog::by_key(&mut tx, K::KIND, row.owner_reseller_id, &key).await?
            && other.id != id
        {
            return Err(key_taken::<K>(&key));
        }
        let record = CatalogRecord {
            kind: K::KIND,
            owner_reseller_id: row.owner_reseller_id,
            name_key: key,
            shared,
            builtin: row.builtin,
            document: serde_json::to_value(&document)?,
        };
        catalog::update(&mut tx, id, &record, instants::to_micros(now)).await?;
        audit::record(
            &mut tx,
            actor,
            now,
            Change {
                action: "update",
                object_type: K::KIND,
                object_id: id.to_string(),
                owner_reseller_id: row.owner_reseller_id,
                details: serde_json::json!({ "old": stored, "new": record.document }),
            },
        )
        .await?;
        let row = catalog::get(&mut tx, K::KIND, id)
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("{} {id} not found", K::LABEL)))?;
        tx.commit().await?;
        item_of::<K>(&row)
    }

    /// 409 `in_use` while a class references the object; built-in objects stay.
    pub async fn delete_catalog<K: CatalogKind>(&self, actor: &Actor, id: i64, now: Timestamp) -> EngineResult<()> {
        let mut tx = self.store.write().await?;
        let row = load::<K>(&mut tx, actor, id).await?;
        if !writable::<K>(actor, &row) {
            return Err(EngineError::forbidden(format!(
                "{} {id} is shared by the administrator and read-only here",
                K::LABEL
            )));
        }
        if row.builtin {
            return Err(EngineError::conflict(
                "builtin",
                format!("the built-in {} cannot be deleted", K::LABEL),
            ));
        }
        let document: K::Document = serde_json::from_str(&row.document)?;
        let users = classes::referencing_count(&mut tx, K::KIND, &K::reference(id, &document)).await?;
        if users > 0 {
            return Err(EngineError::conflict(
                "in_use",
                format!("{} {id} is used by {users} classes", K::LABEL),
            ));
        }
        catalog::delete(&mut tx, K::KIND, id).await?;
        audit::record(
            &mut tx,
            actor,
            now,
            Change {
                action: "delete",
                object_type: K::KIND,
                object_id: id.to_string(),
                owner_reseller_id: row.owner_reseller_id,
                details: serde_json::from_str(&row.document)?,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
