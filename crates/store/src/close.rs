//! The writes and reads of a period close (customer-classes §5.3), set-based per batch of parties.

use std::collections::HashMap;

use crate::db::{in_list, rows_per_statement, value_rows};
use crate::packed::fetch_packed;
use crate::periods::PeriodRow;
use crate::xdrs::{NEXT_XDR_ID, XdrRow, guard_periods};
use crate::{Arg, AssertSqlSafe, Backend, StoreError, Tx, args};

#[derive(sqlx::FromRow)]
struct IdRow {
    id: i64,
}

/// On PostgreSQL, locks the selected party rows for this transaction and passes over rows another transaction
/// holds, so concurrent runs split the parties between them (§5.3). `NO KEY UPDATE` leaves xDR inserts, which
/// only take a key-share lock on their party, unblocked. SQLite has a single writer and needs no clause.
fn claim_clause(tx: &Tx) -> &'static str {
    match tx.backend() {
        Backend::Postgres => " FOR NO KEY UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    }
}

/// The parties a billing run at the instant `at` (a placeholder) has work for: activated by then, and whose
/// earliest unclosed period, if any, ended by then. A party without one has its next period still to be stored;
/// one whose earliest ended is due, waiting for its delay or approval, or left `closing`. All other parties are
/// inside an open period with nothing ended, which at a scheduler tick is nearly everyone. The test is one probe
/// of the index `billing_periods_unclosed` per party: written as two `EXISTS` tests joined by `OR`, PostgreSQL
/// hashes the whole unclosed set instead, on every call, and a run's calls grow with the periods it opens.
fn with_billing_work(at: &str) -> String {
    format!(
        "activated_at <= {at}
         AND COALESCE((SELECT b.end_at FROM billing_periods b
                       WHERE b.party_id = parties.id AND b.status <> 'closed'
                       ORDER BY b.end_at LIMIT 1), {at}) <= {at}"
    )
}

/// What a claim does with a party another transaction holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    /// Passes over it: concurrent runs take disjoint parties.
    Skip,
    /// Waits until it is released: a run's last sweep, so that a party held by some other write (a payment, a
    /// refund) when the run passed it is closed by this run all the same.
    Wait,
}

/// Claims up to `limit` parties a billing run at `at_us` has work for, with an id above `after_id`, in id order.
pub async fn claim_parties_with_billing_work(
    tx: &mut Tx,
    after_id: i64,
    at_us: i64,
    limit: i64,
    held: Held,
) -> Result<Vec<i64>, StoreError> {
    let lock = match (tx.backend(), held) {
        (Backend::Postgres, Held::Wait) => " FOR NO KEY UPDATE",
        _ => claim_clause(tx),
    };
    let sql = format!(
        "SELECT id FROM parties WHERE id > $1 AND {} ORDER BY id LIMIT +$3{lock}",
        with_billing_work("$2"),
    );
    let rows: Vec<IdRow> = tx.fetch_all(AssertSqlSafe(sql), args![after_id, at_us, limit]).await?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}

/// Claims up to `limit` parties with a period left `closing`, with an id above `after_id`, in id order.
pub async fn claim_parties_closing(tx: &mut Tx, after_id: i64, limit: i64) -> Result<Vec<i64>, StoreError> {
    let sql = format!(
        "SELECT id FROM parties p
         WHERE id > $1 AND EXISTS (SELECT 1 FROM billing_periods b WHERE b.party_id = p.id AND b.status = 'closing')
         ORDER BY id LIMIT +$2{}",
        claim_clause(tx)
    );
    let rows: Vec<IdRow> = tx.fetch_all(AssertSqlSafe(sql), args![after_id, limit]).await?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}

/// Claims these parties; answers those claimed, in id order: with [`Held::Skip`] those no other transaction
/// holds, with [`Held::Wait`] all of them once the others have let go.
pub async fn claim_parties(tx: &mut Tx, party_ids: &[i64], held: Held) -> Result<Vec<i64>, StoreError> {
    let lock = match (tx.backend(), held) {
        (Backend::Postgres, Held::Wait) => " FOR NO KEY UPDATE",
        _ => claim_clause(tx),
    };
    let mut claimed = Vec::with_capacity(party_ids.len());
    for chunk in party_ids.chunks(crate::parties::ID_BATCH) {
        let sql = format!(
            "SELECT id FROM parties WHERE id IN ({}) ORDER BY id{lock}",
            in_list(1, chunk.len()),
        );
        let values: Vec<Arg> = chunk.iter().map(|&id| Arg::from(id)).collect();
        let rows: Vec<IdRow> = tx.fetch_all(AssertSqlSafe(sql), values).await?;
        claimed.extend(rows.into_iter().map(|r| r.id));
    }
    Ok(claimed)
}

#[derive(sqlx::FromRow)]
struct CountRow {
    n: i64,
}

/// How many parties a billing run at `at_us` has work for.
pub async fn count_parties_with_billing_work(tx: &mut Tx, at_us: i64) -> Result<i64, StoreError> {
    let sql = format!("SELECT COUNT(*) AS n FROM parties WHERE {}", with_billing_work("$1"));
    let row: CountRow = tx.fetch_one(AssertSqlSafe(sql), args![at_us]).await?;
    Ok(row.n)
}

/// How many parties have a period left `closing`.
pub async fn count_parties_closing(tx: &mut Tx) -> Result<i64, StoreError> {
    let row: CountRow = tx
        .fetch_one(
            "SELECT COUNT(DISTINCT party_id) AS n FROM billing_periods WHERE status = 'closing'",
            vec![],
        )
        .await?;
    Ok(row.n)
}

/// Whether the party has a period before `start_us` that is not closed.
pub async fn has_unclosed_before(tx: &mut Tx, party_id: i64, start_us: i64) -> Result<bool, StoreError> {
    let row: CountRow = tx
        .fetch_one(
            "SELECT COUNT(*) AS n FROM billing_periods WHERE party_id = $1 AND start_at < $2 AND status <> 'closed'",
            args![party_id, start_us],
        )
        .await?;
    Ok(row.n > 0)
}

/// A new close batch; its steps are recorded with [`record_step`].
pub async fn new_batch(tx: &mut Tx, created_at: i64) -> Result<i64, StoreError> {
    let row: IdRow = tx
        .fetch_one(
            "INSERT INTO close_batches (created_at) VALUES ($1) RETURNING id",
            args![created_at],
        )
        .await?;
    Ok(row.id)
}

/// Records that `step` of a batch is complete for these periods (§5.3: one row per batch and step); a step
/// that covered no period leaves no row.
pub async fn record_step(
    tx: &mut Tx,
    batch_id: i64,
    step: &str,
    period_ids: &[i64],
    at_us: i64,
) -> Result<(), StoreError> {
    if period_ids.is_empty() {
        return Ok(());
    }
    let mut sorted = period_ids.to_vec();
    sorted.sort_unstable();
    let names = sorted.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    tx.execute(
        "INSERT INTO close_progress (batch_id, step, period_ids, completed_at) VALUES ($1, $2, $3, $4)",
        args![batch_id, step, names, at_us],
    )
    .await?;
    Ok(())
}

/// The open periods of these parties that ended at or before `end_us`, by party and start.
pub async fn open_ended(tx: &mut Tx, party_ids: &[i64], end_us: i64) -> Result<Vec<PeriodRow>, StoreError> {
    let mut rows = Vec::new();
    for chunk in party_ids.chunks(crate::parties::ID_BATCH) {
        let from = format!(
            "FROM billing_periods WHERE status = 'open' AND end_at <= $1 AND party_id IN ({})",
            in_list(2, chunk.len())
        );
        let mut values = args![end_us];
        values.extend(chunk.iter().map(|&id| Arg::from(id)));
        rows.extend(fetch_packed::<PeriodRow>(tx, crate::periods::PERIOD_COLUMNS, &from, values).await?);
    }
    rows.sort_unstable_by_key(|r| (r.party_id, r.start_at));
    Ok(rows)
}

/// The periods of these parties left `closing` (frozen, not yet closed), by party and start.
pub async fn closing_of(tx: &mut Tx, party_ids: &[i64]) -> Result<Vec<PeriodRow>, StoreError> {
    let mut rows = Vec::new();
    for chunk in party_ids.chunks(crate::parties::ID_BATCH) {
        let from = format!(
            "FROM billing_periods WHERE status = 'closing' AND party_id IN ({})",
            in_list(1, chunk.len())
        );
        let values: Vec<Arg> = chunk.iter().map(|&id| Arg::from(id)).collect();
        rows.extend(fetch_packed::<PeriodRow>(tx, crate::periods::PERIOD_COLUMNS, &from, values).await?);
    }
    rows.sort_unstable_by_key(|r| (r.party_id, r.start_at));
    Ok(rows)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FrozenRow {
    pub id: i64,
    pub class_revision: Option<i64>,
    pub settings_snapshot: Option<String>,
}

/// The stored snapshot of these periods (set by an earlier freeze).
pub async fn snapshots(tx: &mut Tx, period_ids: &[i64]) -> Result<Vec<FrozenRow>, StoreError> {
    let mut rows = Vec::new();
    for chunk in period_ids.chunks(crate::parties::ID_BATCH) {
        let sql = format!(
            "SELECT id, class_revision, settings_snapshot FROM billing_periods WHERE id IN ({})",
            in_list(1, chunk.len())
        );
        let values: Vec<Arg> = chunk.iter().map(|&id| Arg::from(id)).collect();
        rows.extend(tx.fetch_all::<FrozenRow>(AssertSqlSafe(sql), values).await?);
    }
    Ok(rows)
}

/// What S1 keeps of a period: the class revision and settings it closes under, the instant it closes at and
/// the batch that froze it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Freeze<'a> {
    pub period_id: i64,
    pub revision: i64,
    pub snapshot: &'a str,
    pub close_at: i64,
    pub batch_id: i64,
}

/// S1: the periods stop taking xDRs and keep what they close under, with set-based statements over many
/// periods.
pub async fn freeze(tx: &mut Tx, periods: &[Freeze<'_>], at_us: i64) -> Result<(), StoreError> {
    const COLUMNS: usize = 5;
    for chunk in periods.chunks(rows_per_statement(COLUMNS)) {
        let at = chunk.len() * COLUMNS + 1;
        let sql = format!(
            "WITH frozen (period_id, revision, snapshot, close_at, batch_id) AS (VALUES {})
             UPDATE billing_periods SET status = 'closing', class_revision = frozen.revision,
                 settings_snapshot = frozen.snapshot, frozen_at = COALESCE(frozen_at, ${at}), close_error = NULL,
                 close_at = frozen.close_at, close_batch_id = frozen.batch_id
             FROM frozen WHERE billing_periods.id = frozen.period_id",
            value_rows(chunk.len(), COLUMNS)
        );
        let mut values = Vec::with_capacity(chunk.len() * COLUMNS + 1);
        for f in chunk {
            values.extend(args![f.period_id, f.revision, f.snapshot, f.close_at, f.batch_id]);
        }
        values.push(Arg::from(at_us));
        tx.execute(AssertSqlSafe(sql), values).await?;
    }
    Ok(())
}

/// Records why a close stopped; the period stays `closing`.
pub async fn fail(tx: &mut Tx, id: i64, error: &str) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE billing_periods SET status = 'closing', close_error = $1 WHERE id = $2",
        args![error, id],
    )
    .await?;
    Ok(())
}

/// S12 for many periods at once.
pub async fn mark_closed(tx: &mut Tx, period_ids: &[i64]) -> Result<(), StoreError> {
    for chunk in period_ids.chunks(crate::parties::ID_BATCH) {
        let sql = format!(
            "UPDATE billing_periods SET status = 'closed', close_error = NULL WHERE id IN ({})",
            in_list(1, chunk.len())
        );
        let values: Vec<Arg> = chunk.iter().map(|&id| Arg::from(id)).collect();
        tx.execute(AssertSqlSafe(sql), values).await?;
    }
    Ok(())
}

/// Every xDR of these periods, by period and id.
pub async fn xdrs_of_periods(tx: &mut Tx, period_ids: &[i64]) -> Result<Vec<XdrRow>, StoreError> {
    let mut rows = Vec::new();
    for chunk in period_ids.chunks(crate::parties::ID_BATCH) {
        let from = format!(
            "FROM xdrs x JOIN parties p ON p.id = x.party_id WHERE x.period_id IN ({})",
            in_list(1, chunk.len())
        );
        let values: Vec<Arg> = chunk.iter().map(|&id| Arg::from(id)).collect();
        rows.extend(fetch_packed::<XdrRow>(tx, crate::xdrs::XDR_COLUMNS, &from, values).await?);
    }
    rows.sort_unstable_by_key(|r| (r.period_id, r.id));
    Ok(rows)
}

/// The xDRs of an invoice, in id order.
pub async fn xdrs_of_invoice(tx: &mut Tx, invoice_id: i64) -> Result<Vec<XdrRow>, StoreError> {
    tx.fetch_all(
        AssertSqlSafe(format!(
            "SELECT {} FROM xdrs x JOIN parties p ON p.id = x.party_id WHERE x.invoice_id = $1 ORDER BY x.id",
            crate::xdrs::XDR_COLUMNS
        )),
        args![invoice_id],
    )
    .await
}

#[derive(sqlx::FromRow)]
struct BalanceRow {
    period_id: i64,
    total: Option<i64>,
}

/// For each of these periods, Σ `amount` of its party's xDRs of the periods that start before it: the balance at
/// the period's start (§5.1). A period without earlier xDRs is absent (its balance is zero).
pub async fn balances_before(tx: &mut Tx, period_ids: &[i64]) -> Result<HashMap<i64, i64>, StoreError> {
    let mut balances = HashMap::with_capacity(period_ids.len());
    for chunk in period_ids.chunks(crate::parties::ID_BATCH) {
        let sql = format!(
            "SELECT p.id AS period_id, CAST(SUM(x.amount) AS BIGINT) AS total FROM billing_periods p
             JOIN billing_periods b ON b.party_id = p.party_id AND b.start_at < p.start_at
             JOIN xdrs x ON x.period_id = b.id AND x.party_id = p.party_id
             WHERE p.id IN ({})
             GROUP BY p.id",
            in_list(1, chunk.len())
        );
        let values: Vec<Arg> = chunk.iter().map(|&id| Arg::from(id)).collect();
        let rows: Vec<BalanceRow> = tx.fetch_all(AssertSqlSafe(sql), values).await?;
        balances.extend(rows.into_iter().map(|r| (r.period_id, r.total.unwrap_or(0))));
    }
    Ok(balances)
}

/// An xDR the engine books at close: a tax, the rounding or a balance reset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineXdr {
    pub party_id: i64,
    pub period_id: i64,
    pub occurred_at: i64,
    pub kind: String,
    pub service: String,
    pub amount: i64,
    /// Deterministic per period, step and position, so a repeated step books nothing twice.
    pub external_id: String,
    pub hidden: bool,
    pub tax_name: Option<String>,
    pub tax_rate_percent: Option<i64>,
    pub tax_base: Option<i64>,
    pub tax_amount: Option<i64>,
    pub reverse_charge: Option<bool>,
    pub outside_scope: Option<bool>,
}

impl EngineXdr {
    /// A record of `party` in `period` at `occurred_at` keyed `external_id`, with no kind, amount or tax yet:
    /// what the engine copies with `..` for each record it books.
    pub fn template(party_id: i64, period_id: i64, occurred_at: i64, external_id: String) -> EngineXdr {
        EngineXdr {
            party_id,
            period_id,
            occurred_at,
            kind: String::new(),
            service: String::new(),
            amount: 0,
            external_id,
            hidden: false,
            tax_name: None,
            tax_rate_percent: None,
            tax_base: None,
            tax_amount: None,
            reverse_charge: None,
            outside_scope: None,
        }
    }
}

/// The quantity of every engine xDR: one unit.
const ENGINE_QUANTITY: i64 = 100_000;

impl EngineXdr {
    /// The row [`book_engine_xdrs`] stored for this record under `id`, as a read of it would answer.
    pub fn stored_as(&self, id: i64, created_at: i64, currency: &str) -> XdrRow {
        XdrRow {
            id,
            party_id: self.party_id,
            period_id: self.period_id,
            occurred_at: self.occurred_at,
            kind: self.kind.clone(),
            service: self.service.clone(),
            rate_code: None,
            description: None,
            quantity: ENGINE_QUANTITY,
            amount: self.amount,
            external_id: Some(self.external_id.clone()),
            invoice_id: None,
            hidden: self.hidden,
            late: false,
            tax_name: self.tax_name.clone(),
            tax_rate_percent: self.tax_rate_percent,
            tax_base: self.tax_base,
            tax_amount: self.tax_amount,
            reverse_charge: self.reverse_charge,
            outside_scope: self.outside_scope,
            created_at,
            currency: currency.to_owned(),
        }
    }
}

/// Books engine xDRs (quantity 1); a key that is already stored is skipped. Answers the ids of the rows stored
/// now, ascending.
pub async fn insert_engine_xdrs(tx: &mut Tx, rows: &[EngineXdr], created_at: i64) -> Result<Vec<i64>, StoreError> {
    guard_periods(tx, rows.iter().map(|x| x.period_id)).await?;
    let mut ids: Vec<i64> = book_engine_xdrs(tx, rows, created_at).await?.into_values().collect();
    ids.sort_unstable();
    Ok(ids)
}

#[derive(sqlx::FromRow)]
struct BookedRow {
    id: i64,
    party_id: i64,
    external_id: String,
}

/// [`insert_engine_xdrs`] for the records of many periods at once: answers the id of each row stored now by its
/// key `(party_id, external_id)`, so the caller can tell which records are whose. Called as such by the close,
/// whose periods are `closing`: nothing removes them, so the close does not hold back freezes and terminations
/// ([`crate::xdrs::hold_open_periods`]) for as long as it works.
pub async fn book_engine_xdrs(
    tx: &mut Tx,
    rows: &[EngineXdr],
    created_at: i64,
) -> Result<HashMap<(i64, String), i64>, StoreError> {
    const COLUMNS: usize = 17;
    const NAMES: &str = "party_id, period_id, occurred_at, kind, service, quantity, amount, external_id, hidden, late, \
        tax_name, tax_rate_percent, tax_base, tax_amount, reverse_charge, outside_scope, created_at";
    let postgres = tx.backend() == Backend::Postgres;
    // PostgreSQL books through `xdr_keys`, where one statement must not carry a key twice (two rows would get
    // ids for one key); the first record of a key is the one a repeated step would have kept.
    let rows: Vec<&EngineXdr> = if postgres {
        let mut seen = std::collections::HashSet::with_capacity(rows.len());
        rows.iter()
            .filter(|x| seen.insert((x.party_id, x.external_id.as_str())))
            .collect()
    } else {
        rows.iter().collect()
    };
    let mut ids = HashMap::with_capacity(rows.len());
    for chunk in rows.chunks(rows_per_statement(COLUMNS)) {
        let sql = if postgres {
            // The key table is the unique index on PostgreSQL (migration 0025): a key it takes now gets an id
            // from the ledger's sequence, and only those records are stored.
            let from_v: Vec<String> = NAMES.split(", ").map(|c| format!("v.{c}")).collect();
            format!(
                "WITH v ({NAMES}) AS (VALUES {}), \
                 k AS (INSERT INTO xdr_keys (party_id, external_id, xdr_id) \
                       SELECT party_id, external_id, {NEXT_XDR_ID} FROM v \
                       ON CONFLICT DO NOTHING RETURNING party_id, external_id, xdr_id) \
                 INSERT INTO xdrs (id, {NAMES}) SELECT k.xdr_id, {} FROM v \
                 JOIN k ON k.party_id = v.party_id AND k.external_id = v.external_id \
                 RETURNING id, party_id, external_id",
                value_rows(chunk.len(), COLUMNS),
                from_v.join(", ")
            )
        } else {
            format!(
                "INSERT INTO xdrs ({NAMES}) VALUES {} \
                 ON CONFLICT (party_id, external_id) DO NOTHING \
                 RETURNING id, party_id, external_id",
                value_rows(chunk.len(), COLUMNS)
            )
        };
        let mut values = Vec::with_capacity(chunk.len() * COLUMNS);
        for x in chunk {
            values.extend([
                Arg::from(x.party_id),
                Arg::from(x.period_id),
                Arg::from(x.occurred_at),
                Arg::from(x.kind.clone()),
                Arg::from(x.service.clone()),
                Arg::from(ENGINE_QUANTITY),
                Arg::from(x.amount),
                Arg::from(x.external_id.clone()),
                Arg::from(x.hidden),
                Arg::from(false),
                Arg::from(x.tax_name.clone()),
                Arg::from(x.tax_rate_percent),
                Arg::from(x.tax_base),
                Arg::from(x.tax_amount),
                Arg::Bool(x.reverse_charge),
                Arg::Bool(x.outside_scope),
                Arg::from(created_at),
            ]);
        }
        ids.extend(
            tx.fetch_all::<BookedRow>(AssertSqlSafe(sql), values)
                .await?
                .into_iter()
                .map(|r| ((r.party_id, r.external_id), r.id)),
        );
    }
    Ok(ids)
}
