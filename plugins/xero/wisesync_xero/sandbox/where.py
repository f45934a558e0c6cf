"""Xero's ``where=`` filter grammar (a Dynamic-LINQ subset), parsed into a predicate.

Supported, as Xero documents and SDKs use it::

    Name=="O\\"Brien & Sons"            string literals with backslash escapes
    ContactNumber=="C00042" OR Name!="X"  ==, !=, >, >=, <, <=  joined by AND / OR (&&, ||)
    NOT (Status=="DELETED")              NOT / !, parentheses
    Contact.ContactID==Guid("...")       dotted paths, Guid(...)
    Date>=DateTime(2024, 01, 31)         DateTime(y, m, d[, h, mi, s]) and DateTime("iso")
    Name.Contains("ab") / .StartsWith / .EndsWith / .ToLower() / .ToUpper()
    AmountDue>0.00, IsSupplier==true, Reference==null

String comparisons are case- and accent-insensitive ("Zürich GmbH" == "zurich gmbh"), as
Xero documents its optimised contact filters (``Name==``, ``EmailAddress==``,
``AccountNumber==``; reference/xero.md "/Contacts (lookups)"); that other fields compare
the same way is unconfirmed. A query that
does not parse raises :class:`QueryError` (Xero answers 400 ``QueryParseException``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

Predicate = Callable[[dict[str, Any]], bool]

_MSDATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<op>==|!=|>=|<=|&&|\|\||[()<>!,.=])
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)


class QueryError(ValueError):
    """A ``where`` expression Xero would not parse."""


def ms_date_to_datetime(text: str) -> datetime | None:
    """``/Date(1518685950940+0000)/`` -> naive UTC datetime (None if not that form)."""
    match = _MSDATE.match(text)
    if not match:
        return None
    return datetime.fromtimestamp(int(match.group(1)) / 1000, UTC).replace(tzinfo=None)


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise QueryError(f"Unexpected character at position {pos} in '{text}'")
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        pos = match.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


def _unescape(literal: str) -> str:
    return re.sub(r"\\(.)", r"\1", literal[1:-1])


def _lookup(doc: Any, path: list[str]) -> Any:
    value = doc
    for part in path:
        if not isinstance(value, dict):
            return None
        lowered = part.lower()
        value = next((v for k, v in value.items() if k.lower() == lowered), None)
    if isinstance(value, str):
        parsed = ms_date_to_datetime(value)
        if parsed is not None:
            return parsed
    return value


def fold(text: str) -> str:
    """``text`` without case or accents: "Zürich" -> "zurich"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _norm(value: Any) -> Any:
    if isinstance(value, str):
        return fold(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    return value


def _compare(op: str, left: Any, right: Any) -> bool:
    left, right = _norm(left), _norm(right)
    if op == "==":
        return left == right
    if op == "!=":
        return left != right
    if left is None or right is None:
        return False
    try:
        if op == ">":
            return left > right
        if op == ">=":
            return left >= right
        if op == "<":
            return left < right
        return left <= right
    except TypeError:
        return False


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.toks = _tokens(text)
        self.i = 0

    def peek(self, value: str | None = None, kind: str | None = None) -> bool:
        if self.i >= len(self.toks):
            return False
        k, v = self.toks[self.i]
        if kind and k != kind:
            return False
        return value is None or v.upper() == value.upper()

    def take(self, value: str | None = None, kind: str | None = None) -> str:
        if not self.peek(value, kind):
            got = self.toks[self.i][1] if self.i < len(self.toks) else "end of expression"
            raise QueryError(f"Expected {value or kind} but found '{got}' in '{self.text}'")
        self.i += 1
        return self.toks[self.i - 1][1]

    def parse(self) -> Predicate:
        pred = self.or_expr()
        if self.i != len(self.toks):
            raise QueryError(f"Unexpected '{self.toks[self.i][1]}' in '{self.text}'")
        return pred

    def or_expr(self) -> Predicate:
        parts = [self.and_expr()]
        while self.peek("OR", "name") or self.peek("||"):
            self.i += 1
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else (lambda d: any(p(d) for p in parts))

    def and_expr(self) -> Predicate:
        parts = [self.unary()]
        while self.peek("AND", "name") or self.peek("&&"):
            self.i += 1
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else (lambda d: all(p(d) for p in parts))

    def unary(self) -> Predicate:
        if self.peek("NOT", "name") or self.peek("!"):
            self.i += 1
            inner = self.unary()
            return lambda d: not inner(d)
        if self.peek("("):
            self.i += 1
            inner = self.or_expr()
            self.take(")")
            return inner
        return self.comparison()

    def comparison(self) -> Predicate:
        left = self.operand()
        for op in ("==", "!=", ">=", "<=", ">", "<", "="):
            if self.peek(op, "op"):
                self.i += 1
                right = self.operand()
                op = "==" if op == "=" else op
                return lambda d: _compare(op, left(d), right(d))
        return lambda d: bool(left(d))

    def literal_args(self) -> list[Any]:
        self.take("(")
        args: list[Any] = []
        while not self.peek(")"):
            if args:
                self.take(",")
            if self.peek(kind="string"):
                args.append(_unescape(self.take(kind="string")))
            elif self.peek(kind="number"):
                args.append(Decimal(self.take(kind="number")))
            else:
                raise QueryError(f"Expected a literal in '{self.text}'")
        self.take(")")
        return args

    def operand(self) -> Callable[[dict[str, Any]], Any]:
        if self.peek(kind="string"):
            value = _unescape(self.take(kind="string"))
            return lambda d: value
        if self.peek(kind="number"):
            try:
                number = Decimal(self.take(kind="number"))
            except InvalidOperation as exc:  # pragma: no cover - the regex guards this
                raise QueryError(str(exc)) from exc
            return lambda d: number
        name = self.take(kind="name")
        upper = name.upper()
        if upper in ("TRUE", "FALSE"):
            flag = upper == "TRUE"
            return lambda d: flag
        if upper == "NULL":
            return lambda d: None
        if upper == "GUID" and self.peek("("):
            (guid,) = self.literal_args() or [""]
            return lambda d: str(guid).lower()
        if upper in ("DATETIME", "DATETIMEOFFSET") and self.peek("("):
            return self.datetime_literal()
        path = [name]
        getter: Callable[[dict[str, Any]], Any] | None = None
        while self.peek("."):
            self.i += 1
            member = self.take(kind="name")
            if self.peek("("):
                base = getter or (lambda d, p=tuple(path): _lookup(d, list(p)))
                getter = self.method(base, member)
            elif getter is None:
                path.append(member)
            else:
                raise QueryError(f"Unexpected '.{member}' in '{self.text}'")
        return getter or (lambda d: _lookup(d, path))

    def datetime_literal(self) -> Callable[[dict[str, Any]], Any]:
        args = self.literal_args()
        try:
            if len(args) == 1 and isinstance(args[0], str):
                value = datetime.fromisoformat(args[0].replace("Z", "+00:00"))
                if value.tzinfo:
                    value = value.astimezone(UTC).replace(tzinfo=None)
            else:
                value = datetime(*(int(a) for a in args))
        except (TypeError, ValueError) as exc:
            raise QueryError(f"Invalid DateTime in '{self.text}': {exc}") from exc
        return lambda d: value

    def method(
        self, base: Callable[[dict[str, Any]], Any], member: str
    ) -> Callable[[dict[str, Any]], Any]:
        args = self.literal_args()
        name = member.lower()
        if name in ("tolower", "toupper"):
            fold = str.lower if name == "tolower" else str.upper
            return lambda d: fold(v) if isinstance(v := base(d), str) else v
        if name in ("contains", "startswith", "endswith") and len(args) == 1:
            needle = str(args[0]).casefold()
            test = {
                "contains": lambda s: needle in s,
                "startswith": lambda s: s.startswith(needle),
                "endswith": lambda s: s.endswith(needle),
            }[name]
            return lambda d: isinstance(v := base(d), str) and test(v.casefold())
        raise QueryError(f"No applicable method '{member}' exists in '{self.text}'")


def compile_where(text: str) -> Predicate:
    """Parse a ``where`` expression into ``predicate(document) -> bool``."""
    if not text or not text.strip():
        return lambda d: True
    return _Parser(text).parse()
