//! Leaf-by-leaf comparison of two serialized class documents, for revisions and previews (§6).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// One changed leaf: `path` is dotted (`taxation.fixed_vat.rate_percent`), absent values are null.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DiffEntry {
    pub path: String,
    pub old: Value,
    pub new: Value,
}

/// The changed leaves between two documents, sorted by path. Objects descend to their scalars; arrays and
/// tagged objects (objects with a `type` key, such as `payment_terms` or `managed_by`) are single leaves.
pub fn diff(old: &Value, new: &Value) -> Vec<DiffEntry> {
    let old_leaves = leaves(old);
    let mut new_leaves = leaves(new);
    let mut entries = Vec::new();
    for (path, old_value) in old_leaves {
        let new_value = new_leaves.remove(&path).unwrap_or(Value::Null);
        if old_value != new_value {
            entries.push(DiffEntry {
                path,
                old: old_value,
                new: new_value,
            });
        }
    }
    for (path, new_value) in new_leaves {
        if !new_value.is_null() {
            entries.push(DiffEntry {
                path,
                old: Value::Null,
                new: new_value,
            });
        }
    }
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    entries
}

/// The dotted paths of every leaf of a document, sorted.
pub fn leaf_paths(document: &Value) -> Vec<String> {
    leaves(document).into_keys().collect()
}

fn leaves(document: &Value) -> BTreeMap<String, Value> {
    let mut found = BTreeMap::new();
    collect(String::new(), document, &mut found);
    found
}

fn collect(path: String, value: &Value, found: &mut BTreeMap<String, Value>) {
    match value {
        Value::Object(fields) if !fields.contains_key("type") => {
            for (key, child) in fields {
                let child_path = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                collect(child_path, child, found);
            }
        }
        _ => {
            found.insert(path, value.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rate_change_is_one_leaf() {
        let old = json!({"name": "Business EU", "taxation": {"method": "fixed_vat", "fixed_vat": {"rate_percent": "19", "inclusive": false}}});
        let new = json!({"name": "Business EU", "taxation": {"method": "fixed_vat", "fixed_vat": {"rate_percent": "20", "inclusive": false}}});
        assert_eq!(
            diff(&old, &new),
            vec![DiffEntry {
                path: "taxation.fixed_vat.rate_percent".into(),
                old: json!("19"),
                new: json!("20")
            }]
        );
    }

    #[test]
    fn lists_and_tagged_objects_are_single_leaves() {
        let old = json!({"r": {"payment_terms": {"type": "net", "days": 15}, "due_reminder_days": [7, 3]}});
        let new = json!({"r": {"payment_terms": {"type": "net", "days": 30}, "due_reminder_days": [7]}});
        let entries = diff(&old, &new);
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].path, "r.due_reminder_days");
        assert_eq!(entries[0].new, json!([7]));
        assert_eq!(entries[1].path, "r.payment_terms");
        assert_eq!(entries[1].old, json!({"type": "net", "days": 15}));
    }

    #[test]
    fn absent_side_counts_as_null() {
        let old = json!({"taxation": {"fixed_vat": null}});
        let new = json!({"taxation": {"fixed_vat": {"rate_percent": "19", "inclusive": false}}, "extra": null});
        let entries = diff(&old, &new);
        let paths: Vec<&str> = entries.iter().map(|entry| entry.path.as_str()).collect();
        assert_eq!(
            paths,
            ["taxation.fixed_vat.inclusive", "taxation.fixed_vat.rate_percent"]
        );
        assert_eq!(entries[1].old, Value::Null);
        assert_eq!(entries[1].new, json!("19"));
        assert!(diff(&new, &new).is_empty());
    }

    #[test]
    fn leaf_paths_descend_plain_objects_only() {
        let document = json!({"a": {"b": 1, "c": [1]}, "managed_by": {"type": "administrator"}});
        assert_eq!(leaf_paths(&document), ["a.b", "a.c", "managed_by"]);
    }
}
