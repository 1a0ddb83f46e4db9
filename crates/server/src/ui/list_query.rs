//! The query parameters of the list pages: empty form fields mean "no filter", a filter the engine refuses is
//! shown above an empty table instead of failing the page.

use classbill_domain::FieldError;
use classbill_engine::{EngineError, Page};

/// A trimmed form value, or none when the field was left empty.
pub(super) fn non_empty(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// The `party_id` filter: empty is none; anything but an id becomes an error shown on the page.
pub(super) fn party_filter(text: &str, errors: &mut Vec<FieldError>) -> Option<i64> {
    match non_empty(text).map(|p| p.parse::<i64>()) {
        Some(Ok(id)) => Some(id),
        Some(Err(_)) => {
            errors.push(FieldError::new("party_id", "invalid", "must be a party id"));
            None
        }
        None => None,
    }
}

/// The rows of a page and its next cursor; the field errors of a refused filter join `errors` with no rows.
/// Any other failure is the caller's to show as an error page.
pub(super) fn rows_or_errors<T>(
    found: Result<Page<T>, EngineError>,
    errors: &mut Vec<FieldError>,
) -> Result<(Vec<T>, Option<String>), EngineError> {
    match found {
        Ok(page) => Ok((page.items, page.next_cursor)),
        Err(EngineError::Invalid(found)) => {
            errors.extend(found);
            Ok((Vec::new(), None))
        }
        Err(e) => Err(e),
    }
}
