//! Fuzz targets: each module's `check(data)` feeds arbitrary bytes to one of Classbill's input paths and
//! panics only when the project code does. A rejected input is the expected outcome; a panic, an overflow or
//! a hang is a finding.
//!
//! The targets run under libFuzzer (`fuzz_targets/`, nightly) and under the stable driver (`src/bin/run.rs`).

pub mod class_document;
pub mod invoice_template;
pub mod money;
pub mod notification_template;
pub mod xdr_csv;

mod installation;
mod structured;

/// A target: its name (also its corpus directory) and its entry point.
pub struct Target {
    pub name: &'static str,
    pub check: fn(&[u8]),
}

/// Every target, in the order the driver runs them.
pub const TARGETS: &[Target] = &[
    Target {
        name: "xdr_csv",
        check: xdr_csv::check,
    },
    Target {
        name: "money",
        check: money::check,
    },
    Target {
        name: "class_document",
        check: class_document::check,
    },
    Target {
        name: "invoice_template",
        check: invoice_template::check,
    },
    Target {
        name: "notification_template",
        check: notification_template::check,
    },
];
