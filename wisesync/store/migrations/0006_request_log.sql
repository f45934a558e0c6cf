-- The request log (wisesync.requestlog): one row per HTTP exchange with ConnectWise or a
-- ledger. No headers, ever; bodies only with requests.debug_bodies, redacted.
CREATE TABLE api_requests (
    id              bigserial PRIMARY KEY,
    at              timestamptz NOT NULL,
    company         text,
    plugin          text NOT NULL,
    system          text NOT NULL,
    method          text NOT NULL,
    host            text NOT NULL,
    path            text NOT NULL,         -- with secret query values replaced by ***
    status          integer,               -- NULL: no response (error says why)
    error           text,
    duration_ms     integer NOT NULL,
    retry           integer NOT NULL,      -- tries of the same request before this one
    correlation_id  text,                  -- Xero-Correlation-Id, intuit_tid, ...
    run_id          text,
    records         text[] NOT NULL DEFAULT '{}',  -- "invoice:1042"
    event_ids       text[] NOT NULL DEFAULT '{}',  -- the RecordEvents (attempts.record_event_id)
    request_body    text,
    response_body   text
);
CREATE INDEX api_requests_at ON api_requests (at);
CREATE INDEX api_requests_company ON api_requests (company, at DESC);
CREATE INDEX api_requests_records ON api_requests USING gin (records);
CREATE INDEX api_requests_events ON api_requests USING gin (event_ids);
CREATE INDEX api_requests_run ON api_requests (run_id) WHERE run_id IS NOT NULL;
