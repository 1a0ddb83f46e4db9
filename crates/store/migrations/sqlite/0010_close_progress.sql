-- Close progress (customer-classes §5.3): a close runs in batches of parties, and each batch records one row
-- per step it completed, naming the periods the step covered. A period remembers the batch that froze it and
-- the instant it closes at, so a resumed close starts at its first unfinished step with the same issue date.
ALTER TABLE billing_periods ADD COLUMN close_at BIGINT;
ALTER TABLE billing_periods ADD COLUMN close_batch_id BIGINT;

CREATE TABLE close_batches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at BIGINT NOT NULL
);

CREATE TABLE close_progress (
    batch_id BIGINT NOT NULL REFERENCES close_batches (id),
    step TEXT NOT NULL,
    -- The ids of the periods the step covered, comma-separated in ascending order.
    period_ids TEXT NOT NULL,
    completed_at BIGINT NOT NULL,
    PRIMARY KEY (batch_id, step)
);
