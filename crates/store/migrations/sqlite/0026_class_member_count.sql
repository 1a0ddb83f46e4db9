-- Each class keeps how many parties belong to it, so that listing classes does not count the parties of every
-- class on every request, a cost that grows with the customer base. Triggers keep the count with every write of
-- a party's class, whichever statement makes it.
ALTER TABLE customer_classes ADD COLUMN member_count BIGINT NOT NULL DEFAULT 0;
UPDATE customer_classes SET member_count = (SELECT COUNT(*) FROM parties p WHERE p.class_id = customer_classes.id);

CREATE TRIGGER parties_join_class AFTER INSERT ON parties
BEGIN
    UPDATE customer_classes SET member_count = member_count + 1 WHERE id = NEW.class_id;
END;

CREATE TRIGGER parties_change_class AFTER UPDATE OF class_id ON parties WHEN OLD.class_id IS NOT NEW.class_id
BEGIN
    UPDATE customer_classes SET member_count = member_count - 1 WHERE id = OLD.class_id;
    UPDATE customer_classes SET member_count = member_count + 1 WHERE id = NEW.class_id;
END;

CREATE TRIGGER parties_leave_class AFTER DELETE ON parties
BEGIN
    UPDATE customer_classes SET member_count = member_count - 1 WHERE id = OLD.class_id;
END;
