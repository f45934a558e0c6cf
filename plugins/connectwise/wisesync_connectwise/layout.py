"""The company's GL captions layout: which segments of a GL mapping are its account and
which its classes, and how the export's joined strings split back into them.

ConnectWise writes a line's account (``accountNumber``) as the mapping's Account-type
segments and its ``glClass`` as the Class-type segments, each joined with the separator
set for the segment in the company's accounting package setup. The published API has
the captions and their types (``GLCaption.segmentN`` / ``segmentNtype``) and every
mapping's segment values (``GLAccount.segmentN``), but not the separators
(``connectwise_accounting.schema.json`` has no separator field). So a joined string is
resolved against the company's own mapping rows: it is the rendering of exactly one
row's segments with a single separator character between each (trailing empty segments
may be written with or without their separators). An account written ``4001:`` is the
row whose account segments are ``("4001", "")``, ledger account ``4001``.

Strings no mapping row renders (a mapping changed since the export, or no GL accounts
readable) fall back to the layout alone: an account keeps what it says except trailing
separators (its empty trailing segments); a class string is split on ``-``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from wisesync_connectwise.fields import string, text

SEGMENTS = range(1, 11)


def _role(caption: str) -> str:
    name = caption.lower().replace("-", " ").replace("_", " ")
    if "non product" in name or "nonproduct" in name:
        return "item"
    if any(word in name for word in ("location", "office", "owner level", "territory")):
        return "location"
    if any(word in name for word in ("department", "business unit", "workgroup")):
        return "department"
    return "class"


@dataclass(slots=True)
class _Segments:
    """One kind of segment (Account or Class): the known value tuples of the mapping rows."""

    width: int = 0
    #: how the fallback splits an unknown string: classes by ``-`` (the sandbox's and the
    #: old extractor's reading, unconfirmed); None (accounts) = trailing separators only
    joiner: str | None = None
    known: list[tuple[str, ...]] = field(default_factory=list)
    cache: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def split(self, raw: str) -> tuple[str, ...]:
        """The segment values ``raw`` renders (see the module docstring)."""
        found = self.cache.get(raw)
        if found is None:
            found = self._match(raw) or self._fallback(raw)
            self.cache[raw] = found
        return found

    def _match(self, raw: str) -> tuple[str, ...] | None:
        hits = {values for values in self.known if _renders(values, raw)}
        return hits.pop() if len(hits) == 1 else None

    def _fallback(self, raw: str) -> tuple[str, ...]:
        if self.joiner is None:
            # the account: only trailing separators (empty trailing segments) are known
            head = re.sub(r"[^0-9A-Za-z]+$", "", raw)
            return (head,) + ("",) * max(self.width - 1, 0)
        if self.width <= 1:
            return (raw,)
        parts = raw.split(self.joiner, self.width - 1)
        return tuple(parts) + ("",) * (self.width - len(parts))


def _renders(values: tuple[str, ...], raw: str) -> bool:
    last = max((n for n, v in enumerate(values) if v), default=0)
    pattern = re.escape(values[0])
    for n, value in enumerate(values[1:], start=1):
        piece = f"[^0-9A-Za-z]{re.escape(value)}"
        pattern += f"(?:{piece})?" if n > last else piece
    return re.fullmatch(pattern, raw) is not None


@dataclass(slots=True)
class GLLayout:
    """Account and Class segments of the GL captions, in caption order, with the
    values every GL mapping row gives them."""

    account: _Segments = field(default_factory=_Segments)
    classes: _Segments = field(default_factory=_Segments)
    roles: list[str] = field(default_factory=list)

    @classmethod
    def from_api(cls, captions: list[dict[str, Any]], accounts: list[dict[str, Any]]) -> GLLayout:
        """From ``/finance/glCaptions`` (the first caption row) and ``/finance/glAccounts``."""
        caption = next((c for c in captions if isinstance(c, dict)), None)
        if caption is None:
            return cls()

        def slots(kind: str) -> list[int]:
            return [
                n
                for n in SEGMENTS
                if str(caption.get(f"segment{n}type") or "").strip().lower() == kind
                and text(caption.get(f"segment{n}"))
            ]

        account_slots, class_slots = slots("account"), slots("class")
        layout = cls(
            _Segments(len(account_slots)),
            _Segments(len(class_slots), "-"),
            [_role(text(caption.get(f"segment{n}")) or "") for n in class_slots],
        )
        for row in accounts:
            if not isinstance(row, dict):
                continue
            for seg, which in ((layout.account, account_slots), (layout.classes, class_slots)):
                values = tuple(_segment(row, n) for n in which)
                if any(values) and values not in seg.known:
                    seg.known.append(values)
        return layout

    def account_number(self, raw: Any) -> str | None:
        """The ledger account of an export ``accountNumber``: its Account-type segments,
        empty ones (and their separators) left out. None when every segment is empty."""
        written = text(raw)
        if written is None:
            return None
        values = self.account.split(written)
        if self.account.width <= 1 or len(values) <= 1:
            return text(values[0]) if values else None
        kept = [v.strip() for v in values if v.strip()]
        if not kept:
            return None
        if len(kept) == 1:
            return kept[0]
        # several non-empty account segments: keep them as written, separators included
        last = max(n for n, v in enumerate(values) if v.strip())
        return _prefix(written, values, last) or " ".join(kept)

    def account_of(self, row: dict[str, Any], key: str, where: str = "") -> str | None:
        """:meth:`account_number` of ``row[key]`` (FieldInvalid naming ``where.key`` when it
        is not text)."""
        return self.account_number(string(row.get(key), f"{where}.{key}" if where else key))

    def split_class(self, gl_class: Any) -> dict[str, str | None]:
        """``{"location", "department", "item", "class"}`` -> value (None when empty)."""
        out: dict[str, str | None] = dict.fromkeys(("location", "department", "item", "class"))
        raw = text(gl_class)
        if not raw or not self.roles:
            return out
        for role, value in zip(self.roles, self.classes.split(raw), strict=False):
            if out[role] is None and value.strip():
                out[role] = value.strip()
        return out


def _segment(row: dict[str, Any], n: int) -> str:
    value = row.get(f"segment{n}")
    return value.strip() if isinstance(value, str) else ""


def _prefix(written: str, values: tuple[str, ...], last: int) -> str | None:
    """``written`` up to the end of segment ``last`` (each segment + one separator)."""
    length = sum(len(v) for v in values[: last + 1]) + last
    return written[:length].strip() or None
