//! Samples of measured services (customer-classes §5.11): taken in through `POST /measurements` as an
//! all-or-nothing batch, read back per party for the usage graph, and handed to the period close.

use std::collections::{BTreeSet, HashMap};

use classbill_domain::FieldError;
use classbill_domain::class::Metric;
use classbill_domain::party::PartyKind;
use classbill_store::measurements::{self, MeasurementFilter, MeasurementRow, NewMeasurement};
use classbill_store::parties::{self, PartyRow};
use classbill_store::{StoreError, instants};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::actor::Actor;
use crate::audit::{self, Change};
use crate::error::{EngineError, EngineResult};
use crate::page::{Page, PageRequest};
use crate::parties::{load_visible, owner_of};

/// Most samples one `POST /measurements` may carry.
pub const MAX_BATCH: usize = 10_000;

/// How far back the list reaches when no `from` is given.
pub const DEFAULT_WINDOW_MONTHS: i64 = 3;

const ITEM_FIELDS: &[&str] = &["party_id", "metric", "at", "value"];

/// One stored sample.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct MeasurementView {
    pub party_id: i64,
    pub metric: Metric,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    /// The sampled count, an integer ≥ 0.
    pub value: i64,
}

impl MeasurementView {
    fn from_row(row: MeasurementRow) -> EngineResult<Self> {
        Ok(MeasurementView {
            party_id: row.party_id,
            metric: parse_metric(&row.metric)
                .ok_or_else(|| StoreError::Corrupt(format!("unknown metric {:?} stored", row.metric)))?,
            at: instants::from_micros(row.at)?,
            value: row.value,
        })
    }
}

/// The list filters; `from` inclusive, `to` exclusive on `at`.
#[derive(Debug, Clone, Default)]
pub struct MeasurementListFilter {
    pub metric: Option<Metric>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
}

pub fn parse_metric(text: &str) -> Option<Metric> {
    match text {
        "active_calls" => Some(Metric::ActiveCalls),
        "concurrent_calls" => Some(Metric::ConcurrentCalls),
        "pbx_extensions" => Some(Metric::PbxExtensions),
        _ => None,
    }
}

/// One item whose fields are well-formed; the party remains to be checked.
struct Sample {
    party_id: i64,
    metric: Metric,
    at: Timestamp,
    value: i64,
}

/// Reads one item, listing every violation with a field name relative to the item.
fn read_item(item: &Value) -> Result<Sample, Vec<FieldError>> {
    let Some(object) = item.as_object() else {
        return Err(vec![FieldError::new(
            "",
            "invalid_type",
            "each measurement must be a JSON object",
        )]);
    };
    let mut errors = Vec::new();
    for key in object.keys().filter(|k| !ITEM_FIELDS.contains(&k.as_str())) {
        errors.push(FieldError::new(key, "unknown_field", format!("unknown field `{key}`")));
    }
    let present = |key: &str, errors: &mut Vec<FieldError>| match object.get(key) {
        None | Some(Value::Null) => {
            errors.push(FieldError::new(key, "required", "is required"));
            None
        }
        Some(value) => Some(value.clone()),
    };
    let party_id = present("party_id", &mut errors).and_then(|v| match v.as_i64() {
        Some(id) if id > 0 => Some(id),
        _ => {
            errors.push(FieldError::new(
                "party_id",
                "invalid_type",
                "must be a positive integer party id",
            ));
            None
        }
    });
    let metric = present("metric", &mut errors).and_then(|v| match v.as_str().map(parse_metric) {
        Some(Some(metric)) => Some(metric),
        Some(None) => {
            errors.push(FieldError::new(
                "metric",
                "invalid_value",
                "must be one of active_calls, concurrent_calls, pbx_extensions",
            ));
            None
        }
        None => {
            errors.push(FieldError::new("metric", "invalid_type", "must be a string"));
            None
        }
    });
    let at = present("at", &mut errors).and_then(|v| match v.as_str().map(str::parse::<Timestamp>) {
        Some(Ok(at)) => Some(at),
        _ => {
            errors.push(FieldError::new(
                "at",
                "invalid_type",
                "must be an RFC 3339 instant such as 2025-06-01T10:00:00Z",
            ));
            None
        }
    });
    let value = present("value", &mut errors).and_then(|v| match (&v, v.as_i64()) {
        (_, Some(n)) if n >= 0 => Some(n),
        (_, Some(_)) => {
            errors.push(FieldError::new("value", "out_of_range", "must be 0 or more"));
            None
        }
        (Value::Number(n), None) if n.is_u64() => {
            errors.push(FieldError::new("value", "out_of_range", "is too large"));
            None
        }
        _ => {
            errors.push(FieldError::new("value", "invalid_type", "must be an integer"));
            None
        }
    });
    match (party_id, metric, at, value) {
        (Some(party_id), Some(metric), Some(at), Some(value)) if errors.is_empty() => Ok(Sample {
            party_id,
            metric,
            at,
            value,
        }),
        _ => Err(errors),
    }
}

/// The items of the body `{"measurements": [...]}`; errors of the body itself end the request.
fn read_body(body: &Value) -> EngineResult<&[Value]> {
    let Some(object) = body.as_object() else {
        return Err(EngineError::invalid(
            "",
            "invalid_type",
            "the body must be a JSON object",
        ));
    };
    let mut errors: Vec<FieldError> = object
        .keys()
        .filter(|k| k.as_str() != "measurements")
        .map(|key| FieldError::new(key, "unknown_field", format!("unknown field `{key}`")))
        .collect();
    let items = match object.get("measurements") {
        Some(Value::Array(items)) => items.as_slice(),
        None => {
            errors.push(FieldError::new("measurements", "required", "is required"));
            &[]
        }
        Some(_) => {
            errors.push(FieldError::new(
                "measurements",
                "invalid_type",
                "must be an array of samples",
            ));
            &[]
        }
    };
    if items.len() > MAX_BATCH {
        errors.push(FieldError::new(
            "measurements",
            "too_many",
            format!("at most {MAX_BATCH} samples per request, got {}", items.len()),
        ));
    }
    if errors.is_empty() {
        Ok(items)
    } else {
        Err(EngineError::Invalid(errors))
    }
}

fn indexed(index: usize, e: FieldError) -> FieldError {
    let field = if e.field.is_empty() {
        format!("measurements[{index}]")
    } else {
        format!("measurements[{index}].{}", e.field)
    };
    FieldError::new(field, e.code, e.message)
}

/// `from` defaults to three months before the end of the window, in the party's zone; `to` defaults to `now`
/// when neither bound is given and is open otherwise.
fn window(party: &PartyRow, filter: &MeasurementListFilter, now: Timestamp) -> (Timestamp, Option<Timestamp>) {
    let to = match (filter.from, filter.to) {
        (None, None) => Some(now),
        (_, to) => to,
    };
    let from = filter.from.unwrap_or_else(|| {
        let end = to.unwrap_or(now);
        let zone = TimeZone::get(&party.time_zone).unwrap_or(TimeZone::UTC);
        end.to_zoned(zone)
            .checked_sub(DEFAULT_WINDOW_MONTHS.months())
            .map_or(Timestamp::MIN, |start| start.timestamp())
    });
    (from, to)
}

fn cursor_key(page: &PageRequest) -> EngineResult<Option<(i64, String)>> {
    let invalid = || EngineError::invalid("cursor", "invalid", "not a cursor from a previous page");
    page.cursor_text()?
        .map(|text| {
            let (at, metric) = text.split_once(',').ok_or_else(invalid)?;
            let at = at.parse::<i64>().map_err(|_| invalid())?;
            parse_metric(metric).ok_or_else(invalid)?;
            Ok((at, metric.to_owned()))
        })
        .transpose()
}

impl crate::Engine {
    /// `POST /measurements`: all or nothing. Every item is checked (fields, and a party the actor sees); the
    /// errors name `measurements[i].field`. A sample for a stored `(party_id, metric, at)` replaces it, and
    /// within one batch the last sample for a key wins. Answers the stored samples in the order sent.
    pub async fn ingest_measurements(
        &self,
        actor: &Actor,
        body: &Value,
        now: Timestamp,
    ) -> EngineResult<Vec<MeasurementView>> {
        let items = read_body(body)?;
        let read: Vec<Result<Sample, Vec<FieldError>>> = items.iter().map(read_item).collect();
        let mut ids: Vec<i64> = items
            .iter()
            .filter_map(|item| item.get("party_id").and_then(Value::as_i64))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let mut tx = self.store.write().await?;
        let parties: HashMap<i64, PartyRow> = parties::get_many(&mut tx, &ids)
            .await?
            .into_iter()
            .filter(|p| actor.sees(owner_of(p)))
            .map(|p| (p.id, p))
            .collect();
        let mut errors = Vec::new();
        for (i, (item, outcome)) in items.iter().zip(&read).enumerate() {
            let mut found = match outcome {
                Ok(_) => Vec::new(),
                Err(item_errors) => item_errors.clone(),
            };
            if let Some(id) = item.get("party_id").and_then(Value::as_i64)
                && id > 0
                && !parties.contains_key(&id)
            {
                found.push(FieldError::new(
                    "party_id",
                    "not_found",
                    format!("party {id} not found"),
                ));
            }
            errors.extend(found.into_iter().map(|e| indexed(i, e)));
        }
        if !errors.is_empty() {
            return Err(EngineError::Invalid(errors));
        }
        let samples: Vec<Sample> = read.into_iter().filter_map(Result::ok).collect();
        // The last sample for a key wins; one statement must not touch a row twice.
        let mut last: HashMap<(i64, Metric, i64), usize> = HashMap::new();
        for (i, s) in samples.iter().enumerate() {
            last.insert((s.party_id, s.metric, instants::to_micros(s.at)), i);
        }
        let kept: BTreeSet<usize> = last.values().copied().collect();
        let rows: Vec<NewMeasurement> = kept
            .iter()
            .map(|&i| NewMeasurement {
                party_id: samples[i].party_id,
                metric: samples[i].metric.as_str().to_owned(),
                at: instants::to_micros(samples[i].at),
                value: samples[i].value,
            })
            .collect();
        measurements::upsert_many(&mut tx, &rows, instants::to_micros(now)).await?;
        if !rows.is_empty() {
            audit::record(
                &mut tx,
                actor,
                now,
                Change {
                    action: "ingest",
                    object_type: "measurements",
                    object_id: format!("{} samples", rows.len()),
                    owner_reseller_id: actor.owner().reseller_id(),
                    details: json!({ "count": rows.len(), "sent": samples.len() }),
                },
            )
            .await?;
        }
        tx.commit().await?;
        Ok(samples
            .iter()
            .map(|s| {
                let winner = &samples[last[&(s.party_id, s.metric, instants::to_micros(s.at))]];
                MeasurementView {
                    party_id: s.party_id,
                    metric: s.metric,
                    at: s.at,
                    value: winner.value,
                }
            })
            .collect())
    }

    /// `GET /customers/{id}/measurements` and `/resellers/{id}/measurements`: the party's samples ordered by
    /// instant, then metric. The party must be of `kind` and visible to the actor (else 404). Without `from`
    /// the window starts three months before its end; without either bound it ends at `now`.
    pub async fn list_measurements(
        &self,
        actor: &Actor,
        kind: PartyKind,
        id: i64,
        filter: MeasurementListFilter,
        page: PageRequest,
        now: Timestamp,
    ) -> EngineResult<Page<MeasurementView>> {
        let after = cursor_key(&page)?;
        let mut tx = self.store.read().await?;
        let party = load_visible(&mut tx, actor, kind, id).await?;
        let (from, to) = window(&party, &filter, now);
        let store_filter = MeasurementFilter {
            metric: filter.metric.map(|m| m.as_str().to_owned()),
            from: Some(instants::to_micros(from)),
            to: to.map(instants::to_micros),
        };
        let rows = measurements::list(&mut tx, party.id, &store_filter, after, page.limit + 1).await?;
        let views = rows
            .into_iter()
            .map(MeasurementView::from_row)
            .collect::<EngineResult<Vec<_>>>()?;
        Ok(Page::from_rows(views, page.limit, |v| {
            format!("{},{}", instants::to_micros(v.at), v.metric.as_str())
        }))
    }
}
