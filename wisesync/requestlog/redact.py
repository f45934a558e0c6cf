"""What of a request may be stored: paths without secrets, bodies without secrets or people.

Three layers, each enough on its own for what it covers:

* query and form parameters whose name says secret (token, secret, password, key, code,
  signature, ...) keep their name and lose their value;
* JSON keys naming a secret or personal data (email, phone, address, person and contact
  names, tax and bank numbers, ConnectWise's communicationItems) lose their value, and so
  does any value that is an e-mail address; amounts, ids, codes and dates stay;
* every configured secret value (the variables named by ``*_env`` settings, the DSN's
  password, ``WISESYNC_SECRET_KEY``) is replaced wherever it appears, whatever its key.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit

if TYPE_CHECKING:
    from wisesync.config import AppConfig

MASK = "***"

_SECRET_NAME = re.compile(
    r"pass(word)?|secret|token|api_?key|private_?key|public_?key|^key$|signature|^sig$|"
    r"^code$|code_verifier|assertion|credential|authori[sz]ation|^auth$|cookie|session",
    re.IGNORECASE,
)
_PERSONAL_NAME = re.compile(
    r"e-?mail|phone|fax|mobile|address|street|city|postal|zip|^name$|first_?name|"
    r"last_?name|contact_?name|attention|tax_?(number|id)|bank|iban|account_?number|"
    r"birth|ssn|national_?id|communication_?items",
    re.IGNORECASE,
)
#: a value that is an e-mail address is personal whatever its key (ConnectWise's "value")
_EMAIL = re.compile(r"[^@\s\"]+@[^@\s\"]+\.[a-z]{2,}", re.IGNORECASE)
#: shorter values are not searched for (they would mask ordinary words)
MIN_SECRET_LENGTH = 6


def sensitive_name(name: str) -> bool:
    """True when a parameter or key named ``name`` holds a secret."""
    return bool(_SECRET_NAME.search(name))


def personal_name(name: str) -> bool:
    """True when a JSON key named ``name`` holds personal data."""
    return bool(_PERSONAL_NAME.search(name))


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every configured secret value replaced by ``***``."""
    for secret in secrets:
        if secret and len(secret) >= MIN_SECRET_LENGTH and secret in text:
            text = text.replace(secret, MASK)
    return text


def _pairs(params: Any) -> list[tuple[str, str]]:
    if not params:
        return []
    if isinstance(params, Mapping):
        items = params.items()
    elif isinstance(params, (str, bytes)):
        text = params.decode("utf-8", "replace") if isinstance(params, bytes) else params
        items = parse_qsl(text, keep_blank_values=True)
    else:
        items = params
    out: list[tuple[str, str]] = []
    for name, value in items:
        for one in value if isinstance(value, (list, tuple)) else [value]:
            out.append((str(name), str(one)))
    return out


def clean_query(params: Any) -> str:
    """``a=1&token=***``: the query with secret parameters' values masked."""
    return urlencode(
        [(n, MASK if sensitive_name(n) else v) for n, v in _pairs(params)], safe="*:,/()'$"
    )


def host_and_path(url: str, params: Any, secrets: Iterable[str]) -> tuple[str, str]:
    """The host (no credentials) and the path plus cleaned query of a request."""
    parts = urlsplit(url)
    query = clean_query(_pairs(parts.query) + _pairs(params))
    path = (parts.path or "/") + (f"?{query}" if query else "")
    return parts.hostname or "", scrub(path, secrets)


def _redact_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: MASK if sensitive_name(str(k)) or personal_name(str(k)) else _redact_json(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_redact_json(v) for v in value]
    if isinstance(value, str) and _EMAIL.search(value):
        return MASK
    return value


def redact_body(body: Any, secrets: Iterable[str], limit: int = 20_000) -> str | None:
    """A body fit to store: JSON with secret and personal keys masked, a form with secret
    fields masked, any other text only scrubbed of configured secrets; cut at ``limit``."""
    if body is None or body == b"" or body == "":
        return None
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
    try:
        text = json.dumps(_redact_json(json.loads(text)), separators=(",", ":"))
    except ValueError:
        if "=" in text and "\n" not in text and " " not in text.strip():
            text = clean_query(text)
    text = scrub(text, secrets)
    return text if len(text) <= limit else text[:limit] + "...(cut)"


def configured_secrets(config: AppConfig, environ: Mapping[str, str] | None = None) -> set[str]:
    """Every secret value the configuration points at: the variables its ``*_env`` settings
    name (any table, any depth), the store DSN and its password, ``WISESYNC_SECRET_KEY``."""
    env = os.environ if environ is None else environ
    found: set[str] = set()

    def walk(table: Any) -> None:
        if dataclasses.is_dataclass(table) and not isinstance(table, type):
            table = dataclasses.asdict(table)
        if isinstance(table, Mapping):
            for key, value in table.items():
                if str(key).endswith("_env") and isinstance(value, str) and env.get(value):
                    found.add(env[value])
                walk(value)
        elif isinstance(table, (list, tuple)):
            for item in table:
                walk(item)

    for company in config.companies:
        walk(company.settings)
    walk(getattr(config, "notify", None))
    if env.get("WISESYNC_SECRET_KEY"):
        found.add(env["WISESYNC_SECRET_KEY"])
    if config.dsn:
        found.add(config.dsn)
        password = urlsplit(config.dsn).password if "://" in config.dsn else None
        if password:
            found.add(password)
    return {s for s in found if len(s) >= MIN_SECRET_LENGTH}
