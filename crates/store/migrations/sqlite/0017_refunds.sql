-- Refunds (issue "operator essentials", item 4): unallocated credit returned to the party. Each refund is booked
-- as a positive `payment` xDR of service `refund` and consumes credit of the party's credit sources, oldest
-- first; the credit it took is kept here so that the credit left of a source is its credit minus its
-- allocations minus its refunds. Money in 10^-5 units, instants in microseconds since the epoch.

-- One row per refund: its xDR, the request as received (to tell an identical re-send from another body under
-- the same external id) and the answer given.
CREATE TABLE refunds (
    xdr_id BIGINT PRIMARY KEY REFERENCES xdrs (id),
    party_id BIGINT NOT NULL REFERENCES parties (id),
    amount BIGINT NOT NULL CHECK (amount > 0),
    request TEXT NOT NULL,
    result TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX refunds_party ON refunds (party_id);

-- The credit each refund took from each source: a payment xDR or an invoice with a negative total.
CREATE TABLE refund_sources (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    refund_xdr_id BIGINT NOT NULL REFERENCES refunds (xdr_id),
    party_id BIGINT NOT NULL REFERENCES parties (id),
    source_xdr_id BIGINT REFERENCES xdrs (id),
    source_invoice_id BIGINT REFERENCES invoices (id),
    amount BIGINT NOT NULL CHECK (amount > 0),
    CHECK ((source_xdr_id IS NULL) <> (source_invoice_id IS NULL))
);
CREATE INDEX refund_sources_refund ON refund_sources (refund_xdr_id);
CREATE INDEX refund_sources_source_xdr ON refund_sources (source_xdr_id) WHERE source_xdr_id IS NOT NULL;
CREATE INDEX refund_sources_source_invoice ON refund_sources (source_invoice_id) WHERE source_invoice_id IS NOT NULL;
