-- A log of the statements that update or delete parties and billing periods, each row naming its transaction. An
-- import keeps the parties and periods it has read between its batches; before the next batch it looks for a
-- transaction of this log that its last snapshot did not see, committed or not, and reads everything again if
-- one is there. A counter in one row, as on SQLite, would make every such writer wait for the others. New
-- periods are not logged: an ingest that misses one finds it when it tries to add it (ON CONFLICT DO NOTHING)
-- and reads the party's periods again.
CREATE TABLE billing_change_log (
    xid xid8 NOT NULL DEFAULT pg_current_xact_id()
);
CREATE INDEX billing_change_log_xid ON billing_change_log (xid);

-- The log is emptied up to a transaction horizon from time to time; a reader whose snapshot is older than the
-- horizon can no longer tell, and reads everything again.
CREATE TABLE billing_change_log_horizon (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    pruned_below xid8 NOT NULL
);
INSERT INTO billing_change_log_horizon (id, pruned_below) VALUES (1, '0');

CREATE FUNCTION log_billing_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO billing_change_log DEFAULT VALUES;
    RETURN NULL;
END
$$;

CREATE TRIGGER parties_changed AFTER UPDATE OR DELETE ON parties
    FOR EACH STATEMENT EXECUTE FUNCTION log_billing_change();
CREATE TRIGGER billing_periods_changed AFTER UPDATE OR DELETE ON billing_periods
    FOR EACH STATEMENT EXECUTE FUNCTION log_billing_change();
