-- Core tables: per-company options set at run time, and who changed them.

CREATE TABLE company_options (
    company     text NOT NULL,
    name        text NOT NULL,
    value       text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    updated_by  text NOT NULL,
    PRIMARY KEY (company, name)
);

CREATE TABLE options_audit (
    id          bigserial PRIMARY KEY,
    company     text NOT NULL,
    name        text NOT NULL,
    old_value   text,
    new_value   text NOT NULL,
    changed_by  text NOT NULL,
    changed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX options_audit_company ON options_audit (company, changed_at);
