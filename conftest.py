"""Root pytest configuration for wisesync and its plugins.

Loads the real-service fixtures (``kafka_bootstrap``, ``postgres_dsn``, ``pg_database``; see
``wisesync.testing.services``), the shared test fixtures (``manual_clock``, ``migrated_db``,
``migrated_dsn``, ``sandbox_factory``; see ``wisesync.testing.fixtures``) and prints how many tests ran in each tier at the end.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import PurePosixPath

import pytest

pytest_plugins = ["wisesync.testing.services", "wisesync.testing.fixtures"]

# Stacks and helpers that name no ledger post into this one when several are installed (the
# suite's scenario tests were written against the Xero sandbox; the demo and conformance
# tests name each ledger themselves). A ledger that is not installed is ignored.
os.environ.setdefault("WISESYNC_LEDGER", "xero")

TIERS = ("unit", "contract", "integration", "e2e", "plugins")
_OUTCOMES = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")


def tier_of(nodeid: str) -> str:
    """The tier of a test from its node id: tests/<tier>/..., plugins/<name>/tests/... -> plugins."""
    parts = PurePosixPath(nodeid.split("::", 1)[0]).parts
    if len(parts) >= 2 and parts[0] == "tests" and parts[1] in TIERS:
        return parts[1]
    if parts and parts[0] == "plugins":
        return "plugins"
    return "other"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print one line per tier: how many tests passed, failed, errored, were skipped."""
    seen: dict[str, Counter[str]] = {}
    counted: set[tuple[str, str]] = set()
    for outcome in _OUTCOMES:
        for report in terminalreporter.stats.get(outcome, []):
            nodeid = getattr(report, "nodeid", "")
            if not nodeid or (nodeid, outcome) in counted:
                continue
            counted.add((nodeid, outcome))
            seen.setdefault(tier_of(nodeid), Counter())[outcome] += 1
    terminalreporter.write_sep("-", "tests per tier")
    for tier in (*TIERS, "other"):
        counts = seen.get(tier, Counter())
        if tier == "other" and not counts:
            continue
        ran = counts["passed"] + counts["failed"] + counts["xfailed"] + counts["xpassed"]
        detail = ", ".join(f"{counts[o]} {o}" for o in _OUTCOMES if counts[o])
        terminalreporter.write_line(
            f"{tier:<12} {ran:>5} ran" + (f"  ({detail})" if detail else "")
        )
