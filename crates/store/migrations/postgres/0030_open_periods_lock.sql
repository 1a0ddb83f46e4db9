-- Nothing changes in the schema. Since this version the writes of records no longer lock each party and period
-- they name (FOR KEY SHARE, migration 0029): they take one advisory lock shared, hashtext('classbill.open_periods'),
-- before they read the open periods they write into, and read that those exist; a close's freeze and a
-- termination's removal or shortening of periods take it exclusively. The row locks wrote every period's tuple,
-- and did not conflict with the freeze's update of a period's status. Parties are never deleted.
SELECT 1;
