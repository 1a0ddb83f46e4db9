-- Every record written to the ledger updates each of its indexes. `xdrs_party_period` answered nothing the period
-- index does not answer alone (a period belongs to one party), so it goes; the keys stay in `xdr_keys`.
DROP INDEX xdrs_party_period;
