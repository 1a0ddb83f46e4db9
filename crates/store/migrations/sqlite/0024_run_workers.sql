-- The workers taking part in a billing or collection run. Several `classbill worker` processes may share one
-- run: each closes the parties it claims and adds its own counts to the run. A participant holds a lease that it
-- renews while it works; the run completes when no participant is left unfinished, and a participant whose lease
-- lapsed (a killed worker) is marked `lapsed` by the worker that takes over its share, so it never holds the run
-- open for ever.
CREATE TABLE billing_run_workers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id BIGINT NOT NULL REFERENCES billing_runs (id),
    worker TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('working', 'finished', 'failed', 'lapsed')),
    joined_at BIGINT NOT NULL,
    lease_until BIGINT NOT NULL,
    finished_at BIGINT,
    periods_due BIGINT NOT NULL DEFAULT 0,
    periods_closed BIGINT NOT NULL DEFAULT 0,
    periods_failed BIGINT NOT NULL DEFAULT 0,
    invoices_issued BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX billing_run_workers_run ON billing_run_workers (run_id);

CREATE TABLE collection_run_workers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id BIGINT NOT NULL REFERENCES collection_runs (id),
    worker TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('working', 'finished', 'failed', 'lapsed')),
    joined_at BIGINT NOT NULL,
    lease_until BIGINT NOT NULL,
    finished_at BIGINT,
    events_due BIGINT NOT NULL DEFAULT 0,
    events_fired BIGINT NOT NULL DEFAULT 0,
    events_dropped BIGINT NOT NULL DEFAULT 0,
    approvals BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX collection_run_workers_run ON collection_run_workers (run_id);

-- Workers look for queued and running runs on every poll.
CREATE INDEX billing_runs_open ON billing_runs (id) WHERE status IN ('queued', 'running');
CREATE INDEX collection_runs_open ON collection_runs (id) WHERE status IN ('queued', 'running');
