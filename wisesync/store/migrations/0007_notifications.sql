-- Notifications sent (wisesync.notify): one row per event and channel, so an event is
-- announced once per channel, across restarts and with several notifier processes.
CREATE TABLE notifications_sent (
    event_key  text NOT NULL,          -- "run_failed:<run id>", "dead_letters:<t>:<p>:<o>", ...
    channel    text NOT NULL CHECK (channel IN ('email', 'webhook')),
    company    text,
    kind       text NOT NULL,
    title      text NOT NULL,
    sent_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_key, channel)
);
CREATE INDEX notifications_sent_at ON notifications_sent (sent_at);
