-- Every record written to the ledger updates each of its indexes, and an import's batches of records in time
-- order land all over the indexes that lead with the party or its period. `xdrs_party_period` answered nothing
-- the period index does not answer alone (a period belongs to one party), so it goes. The key index loses its
-- `WHERE external_id IS NOT NULL`: SQLite lets NULLs repeat in a unique index, so keyless records stay
-- allowed, and the index now also finds every record of a party (the check of `parties` deletions included).
DROP INDEX xdrs_party_period;
DROP INDEX xdrs_party_external_id;
CREATE UNIQUE INDEX xdrs_party_external_id ON xdrs (party_id, external_id);
