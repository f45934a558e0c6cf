-- OAuth connections of ledger plugins (Xero, QBO) and small per-plugin state.
--
-- oauth_tokens: one row per (company, provider). The token set (access token,
-- refresh token, tenant/realm and other provider data) is one Fernet ciphertext
-- keyed by WISESYNC_SECRET_KEY; only its expiry and status are in the clear.
-- A refresh runs inside SELECT ... FOR UPDATE on the row, so two processes never
-- spend the same (rotating) refresh token.

CREATE TABLE oauth_tokens (
    company        text NOT NULL,
    provider       text NOT NULL,
    token          bytea NOT NULL,
    expires_at     timestamptz,
    status         text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'invalid')),
    status_reason  text,
    version        bigint NOT NULL DEFAULT 1,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (company, provider)
);

-- plugin_state: a tiny key-value store for plugins (e.g. the Xero payments watermark).

CREATE TABLE plugin_state (
    company     text NOT NULL,
    plugin      text NOT NULL,
    key         text NOT NULL,
    value       text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (company, plugin, key)
);
