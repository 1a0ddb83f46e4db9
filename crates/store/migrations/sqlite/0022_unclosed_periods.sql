-- A billing run, and so every scheduler tick, looks only at the parties it has work for: those without an
-- unclosed period reaching past the run's instant, and those with an unclosed period that has ended. Most parties
-- have exactly one unclosed period, so both tests are one probe of this index per party.
CREATE INDEX billing_periods_unclosed ON billing_periods (party_id, end_at) WHERE status <> 'closed';
