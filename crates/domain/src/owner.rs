use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Who manages an object: the operator's administrators or one reseller (at any depth of the reseller tree).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Owner {
    Administrator,
    Reseller { reseller_id: i64 },
}

impl Owner {
    /// The reseller id, or `None` for the administrator; this is how owners are stored.
    pub fn reseller_id(self) -> Option<i64> {
        match self {
            Owner::Administrator => None,
            Owner::Reseller { reseller_id } => Some(reseller_id),
        }
    }

    pub fn from_reseller_id(reseller_id: Option<i64>) -> Self {
        match reseller_id {
            None => Owner::Administrator,
            Some(reseller_id) => Owner::Reseller { reseller_id },
        }
    }
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Owner::Administrator => f.write_str("the administrator"),
            Owner::Reseller { reseller_id } => write!(f, "reseller {reseller_id}"),
        }
    }
}
