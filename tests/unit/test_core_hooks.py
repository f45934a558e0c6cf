"""Hook plumbing: plugin message codes, the hooks page, observer containment, tracing, the
core's sandbox group, and a config parsed without loading any plugin."""

from __future__ import annotations

import inspect
import logging
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import wisesync
from wisesync import hookspecs, messages
from wisesync.cli.sandbox import sandbox_group
from wisesync.errors import ConfigError
from wisesync.messages import BadCode, Code, Severity, message
from wisesync.plugins import build_manager, build_registry, notify, registry

ROOT = Path(__file__).resolve().parents[2]
E = Severity.ERROR


@pytest.fixture(autouse=True)
def fresh_registry():  # type: ignore[no-untyped-def]
    registry.cache_clear()
    saved = dict(messages.CATALOG)
    yield
    messages.CATALOG.clear()
    messages.CATALOG.update(saved)
    registry.cache_clear()


class Codes:
    """An in-process plugin registering message codes."""

    def __init__(self, *codes: object):
        self.codes = codes

    @wisesync.hookimpl
    def register_message_codes(self, register):  # type: ignore[no-untyped-def]
        for code in self.codes:
            register(code)


# --- message codes from plugins ----------------------------------------------------------


def test_a_plugin_code_becomes_a_message_with_its_severity_and_hint(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("WISESYNC_LOAD_PLUGINS", "hello")
    # a name no installed plugin registers (the qbo plugin registers SYNC_TOKEN_CONFLICT)
    code = Code(
        "EXAMPLE_STALE_TOKEN", E, "Stale sync token", "Replay the record.", "Sync Token issue"
    )
    with pytest.raises(messages.UnknownCode):
        message("EXAMPLE_STALE_TOKEN", "x")
    reg = build_registry((Codes(code),))
    assert reg.message_codes == {"EXAMPLE_STALE_TOKEN": code}
    m = message("EXAMPLE_STALE_TOKEN", "the document changed meanwhile")
    assert m.is_error and m.hint == "Replay the record."
    build_registry((Codes(code),))  # a second registry in one process installs it again


@pytest.mark.parametrize(
    ("codes", "words"),
    [
        ((Code("DUP_CODE", E, "t", "h"), Code("DUP_CODE", E, "t", "other")), "registered twice"),
        ((Code("GL_MAPPING_MISSING", E, "mine", "my hint"),), "already exists"),
        ((Code("lower case", E, "t", "h"),), "UPPER_SNAKE_CASE"),
        ((Code("NO_HINT", E, "t", " "),), "no fix hint"),
        ((Code("TWO_LINES", E, "t", "a\nb"),), "more than one line"),
        ((Code("BAD_SEVERITY", "fatal", "t", "h"),), "Severity"),  # type: ignore[arg-type]
        (("JUST_A_NAME",), "expected a wisesync.messages.Code"),
    ],
)
def test_a_bad_registration_is_refused_at_startup_naming_the_plugin(
    monkeypatch, codes, words
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("WISESYNC_LOAD_PLUGINS", "hello")
    before = dict(messages.CATALOG)
    with pytest.raises(BadCode, match=words) as info:
        build_registry((Codes(*codes),))
    assert "plugin" in str(info.value)
    assert before == messages.CATALOG  # all or nothing


def _readme_table_codes() -> set[str]:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Results, messages and exit codes") :]
    section = section[: section.index("Exit codes:")]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    return set(re.findall(r"`([A-Z][A-Z0-9_]+)`", "\n".join(rows)))


def test_every_registered_code_has_a_fix_hint_and_a_row_in_the_readme() -> None:
    reg = build_registry()  # every installed plugin's codes too
    codes = {**messages.CATALOG, **reg.message_codes}
    documented = _readme_table_codes()
    for name, code in codes.items():
        assert not messages.check_code(code), (name, messages.check_code(code))
        assert name in documented, f"{name} is missing from README.md's message table"


# --- the hooks page ------------------------------------------------------------------------


def _specs() -> dict[str, list[str]]:
    return {
        name: list(inspect.signature(fn).parameters)
        for name, fn in vars(hookspecs).items()
        if callable(fn) and hasattr(fn, "wisesync_spec")
    }


def test_docs_hooks_names_every_hook_and_argument() -> None:
    page = (ROOT / "docs" / "hooks.md").read_text()
    specs = _specs()
    assert {"register_message_codes", "on_result", "on_shutdown"} <= set(specs)
    rows = {
        m.group(1): m.group(2)
        for m in re.finditer(r"^\| `(\w+)` \| ([^|]*) \|", page, flags=re.MULTILINE)
    }
    for name, args in specs.items():
        assert name in rows, f"docs/hooks.md has no row for the hook {name}"
        for arg in args:
            assert f"`{arg}`" in rows[name], f"docs/hooks.md: {name} does not name `{arg}`"
        if not args:
            assert "none" in rows[name]
    assert set(rows) - {"hook"} <= set(specs), "docs/hooks.md documents a hook that is gone"


def test_hookimpl_is_importable_from_the_package() -> None:
    assert wisesync.hookimpl is hookspecs.hookimpl


# --- observers are contained ---------------------------------------------------------------


class Observers:
    def __init__(self) -> None:
        self.seen: list[object] = []

    @wisesync.hookimpl
    def on_startup(self, roles):  # type: ignore[no-untyped-def]
        self.seen.append(roles)

    @wisesync.hookimpl
    def on_shutdown(self):  # type: ignore[no-untyped-def]
        self.seen.append("down")


class Broken:
    @wisesync.hookimpl
    def on_startup(self, roles):  # type: ignore[no-untyped-def]
        raise RuntimeError("observer bug")

    @wisesync.hookimpl
    def on_shutdown(self):  # type: ignore[no-untyped-def]
        raise RuntimeError("observer bug")


def test_a_failing_observer_is_logged_and_the_others_still_run(monkeypatch, caplog) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("WISESYNC_LOAD_PLUGINS", "hello")
    good = Observers()
    pm = build_manager((Broken(), good))
    with caplog.at_level(logging.ERROR, logger="wisesync.plugins"):
        assert notify(pm.hook.on_startup, roles=["poster"]) == 1
        assert notify(pm.hook.on_shutdown) == 1
    assert good.seen == [["poster"], "down"]
    failures = [r for r in caplog.records if r.exc_info and "observer bug" in str(r.exc_info[1])]
    assert [r.getMessage().split()[0] for r in failures] == ["on_startup", "on_shutdown"]


def test_trace_plugins_logs_hook_calls(monkeypatch, caplog) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("WISESYNC_LOAD_PLUGINS", "hello")
    monkeypatch.setenv("WISESYNC_TRACE_PLUGINS", "1")
    with caplog.at_level(logging.INFO, logger="wisesync.plugins"):
        build_registry((Codes(),))
    for hook in ("register_targets", "register_sources", "register_message_codes"):
        assert hook in caplog.text
    monkeypatch.setenv("WISESYNC_TRACE_PLUGINS", "0")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="wisesync.plugins"):
        build_registry()
    assert "register_targets" not in caplog.text


def test_trace_plugins_reaches_stderr_of_the_command_line() -> None:
    env = {"WISESYNC_LOAD_PLUGINS": "hello", "WISESYNC_TRACE_PLUGINS": "1", "PATH": ""}
    out = subprocess.run(
        [str(Path(sys.executable).with_name("wisesync")), "plugins", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "register_targets [hook]" in out.stderr and "register_commands [hook]" in out.stderr
    assert "[hook]" not in out.stdout  # the JSON stays clean


# --- the core's sandbox group --------------------------------------------------------------


class FakeServer:
    url = "http://127.0.0.1:1"

    def stop(self) -> None:
        pass


class Sandboxes:
    def __init__(self, name: str, command: click.Command | None = None):
        self.name, self.command = name, command

    @wisesync.hookimpl
    def register_sandboxes(self, register):  # type: ignore[no-untyped-def]
        register(self.name, lambda **_: FakeServer(), command=self.command)


def test_sandbox_group_is_built_from_registrations(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("WISESYNC_LOAD_PLUGINS", "hello")
    own = click.Command("whatever", help="the plugin's own", params=[click.Option(["--extra"])])
    group = sandbox_group(build_registry((Sandboxes("alpha"), Sandboxes("beta", own))))
    assert set(group.commands) == {"alpha", "beta"}
    assert group.commands["beta"] is own
    result = CliRunner().invoke(group, ["alpha", "--help"])
    assert result.exit_code == 0 and "--port" in result.output and "--seed" in result.output


def test_two_sandboxes_with_one_name_are_refused(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("WISESYNC_LOAD_PLUGINS", "hello")
    with pytest.raises(ConfigError, match="two plugins register a sandbox named 'alpha'"):
        build_registry((Sandboxes("alpha"), Sandboxes("alpha")))


# --- layering ------------------------------------------------------------------------------


def test_parsing_a_config_loads_no_plugin() -> None:
    code = (
        "import sys\n"
        "from wisesync.config import parse_config\n"
        "c = parse_config({'companies': [{'key': 'a', 'ledger': 'nosuch', 'nosuch': {'x': 1}}]},"
        " environ={})\n"
        "assert c.companies[0].section('nosuch') == {'x': 1}\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('wisesync_') or m == 'wisesync.plugins')\n"
        "print(loaded)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
