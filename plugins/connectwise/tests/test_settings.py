"""The [companies.connectwise] table: validation names the key and never a secret."""

import pytest

from wisesync.config import CompanyConfig
from wisesync.errors import ConfigError
from wisesync.protocols import PluginRuntime
from wisesync_connectwise import settings


def company(**section):
    return CompanyConfig(key="acme", name="Acme", ledger="xero", settings={"connectwise": section})


GOOD = {
    "base_url": "https://api-na.myconnectwise.net",
    "company_id": "acme",
    "public_key_env": "CW_PUB",
    "private_key_env": "CW_PRIV",
    "client_id_env": "CW_CLIENT",
}


def test_good_section_has_no_problems_and_defaults():
    assert settings.check(company(**GOOD)) == []
    s = settings.load(company(**GOOD))
    assert s.page_size == 1000
    assert s.api_version == settings.DEFAULT_API_VERSION
    assert s.api_root == "https://api-na.myconnectwise.net/v4_6_release/apis/3.0"


def test_api_root_keeps_an_explicit_api_path():
    s = settings.load(company(**{**GOOD, "base_url": "https://cw.example.com/v2025_1/apis/3.0/"}))
    assert s.api_root == "https://cw.example.com/v2025_1/apis/3.0"


def test_missing_section_is_one_problem():
    problems = settings.check(CompanyConfig(key="a", name="a", ledger="xero"))
    assert [p.key for p in problems] == ["connectwise"]


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"base_url": "ftp://x"}, "connectwise.base_url"),
        ({"base_url": "http://cw.example.com"}, "connectwise.base_url"),
        ({"company_id": ""}, "connectwise.company_id"),
        ({"private_key_env": "s3cr3t-value-not-a-name!"}, "connectwise.private_key_env"),
        ({"page_size": 5000}, "connectwise.page_size"),
        ({"page_size": True}, "connectwise.page_size"),
        ({"api_version": "latest"}, "connectwise.api_version"),
        ({"pagesize": 10}, "connectwise.pagesize"),
    ],
)
def test_each_bad_value_is_reported_with_its_key(change, key):
    problems = settings.check(company(**{**GOOD, **change}))
    assert key in [p.key for p in problems]
    assert all(p.hint or p.message for p in problems)


def test_a_secret_pasted_as_env_name_is_not_echoed():
    problems = settings.check(company(**{**GOOD, "private_key_env": "abc def/ghi+SECRET"}))
    assert problems and all("abc def/ghi+SECRET" not in str(p) for p in problems)


def test_credentials_resolve_from_the_environment_and_repr_hides_them():
    s = settings.load(company(**GOOD))
    runtime = PluginRuntime(
        config=None, environ={"CW_PUB": "pub", "CW_PRIV": "priv", "CW_CLIENT": "cid"}
    )
    creds = s.credentials(runtime)
    assert (creds.public_key, creds.private_key, creds.client_id) == ("pub", "priv", "cid")
    assert "priv" not in repr(creds) and "pub'" not in repr(creds)
    with pytest.raises(ConfigError) as info:
        s.credentials(PluginRuntime(config=None, environ={"CW_PUB": "pub"}))
    assert "connectwise.private_key_env" in str(info.value)


def test_sandbox_connection_is_a_valid_section_with_its_secrets():
    from types import SimpleNamespace

    creds = SimpleNamespace(
        company_id="demo", public_key="pub", private_key="Pr1v4te", client_id="cid"
    )
    section, environ = settings.sandbox_connection("acme-2", "http://127.0.0.1:8081", creds)
    cfg = CompanyConfig(key="acme-2", name="A", ledger="xero", settings={"connectwise": section})
    assert settings.check(cfg) == []
    resolved = settings.load(cfg).credentials(PluginRuntime(config=None, environ=environ))
    assert (resolved.public_key, resolved.private_key, resolved.client_id) == (
        "pub",
        "Pr1v4te",
        "cid",
    )
    assert "Pr1v4te" not in str(section)
