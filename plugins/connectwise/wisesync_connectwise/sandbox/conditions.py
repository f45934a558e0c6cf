"""A small parser and evaluator for ConnectWise's ``conditions`` query language.

Grammar (connectwise.md section 2)::

    expr       := term ("or" term)*
    term       := factor ("and" factor)*
    factor     := "not" factor | "(" expr ")" | comparison
    comparison := FIELD op value
                | FIELD ["not"] "in" "(" value ("," value)* ")"
                | FIELD ["not"] ("like" | "contains") STRING
    op         := "=" | "!=" | "<" | "<=" | ">" | ">="
    value      := STRING | NUMBER | "true" | "false" | "null" | "[" ISO-8601 "]"

Strings are double-quoted with ``\\"`` and ``\\\\`` escapes; fields are paths with
``/`` (``company/identifier``, ``_info/lastUpdated``). Keywords are
case-insensitive. Comparisons follow SQL Server's defaults, which ConnectWise
runs on: string comparison is case-insensitive, a null field matches only
``= null`` / ``!= null``, ``like`` takes ``%`` and ``_`` wildcards.

:func:`compile_conditions` returns a predicate over a record's JSON dict and
the set of field paths it uses (so the app can reject unknown fields).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from .errors import ApiError

Predicate = Callable[[dict[str, Any]], bool]

_KEYWORDS = {"and", "or", "not", "in", "like", "contains", "true", "false", "null"}
_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<op>!=|<=|>=|=|<|>)
  | (?P<punct>[(),])
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<date>\[[^\]]*\])
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*(?:/[A-Za-z_][A-Za-z0-9_]*)*)
    """,
    re.VERBOSE,
)


class ConditionError(ApiError):
    """A ``conditions`` string that does not parse (400)."""

    def __init__(self, message: str) -> None:
        super().__init__(400, "InvalidObject", f"conditions is invalid: {message}")


@dataclass(slots=True)
class _Token:
    kind: str  # op | punct | string | date | number | word | keyword | end
    value: Any
    pos: int


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match:
            raise ConditionError(f"unexpected character {text[pos]!r} at position {pos}")
        kind = match.lastgroup or ""
        raw = match.group()
        if kind == "string":
            value: Any = re.sub(r"\\(.)", r"\1", raw[1:-1])
        elif kind == "date":
            value = parse_instant(raw[1:-1].strip())
            if value is None:
                raise ConditionError(f"{raw} is not a date at position {pos}")
        elif kind == "number":
            value = Decimal(raw)
        elif kind == "word" and raw.lower() in _KEYWORDS:
            kind, value = "keyword", raw.lower()
        else:
            value = raw
        if kind != "ws":
            tokens.append(_Token(kind, value, pos))
        pos = match.end()
    tokens.append(_Token("end", None, len(text)))
    return tokens


def parse_instant(text: str) -> datetime | None:
    """An ISO-8601 date or instant as an aware UTC datetime (naive means UTC)."""
    if not isinstance(text, str) or not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def resolve(record: dict[str, Any], path: str) -> Any:
    """The value at ``a/b/c`` in a JSON dict, keys matched case-insensitively; None if absent."""
    value: Any = record
    for part in path.split("/"):
        if not isinstance(value, dict):
            return None
        if part in value:
            value = value[part]
            continue
        lowered = part.lower()
        for key, item in value.items():
            if key.lower() == lowered:
                value = item
                break
        else:
            return None
    return value


_MISSING = object()


def _coerce(actual: Any, literal: Any) -> tuple[Any, Any] | None:
    """Bring a record value and a literal to comparable types, or None if impossible."""
    if literal is None or actual is None:
        return None
    if isinstance(literal, bool):
        return (actual, literal) if isinstance(actual, bool) else None
    if isinstance(literal, datetime):
        instant = parse_instant(actual) if isinstance(actual, str) else None
        return (instant, literal) if instant else None
    if isinstance(literal, Decimal):
        if isinstance(actual, bool):
            return None
        if isinstance(actual, int | Decimal):
            return Decimal(actual), literal
        if isinstance(actual, str):
            try:
                return Decimal(actual.strip()), literal
            except InvalidOperation:
                return actual.casefold(), f"{literal:f}".casefold()
        return None
    # string literal
    if isinstance(actual, str):
        return actual.casefold(), literal.casefold()
    if isinstance(actual, bool):
        return ("true" if actual else "false"), literal.casefold()
    if isinstance(actual, int | Decimal):
        try:
            return Decimal(actual), Decimal(literal)
        except InvalidOperation:
            return None
    return None


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _compare(path: str, op: str, literal: Any) -> Predicate:
    fn = _COMPARE[op]

    def predicate(record: dict[str, Any]) -> bool:
        actual = resolve(record, path)
        if literal is None:
            return (actual is None) if op == "=" else (actual is not None) if op == "!=" else False
        pair = _coerce(actual, literal)
        if pair is None:
            return False
        try:
            return fn(*pair)
        except TypeError:
            return False

    return predicate


def _like(path: str, pattern: str, negate: bool) -> Predicate:
    regex = re.compile(
        "".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern),
        re.IGNORECASE | re.DOTALL,
    )

    def predicate(record: dict[str, Any]) -> bool:
        actual = resolve(record, path)
        if actual is None:
            return False
        return bool(regex.fullmatch(str(actual))) != negate

    return predicate


def _contains(path: str, needle: str, negate: bool) -> Predicate:
    folded = needle.casefold()

    def predicate(record: dict[str, Any]) -> bool:
        actual = resolve(record, path)
        if actual is None:
            return False
        return (folded in str(actual).casefold()) != negate

    return predicate


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.i = 0
        self.fields: set[str] = set()
        self.comparisons = 0
        self.complex = False  # a not, or an operator other than = / in
        self.equality: tuple[str, list[Any]] | None = None

    def peek(self) -> _Token:
        return self.tokens[self.i]

    def take(self) -> _Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def is_keyword(self, word: str) -> bool:
        token = self.peek()
        return token.kind == "keyword" and token.value == word

    def expect(self, kind: str, value: Any = None) -> _Token:
        token = self.take()
        if token.kind != kind or (value is not None and token.value != value):
            want = value if value is not None else kind
            got = token.value if token.kind != "end" else "end of conditions"
            raise ConditionError(f"expected {want!r} at position {token.pos}, got {got!r}")
        return token

    def parse(self) -> Predicate:
        predicate = self.expr()
        if self.peek().kind != "end":
            token = self.peek()
            raise ConditionError(f"unexpected {token.value!r} at position {token.pos}")
        return predicate

    def expr(self) -> Predicate:
        parts = [self.term()]
        while self.is_keyword("or"):
            self.take()
            parts.append(self.term())
        if len(parts) == 1:
            return parts[0]
        return lambda r: any(p(r) for p in parts)

    def term(self) -> Predicate:
        parts = [self.factor()]
        while self.is_keyword("and"):
            self.take()
            parts.append(self.factor())
        if len(parts) == 1:
            return parts[0]
        return lambda r: all(p(r) for p in parts)

    def factor(self) -> Predicate:
        if self.is_keyword("not"):
            self.take()
            self.complex = True
            inner = self.factor()
            return lambda r: not inner(r)
        token = self.peek()
        if token.kind == "punct" and token.value == "(":
            self.take()
            inner = self.expr()
            self.expect("punct", ")")
            return inner
        return self.comparison()

    def value(self) -> Any:
        token = self.take()
        if token.kind in ("string", "number", "date"):
            return token.value
        if token.kind == "keyword" and token.value in ("true", "false"):
            return token.value == "true"
        if token.kind == "keyword" and token.value == "null":
            return None
        got = token.value if token.kind != "end" else "end of conditions"
        raise ConditionError(f"expected a value at position {token.pos}, got {got!r}")

    def comparison(self) -> Predicate:
        token = self.take()
        if token.kind != "word":
            got = token.value if token.kind != "end" else "end of conditions"
            raise ConditionError(f"expected a field name at position {token.pos}, got {got!r}")
        path = token.value
        self.fields.add(path)
        self.comparisons += 1
        negate = False
        if self.is_keyword("not"):
            self.take()
            negate = True
            self.complex = True
        nxt = self.peek()
        if nxt.kind == "keyword" and nxt.value == "in":
            self.take()
            self.expect("punct", "(")
            values = [self.value()]
            while self.peek().kind == "punct" and self.peek().value == ",":
                self.take()
                values.append(self.value())
            self.expect("punct", ")")
            self.equality = (path, values)
            tests = [_compare(path, "=", v) for v in values]
            return lambda r: any(t(r) for t in tests) != negate
        if nxt.kind == "keyword" and nxt.value in ("like", "contains"):
            self.take()
            literal = self.value()
            self.complex = True
            if not isinstance(literal, str):
                raise ConditionError(f"{nxt.value} needs a quoted string at position {nxt.pos}")
            if nxt.value == "like":
                return _like(path, literal, negate)
            return _contains(path, literal, negate)
        if negate:
            raise ConditionError(f"expected 'in', 'like' or 'contains' at position {nxt.pos}")
        op = self.expect("op").value
        literal = self.value()
        if literal is None and op not in ("=", "!="):
            raise ConditionError(f"null can only be compared with = or != (position {nxt.pos})")
        if op == "=" and literal is not None:
            self.equality = (path, [literal])
        else:
            self.complex = True
        return _compare(path, op, literal)


@dataclass(slots=True)
class Compiled:
    """A parsed ``conditions`` string.

    ``equality`` is ``(field, values)`` when the whole condition is one
    ``field = value`` or ``field in (...)``, so a collection with an index on
    that field can skip the scan (the predicate is still applied).
    """

    predicate: Predicate | None
    fields: set[str]
    equality: tuple[str, list[Any]] | None = None


def parse_conditions(text: str | None) -> Compiled:
    """Parse ``text`` (empty or None matches everything)."""
    if text is None or not text.strip():
        return Compiled(None, set())
    parser = _Parser(text)
    predicate = parser.parse()
    simple = parser.equality if parser.comparisons == 1 and not parser.complex else None
    return Compiled(predicate, parser.fields, simple)


def compile_conditions(text: str | None) -> tuple[Predicate | None, set[str]]:
    """Parse ``text``; return ``(predicate, fields used)``. Empty text -> ``(None, set())``."""
    compiled = parse_conditions(text)
    return compiled.predicate, compiled.fields
