//! Submitted `application/x-www-form-urlencoded` bodies, kept as the ordered list of pairs the browser sent, and
//! the query of an edit form.

use serde::Deserialize;

/// The query of an edit form: `?saved=1` after the redirect that follows a successful save.
#[derive(Debug, Deserialize)]
pub struct EditParams {
    saved: Option<u8>,
}

impl EditParams {
    pub fn saved(&self) -> bool {
        self.saved.is_some()
    }
}

#[derive(Debug, Clone, Default)]
pub struct FormData {
    pairs: Vec<(String, String)>,
}

impl FormData {
    pub fn parse(body: &[u8]) -> FormData {
        FormData {
            pairs: form_urlencoded::parse(body).into_owned().collect(),
        }
    }

    #[cfg(test)]
    pub fn from_pairs(pairs: Vec<(String, String)>) -> FormData {
        FormData { pairs }
    }

    /// The last value sent under `name`: a checked box comes after its hidden "false" twin.
    pub fn last(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Every value sent under `name`, in order (multi-select lists).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
            .collect()
    }

    /// The whole numbers sent under `name`; anything else is skipped, as no checkbox of ours sends it.
    pub fn ids(&self, name: &str) -> Vec<i64> {
        self.all(name).iter().filter_map(|v| v.trim().parse().ok()).collect()
    }
}
