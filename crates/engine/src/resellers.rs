//! Resellers: parties that own customers, subresellers and classes. Each new reseller gets its protected
//! Default class in the same transaction (§1.2).

use classbill_domain::{Currency, FieldError, Owner};
use classbill_store::parties::{self, NewParty, PartyRow};
use classbill_store::{Tx, instants, settings};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::actor::{Actor, Role};
use crate::assignment::class_for_party;
use crate::audit::{self, Change};
use crate::classes::write::insert_default_class;
use crate::error::{EngineError, EngineResult};
use crate::page::{Page, PageRequest};

pub const BILLING_PERIODS: &[&str] = &[
    "daily",
    "weekly",
    "semimonthly",
    "monthly",
    "monthly_anniversary",
    "thirty_days",
];

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReseller {
    pub name: String,
    pub currency: Option<String>,
    pub parent_reseller_id: Option<i64>,
    pub class_id: Option<i64>,
    pub billing_period: Option<String>,
    pub time_zone: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub activated_at: Option<Timestamp>,
    /// The instant the creation acts at; `activated_at` defaults to it.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub as_of: Option<Timestamp>,
    pub country: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub tax_id: Option<String>,
    #[serde(default)]
    pub tax_registered: bool,
    #[serde(default)]
    pub tax_exempt: bool,
    pub tax_exemption_reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ResellerView {
    pub id: i64,
    pub name: String,
    pub currency: String,
    pub parent_reseller_id: Option<i64>,
    pub class_id: i64,
    /// The Default class this reseller's own customers get.
    pub default_class_id: Option<i64>,
    pub billing_period: String,
    pub time_zone: String,
    #[schema(value_type = String, format = DateTime)]
    pub activated_at: Timestamp,
    pub country: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub tax_id: Option<String>,
    pub tax_registered: bool,
    pub tax_exempt: bool,
    pub tax_exemption_reason: Option<String>,
    pub status: String,
    pub custom_fields: serde_json::Value,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

async fn view(tx: &mut Tx, row: PartyRow) -> EngineResult<ResellerView> {
    let default_class_id = classbill_store::classes::default_of(tx, Some(row.id))
        .await?
        .map(|c| c.id);
    Ok(ResellerView {
        id: row.id,
        name: row.name,
        currency: row.currency,
        parent_reseller_id: row.owner_reseller_id,
        class_id: row.class_id,
        default_class_id,
        billing_period: row.billing_period,
        time_zone: row.time_zone,
        activated_at: instants::from_micros(row.activated_at)?,
        country: row.country,
        email: row.email,
        phone: row.phone,
        tax_id: row.tax_id,
        tax_registered: row.tax_registered,
        tax_exempt: row.tax_exempt,
        tax_exemption_reason: row.tax_exemption_reason,
        status: row.status,
        custom_fields: serde_json::from_str(&row.custom_fields)?,
        created_at: instants::from_micros(row.created_at)?,
    })
}

/// The zone a new party of `owner` gets when none is given (§4).
async fn owner_time_zone(tx: &mut Tx, owner: Owner) -> EngineResult<String> {
    if let Owner::Reseller { reseller_id } = owner
        && let Some(parent) = parties::get(tx, reseller_id).await?
    {
        return Ok(parent.time_zone);
    }
    Ok(settings::get(tx, "time_zone")
        .await?
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "UTC".to_owned()))
}

fn check_fields(r: &NewReseller, errors: &mut Vec<FieldError>) {
    let name = r.name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        errors.push(FieldError::new("name", "invalid_length", "must be 1 to 100 characters"));
    }
    if let Some(period) = &r.billing_period
        && !BILLING_PERIODS.contains(&period.as_str())
    {
        errors.push(FieldError::new(
            "billing_period",
            "invalid",
            format!("unknown billing period {period:?}"),
        ));
    }
    if let Some(zone) = &r.time_zone
        && jiff::tz::TimeZone::get(zone).is_err()
    {
        errors.push(FieldError::new(
            "time_zone",
            "unknown_time_zone",
            format!("{zone} is not an IANA time zone"),
        ));
    }
    if let Some(country) = &r.country
        && (country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()))
    {
        errors.push(FieldError::new(
            "country",
            "invalid",
            "must be an ISO 3166-1 alpha-2 code such as DE",
        ));
    }
    if r.tax_id.as_ref().is_some_and(|t| t.chars().count() > 64) {
        errors.push(FieldError::new(
            "tax_id",
            "out_of_range",
            "must be at most 64 characters",
        ));
    }
    if r.tax_exemption_reason.as_ref().is_some_and(|t| t.chars().count() > 200) {
        errors.push(FieldError::new(
            "tax_exemption_reason",
            "out_of_range",
            "must be at most 200 characters",
        ));
    }
    if let Some(email) = &r.email
        && !(email.contains('@') && email.len() <= 254 && !email.chars().any(char::is_whitespace))
    {
        errors.push(FieldError::new("email", "invalid", "must be a valid e-mail address"));
    }
}

impl crate::Engine {
    pub async fn create_reseller(&self, actor: &Actor, r: NewReseller, now: Timestamp) -> EngineResult<ResellerView> {
        let mut errors = Vec::new();
        check_fields(&r, &mut errors);
        if let Some(code) = &r.currency
            && Currency::parse(code).is_none()
        {
            errors.push(FieldError::new(
                "currency",
                "unknown_currency",
                format!("currency {code} is not enabled"),
            ));
        }
        if !errors.is_empty() {
            return Err(EngineError::Invalid(errors));
        }
        let owner = Owner::from_reseller_id(r.parent_reseller_id);
        // A reseller user creates subresellers under its own reseller only.
        if let Role::Reseller(own) = actor.role
            && r.parent_reseller_id != Some(own)
        {
            return Err(EngineError::invalid(
                "parent_reseller_id",
                "forbidden_owner",
                format!("reseller users create subresellers of reseller {own} only"),
            ));
        }
        let mut tx = self.store.write().await?;
        if let Some(parent) = r.parent_reseller_id {
            let exists = parties::get(&mut tx, parent)
                .await?
                .is_some_and(|p| p.kind == "reseller");
            if !exists {
                return Err(EngineError::invalid(
                    "parent_reseller_id",
                    "not_found",
                    format!("reseller {parent} not found"),
                ));
            }
        }
        let class = class_for_party(&mut tx, actor, r.class_id, owner, "reseller", r.currency.as_deref()).await?;
        let class_currency = crate::classes::settings_of(&class)?.currency;
        let currency = match (&r.currency, class_currency) {
            (Some(c), _) => c.clone(),
            (None, Some(c)) => c.as_str().to_owned(),
            (None, None) => {
                return Err(EngineError::invalid(
                    "currency",
                    "required",
                    format!("class {} has no currency, so the reseller needs one", class.id),
                ));
            }
        };
        let time_zone = match &r.time_zone {
            Some(zone) => zone.clone(),
            None => owner_time_zone(&mut tx, owner).await?,
        };
        let activated_at = r.activated_at.or(r.as_of).unwrap_or(now);
        let id = parties::insert(
            &mut tx,
            NewParty {
                kind: "reseller",
                owner_reseller_id: r.parent_reseller_id,
                name: r.name.trim().to_owned(),
                currency,
                class_id: class.id,
                billing_period: r.billing_period.clone().unwrap_or_else(|| "monthly".to_owned()),
                time_zone,
                activated_at: instants::to_micros(activated_at),
                prepaid: false,
                country: r.country.clone(),
                email: r.email.clone(),
                phone: r.phone.clone(),
                tax_id: r.tax_id.clone(),
                tax_registered: r.tax_registered,
                tax_exempt: r.tax_exempt,
                tax_exemption_reason: r.tax_exemption_reason.clone(),
                custom_fields: serde_json::json!({}),
                overrides: serde_json::json!({}),
                created_at: instants::to_micros(now),
            },
        )
        .await?;
        insert_default_class(&mut tx, actor, now, Owner::Reseller { reseller_id: id }).await?;
        audit::record(
            &mut tx,
            actor,
            now,
            Change {
                action: "create",
                object_type: "reseller",
                object_id: id.to_string(),
                owner_reseller_id: r.parent_reseller_id,
                details: serde_json::json!({ "name": r.name.trim(), "class_id": class.id }),
            },
        )
        .await?;
        let row = parties::get(&mut tx, id)
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("reseller {id}")))?;
        let view = view(&mut tx, row).await?;
        tx.commit().await?;
        Ok(view)
    }

    /// A reseller user sees only the resellers it owns (its direct subresellers).
    pub async fn get_reseller(&self, actor: &Actor, id: i64) -> EngineResult<ResellerView> {
        let mut tx = self.store.read().await?;
        let row = parties::get(&mut tx, id)
            .await?
            .filter(|p| p.kind == "reseller" && actor.sees(Owner::from_reseller_id(p.owner_reseller_id)))
            .ok_or_else(|| EngineError::NotFound(format!("reseller {id} not found")))?;
        view(&mut tx, row).await
    }

    pub async fn list_resellers(&self, actor: &Actor, page: PageRequest) -> EngineResult<Page<ResellerView>> {
        let owner = match actor.role {
            Role::Administrator => None,
            Role::Reseller(id) => Some(Some(id)),
        };
        let mut tx = self.store.read().await?;
        let rows = parties::list(&mut tx, "reseller", owner, page.cursor_id()?, page.limit + 1).await?;
        let mut views = Vec::with_capacity(rows.len());
        for row in rows {
            views.push(view(&mut tx, row).await?);
        }
        Ok(Page::from_rows(views, page.limit, |v| v.id.to_string()))
    }
}
