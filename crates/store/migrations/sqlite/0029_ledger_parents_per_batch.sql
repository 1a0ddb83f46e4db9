-- Nothing to do on SQLite. On PostgreSQL this migration replaces the ledger's foreign keys, checked by a locking
-- trigger per row, with a lock of each party and period per batch of records. SQLite checks a foreign key with an
-- index lookup and no lock, and runs one writer at a time, so its ledger keeps them. The file keeps the two
-- backends' migrations numbered alike.
SELECT 1;
