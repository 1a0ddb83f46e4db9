-- A collection run takes the parties with due events in id order, a batch at a time, from the last party of the
-- previous batch. Walking this index in party order answers a batch without reading every due event above that
-- point again, which made a run quadratic in the number of due events.
CREATE INDEX collection_items_party_due ON collection_items (party_id, due_at) WHERE state = 'pending';
