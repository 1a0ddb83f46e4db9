-- no-transaction
-- Credit notes (corrections of issued invoices): stored as invoices of kind `credit_note` with a negative
-- total, numbered from a sequence of their own per owner, and linked to the invoice they correct.
--
-- SQLite cannot change a CHECK constraint in place, so `invoices` is rebuilt with the new kind list, the way
-- SQLite documents for schema changes ALTER TABLE cannot make: foreign keys off, one transaction, copy, drop,
-- rename, indexes again. The rows of the tables referring to `invoices` keep pointing at the same ids.
PRAGMA foreign_keys = OFF;
BEGIN;
CREATE TABLE invoices_rebuilt (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    number TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('regular', 'oot', 'recurring_fees', 'credit_note')),
    party_id BIGINT NOT NULL REFERENCES parties (id),
    owner_reseller_id BIGINT,
    class_id BIGINT NOT NULL,
    class_revision BIGINT NOT NULL,
    settings_snapshot TEXT NOT NULL,
    period_id BIGINT REFERENCES billing_periods (id),
    issue_date TEXT NOT NULL,
    due_date TEXT NOT NULL,
    net_total BIGINT NOT NULL,
    tax_total BIGINT NOT NULL,
    rounding BIGINT NOT NULL,
    total BIGINT NOT NULL,
    previous_balance BIGINT NOT NULL,
    payments BIGINT NOT NULL,
    out_of_turn BIGINT NOT NULL,
    amount_due BIGINT NOT NULL,
    credit_carried BIGINT NOT NULL,
    open_amount BIGINT NOT NULL,
    status TEXT NOT NULL,
    review_state TEXT NOT NULL,
    card_only BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL,
    limited_at BIGINT,
    suspended_at BIGINT,
    review_due_at BIGINT
);
INSERT INTO invoices_rebuilt (id, number, kind, party_id, owner_reseller_id, class_id, class_revision,
    settings_snapshot, period_id, issue_date, due_date, net_total, tax_total, rounding, total, previous_balance,
    payments, out_of_turn, amount_due, credit_carried, open_amount, status, review_state, card_only, created_at,
    limited_at, suspended_at, review_due_at)
SELECT id, number, kind, party_id, owner_reseller_id, class_id, class_revision,
    settings_snapshot, period_id, issue_date, due_date, net_total, tax_total, rounding, total, previous_balance,
    payments, out_of_turn, amount_due, credit_carried, open_amount, status, review_state, card_only, created_at,
    limited_at, suspended_at, review_due_at
FROM invoices;
DROP TABLE invoices;
ALTER TABLE invoices_rebuilt RENAME TO invoices;
CREATE UNIQUE INDEX invoices_close_once ON invoices (party_id, period_id, kind)
    WHERE kind IN ('regular', 'recurring_fees');
CREATE UNIQUE INDEX invoices_owner_number ON invoices (COALESCE(owner_reseller_id, 0), number);
CREATE INDEX invoices_party ON invoices (party_id);
CREATE INDEX invoices_review_due ON invoices (review_due_at) WHERE review_state = 'under_review';

-- Which invoice a credit note corrects, and why.
CREATE TABLE credit_notes (
    invoice_id BIGINT PRIMARY KEY REFERENCES invoices (id),
    credited_invoice_id BIGINT NOT NULL REFERENCES invoices (id),
    reason TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX credit_notes_credited ON credit_notes (credited_invoice_id);

-- One gapless counter of credit-note numbers per owner: 0 = the administrator, else the reseller's id.
CREATE TABLE credit_note_sequences (
    owner_key BIGINT PRIMARY KEY,
    prefix TEXT NOT NULL DEFAULT 'CN-',
    next_number BIGINT NOT NULL DEFAULT 1
);
COMMIT;
PRAGMA foreign_keys = ON;
