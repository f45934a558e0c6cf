"""Settings field helpers: every plugin's ``*_env`` setting is checked the same way."""

from __future__ import annotations

import pytest

from wisesync.company import CompanyConfig, ConfigInvalid, ConfigProblem
from wisesync.errors import ConfigError
from wisesync.fields import Fields, checked_section, ledger_fields
from wisesync.protocols import PluginRuntime

PASTED = "sk_live_51H8xyz/Secret+Value"


#: an all-capitals key fits the variable-name pattern; it must still be refused unseen
KEY_LIKE = "X9K2M4P7Q1R8T3V6"


@pytest.mark.parametrize("value", [PASTED, "acme_secret", "1ACME", "ACME SECRET", 42, KEY_LIKE])
def test_a_value_that_is_not_an_env_name_is_refused_without_echo(value: object) -> None:
    f = Fields("ledger", {"client_secret_env": value})
    assert f.secret_env("client_secret_env", example="ACME_SECRET") is None
    [problem] = f.problems
    assert problem.key == "ledger.client_secret_env"
    assert str(value) not in str(problem) and "NAME of an environment variable" in str(problem)


def test_env_names_pass_and_a_missing_one_is_named() -> None:
    f = Fields("ledger", {"client_id_env": "ACME_LEDGER_ID"})
    assert f.secret_env("client_id_env", example="X") == "ACME_LEDGER_ID"
    assert f.secret_env("client_secret_env", example="ACME_SECRET") is None
    assert f.secret_env("optional_env", example="Y", required=False) is None
    assert [p.key for p in f.problems] == ["ledger.client_secret_env"]
    assert "ACME_SECRET" in f.problems[0].hint


@pytest.mark.parametrize("name", ["MYCONNECTWISEPRIVATEKEY", "ACME_CW_PRIVATE_KEY2", "KEY2"])
def test_long_or_numbered_names_are_still_names(name: str) -> None:
    assert Fields("ledger", {"k_env": name}).secret_env("k_env", example="X") == name


def test_urls_durations_numbers_and_unknown_keys() -> None:
    f = Fields(
        "ledger",
        {
            "base_url": "ftp://x",
            "api_url": "http://api.example.com",
            "local_url": "http://127.0.0.1:8080",
            "ttl": "15m",
            "bad_ttl": "soon",
            "port": True,
            "rate": -1,
            "typo": 1,
        },
    )
    assert f.url("base_url") is None
    assert f.url("api_url", https=True) is None
    assert f.url("local_url", https=True) == "http://127.0.0.1:8080"
    assert f.url("absent_url", required=True) is None
    assert f.duration("ttl") == 900 and f.duration("bad_ttl") is None
    assert f.integer("port", 8765, 0, 65535) == 8765
    assert f.number("rate", 10.0) == 10.0
    f.unknown({"base_url", "api_url", "local_url", "ttl", "bad_ttl", "port", "rate"})
    assert [p.key.split(".")[1] for p in f.problems] == [
        "base_url",
        "api_url",
        "absent_url",
        "bad_ttl",
        "port",
        "rate",
        "typo",
    ]


@pytest.mark.parametrize("pasted", [PASTED, KEY_LIKE])
def test_the_runtime_never_echoes_a_secret_used_as_a_variable_name(pasted: str) -> None:
    runtime = PluginRuntime(config=None, environ={})
    with pytest.raises(ConfigError) as info:
        runtime.secret(pasted, key="ledger.client_secret_env")
    assert pasted not in str(info.value) and "ledger.client_secret_env" in str(info.value)


def test_a_dsn_pasted_into_store_dsn_env_is_refused_without_echo() -> None:
    from wisesync.config import ConfigInvalid, parse_config

    pasted = "postgresql://app:Pa55word@db.internal/wisesync"
    with pytest.raises(ConfigInvalid) as info:
        parse_config({"store": {"dsn_env": pasted}}, environ={})
    assert "store.dsn_env" in str(info.value) and "Pa55word" not in str(info.value)


def _company(ledger: str = "mybooks", **section: object) -> CompanyConfig:
    settings = {"mybooks": dict(section)} if section else {}
    return CompanyConfig(key="acme", name="Acme", ledger=ledger, settings=settings)


def test_ledger_fields_name_a_missing_table_and_check_the_app_credentials() -> None:
    absent = ledger_fields(_company(), "mybooks", "MyBooks", {"client_id_env"}, "ACME_MB")
    assert absent.absent and [p.key for p in absent.problems] == ["mybooks"]
    assert "posts to MyBooks but has no [companies.mybooks] table" in absent.problems[0].message
    f = ledger_fields(
        _company(client_id_env="ACME_MB_CLIENT_ID", colour="red"),
        "mybooks",
        "MyBooks",
        {"client_id_env", "client_secret_env"},
        "ACME_MB",
    )
    assert not f.absent
    assert sorted(p.key for p in f.problems) == ["mybooks.client_secret_env", "mybooks.colour"]
    assert "ACME_MB_CLIENT_SECRET" in next(p.hint for p in f.problems if "secret" in p.key)


def test_tracking_accepts_known_fields_mapped_to_valid_lists_only() -> None:
    def problems(tracking: object) -> list[str]:
        f = Fields("mybooks", {"tracking": tracking})
        f.tracking(lambda v: v in ("class",), '"class"', 'tracking = { location = "class" }')
        return [p.message for p in f.problems]

    assert problems({"location": "class", "business_class": "class"}) == []
    assert problems({"location": "region"}) == [
        'expected a table mapping location/department/business_class to "class"'
    ]
    assert len(problems({"colour": "class"})) == 1 and len(problems("class")) == 1
    assert Fields("mybooks", {}).problems == []


def test_checked_section_rekeys_every_problem_from_the_company() -> None:
    company = _company(base_url="x")

    def check(c: CompanyConfig) -> list[ConfigProblem]:
        return [ConfigProblem("mybooks.base_url", "bad"), ConfigProblem("mybooks.colour", "?")]

    with pytest.raises(ConfigInvalid) as caught:
        checked_section(company, "mybooks", check)
    assert [p.key for p in caught.value.problems] == [
        "companies.acme.mybooks.base_url",
        "companies.acme.mybooks.colour",
    ]
    assert checked_section(company, "mybooks", lambda c: []) == {"base_url": "x"}
