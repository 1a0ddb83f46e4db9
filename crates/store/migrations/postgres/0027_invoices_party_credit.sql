-- The close asks, for thousands of parties at a time, which of them hold unallocated credit; negative invoices are
-- few, so an index of only those answers without visiting every other invoice of the parties.
CREATE INDEX invoices_party_credit ON invoices (party_id) WHERE total < 0 AND status <> 'void';
