-- Failed password logins, kept in the database so that the limits hold across restarts and across several
-- server processes. A row counts against its client address for 15 minutes; it counts against its login only
-- until that login signs in successfully or is locked (then `counts_for_login` is cleared), so a lock-out starts
-- a fresh count once it ends. Logins are stored as typed, whether or not such a user exists.
CREATE TABLE login_failures (
    id INTEGER PRIMARY KEY,
    login TEXT NOT NULL,
    client_ip TEXT NOT NULL,
    failed_at BIGINT NOT NULL,
    counts_for_login BOOLEAN NOT NULL
);
CREATE INDEX login_failures_login ON login_failures (login, failed_at);
CREATE INDEX login_failures_client ON login_failures (client_ip, failed_at);

-- Logins refused until `locked_until`, even with the right password.
CREATE TABLE login_lockouts (
    login TEXT PRIMARY KEY,
    locked_until BIGINT NOT NULL
);
