"""The ``[companies.connectwise]`` settings table: validation and resolved values.

Example::

    [companies.connectwise]
    base_url = "https://api-na.myconnectwise.net"   # codebase path added when absent
    company_id = "acme"                              # the login company id, not a number
    public_key_env = "ACME_CW_PUBLIC_KEY"
    private_key_env = "ACME_CW_PRIVATE_KEY"
    client_id_env = "ACME_CW_CLIENT_ID"
    page_size = 1000                                 # 1..1000
    api_version = "2025.8"                           # pinned in the Accept header
    calls_per_second = 10                            # client-side pacing; 0 = none
    concurrency = 3                                  # calls in flight at once (paced only)

Secrets are named by environment variable and resolved with
:meth:`wisesync.protocols.PluginRuntime.secret`; their values never leave this
module except inside the client's auth headers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from wisesync.config import CompanyConfig, ConfigProblem
from wisesync.fields import Fields
from wisesync.protocols import PluginRuntime

SECTION = "connectwise"
DEFAULT_API_VERSION = "2025.8"
DEFAULT_CODEBASE = "v4_6_release/"
MAX_PAGE_SIZE = 1000
DEFAULT_CONCURRENCY = 3

_SECRET_KEYS = ("public_key_env", "private_key_env", "client_id_env")
_KEYS = {
    "base_url",
    "codebase",
    "company_id",
    *_SECRET_KEYS,
    "page_size",
    "api_version",
    "timeout_seconds",
    "calls_per_second",
    "concurrency",
}
_VERSION = re.compile(r"^\d{4}\.\d{1,2}$")


@dataclass(frozen=True, slots=True)
class Credentials:
    """The resolved secrets. ``repr`` never shows them."""

    company_id: str
    public_key: str
    private_key: str
    client_id: str

    def __repr__(self) -> str:
        return f"Credentials(company_id={self.company_id!r}, keys=<redacted>)"

    def secrets(self) -> tuple[str, ...]:
        """The values that must never appear in a log or an exception."""
        return (self.public_key, self.private_key, self.client_id)


@dataclass(frozen=True, slots=True)
class ConnectWiseSettings:
    """The validated, non-secret part of ``[companies.connectwise]``."""

    base_url: str
    company_id: str
    public_key_env: str
    private_key_env: str
    client_id_env: str
    page_size: int = MAX_PAGE_SIZE
    api_version: str = DEFAULT_API_VERSION
    codebase: str = DEFAULT_CODEBASE
    timeout_seconds: float = 60.0
    calls_per_second: float = 10.0
    #: Calls in flight at once while paced: an extraction reads the GL layout and the
    #: companies beside the export. ConnectWise documents no limit on concurrent calls
    #: (UNCONFIRMED: 3 is our choice; 1 reads everything in a row).
    concurrency: int = DEFAULT_CONCURRENCY

    @property
    def api_root(self) -> str:
        """``https://host/v4_6_release/apis/3.0``: the base URL with the codebase path
        added when the configured URL does not already name ``apis/3.0``."""
        url = self.base_url.rstrip("/")
        if "/apis/3.0" in url:
            return url
        codebase = self.codebase.strip("/")
        return f"{url}/{codebase}/apis/3.0" if codebase else f"{url}/apis/3.0"

    def credentials(self, runtime: PluginRuntime) -> Credentials:
        """Resolve the three secrets from the environment (ConfigError naming the key)."""
        prefix = f"{SECTION}."
        return Credentials(
            company_id=self.company_id,
            public_key=runtime.secret(self.public_key_env, key=prefix + "public_key_env"),
            private_key=runtime.secret(self.private_key_env, key=prefix + "private_key_env"),
            client_id=runtime.secret(self.client_id_env, key=prefix + "client_id_env"),
        )


def check(company: CompanyConfig) -> list[ConfigProblem]:
    """Every problem in the company's ``connectwise`` table (keys relative to the company)."""
    raw = company.section(SECTION)
    prefix = f"{SECTION}."
    problems: list[ConfigProblem] = []

    def problem(key: str, message: str, hint: str = "") -> None:
        problems.append(ConfigProblem(prefix + key, message, hint))

    if not raw:
        return [
            ConfigProblem(
                SECTION,
                "missing: the company reads from ConnectWise but has no [companies.connectwise] table",
                "add base_url, company_id, public_key_env, private_key_env and client_id_env",
            )
        ]
    for key in raw:
        if key not in _KEYS:
            problem(key, "unknown setting", f"known settings: {', '.join(sorted(_KEYS))}")
    company_id = raw.get("company_id")
    if not isinstance(company_id, str) or not company_id.strip():
        problem(
            "company_id",
            "missing",
            "the company id you type at the ConnectWise login (text, not a number)",
        )
    fields = Fields(SECTION, raw)
    fields.url(
        "base_url",
        https=True,
        required=True,
        hint='e.g. base_url = "https://api-na.myconnectwise.net" (your site)',
    )
    for key in _SECRET_KEYS:
        fields.secret_env(key, example=f"ACME_CW_{key.removesuffix('_env').upper()}")
    problems.extend(fields.problems)
    page_size = raw.get("page_size", MAX_PAGE_SIZE)
    if (
        isinstance(page_size, bool)
        or not isinstance(page_size, int)
        or not 1 <= page_size <= MAX_PAGE_SIZE
    ):
        problem(
            "page_size",
            f"expected a whole number 1..1000, got {page_size!r}",
            "ConnectWise caps pages at 1000",
        )
    version = raw.get("api_version", DEFAULT_API_VERSION)
    if not isinstance(version, str) or not _VERSION.match(version):
        problem("api_version", f"expected a version like {DEFAULT_API_VERSION!r}, got {version!r}")
    codebase = raw.get("codebase", DEFAULT_CODEBASE)
    if not isinstance(codebase, str):
        problem("codebase", f"expected a string like {DEFAULT_CODEBASE!r}, got {codebase!r}")
    rate = raw.get("calls_per_second", 10)
    if isinstance(rate, bool) or not isinstance(rate, int | float) or rate < 0:
        problem("calls_per_second", f"expected a number >= 0 (0 = no pacing), got {rate!r}")
    concurrency = raw.get("concurrency", DEFAULT_CONCURRENCY)
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        problem("concurrency", f"expected a whole number >= 1, got {concurrency!r}")
    timeout = raw.get("timeout_seconds", 60)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        problem("timeout_seconds", f"expected a positive number of seconds, got {timeout!r}")
    return problems


def load(company: CompanyConfig) -> ConnectWiseSettings:
    """The settings of ``company``; raises ConfigInvalid when :func:`check` finds problems."""
    from wisesync.config import ConfigInvalid

    problems = check(company)
    if problems:
        raise ConfigInvalid(problems)
    raw: dict[str, Any] = company.section(SECTION)
    return ConnectWiseSettings(
        base_url=raw["base_url"],
        company_id=raw["company_id"].strip(),
        public_key_env=raw["public_key_env"],
        private_key_env=raw["private_key_env"],
        client_id_env=raw["client_id_env"],
        page_size=raw.get("page_size", MAX_PAGE_SIZE),
        api_version=raw.get("api_version", DEFAULT_API_VERSION),
        codebase=raw.get("codebase", DEFAULT_CODEBASE),
        timeout_seconds=float(raw.get("timeout_seconds", 60)),
        calls_per_second=float(raw.get("calls_per_second", 10)),
        concurrency=raw.get("concurrency", DEFAULT_CONCURRENCY),
    )


def sandbox_connection(
    company: str, url: str, credentials: Any
) -> tuple[dict[str, Any], dict[str, str]]:
    """The ``[companies.connectwise]`` table and secret variables for a company reading from
    a sandbox at ``url`` (``credentials`` has company_id, public_key, private_key, client_id).

    For :meth:`wisesync.testing.sandbox.SandboxApp.connection_settings`. A local sandbox is
    not paced (``calls_per_second = 0``); its own ``rate_limit`` option answers 429s.
    """
    prefix = "WISESYNC_SANDBOX_" + re.sub(r"[^A-Z0-9]", "_", company.upper()) + "_CW"
    section = {
        "base_url": url,
        "company_id": credentials.company_id,
        "public_key_env": f"{prefix}_PUBLIC_KEY",
        "private_key_env": f"{prefix}_PRIVATE_KEY",
        "client_id_env": f"{prefix}_CLIENT_ID",
        "calls_per_second": 0,
    }
    environ = {
        f"{prefix}_PUBLIC_KEY": credentials.public_key,
        f"{prefix}_PRIVATE_KEY": credentials.private_key,
        f"{prefix}_CLIENT_ID": credentials.client_id,
    }
    return section, environ
