-- The web console (wisesync/console/): people who sign in, their failed sign-ins (for
-- throttling), what they did (security events; option changes stay in options_audit), and
-- the secret that signs their session cookies (generated once, shared by every process).

CREATE TABLE console_users (
    id             bigserial PRIMARY KEY,
    username       text NOT NULL UNIQUE,
    password_hash  text NOT NULL,
    role           text NOT NULL CHECK (role IN ('super_admin', 'account_admin', 'user')),
    -- the companies of the person's account; empty = every company (super admins)
    companies      text[] NOT NULL DEFAULT '{}',
    disabled       boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE console_signin_failures (
    id        bigserial PRIMARY KEY,
    username  text NOT NULL,
    client    text NOT NULL,
    at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX console_signin_failures_user ON console_signin_failures (username, at);
CREATE INDEX console_signin_failures_client ON console_signin_failures (client, at);

CREATE TABLE console_audit (
    id        bigserial PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    username  text,
    action    text NOT NULL,
    company   text,
    detail    text NOT NULL DEFAULT '',
    client    text
);
CREATE INDEX console_audit_at ON console_audit (at);

CREATE TABLE console_secrets (
    name        text PRIMARY KEY,
    value       text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
