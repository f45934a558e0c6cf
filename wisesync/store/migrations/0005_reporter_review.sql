-- Reporter and review additions to 0004_pipeline.sql.
-- Dead letters keep the original message (so `replay --dlq` can republish from the table) and,
-- when the original decodes as a RecordEvent, the run and record it belonged to (so a run's
-- review and wait_for_run account for records that got no result).

ALTER TABLE dead_letters
    ADD COLUMN original_key   bytea,
    ADD COLUMN original_value bytea,
    ADD COLUMN run_id         text,
    ADD COLUMN record_type    text,
    ADD COLUMN source_id      text;
CREATE INDEX dead_letters_run ON dead_letters (run_id) WHERE run_id IS NOT NULL;
CREATE INDEX dead_letters_company ON dead_letters (company, first_seen);

-- The review without --run reads the latest state of each record in a period.
CREATE INDEX records_updated ON records (updated_at);

-- Dead letters and replays look attempts up by the record event they answer.
CREATE INDEX attempts_event ON attempts (record_event_id);
