//! Persistence for Classbill over SQLite and PostgreSQL.

mod checkpoints;
mod db;
mod error;
mod packed;
mod sqlite_params;

pub mod allocations;
pub mod audit;
pub mod billing_changes;
pub mod billing_runs;
pub mod catalog;
pub mod charges;
pub mod classes;
pub mod close;
pub mod collections;
pub mod instants;
pub mod invoice_documents;
pub mod invoices;
pub mod login_failures;
pub mod measurements;
pub mod oot;
pub mod outbox;
pub mod parties;
pub mod pdf_jobs;
pub mod periods;
pub mod refunds;
pub mod reports;
pub mod retention;
pub mod run_workers;
pub mod settings;
pub mod statistics;
pub mod users;
pub mod web_sessions;
pub mod webhooks;
pub mod xdr_partitions;
pub mod xdrs;

pub use db::{Arg, AssertSqlSafe, Backend, PoolLimits, Record, Store, Tx};
pub use error::StoreError;
