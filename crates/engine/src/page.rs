//! Keyset pagination: `?limit=` (default 50, at most 1000) and an opaque `?cursor=`.

use serde::Serialize;

use crate::error::{EngineError, EngineResult};

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 1000;

#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    pub limit: i64,
    pub cursor: Option<String>,
}

impl PageRequest {
    pub fn new(limit: Option<i64>, cursor: Option<String>) -> EngineResult<Self> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(EngineError::invalid(
                "limit",
                "out_of_range",
                format!("must be between 1 and {MAX_LIMIT}"),
            ));
        }
        Ok(PageRequest {
            limit,
            cursor: cursor.filter(|c| !c.is_empty()),
        })
    }

    /// The cursor's text, decoded from its opaque hex form.
    pub fn cursor_text(&self) -> EngineResult<Option<String>> {
        self.cursor
            .as_deref()
            .map(|c| {
                hex::decode(c)
                    .ok()
                    .and_then(|bytes| String::from_utf8(bytes).ok())
                    .ok_or_else(|| EngineError::invalid("cursor", "invalid", "not a cursor from a previous page"))
            })
            .transpose()
    }

    /// For lists ordered by id alone.
    pub fn cursor_id(&self) -> EngineResult<Option<i64>> {
        self.cursor_text()?
            .map(|t| {
                t.parse::<i64>()
                    .map_err(|_| EngineError::invalid("cursor", "invalid", "not a cursor from a previous page"))
            })
            .transpose()
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// `rows` was fetched with `limit + 1` so a following page can be detected without counting.
    pub fn from_rows(mut rows: Vec<T>, limit: i64, cursor_of: impl Fn(&T) -> String) -> Self {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let next_cursor = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(|last| hex::encode(cursor_of(last)))
        } else {
            None
        };
        Page {
            items: rows,
            next_cursor,
        }
    }
}
