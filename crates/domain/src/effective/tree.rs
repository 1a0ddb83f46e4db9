//! The effective document: leaves with their sources, in objects that keep their key order.

use super::*;

/// The rules of §4 that force an effective value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// `taxation.tax_timing` is `end_of_period` for postpaid customers and all resellers.
    PostpaidTaxedAtClose,
    /// A stored `statistics_email` override shows `none` while the class has `archive_xdrs` off.
    StatisticsDisabled,
    /// `regular_invoices.enabled` is false for postpaid members of a `billed_externally` class.
    BilledExternally,
    /// A tax-exempt party is taxed by no method.
    TaxExempt,
    /// `concurrent_calls` is never charged to a reseller.
    NotForResellers,
    /// A template or e-mail override has no effect while the class tab is disabled.
    TabDisabled,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::PostpaidTaxedAtClose => "postpaid_taxed_at_close",
            Rule::StatisticsDisabled => "statistics_disabled",
            Rule::BilledExternally => "billed_externally",
            Rule::TaxExempt => "tax_exempt",
            Rule::NotForResellers => "not_for_resellers",
            Rule::TabDisabled => "tab_disabled",
        }
    }
}

/// Where an effective value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum Source {
    Class { class_id: i64, class_revision: i64 },
    Party,
    Owner,
    Rule { rule: Rule },
    Installation,
}

/// One effective value with its origin: `{"value": …, "source": …}` plus `class_id`/`class_revision` or `rule`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Leaf {
    pub value: Value,
    #[serde(flatten)]
    pub source: Source,
}

impl Leaf {
    pub fn new(value: impl Into<Value>, source: Source) -> Leaf {
        Leaf {
            value: value.into(),
            source,
        }
    }
}

/// A position in the effective document: a leaf, or an object of further positions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Node {
    Leaf(Leaf),
    Branch(Branch),
}

/// An object of the effective document; keys keep the order in which they were added.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Branch {
    entries: Vec<(String, Node)>,
}

impl Serialize for Branch {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.entries.len()))?;
        for (key, node) in &self.entries {
            map.serialize_entry(key, node)?;
        }
        map.end()
    }
}

impl Branch {
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, node)| node)
    }

    /// The node at a dotted path such as `regular_invoices.collection.late_fee`.
    pub fn node(&self, path: &str) -> Option<&Node> {
        let mut parts = path.split('.');
        let mut node = self.get(parts.next()?)?;
        for part in parts {
            match node {
                Node::Branch(branch) => node = branch.get(part)?,
                Node::Leaf(_) => return None,
            }
        }
        Some(node)
    }

    /// The leaf at a dotted path.
    pub fn leaf(&self, path: &str) -> Option<&Leaf> {
        match self.node(path)? {
            Node::Leaf(leaf) => Some(leaf),
            Node::Branch(_) => None,
        }
    }

    /// Every leaf under this object with its dotted path, in document order.
    pub fn leaves(&self) -> Vec<(String, &Leaf)> {
        let mut found = Vec::new();
        self.collect_leaves("", &mut found);
        found
    }

    fn collect_leaves<'a>(&'a self, prefix: &str, found: &mut Vec<(String, &'a Leaf)>) {
        for (key, node) in &self.entries {
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            match node {
                Node::Leaf(leaf) => found.push((path, leaf)),
                Node::Branch(branch) => branch.collect_leaves(&path, found),
            }
        }
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(key, _)| key.as_str())
    }

    /// Adds `key` at the end, or replaces what is there.
    pub fn insert(&mut self, key: impl Into<String>, node: Node) {
        let key = key.into();
        match self.entries.iter_mut().find(|(k, _)| *k == key) {
            Some((_, existing)) => *existing = node,
            None => self.entries.push((key, node)),
        }
    }

    /// Puts `leaf` at a dotted path, creating the objects on the way.
    pub fn set(&mut self, path: &str, leaf: Leaf) {
        match path.split_once('.') {
            None => self.insert(path, Node::Leaf(leaf)),
            Some((head, rest)) => {
                if !matches!(self.get(head), Some(Node::Branch(_))) {
                    self.insert(head, Node::Branch(Branch::default()));
                }
                if let Some((_, Node::Branch(branch))) = self.entries.iter_mut().find(|(k, _)| k == head) {
                    branch.set(rest, leaf);
                }
            }
        }
    }
}

/// The effective settings of one party (`GET /customers/{id}/effective-settings`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EffectiveSettings {
    pub class_id: i64,
    pub class_name: String,
    pub class_revision: i64,
    pub computed_at: Timestamp,
    /// The merged document: the class tabs, `time_zone` and `installation`.
    #[serde(flatten)]
    pub settings: Branch,
}

impl EffectiveSettings {
    /// The leaf at a dotted path of the merged document.
    pub fn leaf(&self, path: &str) -> Option<&Leaf> {
        self.settings.leaf(path)
    }
}
