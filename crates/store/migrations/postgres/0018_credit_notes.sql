-- Credit notes (corrections of issued invoices): stored as invoices of kind `credit_note` with a negative
-- total, numbered from a sequence of their own per owner, and linked to the invoice they correct.
ALTER TABLE invoices DROP CONSTRAINT invoices_kind_check;
ALTER TABLE invoices ADD CONSTRAINT invoices_kind_check
    CHECK (kind IN ('regular', 'oot', 'recurring_fees', 'credit_note'));

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
