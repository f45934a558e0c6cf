"""Every command's ``--help`` teaches by example: the whole click tree, plugin commands too.

A command (or group) passes when its help has an ``Example:`` / ``Examples:`` heading
followed by at least one line that runs that very command (``wisesync <its path> ...``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import click
import pytest
from click.testing import CliRunner

from wisesync.cli import _add_core_commands, _add_plugin_commands, cli

_add_core_commands()
_add_plugin_commands()


def walk(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """The path of every command under ``group``, groups included."""
    for name in sorted(group.commands):
        command = group.commands[name]
        yield (*path, name)
        if isinstance(command, click.Group):
            yield from walk(command, (*path, name))


COMMANDS = list(walk(cli))


def has_example(help_text: str, path: tuple[str, ...]) -> bool:
    """An Example(s) heading, then a line invoking ``wisesync <path>`` (options may sit
    between ``wisesync`` and the command, e.g. ``wisesync --config f config check``)."""
    at = re.search(r"^\s*Examples?:\s*$", help_text, re.MULTILINE)
    if at is None:
        return False
    words = r"(\s+--?\S+(\s+[^-\s]\S*)?)*?"  # global options such as --config FILE
    invocation = re.compile(
        r"^\s+wisesync" + words + r"\s+" + r"\s+".join(map(re.escape, path)) + r"(\s|$)",
        re.MULTILINE,
    )
    return invocation.search(help_text, at.end()) is not None


def test_the_tree_holds_core_and_plugin_commands() -> None:
    names = {" ".join(p) for p in COMMANDS}
    assert {"config check", "sync-all", "results", "replay", "run"} <= names
    assert any(p[0] == "sandbox" and len(p) == 2 for p in COMMANDS)  # plugin sandboxes
    assert "hello" in names  # a third-party plugin's own command


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_every_command_help_shows_an_example(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"], terminal_width=100)
    assert result.exit_code == 0, result.output
    assert has_example(result.output, path), (
        f"`wisesync {' '.join(path)} --help` shows no example; add an 'Example:' block "
        f"with a line `wisesync {' '.join(path)} ...` under \\b in its docstring"
    )


def test_the_example_rule_catches_a_command_without_one() -> None:
    assert not has_example("Usage: wisesync results\n\n  Review.\n", ("results",))
    assert not has_example("Examples:\n  wisesync replay --failed\n", ("results",))
    assert has_example("Example:\n  wisesync --config f.toml config check\n", ("config", "check"))
