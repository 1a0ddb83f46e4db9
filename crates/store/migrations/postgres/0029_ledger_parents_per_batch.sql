-- The ledger's records name their party and billing period. As foreign keys, PostgreSQL checked both with a
-- trigger per row that locks the parent row: COPYing 400,000 records took 6.4 s with them and 1.9 s without.
-- The writes of records now lock each party and period they name once per batch, with the same lock the check
-- took (FOR KEY SHARE), and fail if one is gone; the one statement that deletes periods (a termination's empty
-- future periods) locks them before it looks for their records. Parties are never deleted.
ALTER TABLE xdrs DROP CONSTRAINT xdrs_party_id_fkey;
ALTER TABLE xdrs DROP CONSTRAINT xdrs_period_id_fkey;
