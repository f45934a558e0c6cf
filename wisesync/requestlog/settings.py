"""The ``[requests]`` table: how long the request log is kept, and whether bodies are.

::

    [requests]
    keep = "14d"          # rows older than this are pruned ("0" keeps forever)
    debug_bodies = false  # true: also store request/response bodies, redacted
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DEFAULT_KEEP_S = 14 * 86400


@dataclass(frozen=True, slots=True)
class RequestLogSettings:
    """``keep_seconds`` (0 = forever) and ``debug_bodies``."""

    keep_seconds: int = DEFAULT_KEEP_S
    debug_bodies: bool = False


def parse_request_log(raw: Any, chk: Any) -> RequestLogSettings:
    """Read ``[requests]``; problems go to ``chk`` (the config checker)."""
    from wisesync.config import parse_duration

    if raw is None:
        return RequestLogSettings()
    if not isinstance(raw, dict):
        chk.problem("requests", "expected a table ([requests])")
        return RequestLogSettings()
    chk.unknown(raw, {"keep", "debug_bodies"}, "requests.")
    keep = DEFAULT_KEEP_S
    if "keep" in raw:
        try:
            if isinstance(raw["keep"], bool):
                raise ValueError(f"{raw['keep']!r} is not a duration like 14d or 12h")
            keep = parse_duration(raw["keep"])
        except ValueError as exc:
            chk.problem("requests.keep", str(exc), 'e.g. keep = "14d"; "0" keeps forever')
    debug = chk.typed(raw, "debug_bodies", "requests.", bool, False)
    return RequestLogSettings(keep_seconds=keep, debug_bodies=debug)
