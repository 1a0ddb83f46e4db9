use classbill_domain::FieldError;
use classbill_store::StoreError;

/// Why a use case did not happen. The HTTP edge turns each variant into its status and problem document.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Missing, or invisible to the acting user (§1.5: both answer 404).
    #[error("{0}")]
    NotFound(String),
    /// Visible but not permitted; `errors` name the field when one is to blame.
    #[error("{message}")]
    Forbidden { message: String, errors: Vec<FieldError> },
    /// One or more rules failed; every violation is listed.
    #[error("the request is invalid")]
    Invalid(Vec<FieldError>),
    /// A state conflict: stale revision, protected or referenced object, duplicate key.
    #[error("{message}")]
    Conflict {
        code: String,
        message: String,
        errors: Vec<FieldError>,
    },
    /// A write that needs `If-Match` came without it.
    #[error("{0}")]
    PreconditionRequired(String),
    #[error("authentication required")]
    Unauthenticated,
    /// A service the request depends on failed (the external tax engine); `code` names the failure.
    #[error("{message}")]
    Upstream { code: String, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl EngineError {
    pub fn invalid(field: &str, code: &str, message: impl Into<String>) -> Self {
        EngineError::Invalid(vec![FieldError::new(field, code, message)])
    }

    pub fn conflict(code: &str, message: impl Into<String>) -> Self {
        EngineError::Conflict {
            code: code.to_owned(),
            message: message.into(),
            errors: Vec::new(),
        }
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        EngineError::Forbidden {
            message: message.into(),
            errors: Vec::new(),
        }
    }
}

impl From<serde_json::Error> for EngineError {
    fn from(e: serde_json::Error) -> Self {
        EngineError::Store(StoreError::from(e))
    }
}

pub type EngineResult<T> = Result<T, EngineError>;
