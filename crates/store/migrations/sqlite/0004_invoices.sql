-- Period close and billing runs (customer-classes §5.3, §5.6). Money in 10^-5 units, instants in microseconds
-- since the epoch, dates as YYYY-MM-DD text.
ALTER TABLE billing_periods ADD COLUMN settings_snapshot TEXT;

CREATE TABLE invoices (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    number TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('regular', 'oot', 'recurring_fees')),
    party_id BIGINT NOT NULL REFERENCES parties (id),
    owner_reseller_id BIGINT,
    class_id BIGINT NOT NULL,
    class_revision BIGINT NOT NULL,
    settings_snapshot TEXT NOT NULL,
    period_id BIGINT REFERENCES billing_periods (id),
    issue_date TEXT NOT NULL,
    due_date TEXT NOT NULL,
    net_total BIGINT NOT NULL,
    tax_total BIGINT NOT NULL,
    rounding BIGINT NOT NULL,
    total BIGINT NOT NULL,
    previous_balance BIGINT NOT NULL,
    payments BIGINT NOT NULL,
    out_of_turn BIGINT NOT NULL,
    amount_due BIGINT NOT NULL,
    credit_carried BIGINT NOT NULL,
    open_amount BIGINT NOT NULL,
    status TEXT NOT NULL,
    review_state TEXT NOT NULL,
    card_only BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX invoices_close_once ON invoices (party_id, period_id, kind)
    WHERE kind IN ('regular', 'recurring_fees');
CREATE UNIQUE INDEX invoices_owner_number ON invoices (COALESCE(owner_reseller_id, 0), number);
CREATE INDEX invoices_party ON invoices (party_id);
CREATE INDEX xdrs_invoice ON xdrs (invoice_id) WHERE invoice_id IS NOT NULL;

-- One gapless counter per owner: 0 = the administrator, else the reseller's id.
CREATE TABLE invoice_sequences (
    owner_key BIGINT PRIMARY KEY,
    prefix TEXT NOT NULL DEFAULT 'INV-',
    next_number BIGINT NOT NULL DEFAULT 1
);

CREATE TABLE billing_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    as_of BIGINT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'completed', 'failed')),
    periods_due BIGINT NOT NULL DEFAULT 0,
    periods_closed BIGINT NOT NULL DEFAULT 0,
    periods_failed BIGINT NOT NULL DEFAULT 0,
    invoices_issued BIGINT NOT NULL DEFAULT 0,
    error TEXT,
    created_at BIGINT NOT NULL,
    started_at BIGINT,
    finished_at BIGINT
);

CREATE TABLE billing_run_failures (
    run_id BIGINT NOT NULL REFERENCES billing_runs (id),
    party_id BIGINT NOT NULL,
    period_id BIGINT NOT NULL,
    error TEXT NOT NULL
);
CREATE INDEX billing_run_failures_run ON billing_run_failures (run_id);
