-- Each class keeps how many parties belong to it, so that listing classes does not count the parties of every
-- class on every request, a cost that grows with the customer base. Triggers keep the count with every write of
-- a party's class, whichever statement makes it. They run once per statement, not per row: a bulk assignment
-- of thousands of parties then changes each class's row once, where a row trigger would rewrite the same row
-- once per party within one transaction, each time a longer chain of versions to walk.
ALTER TABLE customer_classes ADD COLUMN member_count BIGINT NOT NULL DEFAULT 0;
UPDATE customer_classes c SET member_count = (SELECT COUNT(*) FROM parties p WHERE p.class_id = c.id);

CREATE FUNCTION parties_count_members() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    change RECORD;
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE customer_classes c SET member_count = c.member_count + d.n
        FROM (SELECT class_id, COUNT(*) AS n FROM new_rows GROUP BY class_id) d WHERE c.id = d.class_id;
    ELSIF TG_OP = 'DELETE' THEN
        UPDATE customer_classes c SET member_count = c.member_count - d.n
        FROM (SELECT class_id, COUNT(*) AS n FROM old_rows GROUP BY class_id) d WHERE c.id = d.class_id;
    ELSE
        -- A move changes two classes; changing them in id order keeps two opposite moves from deadlocking.
        FOR change IN
            SELECT class_id, SUM(n) AS n FROM (
                SELECT o.class_id, -1 AS n FROM old_rows o JOIN new_rows w ON w.id = o.id WHERE w.class_id <> o.class_id
                UNION ALL
                SELECT w.class_id, 1 AS n FROM old_rows o JOIN new_rows w ON w.id = o.id WHERE w.class_id <> o.class_id
            ) m GROUP BY class_id ORDER BY class_id
        LOOP
            UPDATE customer_classes SET member_count = member_count + change.n WHERE id = change.class_id;
        END LOOP;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER parties_join_class AFTER INSERT ON parties REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION parties_count_members();
CREATE TRIGGER parties_change_class AFTER UPDATE ON parties REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION parties_count_members();
CREATE TRIGGER parties_leave_class AFTER DELETE ON parties REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION parties_count_members();
