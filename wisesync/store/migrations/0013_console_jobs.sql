-- Sync All and replays started from the web console, kept in Postgres so their progress
-- survives a console restart and any console process (not only the one that started it)
-- can show it. The process running the job refreshes heartbeat_at; a job whose heartbeat
-- stops before it finished is shown as stopped (results of what was published still come).
-- Numbered 0013 (not 0009) so it cannot collide with migrations other branches add meanwhile.

CREATE TABLE console_jobs (
    id               text PRIMARY KEY,
    kind             text NOT NULL CHECK (kind IN ('sync_all', 'replay')),
    company          text NOT NULL,
    username         text NOT NULL,
    started_at       timestamptz NOT NULL DEFAULT now(),
    run_ids          text[] NOT NULL DEFAULT '{}',
    extracted        integer NOT NULL DEFAULT 0,
    extracting       boolean NOT NULL DEFAULT true,
    finished         boolean NOT NULL DEFAULT false,
    error            text,
    first_update_at  timestamptz,
    heartbeat_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX console_jobs_company ON console_jobs (company, started_at DESC);
