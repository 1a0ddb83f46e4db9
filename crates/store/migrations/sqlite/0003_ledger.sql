-- The ledger (customer-classes §5.1) and billing periods (§5.2). Instants are microseconds since the epoch;
-- money and quantities are counts of 10^-5 units; tax rates are counts of 10^-4 percent. Period bounds are
-- named start_at / end_at because END is a reserved word in both dialects.
CREATE TABLE billing_periods (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    party_id BIGINT NOT NULL REFERENCES parties (id),
    start_at BIGINT NOT NULL,
    end_at BIGINT NOT NULL,
    status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closing', 'closed')),
    class_revision BIGINT,
    frozen_at BIGINT,
    close_error TEXT,
    created_at BIGINT NOT NULL,
    UNIQUE (party_id, start_at)
);
CREATE INDEX billing_periods_status ON billing_periods (status, end_at);

CREATE TABLE xdrs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    party_id BIGINT NOT NULL REFERENCES parties (id),
    period_id BIGINT NOT NULL REFERENCES billing_periods (id),
    occurred_at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    service TEXT NOT NULL,
    rate_code TEXT,
    description TEXT,
    quantity BIGINT NOT NULL,
    amount BIGINT NOT NULL,
    external_id TEXT,
    invoice_id BIGINT,
    hidden BOOLEAN NOT NULL DEFAULT FALSE,
    late BOOLEAN NOT NULL DEFAULT FALSE,
    tax_name TEXT,
    tax_rate_percent BIGINT,
    tax_base BIGINT,
    tax_amount BIGINT,
    reverse_charge BOOLEAN,
    outside_scope BOOLEAN,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX xdrs_party_external_id ON xdrs (party_id, external_id) WHERE external_id IS NOT NULL;
CREATE INDEX xdrs_party_period ON xdrs (party_id, period_id);
CREATE INDEX xdrs_period ON xdrs (period_id);
