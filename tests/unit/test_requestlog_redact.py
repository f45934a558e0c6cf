"""What the request log may store: no secret query values, no configured secret anywhere,
no personal data in debug bodies; and the ``[requests]`` settings."""

from __future__ import annotations

import json

import pytest

from wisesync.config import ConfigInvalid, parse_config
from wisesync.requestlog.recorder import client_identity, correlation_id
from wisesync.requestlog.redact import configured_secrets, host_and_path, redact_body

SECRET = "canary-9f8e7d6c5b4a"


def test_secret_query_values_are_masked_and_the_rest_kept() -> None:
    host, path = host_and_path(
        "https://user:pw@api.example.com/v1/items?client_secret=abc&page=2",
        {"access_token": "xyz", "conditions": "id > 5"},
        [],
    )
    assert host == "api.example.com"
    assert path == "/v1/items?client_secret=***&page=2&access_token=***&conditions=id+%3E+5"


def test_a_configured_secret_is_masked_wherever_it_appears() -> None:
    _, path = host_and_path(f"https://h/orgs/{SECRET}/items", None, [SECRET])
    assert path == "/orgs/***/items"
    body = redact_body(f'{{"note": "key {SECRET} pasted"}}', [SECRET])
    assert SECRET not in body and "***" in body


def test_debug_bodies_lose_secrets_and_personal_data_but_keep_amounts() -> None:
    body = {
        "Invoices": [
            {
                "Contact": {
                    "Name": "Olivia Rossi",
                    "EmailAddress": "o@x.com.au",
                    "ContactID": "c1",
                },
                "Total": "110.00",
                "LineItems": [{"Description": "Support", "UnitAmount": "100.00"}],
            }
        ],
        "communicationItems": [{"value": "555-0100"}],
        "refresh_token": "rt-1",
        "misc": "reach me at liam@example.org",
    }
    out = json.loads(redact_body(json.dumps(body), []))
    contact = out["Invoices"][0]["Contact"]
    assert contact == {"Name": "***", "EmailAddress": "***", "ContactID": "c1"}
    assert out["Invoices"][0]["Total"] == "110.00"
    assert out["Invoices"][0]["LineItems"][0]["UnitAmount"] == "100.00"
    assert out["communicationItems"] == "***"
    assert out["refresh_token"] == "***" and out["misc"] == "***"
    form = redact_body(b"grant_type=refresh_token&refresh_token=rt-2&client_id=app", [])
    assert form == "grant_type=refresh_token&refresh_token=***&client_id=app"


def test_configured_secrets_are_the_values_every_env_setting_names() -> None:
    config = parse_config(
        {
            "companies": [
                {
                    "key": "acme",
                    "ledger": "x",
                    "nested": {"client_secret_env": "A_SECRET", "deep": {"key_env": "B_KEY"}},
                }
            ]
        },
        environ={
            "A_SECRET": SECRET,
            "B_KEY": "b-key-value-1",
            "WISESYNC_DSN": "postgresql://u:dbpass99@h/d",
        },
    )
    assert configured_secrets(config, {"A_SECRET": SECRET, "B_KEY": "b-key-value-1"}) >= {
        SECRET,
        "b-key-value-1",
        "dbpass99",
    }


def test_client_identity_and_correlation_id() -> None:
    class Response:
        headers = {"Xero-Correlation-Id": "corr-1"}

    class XeroClient:
        __module__ = "wisesync_xero.client"
        system = "Xero"
        company = "acme"

    assert client_identity(XeroClient()) == ("acme", "xero")
    assert correlation_id(Response()) is None  # not a generic name: the client declares it
    assert correlation_id(Response(), "Xero-Correlation-Id") == "corr-1"
    assert correlation_id(None) is None


def test_requests_settings_are_checked() -> None:
    config = parse_config({"requests": {"keep": "3d", "debug_bodies": True}}, environ={})
    assert (config.requests.keep_seconds, config.requests.debug_bodies) == (3 * 86400, True)
    with pytest.raises(ConfigInvalid) as bad:
        parse_config({"requests": {"keep": "forever", "debug": True}}, environ={})
    keys = [p.key for p in bad.value.problems]
    assert keys == ["requests.debug", "requests.keep"]


def test_recorders_closed_out_of_order_never_leave_a_closed_one_installed(monkeypatch) -> None:
    from wisesync import http
    from wisesync.requestlog import recorder

    class Writer:
        def __init__(self) -> None:
            self.closed = False

        def close(self) -> None:
            self.closed = True

    monkeypatch.setattr(http, "recorder", None)
    monkeypatch.setattr(recorder, "RequestLogWriter", lambda dsn, keep: Writer())
    config = parse_config({}, environ={})
    outer = recorder.install(config, "dsn")
    inner = recorder.install(config, "dsn")
    assert http.recorder == inner.record
    outer.close()  # the command's log closes before the service's
    assert http.recorder == inner.record
    inner.close()
    assert http.recorder is None
