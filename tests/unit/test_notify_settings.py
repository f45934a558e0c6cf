"""``[notify]`` and ``[companies.notify]``: defaults, per-company overrides, and secrets
named by variable only (a pasted value refused without being shown)."""

from __future__ import annotations

import pytest

from wisesync.config import ConfigInvalid, parse_config
from wisesync.notify.settings import EVENT_KINDS

EMAIL = {"host": "smtp.example.com", "from": "w@example.com", "to": ["f@example.com"]}
HOOK = {"url_env": "HOOK_URL", "secret_env": "HOOK_SECRET"}


def _config(data: dict):
    return parse_config(data, environ={})


def test_no_notify_table_means_no_channels() -> None:
    config = _config({})
    assert not config.notify.configured
    assert config.notify.for_company("acme").events == EVENT_KINDS


def test_a_company_table_overrides_what_it_sets_and_inherits_the_rest() -> None:
    config = _config(
        {
            "notify": {"email": EMAIL, "unreachable_after": "5m"},
            "companies": [
                {
                    "key": "acme",
                    "ledger": "x",
                    "notify": {"webhook": HOOK, "events": ["run_failed"]},
                },
                {"key": "globex", "ledger": "x"},
            ],
        }
    )
    acme, globex = config.notify.for_company("acme"), config.notify.for_company("globex")
    assert acme.events == ("run_failed",) and acme.unreachable_after_s == 300
    assert [type(c).__name__ for c in acme.channels] == ["EmailChannel", "WebhookChannel"]
    assert [type(c).__name__ for c in globex.channels] == ["EmailChannel"]
    assert globex.email.port == 587 and globex.email.starttls is True


def test_a_secret_pasted_where_a_variable_name_belongs_is_refused_unseen() -> None:
    pasted = "https://hooks.slack.com/services/T000/B000/XXXXSECRET"
    with pytest.raises(ConfigInvalid) as bad:
        _config(
            {
                "notify": {
                    "webhook": {"url_env": pasted, "secret_env": "HOOK_SECRET"},
                    "email": {**EMAIL, "username": "bot", "password": "hunter2-pw"},
                    "events": ["run_failed", "everything"],
                }
            }
        )
    text = str(bad.value)
    assert "XXXXSECRET" not in text and "hunter2-pw" not in text
    keys = [p.key for p in bad.value.problems]
    assert keys == ["notify.events", "notify.email.password", "notify.webhook.url_env"]
    assert "did you mean 'password_env'" in text


def test_email_needs_a_password_variable_with_a_username() -> None:
    with pytest.raises(ConfigInvalid) as bad:
        _config({"notify": {"email": {**EMAIL, "username": "bot"}}})
    assert [p.key for p in bad.value.problems] == ["notify.email.password_env"]
