//! Reading many rows at once as one JSON document. The database builds an array of arrays, one per row with its
//! columns in order, and answers it as a single value. The driver's price is per row and per column (a copy of
//! every value and, on SQLite, a hand-over between threads): the import read ~10,000 parties per batch at 12 µs
//! each this way in rows, while building and parsing the document costs a small part of that. For the bulk reads
//! of the hot paths only; a row type read so must deserialize from a JSON array in its column order.

use std::fmt;

use serde::de::{self, DeserializeOwned, Deserializer, Visitor};

use crate::{Arg, AssertSqlSafe, Backend, StoreError, Tx};

/// `SELECT <the rows of columns> {from}`: `from` holds the FROM and WHERE clauses; the order of the rows is not
/// kept, callers sort what they need sorted.
pub(crate) async fn fetch_packed<T: DeserializeOwned>(
    tx: &mut Tx,
    columns: &str,
    from: &str,
    args: Vec<Arg>,
) -> Result<Vec<T>, StoreError> {
    let sql = match tx.backend() {
        Backend::Sqlite => format!("SELECT json_group_array(json_array({columns})) {from}"),
        Backend::Postgres => format!("SELECT COALESCE(json_agg(json_build_array({columns}))::text, '[]') {from}"),
    };
    let (document,): (String,) = tx.fetch_one(AssertSqlSafe(sql), args).await?;
    serde_json::from_str(&document).map_err(|e| StoreError::Corrupt(format!("a packed read of ({columns}): {e}")))
}

/// A boolean column: PostgreSQL's JSON has `true` and `false`, SQLite stores booleans as 0 and 1.
pub(crate) fn flag<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    deserializer.deserialize_any(FlagVisitor)
}

/// A boolean column that may be NULL.
pub(crate) fn maybe_flag<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<bool>, D::Error> {
    deserializer.deserialize_option(MaybeFlagVisitor)
}

struct FlagVisitor;

impl Visitor<'_> for FlagVisitor {
    type Value = bool;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("true, false, 0 or 1")
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<bool, E> {
        Ok(value)
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<bool, E> {
        match value {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(E::invalid_value(de::Unexpected::Unsigned(value), &self)),
        }
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<bool, E> {
        Err(E::invalid_value(de::Unexpected::Signed(value), &self))
    }
}

struct MaybeFlagVisitor;

impl<'de> Visitor<'de> for MaybeFlagVisitor {
    type Value = Option<bool>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("null, true, false, 0 or 1")
    }

    fn visit_none<E: de::Error>(self) -> Result<Option<bool>, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<bool>, D::Error> {
        flag(deserializer).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Row(i64, #[serde(deserialize_with = "flag")] bool);

    #[derive(Debug, serde::Deserialize)]
    struct MaybeRow(i64, #[serde(deserialize_with = "maybe_flag")] Option<bool>);

    #[test]
    fn flags_read_from_both_backends_spellings() {
        for (text, value) in [
            ("[7,true]", true),
            ("[7,false]", false),
            ("[7,1]", true),
            ("[7,0]", false),
        ] {
            let row: Row = serde_json::from_str(text).unwrap();
            assert_eq!((row.0, row.1), (7, value), "{text}");
        }
        for text in ["[7,2]", "[7,-1]", "[7,\"1\"]", "[7,null]"] {
            assert!(serde_json::from_str::<Row>(text).is_err(), "{text}");
        }
        for (text, value) in [("[7,null]", None), ("[7,true]", Some(true)), ("[7,0]", Some(false))] {
            let row: MaybeRow = serde_json::from_str(text).unwrap();
            assert_eq!((row.0, row.1), (7, value), "{text}");
        }
        assert!(serde_json::from_str::<MaybeRow>("[7,3]").is_err());
    }
}
