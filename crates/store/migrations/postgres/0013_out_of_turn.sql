-- Out-of-turn invoices and charge requests (customer-classes §5.10, §5.8 rule 5). Money in 10^-5 units,
-- instants in microseconds since the epoch.

-- One row per issued out-of-turn invoice: the request's idempotency key and a hash of its body, so a re-send
-- with the same body answers the same invoice and another body under the same key is refused.
CREATE TABLE oot_requests (
    party_id BIGINT NOT NULL REFERENCES parties (id),
    idempotency_key TEXT NOT NULL,
    body_hash TEXT NOT NULL,
    invoice_id BIGINT NOT NULL REFERENCES invoices (id),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (party_id, idempotency_key)
);

-- One row per `charge_requested` event, and the first result the charge connector reported for it. Later
-- results for the same request change nothing.
CREATE TABLE charge_requests (
    request_id TEXT PRIMARY KEY,
    invoice_id BIGINT NOT NULL REFERENCES invoices (id),
    party_id BIGINT NOT NULL REFERENCES parties (id),
    amount BIGINT NOT NULL,
    currency TEXT NOT NULL,
    attempt BIGINT NOT NULL,
    requested_at BIGINT NOT NULL,
    outcome TEXT CHECK (outcome IN ('succeeded', 'failed')),
    -- The `at` the connector reported, and when its result arrived.
    outcome_at BIGINT,
    reason TEXT,
    payment_xdr_id BIGINT REFERENCES xdrs (id),
    result_recorded_at BIGINT
);
CREATE UNIQUE INDEX charge_requests_attempt ON charge_requests (invoice_id, attempt);
