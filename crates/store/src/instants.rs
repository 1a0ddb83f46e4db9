//! Instants are stored as microseconds since the Unix epoch on both backends.

use jiff::Timestamp;

use crate::StoreError;

pub fn to_micros(at: Timestamp) -> i64 {
    at.as_microsecond()
}

pub fn from_micros(us: i64) -> Result<Timestamp, StoreError> {
    Timestamp::from_microsecond(us).map_err(|e| StoreError::Corrupt(format!("instant {us}: {e}")))
}
