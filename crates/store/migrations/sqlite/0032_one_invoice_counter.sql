-- Up to version 31 each batch of a bill run added a second `invoices` row to `sqlite_sequence` (the aggregate that
-- was to seed a missing counter yielded a row even when the counter existed), and the reservation of ids moved all
-- of them. One row per table is kept, holding the highest value any of them reached.
UPDATE sqlite_sequence SET seq = (SELECT MAX(s.seq) FROM sqlite_sequence s WHERE s.name = sqlite_sequence.name);
DELETE FROM sqlite_sequence WHERE rowid NOT IN (SELECT MIN(rowid) FROM sqlite_sequence GROUP BY name);
