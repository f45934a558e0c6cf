-- The pipeline's durable state: posting journal (poster), results (reporter),
-- acknowledgements (acknowledger), parked records (daily limits), dead letters.

-- One row per record the poster has claimed: the exactly-once guard (ARCHITECTURE section 3).
CREATE TABLE posting_journal (
    company          text NOT NULL,
    target           text NOT NULL,
    record_type      text NOT NULL,
    source_id        text NOT NULL,
    state            text NOT NULL CHECK (state IN ('claimed', 'posted', 'failed')),
    content_hash     text NOT NULL,
    record_event_id  text NOT NULL,        -- the event the stored result answers
    ledger_id        text,
    ledger_number    text,
    ledger_total     numeric,
    last_result      bytea,                -- the PostingResult, Avro single-object encoded
    attempts         integer NOT NULL DEFAULT 0,
    claimed_at       timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (company, target, record_type, source_id)
);
CREATE INDEX posting_journal_state ON posting_journal (company, state);

-- Run manifests (wisesync.runs.v1).
CREATE TABLE sync_runs (
    run_id        text PRIMARY KEY,
    company       text NOT NULL,
    trigger       text NOT NULL,
    requested_by  text NOT NULL,
    record_types  text[] NOT NULL,
    extracted     jsonb NOT NULL DEFAULT '{}',
    held          jsonb NOT NULL DEFAULT '{}',
    started_at    timestamptz NOT NULL,
    finished_at   timestamptz,
    error         text
);
CREATE INDEX sync_runs_company ON sync_runs (company, started_at DESC);

-- Every posting attempt (one row per PostingResult, upserted by result_id).
CREATE TABLE attempts (
    result_id        text PRIMARY KEY,
    record_event_id  text NOT NULL,
    run_id           text NOT NULL,
    trigger          text NOT NULL,
    company          text NOT NULL,
    record_type      text NOT NULL,
    source           text NOT NULL,
    source_id        text NOT NULL,
    target           text NOT NULL,
    status           text NOT NULL,
    document_number  text,
    ledger_id        text,
    ledger_number    text,
    ledger_total     numeric,
    source_total     numeric,
    source_batch_ids text[] NOT NULL DEFAULT '{}',
    attempt          integer NOT NULL,
    api_calls        integer NOT NULL,
    content_hash     text NOT NULL DEFAULT '',
    finished_at      timestamptz NOT NULL
);
CREATE INDEX attempts_run ON attempts (run_id);
CREATE INDEX attempts_record ON attempts (company, record_type, source_id, finished_at DESC);
CREATE INDEX attempts_finished ON attempts (finished_at);

-- Every message of every attempt.
CREATE TABLE result_messages (
    result_id  text NOT NULL REFERENCES attempts (result_id) ON DELETE CASCADE,
    idx        integer NOT NULL,
    severity   text NOT NULL,
    code       text NOT NULL,
    text       text NOT NULL,
    line       integer,
    PRIMARY KEY (result_id, idx)
);
CREATE INDEX result_messages_code ON result_messages (code);

-- The latest state of each record (the review's main table).
CREATE TABLE records (
    company          text NOT NULL,
    source           text NOT NULL,
    record_type      text NOT NULL,
    source_id        text NOT NULL,
    target           text NOT NULL,
    status           text NOT NULL,
    document_number  text,
    ledger_id        text,
    ledger_number    text,
    last_result_id   text NOT NULL,
    last_run_id      text NOT NULL,
    attempts         integer NOT NULL DEFAULT 1,
    updated_at       timestamptz NOT NULL,
    PRIMARY KEY (company, source, record_type, source_id)
);
CREATE INDEX records_status ON records (company, status);

-- The reporter's consumer offsets, written in the same transaction as the rows.
CREATE TABLE reporter_offsets (
    group_id     text NOT NULL,
    topic        text NOT NULL,
    partition    integer NOT NULL,
    next_offset  bigint NOT NULL,
    PRIMARY KEY (group_id, topic, partition)
);

-- Acknowledgements owed to sources (ConnectWise batches, ledger payment watermarks).
CREATE TABLE acknowledgements (
    result_id        text PRIMARY KEY,
    company          text NOT NULL,
    source           text NOT NULL,
    record_type      text NOT NULL,
    source_id        text NOT NULL,
    result           bytea NOT NULL,       -- the PostingResult, single-object encoded
    state            text NOT NULL CHECK (state IN ('pending', 'done')),
    batch_id         text,
    tries            integer NOT NULL DEFAULT 0,
    last_error       text,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    created_at       timestamptz NOT NULL DEFAULT now(),
    done_at          timestamptz
);
CREATE INDEX acknowledgements_due ON acknowledgements (state, next_attempt_at);
CREATE INDEX acknowledgements_record ON acknowledgements (company, record_type, source_id);

-- Records parked while their company is paused (a ledger's daily API limit).
CREATE TABLE parked_records (
    id          bigserial PRIMARY KEY,
    company     text NOT NULL,
    target      text NOT NULL,
    not_before  timestamptz NOT NULL,
    reason      text NOT NULL,
    event       bytea NOT NULL,
    parked_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX parked_records_due ON parked_records (not_before);

-- Dead letters as the reporter saw them on wisesync.dlq.v1 (for review and replay --dlq).
CREATE TABLE dead_letters (
    topic             text NOT NULL,
    partition         integer NOT NULL,
    "offset"          bigint NOT NULL,
    original_topic    text NOT NULL,
    original_partition integer NOT NULL,
    original_offset   bigint NOT NULL,
    company           text,
    record_event_id   text,
    error_class       text NOT NULL,
    error_text        text NOT NULL,
    consumer_group    text NOT NULL,
    first_seen        timestamptz NOT NULL,
    replayed_at       timestamptz,
    PRIMARY KEY (topic, partition, "offset")
);
