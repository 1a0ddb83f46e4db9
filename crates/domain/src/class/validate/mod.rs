//! The validation rules of §3 that need no acting user and no uniqueness query, plus the save warnings.
//!
//! Rules run on the document as submitted (before [`normalize`](super::normalize)), so a `[i]` in a field is
//! the index in the submitted list. Every violation is reported. V2 (unique name), the owner checks of V5 that
//! need the acting user, V33 and V34 belong to the caller.

mod general;
mod header;
mod invoices;
mod references;
mod taxation;
mod warnings;

use std::collections::BTreeSet;
use std::ops::RangeInclusive;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::context::{ClassContext, ReferencedObject};
use super::document::ClassSettings;
use crate::field_error::FieldError;
use crate::owner::Owner;

/// Blocking errors and non-blocking warnings of one save or preview.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
pub struct Validation {
    pub errors: Vec<FieldError>,
    pub warnings: Vec<FieldError>,
}

impl Validation {
    pub fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }
}

/// Checks a submitted document against the stored class and the referenced objects.
pub fn validate(settings: &ClassSettings, ctx: &ClassContext) -> Validation {
    let mut report = Validation::default();
    header::check(settings, ctx, &mut report);
    general::check(settings, &mut report);
    invoices::check(settings, ctx, &mut report);
    taxation::check(settings, ctx, &mut report);
    references::check(settings, ctx, &mut report);
    warnings::check(settings, ctx, &mut report);
    report
}

impl Validation {
    fn error(&mut self, field: impl Into<String>, code: &str, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, code, message));
    }

    fn warning(&mut self, field: impl Into<String>, code: &str, message: impl Into<String>) {
        self.warnings.push(FieldError::new(field, code, message));
    }

    /// `out_of_range` unless `value` lies in `range`.
    fn in_range(&mut self, field: impl Into<String>, value: i64, range: RangeInclusive<i64>) -> bool {
        let inside = range.contains(&value);
        if !inside {
            self.error(field, "out_of_range", between(&range));
        }
        inside
    }

    /// A day list: each item in `range` (reported at `field[i]`), at most `limit` distinct items.
    fn day_list(&mut self, field: &str, days: &[i64], range: RangeInclusive<i64>, limit: usize) {
        for (index, day) in days.iter().enumerate() {
            self.in_range(format!("{field}[{index}]"), *day, range.clone());
        }
        self.list_limit(field, distinct(days), limit, "days");
    }

    fn list_limit(&mut self, field: &str, count: usize, limit: usize, what: &str) {
        if count > limit {
            self.error(
                field,
                "too_many",
                format!("at most {limit} different {what} are allowed"),
            );
        }
    }
}

fn between(range: &RangeInclusive<i64>) -> String {
    format!("must be between {} and {}", range.start(), range.end())
}

fn distinct(items: &[i64]) -> usize {
    items.iter().collect::<BTreeSet<_>>().len()
}

/// `1 day`, `15 days`.
fn days(count: i64) -> String {
    if count == 1 {
        "1 day".to_owned()
    } else {
        format!("{count} days")
    }
}

/// True when the object exists and a class of `owner` may use it (V32).
fn usable(object: Option<&ReferencedObject>, owner: Owner) -> bool {
    object.is_some_and(|object| object.is_visible_to(owner))
}
