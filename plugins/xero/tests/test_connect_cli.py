"""``wisesync xero connect`` end to end: config file, Postgres, encrypted token row."""

from __future__ import annotations

import psycopg
import pytest
from click.testing import CliRunner
from cryptography.fernet import Fernet

from wisesync.cli import cli
from wisesync.store.tokens import SECRET_KEY_ENV, PostgresTokenStore
from wisesync_xero.connect_cli import add_commands
from wisesync_xero.sandbox import start_sandbox

pytestmark = pytest.mark.postgres


def test_connect_a_custom_connection_from_the_command_line(pg_database, tmp_path, monkeypatch):
    srv = start_sandbox(seed=12)
    try:
        creds = srv.app.credentials()
        monkeypatch.setenv(SECRET_KEY_ENV, Fernet.generate_key().decode())
        monkeypatch.setenv("TEST_DSN", pg_database)
        monkeypatch.setenv("ACME_XERO_ID", creds.client_id)
        monkeypatch.setenv("ACME_XERO_SECRET", creds.client_secret)
        config = tmp_path / "wisesync.toml"
        config.write_text(
            f"""
[store]
dsn_env = "TEST_DSN"

[[companies]]
key = "acme"
name = "Acme MSP"
ledger = "xero"
[companies.connectwise]
base_url = "https://api-na.myconnectwise.net"
company_id = "acme"
public_key_env = "ACME_CW_PUBLIC"
private_key_env = "ACME_CW_PRIVATE"
client_id_env = "ACME_CW_CLIENT"
[companies.xero]
grant = "client_credentials"
client_id_env = "ACME_XERO_ID"
client_secret_env = "ACME_XERO_SECRET"
base_url = "{srv.url}"
identity_url = "{srv.url}"
"""
        )
        add_commands(cli)
        result = CliRunner().invoke(cli, ["--config", str(config), "xero", "connect"])
        assert result.exit_code == 0, result.output
        assert "Wisesync Demo MSP" in result.output
        assert creds.client_secret not in result.output
        row = PostgresTokenStore(pg_database).get("acme", "xero")
        assert row.status == "active"
        assert row.token.data["tenant_id"] == srv.app.tenant_id
        with psycopg.connect(pg_database) as conn:
            (raw,) = conn.execute("SELECT token FROM oauth_tokens").fetchone()
        assert row.token.access_token.encode() not in bytes(raw)
        srv.app.revoke()
        result = CliRunner().invoke(cli, ["--config", str(config), "xero", "connect"])
        assert result.exit_code != 0 and "refused" in result.output
    finally:
        srv.stop()
