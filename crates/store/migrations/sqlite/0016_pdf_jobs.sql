-- Invoice PDFs waiting to be rendered (customer-classes §2.4 `pdf_generation`): `end_of_period` invoices are
-- ready at once, `postponed` ones when the close pass that issued them has finished. The worker renders ready
-- jobs and keeps the PDF in invoice_documents; `on_demand` invoices never get a job.
CREATE TABLE pdf_jobs (
    invoice_id BIGINT PRIMARY KEY REFERENCES invoices (id),
    -- The close pass that queued a postponed job; it releases its own jobs when it ends.
    pass_key TEXT NOT NULL,
    ready BOOLEAN NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX pdf_jobs_ready ON pdf_jobs (invoice_id) WHERE ready;
