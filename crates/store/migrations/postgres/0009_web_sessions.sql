-- Sessions of the web UI. Only the SHA-256 of the session id (the cookie) is stored, so a leaked database does
-- not leak usable sessions; the CSRF token is useless without the cookie and is kept as is to be put into forms.
CREATE TABLE web_sessions (
    id_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX web_sessions_expiry ON web_sessions (expires_at);
