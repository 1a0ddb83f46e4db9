//! Facts about the rest of the installation that validation needs; the caller gathers them from the store.

use std::collections::{BTreeMap, BTreeSet};

use super::enums::{BusinessModel, TaxScope};
use crate::currency::Currency;
use crate::owner::Owner;

/// Everything [`validate`](crate::class::validate()) needs beyond the document itself.
#[derive(Debug, Clone, Default)]
pub struct ClassContext {
    /// The class as stored; `None` on create.
    pub stored: Option<StoredClass>,
    /// Currencies enabled on the installation; `None` = every ISO 4217 code.
    pub enabled_currencies: Option<BTreeSet<String>>,
    /// Every existing invoice template the document references, by id.
    pub templates: BTreeMap<i64, ReferencedObject>,
    /// Every existing notification set the document references, by id.
    pub notification_sets: BTreeMap<i64, ReferencedObject>,
    /// Every existing custom tax the document references, by id.
    pub custom_taxes: BTreeMap<i64, ReferencedTax>,
    /// Countries present in the VAT rate table (ISO 3166-1 alpha-2).
    pub vat_countries: BTreeSet<String>,
    /// Names of the secrets stored for the class owner.
    pub secrets: BTreeSet<String>,
    /// Every existing custom-field definition the document enables, by id.
    pub custom_fields: BTreeMap<i64, ReferencedCustomField>,
    /// Currencies of the class's current members.
    pub member_currencies: BTreeSet<Currency>,
}

/// The stored facts that the immutability rules compare against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredClass {
    pub is_default: bool,
    pub name: String,
    pub currency: Option<Currency>,
    pub managed_by: Owner,
    pub business_model: BusinessModel,
    pub member_count: u64,
}

/// Ownership of an object a class points at (template, notification set, custom tax).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReferencedObject {
    pub owner: Owner,
    pub shared: bool,
}

impl ReferencedObject {
    /// Usable by a class of `class_owner`: its own objects and shared administrator objects (§1.5).
    pub fn is_visible_to(self, class_owner: Owner) -> bool {
        self.owner == class_owner || (self.owner == Owner::Administrator && self.shared)
    }
}

/// A custom tax with its scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReferencedTax {
    pub object: ReferencedObject,
    pub scope: TaxScope,
}

/// A custom-field definition and how many members lack a value for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferencedCustomField {
    pub key: String,
    pub mandatory: bool,
    pub has_default: bool,
    pub members_without_value: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visibility_follows_section_1_5() {
        let reseller = Owner::Reseller { reseller_id: 7 };
        let other = Owner::Reseller { reseller_id: 8 };
        let own = ReferencedObject {
            owner: reseller,
            shared: false,
        };
        let shared_admin = ReferencedObject {
            owner: Owner::Administrator,
            shared: true,
        };
        let private_admin = ReferencedObject {
            owner: Owner::Administrator,
            shared: false,
        };
        let shared_foreign = ReferencedObject {
            owner: other,
            shared: true,
        };
        assert!(own.is_visible_to(reseller));
        assert!(shared_admin.is_visible_to(reseller));
        assert!(!private_admin.is_visible_to(reseller));
        assert!(private_admin.is_visible_to(Owner::Administrator));
        assert!(!shared_foreign.is_visible_to(reseller));
    }
}
