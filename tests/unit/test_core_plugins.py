"""Plugins: a real third-party distribution (tests/fixtures/wisesync-hello) is discovered
through its entry point, registers a target, a source and a command, with no core edit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from wisesync.config import parse_config
from wisesync.errors import ConfigError
from wisesync.events.models import RecordEvent, RecordType, Status
from wisesync.hookspecs import hookimpl
from wisesync.plugins import build_manager, build_registry, registry
from wisesync.protocols import PluginRuntime, Target
from wisesync.ratelimit import unlimited

WISESYNC = Path(sys.executable).with_name("wisesync")
HELLO_HOOKS = ["register_commands", "register_sources", "register_targets"]


@pytest.fixture(autouse=True)
def fresh_registry():  # type: ignore[no-untyped-def]
    registry.cache_clear()
    yield
    registry.cache_clear()


@pytest.fixture
def only(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    def restrict(names: str) -> None:
        monkeypatch.setenv("WISESYNC_LOAD_PLUGINS", names)

    return restrict


def run(*args: str, load: str = "hello") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WISESYNC_LOAD_PLUGINS": load}
    return subprocess.run(
        [str(WISESYNC), *args], capture_output=True, text=True, env=env, timeout=60
    )


def _target(name: str) -> type[Target]:
    class Dummy(Target):
        record_types = frozenset({RecordType.INVOICE})

        def prepare(self, company, limiter):  # type: ignore[no-untyped-def]
            raise NotImplementedError

        def validate(self, record, ctx):  # type: ignore[no-untyped-def]
            return []

        def find_existing(self, records, ctx):  # type: ignore[no-untyped-def]
            return {}

        def post(self, records, ctx):  # type: ignore[no-untyped-def]
            return []

    Dummy.name = name
    return Dummy


class Registers:
    """An in-process plugin registering the given target classes."""

    def __init__(self, *targets: type[Target]):
        self.targets = targets

    @hookimpl
    def register_targets(self, register) -> None:  # type: ignore[no-untyped-def]
        for cls in self.targets:
            register(cls)


# --- discovery ------------------------------------------------------------------------------


def test_entry_point_plugin_is_discovered_with_its_distribution(only) -> None:  # type: ignore[no-untyped-def]
    only("hello")
    reg = build_registry()
    assert "hello" in reg.targets and "hello" in reg.sources
    assert reg.target("hello").__module__ == "wisesync_hello.plugin"
    (info,) = [i for i in reg.plugins() if i.name == "hello"]
    assert info.distribution == "wisesync-hello"
    assert info.version == "0.3.1"
    assert info.hooks == HELLO_HOOKS


def test_unrestricted_loading_finds_the_plugin_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WISESYNC_LOAD_PLUGINS", raising=False)
    pm = build_manager()
    assert pm.get_plugin("hello") is not None
    dists = {pm.get_name(p): d.metadata["name"] for p, d in pm.list_plugin_distinfo()}
    assert dists["hello"] == "wisesync-hello"


def test_process_registry_has_the_hello_target(only) -> None:  # type: ignore[no-untyped-def]
    only("hello")
    reg = registry()
    assert reg is registry()  # built once per process
    assert "hello" in reg.targets
    target = reg.target("hello")(PluginRuntime(config=parse_config({}, environ={})))
    record = RecordEvent("acme", "hello", "hello", RecordType.INVOICE, "42")
    company = parse_config(
        {"companies": [{"key": "acme", "ledger": "hello", "source": "hello"}]},
        environ={},
    ).companies[0]
    ctx = target.prepare(company, unlimited())
    (outcome,) = target.post([record], ctx)
    assert outcome.status is Status.POSTED and outcome.ledger_number == "HELLO-42"
    assert target.supports(RecordType.INVOICE) and not target.supports(RecordType.PAYMENT)


def test_load_plugins_restricts_loading(only) -> None:  # type: ignore[no-untyped-def]
    only("")
    reg = build_registry()
    assert reg.targets == {} and reg.sources == {} and reg.plugins() == []
    only("nonexistent, hello")
    assert [i.name for i in build_registry().plugins()] == ["hello"]
    only("nonexistent")
    assert build_registry().plugins() == []


def test_unknown_target_lists_the_installed_ones(only) -> None:  # type: ignore[no-untyped-def]
    only("hello")
    with pytest.raises(ConfigError) as info:
        build_registry().target("sage")
    assert "'sage'" in str(info.value) and "installed: hello" in str(info.value)
    assert "wisesync-sage" in str(info.value)  # the hint names the distribution to install


def test_two_targets_with_the_same_name_raise(only) -> None:  # type: ignore[no-untyped-def]
    only("")
    first, second = _target("dup"), _target("dup")
    with pytest.raises(ConfigError, match="two target plugins are named 'dup'"):
        build_registry(extra_plugins=(Registers(first), Registers(second)))
    # the same class registered twice is not a conflict
    reg = build_registry(extra_plugins=(Registers(first), Registers(first)))
    assert reg.targets == {"dup": first}


def test_a_target_clashing_with_an_installed_plugin_raises(only) -> None:  # type: ignore[no-untyped-def]
    only("hello")
    with pytest.raises(ConfigError, match="'hello'"):
        build_registry(extra_plugins=(Registers(_target("hello")),))


def test_a_target_without_a_name_is_refused(only) -> None:  # type: ignore[no-untyped-def]
    only("")
    with pytest.raises(TypeError, match="no `name`"):
        build_registry(extra_plugins=(Registers(_target("")),))


# --- the command line, in a real process ------------------------------------------------------


def test_plugins_json_lists_the_distribution() -> None:
    result = run("plugins", "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    (hello,) = [p for p in document["plugins"] if p["name"] == "hello"]
    assert hello == {
        "name": "hello",
        "distribution": "wisesync-hello",
        "version": "0.3.1",
        "hooks": HELLO_HOOKS,
    }
    assert "hello" in document["targets"] and "hello" in document["sources"]


def test_plugin_command_runs_and_keeps_its_exit_code() -> None:
    result = run("hello", "--name", "Ana")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "hello from the wisesync-hello plugin, Ana"
    failed = run("hello", "--exit-code", "3")
    assert failed.returncode == 3, "a plugin command's ctx.exit(3) must reach the shell"
    assert "hello" in run("--help").stdout
