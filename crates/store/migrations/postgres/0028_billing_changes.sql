-- Nothing to do on PostgreSQL. On SQLite this migration adds a counter of the writes to parties and billing
-- periods, which tells an import whether what it read in one batch still holds in the next; SQLite has one writer
-- at a time, so a counter that stood still proves that nothing changed. PostgreSQL runs writers side by side, a
-- counter read there could not speak for transactions still open, and its imports read parties and periods
-- afresh in every batch. The file keeps the two backends' migrations numbered alike.
SELECT 1;
