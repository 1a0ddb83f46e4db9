-- A change of a party's billing_period or time_zone takes effect when its current period ends (customer-classes
-- §5.2 rule 4): the end of that period, where the new schedule starts, is kept here (microseconds since the
-- epoch; null = the schedule runs from the activation).
ALTER TABLE parties ADD COLUMN period_anchor BIGINT;
