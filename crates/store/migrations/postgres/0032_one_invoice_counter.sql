-- Nothing to do on PostgreSQL, whose invoice ids come from the identity's sequence. On SQLite this version removes
-- the extra `invoices` counters that earlier bill runs left in `sqlite_sequence`; the file keeps the two backends'
-- migrations numbered alike.
SELECT 1;
