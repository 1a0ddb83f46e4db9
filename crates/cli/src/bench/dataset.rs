//! The benchmark's data: two classes, `customers` parties split between them, and a CSV file with a month of
//! their xDRs. Everything follows from the seed, so two runs with the same arguments bill the same figures.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::Context;
use classbill_engine::catalog::InvoiceTemplateKind;
use classbill_engine::{Actor, Engine, NewCustomer, PageRequest};
use jiff::{Timestamp, ToSpan};
use serde_json::{Value, json};

/// The size and seed of a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scale {
    pub customers: u64,
    pub xdrs_per_customer: u64,
    pub seed: u64,
}

impl Scale {
    pub fn xdrs(&self) -> u64 {
        self.customers * self.xdrs_per_customer
    }
}

/// The billed month (UTC, like the parties' zone): fixed so that the data does not depend on today's date.
pub struct Month {
    pub start: Timestamp,
    pub end: Timestamp,
}

impl Month {
    pub fn benchmark() -> anyhow::Result<Month> {
        let start: Timestamp = "2026-03-01T00:00:00Z".parse()?;
        let end: Timestamp = "2026-04-01T00:00:00Z".parse()?;
        Ok(Month { start, end })
    }

    /// The instant import and bill run act at: after the month's end and any close delay the installation allows
    /// (at most 168 hours), so every period of the month is due.
    pub fn run_at(&self) -> anyhow::Result<Timestamp> {
        Ok(self.end.checked_add(169.hours())?)
    }

    /// The instant the collection run acts at: 20 days after the bill run, past the due date of every invoice
    /// (net 15 days at the latest) and the day after it, when the invoice becomes overdue and its late fee is
    /// booked.
    pub fn collect_at(&self) -> anyhow::Result<Timestamp> {
        Ok(self.run_at()?.checked_add(480.hours())?)
    }
}

/// SplitMix64: a tiny, fast generator whose sequence is fixed by its seed.
pub struct Random(u64);

impl Random {
    pub fn new(seed: u64) -> Random {
        Random(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..bound`.
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound.max(1)
    }
}

fn classes(template_id: i64) -> [Value; 2] {
    [
        json!({"name": "Bench VAT", "currency": "EUR", "business_model": "sip_trunking",
               "description": "Benchmark customers with a fixed 19 % VAT",
               "regular_invoices": {"enabled": true, "template_id": template_id, "pdf_generation": "postponed",
                   "payment_terms": {"type": "net", "days": 15}, "collection": {"late_fee": "2.5"}},
               "taxation": {"method": "fixed_vat", "fixed_vat": {"rate_percent": "19", "inclusive": false}}}),
        json!({"name": "Bench untaxed", "currency": "EUR", "business_model": "universal",
               "description": "Benchmark customers billed without taxes",
               "regular_invoices": {"enabled": true, "template_id": template_id, "pdf_generation": "postponed",
                   "collection": {"late_fee": "1.5"}},
               "taxation": {"method": "none"}}),
    ]
}

/// Customers created side by side.
const CREATORS: u64 = 8;

/// Creates the classes and the customers through the engine, as the API would; answers the id of customer `n`
/// at index `n`.
pub async fn create_parties(engine: &Engine, scale: Scale, month: &Month) -> anyhow::Result<Vec<i64>> {
    let actor = Actor::system();
    let month_start = month.start;
    let now = month.start;
    let template_id = engine
        .list_catalog::<InvoiceTemplateKind>(&actor, PageRequest::new(None, None)?)
        .await?
        .items
        .into_iter()
        .find(|t| t.builtin)
        .context("the built-in invoice template is missing")?
        .id;
    let mut class_ids = Vec::new();
    for class in classes(template_id) {
        class_ids.push(engine.create_class(&actor, class, now).await?.class.id);
    }
    // Creations run side by side (PostgreSQL takes them in parallel; SQLite queues them on its one writer).
    // Customer `n` is the same whichever task creates it; only the ids the database hands out may interleave.
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..CREATORS {
        let engine = engine.clone();
        let class_ids = class_ids.clone();
        tasks.spawn(async move {
            let actor = Actor::system();
            let mut created = Vec::new();
            for n in (worker..scale.customers).step_by(usize::try_from(CREATORS)?) {
                let customer = engine
                    .create_customer(
                        &actor,
                        NewCustomer {
                            name: format!("Bench customer {n}"),
                            class_id: Some(class_ids[usize::try_from(n % 2)?]),
                            billing_period: Some("monthly".to_owned()),
                            time_zone: Some("UTC".to_owned()),
                            activated_at: Some(month_start),
                            ..NewCustomer::default()
                        },
                        month_start,
                    )
                    .await
                    .map_err(crate::explain)?;
                created.push((n, customer.party.id));
            }
            anyhow::Ok(created)
        });
    }
    let mut ids = vec![0; usize::try_from(scale.customers)?];
    while let Some(created) = tasks.join_next().await {
        for (n, id) in created?? {
            ids[usize::try_from(n)?] = id;
        }
    }
    Ok(ids)
}

/// Writes the month of xDRs in time order, as a switch would export them: record `r` of every customer (in the
/// order of their numbers) falls in the `r`-th slice of the month, at a random second of it. Rows are streamed;
/// nothing is held in memory.
pub fn write_xdrs(file: &Path, party_ids: &[i64], scale: Scale, month: &Month) -> anyhow::Result<u64> {
    let mut out = BufWriter::with_capacity(1 << 20, File::create(file)?);
    writeln!(
        out,
        "party_id,external_id,occurred_at,kind,service,rate_code,description,quantity,amount"
    )?;
    let mut random = Random::new(scale.seed);
    let month_seconds = u64::try_from(month.end.as_second() - month.start.as_second())?;
    let slice = month_seconds / scale.xdrs_per_customer.max(1);
    let mut written = 0;
    for r in 0..scale.xdrs_per_customer {
        for &party_id in party_ids {
            let offset = r * slice + random.below(slice);
            let at = month.start.checked_add(i64::try_from(offset)?.seconds())?;
            let seconds = 1 + random.below(1_800);
            // A price per call of up to 2.5 with five fraction digits, so rounding has work to do.
            let units = 1 + random.below(250_000);
            let (rate_code, description) = if random.below(3) == 0 {
                ("MOBILE", "outgoing call to a mobile")
            } else {
                ("FIXED", "outgoing call")
            };
            writeln!(
                out,
                "{party_id},call-{r},{at},usage,voice,{rate_code},{description},{seconds},{}.{:05}",
                units / 100_000,
                units % 100_000
            )?;
            written += 1;
        }
    }
    out.flush()?;
    Ok(written)
}
