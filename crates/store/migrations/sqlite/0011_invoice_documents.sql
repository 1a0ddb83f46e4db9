-- Rendered invoice documents (customer-classes §2.4 `pdf_generation`): the PDF of an invoice is kept once it
-- has been rendered, with the template it was rendered from, so every later download serves the same bytes.
CREATE TABLE invoice_documents (
    invoice_id BIGINT PRIMARY KEY REFERENCES invoices (id),
    template_id BIGINT NOT NULL,
    pdf BLOB NOT NULL,
    rendered_at BIGINT NOT NULL
);
