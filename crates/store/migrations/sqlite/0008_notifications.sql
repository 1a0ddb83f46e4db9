-- Notifications (customer-classes §5.13): the transactional outbox, every delivery attempt, and the webhook
-- endpoints of each owner. Instants in microseconds since the epoch.

-- One row per message: written in the transaction of its cause, delivered later by the worker.
-- `(event_key, subject_id, occurrence, channel)` and, for webhooks, the endpoint identify a message, so an
-- occurrence written again is ignored and never sent twice.
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_key TEXT NOT NULL,
    subject_id BIGINT NOT NULL,
    occurrence TEXT NOT NULL,
    channel TEXT NOT NULL CHECK (channel IN ('email', 'sms', 'webhook')),
    webhook_endpoint_id BIGINT,
    party_id BIGINT REFERENCES parties (id),
    -- Who sees the row in the delivery log: the party's owner (null = the operator).
    owner_reseller_id BIGINT,
    recipient TEXT,
    sender TEXT,
    subject TEXT,
    text_body TEXT,
    html_body TEXT,
    sms_text TEXT,
    json_body TEXT,
    status TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'dead', 'skipped')),
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT,
    -- A worker holds the row until then while it sends; an expired claim is taken over.
    claimed_until BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    sent_at BIGINT
);
CREATE UNIQUE INDEX outbox_message ON outbox (event_key, subject_id, occurrence, channel, COALESCE(webhook_endpoint_id, 0));
CREATE INDEX outbox_due ON outbox (next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX outbox_owner ON outbox (owner_reseller_id, id);
CREATE INDEX outbox_party ON outbox (party_id, id);

CREATE TABLE outbox_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    outbox_id BIGINT NOT NULL REFERENCES outbox (id),
    attempt BIGINT NOT NULL,
    at BIGINT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('sent', 'failed')),
    error TEXT
);
CREATE INDEX outbox_attempts_message ON outbox_attempts (outbox_id, attempt);

-- Where an owner's webhook deliveries go; `secret_ref` names a secret of the same owner (`/secrets`).
CREATE TABLE webhook_endpoints (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_reseller_id BIGINT REFERENCES parties (id),
    url TEXT NOT NULL,
    secret_ref TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX webhook_endpoints_owner ON webhook_endpoints (owner_reseller_id, id);
