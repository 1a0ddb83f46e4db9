//! Collection schedules (customer-classes §5.8, §5.9): the dated events an invoice's policy plans from its due
//! date, computed once at issue and frozen with the invoice.

mod schedule;

pub use schedule::{ScheduleInput, WorkingDays, collection_schedule};

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use jiff::civil::Date;

/// One kind of scheduled event. The declaration order is the firing order of events due at the same instant
/// (§5.8 rule 2): reminders and charge requests first, then the rows of the §5.9 table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CollectionEvent {
    DueReminder,
    ChargeRequest,
    Resend,
    Overdue,
    LateFee,
    LimitationNotice,
    Limitation,
    SuspensionNotice,
    Suspension,
    TerminationNotice,
    Termination,
}

const NAMES: [(CollectionEvent, &str); 11] = [
    (CollectionEvent::DueReminder, "due_reminder"),
    (CollectionEvent::ChargeRequest, "charge_request"),
    (CollectionEvent::Resend, "resend"),
    (CollectionEvent::Overdue, "overdue"),
    (CollectionEvent::LateFee, "late_fee"),
    (CollectionEvent::LimitationNotice, "limitation_notice"),
    (CollectionEvent::Limitation, "limitation"),
    (CollectionEvent::SuspensionNotice, "suspension_notice"),
    (CollectionEvent::Suspension, "suspension"),
    (CollectionEvent::TerminationNotice, "termination_notice"),
    (CollectionEvent::Termination, "termination"),
];

impl CollectionEvent {
    pub fn as_str(self) -> &'static str {
        NAMES
            .iter()
            .find(|(event, _)| *event == self)
            .map_or("", |(_, name)| name)
    }

    /// Position in the firing order of events due at the same instant.
    pub fn firing_rank(self) -> i64 {
        self as i64
    }
}

impl fmt::Display for CollectionEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CollectionEvent {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        NAMES
            .iter()
            .find(|(_, name)| *name == text)
            .map(|(event, _)| *event)
            .ok_or_else(|| format!("unknown collection event `{text}`"))
    }
}

/// The state an item starts in: due for a run, or dropped at once because a later step supersedes it
/// (§5.9 rule 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitialState {
    Pending,
    Dropped,
}

impl InitialState {
    pub fn as_str(self) -> &'static str {
        match self {
            InitialState::Pending => "pending",
            InitialState::Dropped => "dropped",
        }
    }
}

/// One planned event: its local date and the instant it becomes due (that date's local midnight).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleItem {
    pub event: CollectionEvent,
    pub date: Date,
    pub due_at: Timestamp,
    pub state: InitialState,
}
