//! `generic_vat`: the choice of rate from the installation's VAT rate table and the party's tax attributes
//! (§5.5), then the tax as `fixed_vat` computes it.

use crate::percent::Percent;
use crate::rounding::ArithmeticError;

use super::{TaxBases, TaxError, TaxLine, fixed_vat};

/// A row of the installation-wide VAT rate table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VatRateRow {
    /// ISO 3166-1 alpha-2 code.
    pub country: String,
    pub rate_percent: Percent,
    /// A VAT zone such as `"EU"`, or none.
    pub zone: Option<String>,
}

/// The tax attributes of a party that the rate choice reads.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PartyTaxAttributes {
    pub country: Option<String>,
    pub tax_id: Option<String>,
    pub tax_registered: bool,
    pub tax_exempt: bool,
}

/// Which rule of the generic VAT choice matched, with what it yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VatDecision {
    /// Rule 1: the party is exempt; no tax line at all.
    Exempt,
    /// Rule 2: the party is in the home country (or has no country); the home rate applies.
    HomeRate { rate_percent: Percent },
    /// Rule 3: a registered business with a tax id in the home country's zone; rate 0, reverse charge.
    ReverseCharge { country: String },
    /// Rule 4: a party in the home country's zone; its own country's rate applies.
    ZoneRate { country: String, rate_percent: Percent },
    /// Rule 5: anywhere else; rate 0, outside the scope of VAT.
    OutsideScope { country: String },
}

impl VatDecision {
    /// The rate the decision applies; `None` when exempt.
    pub fn rate_percent(&self) -> Option<Percent> {
        match self {
            VatDecision::Exempt => None,
            VatDecision::HomeRate { rate_percent } | VatDecision::ZoneRate { rate_percent, .. } => Some(*rate_percent),
            VatDecision::ReverseCharge { .. } | VatDecision::OutsideScope { .. } => Some(Percent::from_units(0)),
        }
    }
}

fn row<'a>(table: &'a [VatRateRow], country: &str) -> Option<&'a VatRateRow> {
    table.iter().find(|row| row.country.eq_ignore_ascii_case(country))
}

/// Chooses the VAT treatment of a party; the first matching rule wins. A party country missing from the table
/// has no zone, so unless it is the home country it falls to rule 5.
pub fn choose_vat_rate(
    home_country: &str,
    party: &PartyTaxAttributes,
    table: &[VatRateRow],
) -> Result<VatDecision, TaxError> {
    if party.tax_exempt {
        return Ok(VatDecision::Exempt);
    }
    let home = row(table, home_country).ok_or_else(|| TaxError::UnknownHomeCountry(home_country.to_owned()))?;
    let country = match party.country.as_deref().map(str::trim) {
        None | Some("") => {
            return Ok(VatDecision::HomeRate {
                rate_percent: home.rate_percent,
            });
        }
        Some(country) => country,
    };
    if country.eq_ignore_ascii_case(home_country) {
        return Ok(VatDecision::HomeRate {
            rate_percent: home.rate_percent,
        });
    }
    let party_row = row(table, country);
    let same_zone = match (home.zone.as_deref(), party_row.and_then(|row| row.zone.as_deref())) {
        (Some(home_zone), Some(party_zone)) => home_zone == party_zone,
        _ => false,
    };
    let has_tax_id = party.tax_id.as_deref().is_some_and(|id| !id.trim().is_empty());
    Ok(match party_row {
        Some(_) if same_zone && party.tax_registered && has_tax_id => VatDecision::ReverseCharge {
            country: country.to_owned(),
        },
        Some(party_row) if same_zone => VatDecision::ZoneRate {
            country: country.to_owned(),
            rate_percent: party_row.rate_percent,
        },
        _ => VatDecision::OutsideScope {
            country: country.to_owned(),
        },
    })
}

/// The tax line of a generic VAT decision over `bases`, on top or inclusive; `None` when exempt. Reverse charge
/// and outside-scope lines have rate 0, tax 0 and amount 0, with their flag set.
pub fn generic_vat(
    decision: &VatDecision,
    bases: &TaxBases,
    inclusive: bool,
) -> Result<Option<TaxLine>, ArithmeticError> {
    let Some(rate) = decision.rate_percent() else {
        return Ok(None);
    };
    let mut line = fixed_vat(bases, rate, inclusive)?;
    line.reverse_charge = matches!(decision, VatDecision::ReverseCharge { .. });
    line.outside_scope = matches!(decision, VatDecision::OutsideScope { .. });
    Ok(Some(line))
}
