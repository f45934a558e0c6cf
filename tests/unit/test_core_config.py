"""Configuration: parsing, env overrides, every problem at once, ``wisesync config check``."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from wisesync.cli import _add_core_commands, cli
from wisesync.config import (
    AppConfig,
    CompanyOptions,
    ConfigInvalid,
    ConfigProblem,
    load_config,
    parse_config,
    parse_duration,
)
from wisesync.errors import ConfigError
from wisesync.events.models import RecordType
from wisesync.plugins import registry

_add_core_commands()

VALID = """
data_dir = "/var/lib/wisesync"
group = "wisesync-prod"

[store]
dsn_env = "ACME_TEST_DSN"

[transport]
kind = "embedded"
[transport.kafka]
bootstrap_servers = "kafka-1:9092,kafka-2:9092"
partitions = 12

[[companies]]
key = "acme"
name = "Acme MSP"
ledger = "hello"
source = "hello"
record_types = ["invoice", "credit_memo"]
sync_all = true
hold_billing_statuses = ["Finance Hold", "Disputed"]
interval = "15m"
[companies.options]
adjustment_cap = "25.50"
tracking_missing = "halt"
[companies.hello]
greeting = "kia ora"
client_secret_env = "ACME_HELLO_SECRET"

[[companies]]
key = "globex"
ledger = "hello"
source = "hello"
"""

SECRET = "s3cr3t-Value-that-must-never-print"
DSN_SECRET = "pg-pa55word-never-print"


@pytest.fixture
def hello_only(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Load only the wisesync-hello fixture plugin (installed from tests/fixtures)."""
    monkeypatch.setenv("WISESYNC_LOAD_PLUGINS", "hello")
    registry.cache_clear()
    yield
    registry.cache_clear()


def write(tmp_path: Path, text: str, name: str = "wisesync.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def problems_of(data: dict, environ: dict[str, str] | None = None) -> list[ConfigProblem]:
    with pytest.raises(ConfigInvalid) as info:
        parse_config(data, file="w.toml", environ=environ or {})
    return info.value.problems


def by_key(problems: list[ConfigProblem]) -> dict[str, ConfigProblem]:
    return {p.key: p for p in problems}


# --- parsing -------------------------------------------------------------------------------


def test_valid_file_parses(tmp_path: Path, hello_only: None) -> None:
    path = write(tmp_path, VALID)
    config = load_config(path, environ={"ACME_TEST_DSN": "postgresql://u:p@db/wisesync"})
    assert isinstance(config, AppConfig)
    assert config.source_file == str(path)
    assert config.data_dir == Path("/var/lib/wisesync")
    assert config.group == "wisesync-prod"
    assert config.dsn == "postgresql://u:p@db/wisesync"  # resolved from the named variable
    assert config.transport == "embedded"
    assert config.kafka.bootstrap_servers == "kafka-1:9092,kafka-2:9092"
    assert config.kafka.partitions == 12
    acme, globex = config.companies
    assert acme.key == "acme" and acme.name == "Acme MSP" and acme.ledger == "hello"
    assert acme.record_types == (RecordType.INVOICE, RecordType.CREDIT_MEMO)
    assert acme.sync_all is True
    assert acme.hold_billing_statuses == ("Finance Hold", "Disputed")
    assert acme.interval_seconds == 900
    assert acme.options.adjustment_cap == Decimal("25.50")
    assert isinstance(acme.options.adjustment_cap, Decimal)
    assert acme.options.tracking_missing == "halt"
    assert acme.section("hello") == {
        "greeting": "kia ora",
        "client_secret_env": "ACME_HELLO_SECRET",
    }
    assert acme.section("xero") == {}
    # defaults
    assert globex.name == "globex" and globex.sync_all is False
    assert globex.record_types == tuple(RecordType)
    assert globex.options.adjustment_cap == Decimal("10.00")
    # the company selector defaults to the first company
    assert config.company(None) is acme
    assert config.company("globex") is globex
    with pytest.raises(ConfigError, match="globex"):
        config.company("nope")


def test_payments_flow_back_to_the_source() -> None:
    config = parse_config({"companies": [{"key": "acme", "ledger": "xero"}]}, environ={})
    acme = config.company("acme")
    assert acme.target_for(RecordType.INVOICE) == "xero"
    assert acme.target_for(RecordType.PAYMENT) == "connectwise"
    assert acme.source_for(RecordType.PAYMENT) == "xero"
    assert acme.source_for(RecordType.EXPENSE) == "connectwise"


def test_no_file_and_not_required_gives_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hello_only: None
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("WISESYNC_CONFIG", raising=False)
    config = load_config(environ={})
    assert config.companies == () and config.transport == "embedded" and config.dsn is None
    with pytest.raises(ConfigError, match="no companies"):
        config.company(None)


def test_missing_file_named_explicitly_is_a_problem(tmp_path: Path) -> None:
    with pytest.raises(ConfigInvalid) as info:
        load_config(tmp_path / "absent.toml")
    assert "does not exist" in str(info.value)
    assert info.value.problems[0].file == str(tmp_path / "absent.toml")


def test_invalid_toml_names_the_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, 'group = "x"\n[transport\nkind = 1\n')
    with pytest.raises(ConfigInvalid) as info:
        load_config(path)
    (problem,) = info.value.problems
    assert problem.file == str(path)
    assert "line 2" in problem.message


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("15m", 900), ("2h", 7200), (45, 45)])
def test_parse_duration(text: str | int, seconds: int) -> None:
    assert parse_duration(text) == seconds


# --- environment overrides -------------------------------------------------------------------


def test_env_overrides_nested_settings_with_toml_types() -> None:
    env = {
        "WISESYNC_TRANSPORT__KIND": "kafka",
        "WISESYNC_TRANSPORT__KAFKA__PARTITIONS": "24",
        "WISESYNC_TRANSPORT__KAFKA__BOOTSTRAP_SERVERS": "broker:9092",
        "WISESYNC_GROUP": "blue",
        "WISESYNC_METRICS_PORT": "9500",
    }
    config = parse_config({"transport": {"kind": "embedded"}}, environ=env)
    assert config.transport == "kafka"
    assert config.kafka.partitions == 24  # parsed as a TOML integer
    assert config.kafka.bootstrap_servers == "broker:9092"  # not TOML: kept as text
    assert config.group == "blue"
    assert config.metrics_port == 9500


def test_poster_in_flight_is_a_duration_and_optional() -> None:
    assert parse_config({}, environ={}).poster_in_flight_s is None
    config = parse_config({"poster": {"in_flight": "2m"}}, environ={})
    assert config.poster_in_flight_s == 120.0
    problems = by_key(problems_of({"poster": {"in_flight": "soon", "linger": 1}}))
    assert "not a duration" in problems["poster.in_flight"].message
    assert "read timeout" in problems["poster.in_flight"].hint
    assert problems["poster.linger"].message == "unknown setting"


def test_poster_outage_settings_are_durations_the_poster_takes() -> None:
    from wisesync.pipeline.poster import OUTAGE_RETRY_S, OUTAGE_WAIT_S, Poster

    config = parse_config({"poster": {"outage_wait": "20m", "outage_retry": "30s"}}, environ={})
    assert (config.poster_outage_wait_s, config.poster_outage_retry_s) == (1200.0, 30.0)
    problems = by_key(problems_of({"poster": {"outage_wait": "forever"}}))
    assert "not a duration" in problems["poster.outage_wait"].message
    kw = dict(registry=None, db=None, transport=_NoTransport())
    poster = Poster(config=config, **kw)  # type: ignore[arg-type]
    assert (poster.outage_wait_s, poster.outage_retry_s) == (1200.0, 30.0)
    poster = Poster(config=parse_config({}, environ={}), **kw)  # type: ignore[arg-type]
    assert (poster.outage_wait_s, poster.outage_retry_s) == (OUTAGE_WAIT_S, OUTAGE_RETRY_S)
    poster = Poster(config=config, outage_wait_s=0, **kw)  # type: ignore[arg-type]
    assert poster.outage_wait_s == 0


@pytest.mark.parametrize("bad", [0, -1, 513, "64", 2.5, True])
def test_poster_workers_is_a_bounded_whole_number(bad: object) -> None:
    problems = by_key(problems_of({"poster": {"workers": bad}}))
    assert "whole number from 1 to 512" in problems["poster.workers"].message
    assert "Postgres connection" in problems["poster.workers"].hint


def test_poster_workers_sets_how_many_companies_a_poster_posts_at_once() -> None:
    from wisesync.pipeline.poster import WORKERS, Poster

    kw = dict(registry=None, db=None, transport=_NoTransport())
    config = parse_config({"poster": {"workers": 64}}, environ={})
    assert config.poster_workers == 64
    assert Poster(config=config, **kw).lanes.max_lanes == 64  # type: ignore[arg-type]
    default = Poster(config=parse_config({}, environ={}), **kw)  # type: ignore[arg-type]
    assert default.lanes.max_lanes == WORKERS
    argument = Poster(config=config, workers=4, **kw)  # type: ignore[arg-type]
    assert argument.lanes.max_lanes == 4


class _NoTransport:
    def producer(self) -> None:
        return None


def test_kafka_instance_id_names_static_members_per_role_and_is_validated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import socket

    monkeypatch.setattr(socket, "gethostname", lambda: "web 01.example")
    default = parse_config({}, environ={}).kafka
    assert default.instance_id == "host"
    assert default.group_instance_id("poster") == "web-01.example-poster"
    assert default.group_instance_id("poster", "poster-2") == "poster-2-poster"
    named = {"transport": {"kafka": {"instance_id": "node-a"}}}
    assert parse_config(named, environ={}).kafka.group_instance_id("reporter") == (
        "node-a-reporter"
    )
    off = {"transport": {"kafka": {"instance_id": "off"}}}
    assert parse_config(off, environ={}).kafka.group_instance_id("x") is None
    problems = by_key(problems_of({"transport": {"kafka": {"instance_id": "a b/c"}}}))
    assert "group.instance.id" in problems["transport.kafka.instance_id"].message
    assert '"host"' in problems["transport.kafka.instance_id"].hint


def test_env_override_of_a_wrong_type_is_a_problem() -> None:
    problems = by_key(problems_of({}, {"WISESYNC_TRANSPORT__KAFKA__PARTITIONS": '"many"'}))
    assert "expected a whole number" in problems["transport.kafka.partitions"].message


def test_env_override_with_a_typo_is_reported_with_did_you_mean() -> None:
    problems = by_key(problems_of({}, {"WISESYNC_TRANSPORT__KAFKA__PARTITONS": "3"}))
    assert problems["transport.kafka.partitons"].hint == "did you mean 'partitions'?"


def test_other_wisesync_variables_are_not_config_overrides() -> None:
    """Variables that configure other parts of wisesync (and its tests) are not settings;
    exporting one must not make every config invalid."""
    env = {
        "WISESYNC_SCHEMAS_DIR": "/opt/schemas",
        "WISESYNC_POSTGRES_USER": "pg",
        "WISESYNC_KAFKA_VERSION": "4.1.1",
        "WISESYNC_KAFKA_POM": "/tmp/pom.xml",
        "WISESYNC_CACHE_DIR": "/tmp/cache",
        "WISESYNC_TEST_POSTGRES_DSN": f"postgresql://u:{DSN_SECRET}@h/db",
        "WISESYNC_TEST_KAFKA_BOOTSTRAP": "127.0.0.1:9092",
        "WISESYNC_CONFIG": "/etc/wisesync.toml",
        "WISESYNC_LOAD_PLUGINS": "hello",
    }
    config = parse_config({"companies": [{"key": "acme", "ledger": "x"}]}, environ=env)
    assert [c.key for c in config.companies] == ["acme"]
    assert config.dsn is None


def test_wisesync_dsn_is_the_store_dsn_and_never_a_setting() -> None:
    config = parse_config({}, environ={"WISESYNC_DSN": "postgresql://db/x"})
    assert config.dsn == "postgresql://db/x"


def test_company_overrides_from_env_are_refused_not_crashing() -> None:
    """Companies are an array of tables: ``WISESYNC_COMPANIES__...`` cannot address one.
    It must be reported as a problem naming the variable, not crash with a traceback."""
    data = {"companies": [{"key": "acme", "ledger": "xero"}]}
    problems = problems_of(data, {"WISESYNC_COMPANIES__0__LEDGER": "qbo"})
    assert any("WISESYNC_COMPANIES__0__LEDGER" in p.key for p in problems), problems
    assert all(p.file == "w.toml" for p in problems)


# --- every problem at once ---------------------------------------------------------------------

BROKEN = """
data_dir = 7
colour = "blue"

[store]
dsn = "postgresql://wisesync:pa55word-never-print@db/wisesync"

[transport]
kind = "rabbitmq"
[transport.kafka]
partitions = 0
bootstrap = "x:9092"

[[companies]]
key = "acme"
legder = "xero"
ledger = "xero"
record_types = ["invoice", "invoices"]
sync_all = "yes"
interval = "soon"
[companies.options]
adjustment_cap = 12.5
invoice_status = "SENT"
adjustmnet_item_code = "ADJ"

[[companies]]
key = "acme"
ledger = "qbo"
hold_billing_statuses = "Finance Hold"
[companies.options]
adjustment_cap = "-1"
tracking_missing = "ignore"

[[companies]]
key = "Bad Key!"
"""


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, BROKEN)
    with pytest.raises(ConfigInvalid) as info:
        load_config(path, environ={})
    problems = info.value.problems
    found = by_key(problems)
    assert all(p.file == str(path) for p in problems)
    expected = {
        "data_dir": "expected a string",
        "colour": "unknown setting",
        "store.dsn": "password",
        "transport.kind": "rabbitmq",
        "transport.kafka.partitions": "at least 1",
        "transport.kafka.bootstrap": "unknown setting",
        "companies[0].legder": "unknown setting",
        "companies[0].record_types": "'invoices'",
        "companies[0].sync_all": "true or false",
        "companies[0].interval": "duration",
        "companies[0].options.adjustment_cap": '"10.00"',
        "companies[0].options.invoice_status": "moved to [companies.xero]",
        "companies[0].options.adjustmnet_item_code": "unknown setting",
        "companies[1].key": "used twice",
        "companies[1].hold_billing_statuses": "list",
        "companies[1].options.adjustment_cap": "non-negative",
        "companies[1].options.tracking_missing": "warn",
        "companies[2].key": "short id",
        "companies[2].ledger": "missing",
    }
    for key, text in expected.items():
        assert key in found, f"{key} not reported; got {sorted(found)}"
        assert text in found[key].message, f"{key}: {found[key].message!r}"
    # hints that teach
    assert found["companies[0].legder"].hint == "did you mean 'ledger'?"
    assert found["companies[0].options.adjustmnet_item_code"].hint == (
        "did you mean 'adjustment_item_code'?"
    )
    assert found["transport.kafka.bootstrap"].hint == "did you mean 'bootstrap_servers'?"
    assert "known settings" in found["colour"].hint
    assert "dsn_env" in found["store.dsn"].hint
    assert "credit_memo" in found["companies[0].record_types"].hint
    assert "unique" in found["companies[1].key"].hint
    # an option that moved to the ledger's section names its new place
    assert "companies[0].xero.invoice_status" in found["companies[0].options.invoice_status"].hint
    # the DSN's password is never repeated
    assert "pa55word-never-print" not in str(info.value)


def test_typos_in_store_and_transport_are_reported() -> None:
    """A misspelt ``dsn_env`` must not silently fall back to the embedded Postgres."""
    found = by_key(
        problems_of(
            {"store": {"dns_env": "PROD_DSN"}, "transport": {"knd": "kafka"}},
            {"PROD_DSN": "postgresql://db/prod"},
        )
    )
    assert found["store.dns_env"].hint == "did you mean 'dsn_env'?"
    assert found["transport.knd"].hint == "did you mean 'kind'?"


def test_adjustment_cap_float_is_refused_but_strings_and_ints_are_amounts() -> None:
    def company(cap: object) -> dict:
        return {"companies": [{"key": "a", "ledger": "x", "options": {"adjustment_cap": cap}}]}

    (problem,) = problems_of(company(10.0))
    assert problem.key == "companies[0].options.adjustment_cap"
    assert "10.0" in problem.message
    ok = parse_config(company("0"), environ={})
    assert ok.companies[0].options.adjustment_cap == Decimal("0")
    ok = parse_config(company(15), environ={})
    assert ok.companies[0].options.adjustment_cap == Decimal("15")
    for bad in ("ten", "NaN", True):
        assert problems_of(company(bad))[0].key == "companies[0].options.adjustment_cap"


def test_problem_text_names_file_key_and_fix() -> None:
    text = str(ConfigProblem("companies[0].ledger", "missing", 'ledger = "xero"', "w.toml"))
    assert text == 'w.toml: companies[0].ledger: missing\n    fix: ledger = "xero"'


def test_plugin_check_reports_unknown_plugins_and_plugin_problems(hello_only: None) -> None:
    data = {
        "companies": [
            {"key": "a", "ledger": "xero", "source": "hello"},
            {"key": "b", "ledger": "hello", "source": "hello", "hello": {"greeting": 5}},
        ]
    }
    config = parse_config(data, file="w.toml", environ={})  # parsing asks no plugin
    with pytest.raises(ConfigInvalid) as info:
        registry().checked(config)
    found = by_key(info.value.problems)
    assert "no plugin named 'xero'" in found["companies[0].ledger"].message
    assert "hello" in found["companies[0].ledger"].hint  # lists what is installed
    assert found["companies[1].hello.greeting"].message == "expected a string"


# --- wisesync config check -------------------------------------------------------------------


def invoke(*args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, list(args), env=env)


def test_config_check_ok(tmp_path: Path, hello_only: None) -> None:
    path = write(tmp_path, VALID)
    env = {"ACME_TEST_DSN": "postgresql://u:p@db/w", "ACME_HELLO_SECRET": SECRET}
    result = invoke("--config", str(path), "config", "check", env=env)
    assert result.exit_code == 0, result.output
    assert "acme (hello)" in result.output and "globex (hello)" in result.output
    result = invoke("--config", str(path), "config", "check", "--json", env=env)
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {
        "ok": True,
        "file": str(path),
        "companies": ["acme", "globex"],
        "problems": [],
        "checks": [],
    }


def test_config_check_lists_every_variable_a_start_would_miss(
    tmp_path: Path, hello_only: None
) -> None:
    """Well-formed but not startable: the DSN variable and a plugin's secret are unset.
    Both are listed (not just the first), neither falls back silently."""
    path = write(tmp_path, VALID)
    result = invoke("--config", str(path), "config", "check", "--json", env={"ACME_TEST_DSN": ""})
    assert result.exit_code == 2
    problems = {p["key"]: p for p in json.loads(result.stdout)["problems"]}
    assert "ACME_TEST_DSN is not set" in problems["store.dsn_env"]["message"]
    env = {"ACME_TEST_DSN": "postgresql://u:p@db/w", "ACME_HELO_SECRET": SECRET}
    result = invoke("--config", str(path), "config", "check", "--json", env=env)
    assert result.exit_code == 2
    (problem,) = json.loads(result.stdout)["problems"]
    assert problem["key"] == "companies[0].hello.client_secret_env"
    assert problem["message"] == "environment variable ACME_HELLO_SECRET is not set"
    assert problem["hint"] == "export ACME_HELLO_SECRET=..., or did you mean ACME_HELO_SECRET?"
    assert SECRET not in result.output


def test_config_check_exits_2_naming_every_key(tmp_path: Path) -> None:
    path = write(tmp_path, BROKEN)
    result = invoke("--config", str(path), "config", "check")
    assert result.exit_code == 2
    assert "problem(s)" in result.output
    for key in ("companies[0].legder", "store.dsn", "companies[1].key", "transport.kind"):
        assert f"{path}: {key}:" in result.output
    assert "fix: did you mean 'ledger'?" in result.output


def test_config_check_json(tmp_path: Path) -> None:
    path = write(tmp_path, BROKEN)
    result = invoke("--config", str(path), "config", "check", "--json")
    assert result.exit_code == 2
    document = json.loads(result.stdout)
    assert document["ok"] is False
    keys = {p["key"]: p for p in document["problems"]}
    assert keys["companies[0].legder"] == {
        "file": str(path),
        "key": "companies[0].legder",
        "message": "unknown setting",
        "hint": "did you mean 'ledger'?",
    }
    assert len(document["problems"]) >= 19


def test_config_check_missing_file_exits_2(tmp_path: Path) -> None:
    result = invoke("--config", str(tmp_path / "nope.toml"), "config", "check")
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_secrets_are_never_printed(tmp_path: Path, hello_only: None) -> None:
    env = {
        "ACME_HELLO_SECRET": SECRET,
        "ACME_TEST_DSN": f"postgresql://wisesync:{DSN_SECRET}@db/wisesync",
        "WISESYNC_DSN": f"postgresql://wisesync:{DSN_SECRET}@db2/wisesync",
        "WISESYNC_TEST_POSTGRES_DSN": f"postgresql://u:{DSN_SECRET}@h/db",
    }
    good = write(tmp_path, VALID, "good.toml")
    bad = write(
        tmp_path,
        VALID.replace('greeting = "kia ora"', "greeting = 5").replace("[store]", "[store]\nx = 1"),
        "bad.toml",
    )
    outputs = []
    for path, code in ((good, 0), (bad, 2)):
        for extra in ((), ("--json",)):
            result = invoke("--config", str(path), "config", "check", *extra, env=env)
            assert result.exit_code == code, result.output
            outputs.append(result.output)
    assert any("store.x" in o for o in outputs)  # the bad file did report its problem
    for output in outputs:
        assert SECRET not in output
        assert DSN_SECRET not in output


@pytest.mark.parametrize(
    "pattern,problem",
    [
        ("{name}", "at least one of {account} or {id}"),
        ("{account}", "needs {name}"),
        ("{name} ({acount})", "unknown placeholder(s) ['acount']"),
        ("{name} ({account", "not a valid pattern"),
        (7, "expected a string"),
    ],
)
def test_contact_name_pattern_must_tell_same_named_customers_apart(pattern, problem) -> None:
    company = {"key": "acme", "ledger": "xero", "options": {"contact_name_pattern": pattern}}
    found = by_key(problems_of({"companies": [company]}))
    got = found["companies[0].options.contact_name_pattern"]
    assert problem in got.message and "{name} ({account})" in got.hint


def test_contact_name_pattern_default_and_override() -> None:
    assert CompanyOptions().contact_name_pattern == "{name} ({account})"
    company = {"key": "acme", "ledger": "xero", "options": {"contact_name_pattern": "{id}: {name}"}}
    config = parse_config({"companies": [company]}, file="w.toml", environ={})
    assert config.companies[0].options.contact_name_pattern == "{id}: {name}"
