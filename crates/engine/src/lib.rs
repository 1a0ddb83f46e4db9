//! Classbill's use cases. Each is one method of [`Engine`] taking the acting user and the instant it acts
//! at, so the HTTP API, the CLI and the scheduler run the same code.

mod actor;
mod assignment;
mod audit;
mod auth;
mod body;
mod bootstrap;
pub mod catalog;
pub mod charges;
pub mod classes;
pub mod close;
pub mod collections;
pub mod credit_notes;
pub mod documents;
pub mod effective;
mod error;
pub mod installation;
mod lanes;
pub mod ledger;
mod login_limits;
pub mod measurements;
pub mod notifications;
mod oot;
mod page;
pub mod parties;
pub mod payments;
pub mod reports;
pub mod retention;
mod secrets;
pub mod users;
pub mod workers;

pub use actor::{Actor, Role};
pub use audit::AuditEntry;
pub use auth::{NewUserRole, TOKEN_CACHE_TTL, WEB_SESSION_HOURS, WebSession, login_form_token, new_login_form_id};
pub use classbill_store::invoices::Series;
pub use close::{
    BillingRunSummary, BillingRunView, CloseOptions, CloseProgress, CloseStage, DEFAULT_BATCH_SIZE, InvoiceListFilter,
    InvoiceView, SequenceView,
};
pub use documents::InvoicePdf;
pub use error::{EngineError, EngineResult};
pub use ledger::{ImportOutcome, ImportRow, IngestMemo, PeriodView, RejectedRow, XdrListFilter, XdrText, XdrView};
pub use login_limits::PasswordLogin;
pub use page::{DEFAULT_LIMIT, MAX_LIMIT, Page, PageRequest};
pub use parties::{
    CustomerView, MemberItem, MemberOutcome, MemberOutcomeKind, NewCustomer, NewReseller, PartyListFilter,
    PartyOverrides, ResellerView,
};
pub use payments::{AllocationSource, AllocationView, PaymentAllocation, PaymentResult};

use classbill_store::Store;

#[derive(Debug, Clone)]
pub struct Engine {
    pub store: Store,
    /// Bearer tokens verified recently; shared by the clones of one engine.
    tokens: std::sync::Arc<auth::TokenCache>,
    /// Class documents parsed once per stored text, for the reads that need a class's settings.
    parsed_classes: std::sync::Arc<classes::ParsedClasses>,
    /// The installation values of the effective settings, kept while the stored settings stay the same.
    installation_values: std::sync::Arc<effective::InstallationValuesCache>,
    /// Merged effective settings of recently read parties, each beside what it was merged from.
    merged_settings: std::sync::Arc<effective::MergedSettingsCache>,
}

impl Engine {
    pub fn new(store: Store) -> Self {
        Engine {
            store,
            tokens: Default::default(),
            parsed_classes: Default::default(),
            installation_values: Default::default(),
            merged_settings: Default::default(),
        }
    }
}
