-- One counter that every write of a party or a billing period moves, whichever statement makes it. An import
-- keeps the parties and periods it has read between its batches and reads them again only when the counter
-- moved (SQLite has one writer at a time, so a counter that stood still means nothing changed in between).
CREATE TABLE billing_changes (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    changes BIGINT NOT NULL
);
INSERT INTO billing_changes (id, changes) VALUES (1, 0);

CREATE TRIGGER parties_changed AFTER UPDATE ON parties
BEGIN
    UPDATE billing_changes SET changes = changes + 1 WHERE id = 1;
END;

CREATE TRIGGER parties_removed AFTER DELETE ON parties
BEGIN
    UPDATE billing_changes SET changes = changes + 1 WHERE id = 1;
END;

CREATE TRIGGER billing_periods_added AFTER INSERT ON billing_periods
BEGIN
    UPDATE billing_changes SET changes = changes + 1 WHERE id = 1;
END;

CREATE TRIGGER billing_periods_changed AFTER UPDATE ON billing_periods
BEGIN
    UPDATE billing_changes SET changes = changes + 1 WHERE id = 1;
END;

CREATE TRIGGER billing_periods_removed AFTER DELETE ON billing_periods
BEGIN
    UPDATE billing_changes SET changes = changes + 1 WHERE id = 1;
END;
