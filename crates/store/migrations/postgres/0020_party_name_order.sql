-- The customer and reseller lists sort by name (then id) and page from the last row shown: walking this index
-- in order answers a page without sorting every party.
CREATE INDEX parties_name_order ON parties (name_key, id);
