-- Nothing to do on SQLite, which keeps the ledger's foreign keys and runs one writer at a time. On PostgreSQL the
-- writes of records now take an advisory lock shared instead of locking each party and period they name; the file
-- keeps the two backends' migrations numbered alike.
SELECT 1;
