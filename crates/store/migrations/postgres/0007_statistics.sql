-- Statistics files of closed periods (customer-classes §5.12), written by step S5 when the class archives xDRs.
-- `created_at` is microseconds since the epoch.
CREATE TABLE period_statistics (
    period_id BIGINT PRIMARY KEY REFERENCES billing_periods (id),
    full_name TEXT NOT NULL,
    full_csv TEXT NOT NULL,
    summary_name TEXT NOT NULL,
    summary_csv TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
