//! Statistics files of closed periods (customer-classes §5.12) and the measured-service xDRs of step S2.

use crate::db::{in_list, rows_per_statement, value_rows};
use crate::xdrs::NEXT_XDR_ID;
use crate::{Arg, AssertSqlSafe, Backend, StoreError, Tx, args};

/// The two files of one period.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StatisticsRow {
    pub period_id: i64,
    pub full_name: String,
    pub full_csv: String,
    pub summary_name: String,
    pub summary_csv: String,
    pub created_at: i64,
}

/// Stores the files of these periods with multi-row statements; a repeated S5 replaces what an earlier attempt
/// wrote. The periods must differ: one statement may not touch the same row twice.
pub async fn put(tx: &mut Tx, rows: &[StatisticsRow]) -> Result<(), StoreError> {
    const COLUMNS: usize = 6;
    for chunk in rows.chunks(rows_per_statement(COLUMNS)) {
        let sql = format!(
            "INSERT INTO period_statistics (period_id, full_name, full_csv, summary_name, summary_csv, created_at)
             VALUES {}
             ON CONFLICT (period_id) DO UPDATE SET full_name = excluded.full_name, full_csv = excluded.full_csv,
                 summary_name = excluded.summary_name, summary_csv = excluded.summary_csv,
                 created_at = excluded.created_at",
            value_rows(chunk.len(), COLUMNS)
        );
        let mut values = Vec::with_capacity(chunk.len() * COLUMNS);
        for row in chunk {
            values.extend(args![
                row.period_id,
                row.full_name.as_str(),
                row.full_csv.as_str(),
                row.summary_name.as_str(),
                row.summary_csv.as_str(),
                row.created_at
            ]);
        }
        tx.execute(AssertSqlSafe(sql), values).await?;
    }
    Ok(())
}

/// The files of a period, if S5 wrote any.
pub async fn get(tx: &mut Tx, period_id: i64) -> Result<Option<StatisticsRow>, StoreError> {
    tx.fetch_optional(
        "SELECT period_id, full_name, full_csv, summary_name, summary_csv, created_at FROM period_statistics
         WHERE period_id = $1",
        args![period_id],
    )
    .await
}

#[derive(sqlx::FromRow)]
struct NumberRow {
    id: i64,
    number: String,
}

/// The numbers of these invoices, by id.
pub async fn invoice_numbers(tx: &mut Tx, invoice_ids: &[i64]) -> Result<Vec<(i64, String)>, StoreError> {
    let mut out = Vec::new();
    for chunk in invoice_ids.chunks(crate::parties::ID_BATCH) {
        let sql = format!(
            "SELECT id, number FROM invoices WHERE id IN ({})",
            in_list(1, chunk.len())
        );
        let values: Vec<Arg> = chunk.iter().map(|&id| Arg::from(id)).collect();
        let rows: Vec<NumberRow> = tx.fetch_all(AssertSqlSafe(sql), values).await?;
        out.extend(rows.into_iter().map(|r| (r.id, r.number)));
    }
    Ok(out)
}

/// A `measured_service` xDR booked at S2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeasuredXdr {
    pub party_id: i64,
    pub period_id: i64,
    pub occurred_at: i64,
    pub service: String,
    pub rate_code: String,
    pub quantity: i64,
    pub amount: i64,
    pub description: String,
    /// `close:<period_id>:S2:<metric>`, so a repeated S2 books nothing twice.
    pub external_id: String,
}

/// Books measured-service xDRs; a key already stored is skipped. On PostgreSQL the key goes to `xdr_keys` first
/// (the unique index there, migration 0025) and the record is stored only when the key was new. The periods are
/// `closing` (S2), which nothing removes.
pub async fn insert_measured(tx: &mut Tx, rows: &[MeasuredXdr], created_at: i64) -> Result<(), StoreError> {
    let sql = match tx.backend() {
        Backend::Postgres => format!(
            "WITH k AS (INSERT INTO xdr_keys (party_id, external_id, xdr_id) \
                   VALUES ($1, $9, {NEXT_XDR_ID}) \
                   ON CONFLICT DO NOTHING RETURNING xdr_id) \
             INSERT INTO xdrs (id, party_id, period_id, occurred_at, kind, service, rate_code, description, quantity, \
             amount, external_id, hidden, late, created_at) \
             SELECT k.xdr_id, $1, $2, $3, 'measured_service', $4, $5, $6, $7, $8, $9, $10, $11, $12 FROM k"
        ),
        Backend::Sqlite => {
            "INSERT INTO xdrs (party_id, period_id, occurred_at, kind, service, rate_code, description, quantity, \
             amount, external_id, hidden, late, created_at) \
             VALUES ($1, $2, $3, 'measured_service', $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             ON CONFLICT (party_id, external_id) DO NOTHING"
                .to_owned()
        }
    };
    for x in rows {
        tx.execute(
            AssertSqlSafe(sql.clone()),
            args![
                x.party_id,
                x.period_id,
                x.occurred_at,
                x.service.clone(),
                x.rate_code.clone(),
                x.description.clone(),
                x.quantity,
                x.amount,
                x.external_id.clone(),
                false,
                false,
                created_at
            ],
        )
        .await?;
    }
    Ok(())
}
