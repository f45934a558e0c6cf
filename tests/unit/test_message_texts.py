"""Every message code reads well: no doubled word, no unfilled template, in the core's catalog
(wisesync/messages.py) and in every installed plugin's registered codes."""

from __future__ import annotations

import re

import pytest

from wisesync import messages
from wisesync.plugins import registry

registry()  # installs every plugin's codes into the catalog
CODES = sorted(messages.CATALOG.values(), key=lambda c: c.name)
PLUGIN_CODES = set(registry().message_codes)

#: "the the", "line line" (case-insensitive, across one space or line break)
DOUBLED = re.compile(r"\b(\w+)\s+\1\b", re.IGNORECASE)
#: str.format / %-style / Jinja placeholders left in the text
TEMPLATE = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*\}|%\(\w+\)[sd]|%[sd]\b|\{\{|\}\}")


def problems(text: str) -> list[str]:
    found = [f"doubled word {m.group(0)!r}" for m in DOUBLED.finditer(text)]
    found += [f"unfilled template {m.group(0)!r}" for m in TEMPLATE.finditer(text)]
    return found


def test_the_checked_catalog_has_core_and_plugin_codes() -> None:
    assert "GL_MAPPING_MISSING" in messages.CATALOG
    assert PLUGIN_CODES, "no plugin registered a code: the check would cover the core only"
    assert {c.name for c in CODES} >= PLUGIN_CODES


@pytest.mark.parametrize("code", CODES, ids=lambda c: c.name)
def test_title_and_hint_have_no_doubled_word_or_unfilled_template(code: messages.Code) -> None:
    for part in ("title", "hint"):
        assert not problems(getattr(code, part)), (code.name, part, getattr(code, part))


def test_the_checks_catch_what_they_are_for() -> None:
    assert problems("Create the the account") == ["doubled word 'the the'"]
    assert problems("Line 1 has no line\nline item") == ["doubled word 'line\\nline'"]
    assert problems("account {code} is archived") == ["unfilled template '{code}'"]
    assert problems("account %s is archived") == ["unfilled template '%s'"]
    assert not problems("Reconnect: `wisesync <ledger> connect --company <key>`, then replay.")
