//! Class documents parsed once per stored text. A customer read and an effective-settings read need their class's
//! settings, and parsing the class document (several kilobytes of JSON) was the largest single cost of both.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use classbill_domain::class::ClassSettings;

use crate::error::EngineResult;

/// Parsed documents kept at most; when full, the cache starts over. Far more than the classes an installation
/// reads often, and small next to the memory a server has.
const CAPACITY: usize = 2048;

/// The parsed settings of each class, beside the exact text they were parsed from. An entry is used only when
/// the text read in the current transaction is the same, so a change committed by any process is seen on the
/// next read without telling the cache; and a class id that SQLite hands out again after a delete cannot
/// inherit the settings of the class it replaced.
#[derive(Debug, Default)]
pub(crate) struct ParsedClasses {
    by_class: Mutex<HashMap<i64, Arc<Parsed>>>,
}

#[derive(Debug)]
struct Parsed {
    document: String,
    settings: Arc<ClassSettings>,
}

impl ParsedClasses {
    /// The settings stored as `document` for class `id`, parsed at most once while the text stays the same.
    pub(crate) fn settings(&self, id: i64, document: &str) -> EngineResult<Arc<ClassSettings>> {
        if let Some(parsed) = self.lock().get(&id).cloned()
            && parsed.document == document
        {
            return Ok(Arc::clone(&parsed.settings));
        }
        let settings: Arc<ClassSettings> = Arc::new(serde_json::from_str(document)?);
        let parsed = Arc::new(Parsed {
            document: document.to_owned(),
            settings: Arc::clone(&settings),
        });
        let mut by_class = self.lock();
        if by_class.len() >= CAPACITY {
            by_class.clear();
        }
        by_class.insert(id, parsed);
        Ok(settings)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Arc<Parsed>>> {
        // Every change is one insert or one clear, so the map is whole even after a panic elsewhere.
        self.by_class.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document(name: &str) -> String {
        let settings: ClassSettings = serde_json::from_value(serde_json::json!({"name": name})).unwrap();
        serde_json::to_string(&settings).unwrap()
    }

    #[test]
    fn a_changed_document_is_parsed_again() {
        let cache = ParsedClasses::default();
        let first = cache.settings(7, &document("Gold")).unwrap();
        let again = cache.settings(7, &document("Gold")).unwrap();
        assert!(Arc::ptr_eq(&first, &again), "the same text is parsed once");
        let renamed = cache.settings(7, &document("Platinum")).unwrap();
        assert_eq!(renamed.name, "Platinum");
        assert_eq!(cache.settings(8, &document("Gold")).unwrap().name, "Gold");
    }

    #[test]
    fn a_document_that_does_not_parse_is_an_error_and_not_kept() {
        let cache = ParsedClasses::default();
        assert!(cache.settings(7, "{").is_err());
        assert!(cache.lock().is_empty());
    }
}
