//! The server's "now" for requests that carry no instant of their own (logins, web sessions). It is the
//! system clock, shifted by an offset that only a test moves: lock-outs and session expiry can then be tested
//! by passing time instead of sleeping through it.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use jiff::{SignedDuration, Timestamp};

#[derive(Debug, Clone, Default)]
pub struct Clock {
    ahead_us: Arc<AtomicI64>,
}

impl Clock {
    /// The system clock plus every [`Clock::advance`] so far.
    pub fn now(&self) -> Timestamp {
        let now = Timestamp::now();
        now.checked_add(SignedDuration::from_micros(self.ahead_us.load(Ordering::Relaxed)))
            .unwrap_or(now)
    }

    /// Moves this clock, and every clone of it, forward by `by`.
    pub fn advance(&self, by: SignedDuration) {
        let us = i64::try_from(by.as_micros()).unwrap_or(i64::MAX);
        self.ahead_us.fetch_add(us, Ordering::Relaxed);
    }
}
