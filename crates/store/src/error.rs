#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database URL {0}: use sqlite://PATH (the embedded default) or postgres://USER@HOST/DATABASE")]
    UnsupportedUrl(String),
    #[error("cannot open the database {0}")]
    Connect(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("schema migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// A row that a write refers to was deleted by another transaction before the write could lock it.
    #[error("{0} was removed while this write was prepared")]
    Removed(String),
}

impl StoreError {
    /// True when a unique index refused the write (a concurrent insert of the same key).
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, StoreError::Database(sqlx::Error::Database(e)) if e.is_unique_violation())
    }

    /// True when every pooled connection stayed busy for the whole acquire timeout: the database is overloaded
    /// for the moment, not broken, so the request may be retried shortly.
    pub fn is_pool_timeout(&self) -> bool {
        matches!(self, StoreError::Database(sqlx::Error::PoolTimedOut))
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}
