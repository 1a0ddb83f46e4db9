-- A worker claims the PDF jobs it renders until this instant, so that several workers share the queue instead
-- of rendering the same invoices; a worker that dies leaves its claims to lapse.
ALTER TABLE pdf_jobs ADD COLUMN claimed_until BIGINT;
