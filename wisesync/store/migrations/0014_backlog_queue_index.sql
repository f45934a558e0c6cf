-- The poster's backlog (parked_records with reason 'queued') is read one company's oldest
-- rows at a time (Backlog.take). At month end it holds most of every company's records, and
-- without this index each read scanned them all: tens of thousands of rows for a hundred.
CREATE INDEX parked_records_queue ON parked_records (company, target, reason, id);
