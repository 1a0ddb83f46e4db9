-- Payments and their application to invoices (customer-classes §5.7). Money in 10^-5 units, instants in
-- microseconds since the epoch.

-- One row per `POST /payments`: the booked payment xDR, the invoice it named and the answer given, so an
-- identical re-send answers the same result.
CREATE TABLE payments (
    xdr_id BIGINT PRIMARY KEY REFERENCES xdrs (id),
    party_id BIGINT NOT NULL REFERENCES parties (id),
    invoice_id BIGINT REFERENCES invoices (id),
    result TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX payments_party ON payments (party_id);

-- Credit sources: payment xDRs (`source_xdr_id`) and invoices with a negative total (`source_invoice_id`).
-- Unallocated credit of a source = its credit minus the sum of its allocations.
CREATE TABLE allocations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    party_id BIGINT NOT NULL REFERENCES parties (id),
    source_xdr_id BIGINT REFERENCES xdrs (id),
    source_invoice_id BIGINT REFERENCES invoices (id),
    invoice_id BIGINT NOT NULL REFERENCES invoices (id),
    amount BIGINT NOT NULL CHECK (amount > 0),
    at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    CHECK ((source_xdr_id IS NULL) <> (source_invoice_id IS NULL))
);
CREATE INDEX allocations_invoice ON allocations (invoice_id);
CREATE INDEX allocations_source_xdr ON allocations (source_xdr_id) WHERE source_xdr_id IS NOT NULL;
CREATE INDEX allocations_source_invoice ON allocations (source_invoice_id) WHERE source_invoice_id IS NOT NULL;
CREATE INDEX allocations_party ON allocations (party_id);
CREATE INDEX xdrs_party_payments ON xdrs (party_id) WHERE kind = 'payment';
