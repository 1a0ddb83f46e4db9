-- Samples of measured services (customer-classes §5.11). `at` and `created_at` are microseconds since the
-- epoch; a second sample for the same party, metric and instant replaces the first.
CREATE TABLE measurements (
    party_id BIGINT NOT NULL REFERENCES parties (id),
    metric TEXT NOT NULL CHECK (metric IN ('active_calls', 'concurrent_calls', 'pbx_extensions')),
    at BIGINT NOT NULL,
    value BIGINT NOT NULL CHECK (value >= 0),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (party_id, metric, at)
);
