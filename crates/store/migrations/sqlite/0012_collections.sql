-- Collections (customer-classes §5.8, §5.9): every invoice's schedule, frozen at issue; the limitation and
-- suspension an invoice holds active; the history of party statuses; and collection runs. Instants in
-- microseconds since the epoch, dates as YYYY-MM-DD text.

-- One planned event of an invoice. `state` moves from `pending` to `fired`, `dropped` or `cancelled` exactly
-- once; a run only takes `pending` rows, so no event fires twice.
CREATE TABLE collection_items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    invoice_id BIGINT NOT NULL REFERENCES invoices (id),
    party_id BIGINT NOT NULL REFERENCES parties (id),
    event TEXT NOT NULL,
    -- The position of `event` in the firing order of events due at the same instant (§5.8 rule 2).
    firing_rank BIGINT NOT NULL,
    local_date TEXT NOT NULL,
    due_at BIGINT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'fired', 'dropped', 'cancelled')),
    fired_at BIGINT
);
CREATE INDEX collection_items_invoice ON collection_items (invoice_id, due_at, firing_rank);
CREATE INDEX collection_items_due ON collection_items (due_at, party_id) WHERE state = 'pending';

-- Set while the invoice's limitation or suspension is active (the instant it began), cleared on release.
ALTER TABLE invoices ADD COLUMN limited_at BIGINT;
ALTER TABLE invoices ADD COLUMN suspended_at BIGINT;
-- An invoice held in review with `review_hold_days` is approved automatically from this instant (§5.8 rule 4).
ALTER TABLE invoices ADD COLUMN review_due_at BIGINT;
CREATE INDEX invoices_review_due ON invoices (review_due_at) WHERE review_state = 'under_review';

-- Every change of a party's status (§5.9 rule 2) with its cause.
CREATE TABLE party_status_changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    party_id BIGINT NOT NULL REFERENCES parties (id),
    from_status TEXT NOT NULL,
    to_status TEXT NOT NULL,
    at BIGINT NOT NULL,
    cause TEXT NOT NULL,
    invoice_id BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX party_status_changes_party ON party_status_changes (party_id, id);

CREATE TABLE collection_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    as_of BIGINT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'completed', 'failed')),
    events_due BIGINT NOT NULL DEFAULT 0,
    events_fired BIGINT NOT NULL DEFAULT 0,
    events_dropped BIGINT NOT NULL DEFAULT 0,
    approvals BIGINT NOT NULL DEFAULT 0,
    error TEXT,
    created_at BIGINT NOT NULL,
    started_at BIGINT,
    finished_at BIGINT
);
