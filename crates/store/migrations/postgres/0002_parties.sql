-- Parties get a manual block flag (customer-classes §5.9 rule 2) and a lower-cased name for substring search,
-- computed in Rust so both backends compare the same bytes.
ALTER TABLE parties ADD COLUMN blocked BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE parties ADD COLUMN name_key TEXT NOT NULL DEFAULT '';
UPDATE parties SET name_key = LOWER(name);
CREATE INDEX parties_kind_id ON parties (kind, id);
CREATE INDEX parties_class_id ON parties (class_id, id);
