//! Custom-field values on parties (§5.14): written values checked against the definitions enabled on the
//! party's class, defaults filled in, mandatory fields enforced (A5) and personal data masked on the way out.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;

use classbill_domain::FieldError;
use classbill_domain::class::ClassSettings;
use classbill_domain::custom_field::{CustomFieldDefinition, validate_value};
use classbill_store::{Tx, catalog, classes};
use serde_json::{Map, Value};

use crate::catalog::kinds;
use crate::classes::ParsedClasses;
use crate::error::EngineResult;

/// What personal-data values look like to users without the permission.
pub(crate) const MASK: &str = "***";

/// The definitions enabled on a class, in the class's order.
pub(crate) async fn enabled_fields(tx: &mut Tx, field_ids: &[i64]) -> EngineResult<Vec<CustomFieldDefinition>> {
    let mut definitions = Vec::with_capacity(field_ids.len());
    for &id in field_ids {
        if let Some(row) = catalog::get(tx, kinds::CUSTOM_FIELD, id).await? {
            definitions.push(serde_json::from_str(&row.document)?);
        }
    }
    Ok(definitions)
}

/// Enabled definitions per class, loaded once per class for lists.
#[derive(Default)]
pub(crate) struct FieldsByClass {
    loaded: HashMap<i64, Vec<CustomFieldDefinition>>,
    /// The engine's parsed class documents, where the caller has them.
    parsed: Option<Arc<ParsedClasses>>,
}

impl FieldsByClass {
    pub fn parsing_with(parsed: Arc<ParsedClasses>) -> Self {
        FieldsByClass {
            loaded: HashMap::new(),
            parsed: Some(parsed),
        }
    }

    pub async fn of(&mut self, tx: &mut Tx, class_id: i64) -> EngineResult<&[CustomFieldDefinition]> {
        let definitions = match self.loaded.entry(class_id) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => {
                let ids = match classes::document(tx, class_id).await? {
                    Some(row) => match &self.parsed {
                        Some(parsed) => parsed
                            .settings(row.id, &row.document)?
                            .custom_fields
                            .enabled_field_ids
                            .clone(),
                        None => {
                            serde_json::from_str::<ClassSettings>(&row.document)?
                                .custom_fields
                                .enabled_field_ids
                        }
                    },
                    None => Vec::new(),
                };
                entry.insert(enabled_fields(tx, &ids).await?)
            }
        };
        Ok(definitions.as_slice())
    }
}

/// The stored values (`{key: string}`).
pub(crate) fn stored_values(json: &str) -> EngineResult<Map<String, Value>> {
    match serde_json::from_str::<Value>(json)? {
        Value::Object(map) => Ok(map),
        _ => Ok(Map::new()),
    }
}

/// Applies written values to `values`: each key must be enabled on the class and its value valid; null or ""
/// removes the value. Every violation is reported. A writer without the personal-data permission who sends
/// back the mask of a personal-data value leaves the stored value alone.
pub(crate) fn apply_writes(
    class_name: &str,
    definitions: &[CustomFieldDefinition],
    values: &mut Map<String, Value>,
    writes: &Map<String, Value>,
    personal_data_access: bool,
    errors: &mut Vec<FieldError>,
) {
    for (key, value) in writes {
        let definition = definitions.iter().find(|d| &d.key == key);
        if definition.is_some_and(|d| d.personal_data && !personal_data_access && value.as_str() == Some(MASK)) {
            continue;
        }
        let Some(definition) = definition else {
            errors.push(FieldError::new(
                format!("custom_fields.{key}"),
                "not_enabled",
                format!("not enabled for class \"{class_name}\""),
            ));
            continue;
        };
        match validate_value(definition, value) {
            Ok(Some(stored)) => {
                values.insert(key.clone(), Value::String(stored));
            }
            Ok(None) => {
                values.remove(key);
            }
            Err(error) => errors.push(error),
        }
    }
}

/// A value counts when present and not empty (§5.14 rule 1).
pub(crate) fn has_value(values: &Map<String, Value>, key: &str) -> bool {
    values
        .get(key)
        .is_some_and(|value| !(value.is_null() || value.as_str() == Some("")))
}

/// Fills every enabled field without a value from its definition's default (§5.14 rule 3); true when
/// something was added.
pub(crate) fn apply_defaults(definitions: &[CustomFieldDefinition], values: &mut Map<String, Value>) -> bool {
    let mut added = false;
    for definition in definitions {
        if let Some(default) = &definition.default
            && !has_value(values, &definition.key)
        {
            values.insert(definition.key.clone(), Value::String(default.clone()));
            added = true;
        }
    }
    added
}

/// The values a user sees: only fields enabled on the party's class, personal data masked unless allowed.
pub(crate) fn shown(
    definitions: &[CustomFieldDefinition],
    values: &Map<String, Value>,
    personal_data_access: bool,
) -> Map<String, Value> {
    let mut out = Map::new();
    for definition in definitions {
        if let Some(value) = values
            .get(&definition.key)
            .filter(|_| has_value(values, &definition.key))
        {
            let value = if definition.personal_data && !personal_data_access {
                Value::String(MASK.to_owned())
            } else {
                value.clone()
            };
            out.insert(definition.key.clone(), value);
        }
    }
    out
}
