"""Canary secrets: plant a unique marker in every secret, then search everything for it.

A canary is a value like ``CANARY3x<32 hex>`` put where a real secret goes (a ConnectWise
private key, a ledger's client secret, the prefix of every token a sandbox issues, the store
password...). After a run, :class:`CanarySearch` looks for each canary in every form a leak
could take: as is, URL-encoded, hex (a ``bytea`` column as ``row_to_json`` shows it), and
base64 at each of the three byte alignments (inside a ``Basic`` header or any other
base64 text that contains it), standard and URL-safe. The collectors feed it what a
deployment writes: log records (:class:`LogCapture`), every message of every topic raw and
decoded (:func:`scan_topics`) and every row of every table (:func:`scan_tables`).

>>> search = CanarySearch([Canary.new("private_key", 1)])    # doctest: +SKIP
>>> search.scan("stderr", captured_err)                       # doctest: +SKIP
>>> assert not search.hits, search.report()                   # doctest: +SKIP
"""

from __future__ import annotations

import base64
import logging
import re
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, quote_plus

#: the shortest base64 fragment searched for (shorter ones could match by chance)
MIN_FORM_LENGTH = 12


@dataclass(frozen=True, slots=True)
class Canary:
    """One planted value: ``name`` says which secret it stands for."""

    name: str
    value: str

    @classmethod
    def new(cls, name: str, n: int) -> Canary:
        """``CANARY<n>x<32 hex>``: unique per run, letters and digits only (so it fits any
        key, header, URL or base64 alphabet it is planted in)."""
        return cls(name, f"CANARY{n}x{uuid.uuid4().hex}")

    @classmethod
    def fernet_key(cls, name: str, n: int) -> Canary:
        """A valid Fernet key (``WISESYNC_SECRET_KEY``: 32 bytes, URL-safe base64) whose
        text is the canary itself, ``CANARY<n>x<hex>`` padded to 43 characters + ``=``."""
        head = f"CANARY{n}x{uuid.uuid4().hex}"
        body = (head + "0" * 43)[:42] + "0"  # "0" last: its two low bits are zero
        return cls(name, body + "=")

    @property
    def marker(self) -> str:
        """What is searched for in plain text (the Fernet key without its padding)."""
        return self.value.rstrip("=")

    def forms(self) -> dict[str, str]:
        """Every text a leak of this canary could appear as (form name -> text)."""
        raw = self.marker.encode()
        found = {
            "plain": self.marker,
            "url": quote(self.marker, safe=""),
            "url+": quote_plus(self.marker),
            "hex": raw.hex(),
        }
        for offset in range(3):
            encoded = base64.b64encode(b"\0" * offset + raw).decode()
            start, end = -(-4 * offset // 3), (8 * (offset + len(raw))) // 6
            fragment = encoded[start:end]
            if len(fragment) >= MIN_FORM_LENGTH:
                found[f"base64@{offset}"] = fragment
                found[f"base64url@{offset}"] = fragment.translate(str.maketrans("+/", "-_"))
        return found


def _common_prefix(texts: list[str]) -> str:
    first, last = min(texts), max(texts)
    n = 0
    while n < min(len(first), len(last)) and first[n] == last[n]:
        n += 1
    return first[:n]


@dataclass(frozen=True, slots=True)
class Hit:
    """A canary found: where, which secret, in which form, and the text around it (with
    the canary itself replaced by ``<canary:name>``)."""

    place: str
    canary: str
    form: str
    context: str


@dataclass
class CanarySearch:
    """Searches texts and bytes for every form of every canary; counts what it searched."""

    canaries: Sequence[Canary]
    hits: list[Hit] = field(default_factory=list)
    #: place -> number of items (texts, rows, messages) searched there
    places: Counter[str] = field(default_factory=Counter)
    searched_chars: int = 0

    def __post_init__(self) -> None:
        self._forms: dict[str, tuple[str, str]] = {}
        by_kind: dict[str, list[str]] = {}
        for canary in self.canaries:
            for form, text in canary.forms().items():
                self._forms.setdefault(text.lower(), (canary.name, form))
                by_kind.setdefault(form, []).append(text.lower())
        # what every form of a kind starts with ("canary" for the plain ones): an item holding
        # none of these holds no canary, so most items cost a few substring tests
        anchors = {_common_prefix(texts) for texts in by_kind.values()}
        self._anchors = anchors if all(len(a) >= 4 for a in anchors) else {""}

    @property
    def form_count(self) -> int:
        """How many distinct texts are searched for (canaries x forms)."""
        return len(self._forms)

    def scan(self, place: str, content: str | bytes | None) -> int:
        """Search one item of ``place``; the number of hits it had."""
        self.places[place] += 1
        if not content:
            return 0
        text = content.decode("latin-1") if isinstance(content, bytes | bytearray) else content
        self.searched_chars += len(text)
        low = text.lower()
        if not any(anchor in low for anchor in self._anchors):
            return 0
        found = 0
        for form, (name, kind) in self._forms.items():
            at = low.find(form)
            while at >= 0:
                around = text[max(0, at - 60) : at + len(form) + 60]
                self.hits.append(Hit(place, name, kind, self._masked(around)))
                found += 1
                at = low.find(form, at + len(form))
        return found

    def scan_all(self, place: str, contents: Iterable[str | bytes | None]) -> int:
        """:meth:`scan` each of ``contents`` as items of ``place``; the hits."""
        return sum(self.scan(place, c) for c in contents)

    def _masked(self, text: str) -> str:
        for form, (name, _kind) in self._forms.items():
            text = re.sub(re.escape(form), f"<canary:{name}>", text, flags=re.IGNORECASE)
        return text.replace("\n", "\\n")

    def summary(self) -> str:
        """What was searched: canaries, forms, and the places grouped by kind with their
        item counts (``table`` rows, ``topic`` messages x views, log records...)."""
        kinds: Counter[str] = Counter()
        items: Counter[str] = Counter()
        for place, n in self.places.items():
            kind = place.split(" ", 1)[0].strip("`")
            kinds[kind] += 1
            items[kind] += n
        parts = ", ".join(f"{k} {kinds[k]} ({items[k]:,} items)" for k in sorted(kinds))
        return (
            f"{len(self.canaries)} canaries ({self.form_count} forms) x {len(self.places)} "
            f"places [{parts}]; {self.searched_chars:,} characters searched, "
            f"{len(self.hits)} hit(s)"
        )

    def report(self) -> str:
        """The hits, one per line (for an assertion message)."""
        return "\n".join(
            f"{h.place}: {h.canary} ({h.form}) in ...{h.context}..." for h in self.hits
        )


#: the attributes every LogRecord has; the others came with ``extra=``
_STANDARD = {*vars(logging.LogRecord("", 0, "", 0, "", (), None)), "message", "asctime"}


class LogCapture(logging.Handler):
    """Keeps every log record of the process (root logger, DEBUG and up) as text: formatted
    with its traceback, plus the fields a caller passed with ``extra=``."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        """logging.Handler hook: keep the formatted record and its attributes."""
        try:
            extra = {k: v for k, v in vars(record).items() if k not in _STANDARD}
            self.texts.append(self.format(record) + (f"\n{extra!r}" if extra else ""))
        except Exception:  # a record that cannot be formatted is kept as its attributes
            self.texts.append(repr(vars(record)))

    def __enter__(self) -> LogCapture:
        root = logging.getLogger()
        self._level = root.level
        root.addHandler(self)
        root.setLevel(logging.DEBUG)
        return self

    def __exit__(self, *exc: object) -> None:
        root = logging.getLogger()
        root.removeHandler(self)
        root.setLevel(self._level)


def scan_topics(
    search: CanarySearch, transport: Any, topics: Iterable[str], codec: Any, timeout_s: float = 30.0
) -> dict[str, int]:
    """Read every message of ``topics`` from the beginning (a fresh consumer group) and search
    its key, headers and value raw, and the value decoded with ``codec`` (an event that does
    not decode is searched raw only). Returns topic -> messages read."""
    import time

    topics = list(topics)
    admin = transport.admin()  # the transport's own: closed with it
    expected = {t: sum(admin.end_offsets(t).values()) for t in topics}
    read: Counter[str] = Counter()
    group = f"canary-scan-{uuid.uuid4().hex[:8]}"
    with transport.consumer(group, topics, auto_offset_reset="earliest") as consumer:
        deadline = time.monotonic() + timeout_s
        while any(read[t] < n for t, n in expected.items()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"read {dict(read)} of {expected} messages")
            for msg in consumer.poll(timeout_s=0.5):
                read[msg.topic] += 1
                place = f"topic {msg.topic}"
                search.scan(place + " (raw)", msg.value)
                search.scan(place + " (key)", msg.key)
                search.scan_all(place + " (headers)", (f"{k}={v!r}" for k, v in msg.headers))
                try:
                    name, record = codec.decode_dict(msg.value)
                except Exception as exc:  # the poison message: its error text is searched
                    search.scan(place + " (decoded)", f"undecodable: {exc}")
                else:
                    search.scan(place + " (decoded)", f"{name} {record!r}")
    return dict(read)


def scan_tables(search: CanarySearch, dsn: str) -> dict[str, int]:
    """Search every row of every table of every user schema (``row_to_json``, so a ``bytea``
    column is searched as hex). Returns ``schema.table`` -> rows."""
    import psycopg
    from psycopg import sql

    rows: dict[str, int] = {}
    with psycopg.connect(dsn) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_type = 'BASE TABLE' "
            "AND table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2"
        ).fetchall()
        for schema, table in tables:
            name = f"{schema}.{table}"
            query = sql.SQL("SELECT row_to_json(t)::text FROM {}.{} t").format(
                sql.Identifier(schema), sql.Identifier(table)
            )
            texts = [r[0] for r in conn.execute(query)]
            search.places[f"table {name}"] += 0  # an empty table was searched too
            search.scan_all(f"table {name}", texts)
            rows[name] = len(texts)
    return rows
