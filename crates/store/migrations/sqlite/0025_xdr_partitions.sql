-- Nothing changes on SQLite. On PostgreSQL this step partitions the xDR ledger by month and moves the
-- idempotency keys into a table of their own; SQLite has no partitions, so its `xdrs` table keeps the partial
-- unique index on (party_id, external_id) that serves as the key there. The file exists because both
-- backends carry the same list of migrations.
SELECT 1;
