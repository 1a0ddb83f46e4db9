-- Nothing to do on PostgreSQL, whose ledger lost its foreign keys in 0029; on SQLite this migration removes them
-- too. The file keeps the two backends' migrations numbered alike.
SELECT 1;
