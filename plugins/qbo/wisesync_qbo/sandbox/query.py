"""QBO's query language, as the ``/query`` endpoint takes it.

``SELECT * | count(*) | f1, f2 FROM Entity [WHERE cond AND cond ...]
[ORDERBY field [ASC|DESC], ...] [STARTPOSITION n] [MAXRESULTS n]``

A condition is ``field op value`` with ``op`` one of ``=``, ``!=``, ``<``, ``<=``,
``>``, ``>=``, ``IN (v, ...)``, ``LIKE 'pat%'`` (only ``%`` wildcards); values are
single-quoted strings (``\\'`` escapes an apostrophe), numbers or ``true``/``false``.
There is no OR, no JOIN, no GROUP BY. A reference field (``CustomerRef``) compares its
``value``; a dotted name (``MetaData.LastUpdatedTime``) reads a nested field; times
compare as instants. Keywords and field names are case-insensitive.

A malformed statement raises :class:`QueryError` with QBO's code 4000 ("Error parsing
query"); an unknown entity or property code 4001 ("Invalid query").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

MAX_RESULTS = 1000
DEFAULT_RESULTS = 100

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:\\.|[^'\\])*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<op><=|>=|!=|<>|=|<|>)"
    r"|(?P<punct>[(),*])|(?P<word>[A-Za-z_][\w.]*))"
)


class QueryError(Exception):
    """A statement QBO refuses: ``code`` 4000 (parse) or 4001 (invalid)."""

    def __init__(self, code: str, message: str, detail: str):
        super().__init__(detail)
        self.code = code
        self.message = message
        self.detail = detail


def _parse_error(detail: str) -> QueryError:
    return QueryError("4000", "Error parsing query", f"QueryParserError: {detail}")


def invalid(detail: str) -> QueryError:
    """Code 4001: the statement parses but names something QBO does not have."""
    return QueryError("4001", "Invalid query", f"QueryValidationError: {detail}")


@dataclass(slots=True)
class Condition:
    """``field op value`` (``value`` a list for IN)."""

    field: str
    op: str
    value: Any


@dataclass(slots=True)
class Query:
    """A parsed statement."""

    entity: str
    count: bool = False
    fields: list[str] = field(default_factory=list)
    where: list[Condition] = field(default_factory=list)
    order: list[tuple[str, bool]] = field(default_factory=list)  # (field, descending)
    start: int = 1
    max_results: int = DEFAULT_RESULTS


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.strip().rstrip(";")
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise _parse_error(f'Encountered " {text[pos : pos + 10]!r} at column {pos + 1}')
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


class _Parser:
    def __init__(self, text: str):
        self.toks = _tokens(text)
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def word(self, *expected: str) -> bool:
        tok = self.peek()
        if tok and tok[0] == "word" and tok[1].upper() in expected:
            self.i += 1
            return True
        return False

    def take(self, kind: str, what: str) -> str:
        tok = self.peek()
        if not tok or tok[0] != kind:
            found = tok[1] if tok else "<EOF>"
            raise _parse_error(f'Encountered " {found} " expected {what}')
        self.i += 1
        return tok[1]

    def punct(self, char: str) -> bool:
        tok = self.peek()
        if tok and tok == ("punct", char):
            self.i += 1
            return True
        return False

    def value(self) -> Any:
        tok = self.peek()
        if tok is None:
            raise _parse_error("Encountered <EOF> expected a value")
        self.i += 1
        kind, text = tok
        if kind == "str":
            return re.sub(r"\\(.)", r"\1", text[1:-1])
        if kind == "num":
            return Decimal(text)
        if kind == "word" and text.lower() in ("true", "false"):
            return text.lower() == "true"
        raise _parse_error(f'Encountered " {text} " expected a value')


def parse(text: str) -> Query:
    """Parse one statement; :class:`QueryError` when QBO would refuse it."""
    p = _Parser(text)
    if not p.word("SELECT"):
        raise _parse_error("statement must start with SELECT")
    count = False
    fields: list[str] = []
    if p.word("COUNT"):
        if not (p.punct("(") and p.punct("*") and p.punct(")")):
            raise _parse_error("expected count(*)")
        count = True
    elif p.punct("*"):
        while p.punct(","):  # "select *, Sku from Item" (python-quickbooks' Item.all)
            p.take("word", "a field")
    else:
        fields.append(p.take("word", "a field"))
        while p.punct(","):
            fields.append(p.take("word", "a field"))
    if not p.word("FROM"):
        raise _parse_error("expected FROM")
    query = Query(entity=p.take("word", "an entity"), count=count, fields=fields)
    if p.word("WHERE"):
        query.where.append(_condition(p))
        while p.word("AND"):
            query.where.append(_condition(p))
        if p.word("OR"):
            raise _parse_error('Encountered " OR ": OR is not supported')
    if p.word("ORDERBY", "ORDER"):
        p.word("BY")
        while True:
            name = p.take("word", "a field")
            descending = p.word("DESC")
            if not descending:
                p.word("ASC")
            query.order.append((name, descending))
            if not p.punct(","):
                break
    if p.word("STARTPOSITION"):
        query.start = int(p.take("num", "a number"))
    if p.word("MAXRESULTS"):
        query.max_results = int(p.take("num", "a number"))
    if p.peek() is not None:
        raise _parse_error(f'Encountered " {p.peek()[1]} " at the end of the statement')  # type: ignore[index]
    if query.start < 1 or not 1 <= query.max_results <= MAX_RESULTS:
        raise invalid(f"STARTPOSITION must be >= 1 and MAXRESULTS 1..{MAX_RESULTS}")
    return query


def _condition(p: _Parser) -> Condition:
    name = p.take("word", "a field")
    if p.word("IN"):
        if not p.punct("("):
            raise _parse_error("expected ( after IN")
        values = [p.value()]
        while p.punct(","):
            values.append(p.value())
        if not p.punct(")"):
            raise _parse_error("expected ) closing IN")
        return Condition(name, "IN", values)
    if p.word("LIKE"):
        return Condition(name, "LIKE", p.value())
    op = p.take("op", "an operator")
    return Condition(name, "!=" if op == "<>" else op, p.value())


# -- evaluation ---------------------------------------------------------------------------


def lookup(entity: dict[str, Any], name: str) -> Any:
    """The value of ``name`` (dotted, case-insensitive) in ``entity``; a Ref's ``value``."""
    value: Any = entity
    for part in name.split("."):
        if not isinstance(value, dict):
            return None
        key = next((k for k in value if k.lower() == part.lower()), None)
        if key is None:
            return None
        value = value[key]
    if isinstance(value, dict) and "value" in value:
        return value["value"]
    return value


def _comparable(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, Decimal | int | float):
        return Decimal(str(value))
    text = str(value)
    if re.match(r"^\d{4}-\d{2}-\d{2}T", text):
        try:
            return datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return text
    try:
        return Decimal(text) if re.match(r"^-?\d+(\.\d+)?$", text) else text.lower()
    except InvalidOperation:
        return text.lower()


def _like(value: Any, pattern: str) -> bool:
    regex = ".*".join(re.escape(part) for part in pattern.lower().split("%"))
    return value is not None and re.fullmatch(regex, str(value).lower(), re.DOTALL) is not None


def matches(entity: dict[str, Any], cond: Condition) -> bool:
    """Whether ``entity`` satisfies ``cond``."""
    raw = lookup(entity, cond.field)
    if cond.op == "LIKE":
        return _like(raw, str(cond.value))
    left = _comparable(raw)
    if cond.op == "IN":
        return any(_equal(left, _comparable(v)) for v in cond.value)
    right = _comparable(cond.value)
    if cond.op == "=":
        return _equal(left, right)
    if cond.op == "!=":
        return not _equal(left, right)
    if left is None or right is None:
        return False
    try:
        if isinstance(left, datetime) and isinstance(right, datetime):
            pass
        elif type(left) is not type(right):
            left, right = str(left), str(right)
        return {
            "<": left < right,
            "<=": left <= right,
            ">": left > right,
            ">=": left >= right,
        }[cond.op]
    except TypeError:
        return False


def _equal(left: Any, right: Any) -> bool:
    if isinstance(left, datetime) != isinstance(right, datetime):
        return False
    if type(left) is not type(right) and not (
        isinstance(left, bool | None) or isinstance(right, bool | None)
    ):
        return str(left).lower() == str(right).lower()
    return left == right


def run(query: Query, rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """Filter, order and page ``rows``; returns (the page, the number matched)."""
    hits = [row for row in rows if all(matches(row, c) for c in query.where)]
    for name, descending in reversed(query.order):
        hits.sort(key=lambda r, n=name: _sort_key(lookup(r, n)), reverse=descending)
    page = hits[query.start - 1 : query.start - 1 + query.max_results]
    if query.fields:
        keep = {f.lower() for f in query.fields} | {"id", "synctoken", "domain", "sparse"}
        page = [{k: v for k, v in row.items() if k.lower() in keep} for row in page]
    return page, len(hits)


def _sort_key(value: Any) -> tuple[int, Any]:
    comparable = _comparable(value)
    if comparable is None:
        return (0, "")
    if isinstance(comparable, Decimal):
        return (1, comparable)
    if isinstance(comparable, datetime):
        return (2, comparable.timestamp())
    return (3, str(comparable))
