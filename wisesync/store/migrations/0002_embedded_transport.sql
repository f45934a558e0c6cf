-- Embedded transport (wisesync.transport.embedded): Kafka's log semantics in Postgres.
-- Applied once by `wisesync db migrate`; safe inside one transaction.

-- A topic and its fixed partition count.
CREATE TABLE IF NOT EXISTS transport_topics (
    topic       text        PRIMARY KEY,
    partitions  integer     NOT NULL CHECK (partitions > 0),
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per partition holding the offset the next message gets. A producer updates it in
-- the same transaction as its insert, so offsets are dense, and become visible in order (the
-- row lock serialises writers of one partition until they commit).
CREATE TABLE IF NOT EXISTS transport_partitions (
    topic        text    NOT NULL REFERENCES transport_topics (topic) ON DELETE CASCADE,
    partition    integer NOT NULL CHECK (partition >= 0),
    next_offset  bigint  NOT NULL DEFAULT 0 CHECK (next_offset >= 0),
    PRIMARY KEY (topic, partition)
);

-- The append-only log. header_names[i] goes with header_values[i].
CREATE TABLE IF NOT EXISTS transport_log (
    topic          text     NOT NULL,
    partition      integer  NOT NULL,
    log_offset     bigint   NOT NULL,
    timestamp_ms   bigint   NOT NULL,
    key            bytea,
    value          bytea    NOT NULL,
    header_names   text[]   NOT NULL DEFAULT '{}',
    header_values  bytea[]  NOT NULL DEFAULT '{}',
    PRIMARY KEY (topic, partition, log_offset)
);

-- For offsets_for_time (seek / reset to a timestamp).
CREATE INDEX IF NOT EXISTS transport_log_time_idx
    ON transport_log (topic, partition, timestamp_ms);

-- Live members of consumer groups. A member is alive while lease_until (database clock) is
-- in the future; it renews the lease by heartbeat.
CREATE TABLE IF NOT EXISTS transport_members (
    group_id     text        NOT NULL,
    member_id    text        NOT NULL,
    client_id    text        NOT NULL,
    topics       text[]      NOT NULL,
    joined_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    lease_until  timestamptz NOT NULL,
    PRIMARY KEY (group_id, member_id)
);

-- Which member owns a partition for a group. A member claims a partition only when no live
-- member holds it, so a partition has at most one live owner.
CREATE TABLE IF NOT EXISTS transport_owners (
    group_id   text        NOT NULL,
    topic      text        NOT NULL,
    partition  integer     NOT NULL,
    member_id  text        NOT NULL,
    since      timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (group_id, topic, partition)
);

-- Committed offsets: the next offset the group reads.
CREATE TABLE IF NOT EXISTS transport_offsets (
    group_id      text        NOT NULL,
    topic         text        NOT NULL,
    partition     integer     NOT NULL,
    next_offset   bigint      NOT NULL CHECK (next_offset >= 0),
    committed_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (group_id, topic, partition)
);
