"""Settings field helpers: every plugin checks its ``[companies.<plugin>]`` table the same way.

A plugin's ``check(company)`` builds a :class:`Fields` over its table and asks for each
setting by kind; each call records a :class:`~wisesync.config.ConfigProblem` (key relative
to the company, e.g. ``ledger.client_secret_env``) when the value is wrong and returns the
parsed value (or the default) otherwise::

    f = Fields("mybooks", company.section("mybooks"))
    f.unknown(KEYS)
    f.secret_env("client_secret_env", example="ACME_MYBOOKS_SECRET")
    f.url("base_url")
    f.duration("reference_ttl")
    return f.problems

A ledger plugin's ``check`` starts with :func:`ledger_fields` and its ``load``
with :func:`checked_section`; :meth:`Fields.app_credentials` and :meth:`Fields.tracking`
check the keys every OAuth ledger has.

``secret_env`` is the one rule that matters most: a ``*_env`` setting names an
environment variable (``[A-Z_][A-Z0-9_]*``). Anything else is most likely the secret
itself pasted into the file, so it is refused and never echoed: not in the problem, not
in ``config check``, ``sync-all`` or the stored results. So is a value that fits the pattern
but looks like a key (:func:`looks_like_key`: an all-capitals API key would otherwise be
printed as "environment variable <the key> is not set").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from wisesync.config import ConfigInvalid, ConfigProblem, parse_duration

if TYPE_CHECKING:
    from wisesync.company import CompanyConfig

ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
_LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
#: Unconfirmed (our inference, no vendor rule): variable names have words joined by "_";
#: 16 or more capitals and digits with a digit and no "_" is a pasted key (API keys and
#: client ids are such runs of characters). False accepts every ``[A-Z_][A-Z0-9_]*``.
REFUSE_KEY_LIKE_NAMES = True
KEY_LIKE_LENGTH = 16


def looks_like_key(value: str) -> bool:
    """Whether ``value`` (which fits the variable-name pattern) looks like a pasted key, and
    is refused: :data:`KEY_LIKE_LENGTH` or more characters, a digit among them, no
    underscore. :func:`might_be_key` is the weaker test for what is echoed."""
    return (
        REFUSE_KEY_LIKE_NAMES
        and len(value) >= KEY_LIKE_LENGTH
        and "_" not in value
        and any(c.isdigit() for c in value)
    )


#: Below :data:`KEY_LIKE_LENGTH`, names are accepted but :func:`might_be_key` keeps the
#: longer ones without "_" out of messages.
ECHO_GUARD_LENGTH = 12


def might_be_key(name: str) -> bool:
    """The weaker test, for what a message may echo: :data:`ECHO_GUARD_LENGTH` or more
    characters without an underscore. Such a name is accepted (it may be a real variable),
    but a message about it does not show it. Unconfirmed, like :func:`looks_like_key`."""
    return "_" not in name and len(name) >= ECHO_GUARD_LENGTH


#: The RecordEvent ``Line.tracking`` fields a ledger's ``tracking`` table may map.
TRACKING_FIELDS = ("location", "department", "business_class")


def ledger_fields(
    company: CompanyConfig, section: str, product: str, known: Collection[str], example: str
) -> Fields:
    """A :class:`Fields` over ``company``'s ``[companies.<section>]`` ledger table with the
    unknown keys and :meth:`Fields.app_credentials` (hint ``<example>_CLIENT_ID``) checked.

    When the company posts to this ledger (called ``product`` in the message) but has no
    such table, the result holds only that problem and its ``absent`` is true: the caller
    returns its problems without checking further."""
    raw = company.section(section)
    f = Fields(section, raw)
    if company.ledger == section and not raw:
        f.absent = True
        f.problems.append(
            ConfigProblem(
                section,
                f"missing: the company posts to {product} but has no [companies.{section}] table",
                'add client_id_env = "..." and client_secret_env = "..."',
            )
        )
        return f
    f.unknown(known)
    f.app_credentials(example)
    return f


def checked_section(
    company: CompanyConfig, section: str, check: Callable[[CompanyConfig], list[ConfigProblem]]
) -> dict[str, Any]:
    """``company``'s ``[companies.<section>]`` table once ``check`` finds nothing wrong;
    :class:`~wisesync.config.ConfigInvalid` naming every problem (keys from the company,
    ``companies.<key>.<section>.<setting>``) otherwise."""
    problems = check(company)
    if problems:
        raise ConfigInvalid(
            [ConfigProblem(f"companies.{company.key}.{p.key}", p.message, p.hint) for p in problems]
        )
    return company.section(section)


def is_env_name(value: Any) -> bool:
    """Whether ``value`` can be the name of an environment variable (``[A-Z_][A-Z0-9_]*``)
    and does not look like a key pasted in its place (:func:`looks_like_key`)."""
    return isinstance(value, str) and bool(ENV_NAME.match(value)) and not looks_like_key(value)


class Fields:
    """Checks one plugin's settings table and collects the problems (see the module doc)."""

    def __init__(self, section: str, raw: dict[str, Any]):
        self.section = section
        self.raw = raw
        self.problems: list[ConfigProblem] = []
        #: set by :func:`ledger_fields` when the ledger's table is missing altogether
        self.absent = False

    def problem(self, key: str, message: str, hint: str = "") -> None:
        """Record a problem with ``key`` (relative to the section)."""
        self.problems.append(ConfigProblem(f"{self.section}.{key}", message, hint))

    def unknown(self, known: Collection[str]) -> None:
        """A problem for every key of the table not in ``known``."""
        for key in self.raw:
            if key not in known:
                self.problem(key, "unknown setting", f"known: {', '.join(sorted(known))}")

    def secret_env(self, key: str, *, example: str, required: bool = True) -> str | None:
        """The name of the environment variable holding a secret; the value is never echoed."""
        value = self.raw.get(key)
        if value is None or value == "":
            if required:
                self.problem(
                    key,
                    "missing: name the environment variable that holds the value",
                    f'{key} = "{example}" and export {example}=...',
                )
            return None
        if not is_env_name(value):
            self.problem(
                key,
                "expected the NAME of an environment variable ([A-Z_][A-Z0-9_]*, words "
                "joined by _), not the secret itself (the value is not shown)",
                f'{key} = "{example}" and export {example}=<the secret>; if the secret was '
                "pasted into this file, rotate it",
            )
            return None
        return value

    def app_credentials(self, example_prefix: str) -> None:
        """``client_id_env`` and ``client_secret_env``: the OAuth app's id and secret, each
        named by its environment variable (``<example_prefix>_CLIENT_ID`` in the hint)."""
        self.secret_env("client_id_env", example=f"{example_prefix}_CLIENT_ID")
        self.secret_env("client_secret_env", example=f"{example_prefix}_CLIENT_SECRET")

    def tracking(self, valid: Callable[[Any], bool], targets: str, example: str) -> None:
        """``tracking``: a table mapping :data:`TRACKING_FIELDS` to ledger lists, each value
        accepted by ``valid``; ``targets`` says in the problem what the values may be."""
        tracking = self.raw.get("tracking")
        if tracking is None:
            return
        if (
            not isinstance(tracking, dict)
            or not set(tracking) <= set(TRACKING_FIELDS)
            or not all(valid(v) for v in tracking.values())
        ):
            self.problem(
                "tracking",
                f"expected a table mapping {'/'.join(TRACKING_FIELDS)} to {targets}",
                example,
            )

    def url(
        self,
        key: str,
        *,
        default: str | None = None,
        https: bool = False,
        required: bool = False,
        hint: str = "",
    ) -> str | None:
        """An http(s) URL; with ``https`` plain http only for a local sandbox."""
        value = self.raw.get(key, default)
        if value is None or value == "":
            if required:
                self.problem(key, "missing", hint)
            return None
        parts = urlsplit(value) if isinstance(value, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            self.problem(key, f"expected an http(s) URL, got {value!r}")
            return None
        if https and parts.scheme == "http" and parts.hostname not in _LOCAL_HOSTS:
            self.problem(key, "needs https", "use https:// (http only for a local sandbox)")
            return None
        return value

    def duration(self, key: str, default: int | str | None = None) -> int | None:
        """A duration (``"15m"``, ``"30s"``, seconds as an int) in seconds."""
        value = self.raw.get(key, default)
        if value is None:
            return None
        try:
            return parse_duration(value)
        except ValueError as exc:
            self.problem(key, str(exc), 'e.g. "30s", "15m", "1h"')
            return None

    def choice(self, key: str, options: Iterable[str], default: str) -> str:
        """One of ``options``."""
        allowed = tuple(options)
        value = self.raw.get(key, default)
        if value not in allowed:
            self.problem(key, f"expected one of {', '.join(allowed)}, got {value!r}")
            return default
        return value

    def integer(self, key: str, default: int, low: int, high: int, hint: str = "") -> int:
        """A whole number in ``low..high`` (booleans refused)."""
        value = self.raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.problem(key, f"expected a whole number {low}..{high}, got {value!r}", hint)
            return default
        return value

    def number(self, key: str, default: float, *, positive: bool = False, hint: str = "") -> float:
        """A number >= 0 (> 0 with ``positive``; booleans refused)."""
        value = self.raw.get(key, default)
        bad = isinstance(value, bool) or not isinstance(value, int | float)
        if bad or value < 0 or (positive and value == 0):
            wanted = "a positive number" if positive else "a number >= 0"
            self.problem(key, f"expected {wanted}, got {value!r}", hint)
            return default
        return float(value)

    def string(self, key: str, default: str | None = None, hint: str = "") -> str | None:
        """A string (``default`` when absent)."""
        value = self.raw.get(key, default)
        if value is not None and not isinstance(value, str):
            self.problem(key, f"expected a string, got {value!r}", hint)
            return default
        return value
