"""The ``[companies.qbo]`` settings table: parsing and checking (no I/O).

Example::

    [companies.qbo]
    client_id_env = "ACME_QBO_CLIENT_ID"
    client_secret_env = "ACME_QBO_CLIENT_SECRET"
    realm_id = ""                          # optional: taken from the consent redirect
    refresh_token_env = ""                 # optional: a refresh token from elsewhere (Intuit's
                                           # OAuth Playground) for a company never connected
    base_url = "https://quickbooks.api.intuit.com"   # sandbox-quickbooks... for Intuit's sandbox
    oauth_url = "https://oauth.platform.intuit.com"
    authorize_url = "https://appcenter.intuit.com/connect/oauth2"
    reference_ttl = "15m"                  # accounts, items, tax codes, classes... cache
    customers_ttl = "15m"
    throttle_wait = "60s"                  # wait after a 429 without Retry-After (Intuit: 60 s)
    tracking = { department = "class", location = "department" }
    duplicate_bill_numbers = false         # true: send include=allowduplicatedocnum on bills
"""

from __future__ import annotations

from dataclasses import dataclass, field

from wisesync.company import CompanyConfig, ConfigProblem
from wisesync.config import parse_duration
from wisesync.fields import checked_section, ledger_fields

SECTION = "qbo"
DEFAULT_BASE_URL = "https://quickbooks.api.intuit.com"
DEFAULT_OAUTH_URL = "https://oauth.platform.intuit.com"
DEFAULT_AUTHORIZE_URL = "https://appcenter.intuit.com/connect/oauth2"
SCOPES = "com.intuit.quickbooks.accounting"
MINOR_VERSION = 75
#: RecordEvent ``Line.tracking`` field -> QBO list: ``class`` (ClassRef, per line) or
#: ``department`` (DepartmentRef, QBO's locations, per document)
DEFAULT_TRACKING = {"department": "class", "location": "department"}
TRACKING_LISTS = ("class", "department")

_KEYS = {
    "client_id_env",
    "client_secret_env",
    "realm_id",
    "refresh_token_env",
    "base_url",
    "oauth_url",
    "authorize_url",
    "redirect_port",
    "reference_ttl",
    "customers_ttl",
    "throttle_wait",
    "tracking",
    "duplicate_bill_numbers",
}


@dataclass(frozen=True, slots=True)
class QboSettings:
    """One company's QuickBooks Online settings, validated."""

    client_id_env: str
    client_secret_env: str
    realm_id: str | None = None
    refresh_token_env: str | None = None
    base_url: str = DEFAULT_BASE_URL
    oauth_url: str = DEFAULT_OAUTH_URL
    authorize_url: str = DEFAULT_AUTHORIZE_URL
    redirect_port: int = 8765
    reference_ttl: int = 900
    customers_ttl: int = 900
    throttle_wait: int = 60
    tracking: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_TRACKING))
    duplicate_bill_numbers: bool = False

    @property
    def token_url(self) -> str:
        """Intuit's OAuth2 token endpoint."""
        return f"{self.oauth_url}/oauth2/v1/tokens/bearer"

    @property
    def revocation_url(self) -> str:
        """Intuit's token revocation endpoint."""
        return f"{self.oauth_url}/oauth2/v1/tokens/revoke"


def check(company: CompanyConfig) -> list[ConfigProblem]:
    """Every problem in ``company``'s ``[companies.qbo]`` table (keys relative to the company)."""
    f = ledger_fields(company, SECTION, "QuickBooks Online", _KEYS, "ACME_QBO")
    if f.absent:
        return f.problems
    raw = f.raw
    realm = f.string("realm_id", hint="the QuickBooks company id (realmId)")
    if realm and not realm.isdigit():
        f.problem("realm_id", f"expected the numeric QuickBooks company id, got {realm!r}")
    bootstrap = f.secret_env("refresh_token_env", example="ACME_QBO_REFRESH_TOKEN", required=False)
    if bootstrap and not realm:
        f.problem(
            "realm_id",
            "missing: a refresh_token_env connection needs the company it was issued for",
            'realm_id = "9130..." (shown beside the token in Intuit\'s OAuth Playground)',
        )
    for key in ("base_url", "oauth_url", "authorize_url"):
        f.url(key, https=True)
    f.integer("redirect_port", 8765, 0, 65535, "a port number on 127.0.0.1")
    f.duration("reference_ttl")
    f.duration("customers_ttl")
    f.duration("throttle_wait")
    f.tracking(
        lambda v: v in TRACKING_LISTS,
        '"class" (QBO classes) or "department" (QBO locations)',
        'tracking = { department = "class", location = "department" }',
    )
    if "duplicate_bill_numbers" in raw and not isinstance(raw["duplicate_bill_numbers"], bool):
        f.problem("duplicate_bill_numbers", "expected true or false")
    return f.problems


def load(company: CompanyConfig) -> QboSettings:
    """The validated settings of ``company``; :class:`~wisesync.config.ConfigInvalid`
    naming every problem when :func:`check` finds any."""
    raw = checked_section(company, SECTION, check)
    return QboSettings(
        client_id_env=raw["client_id_env"],
        client_secret_env=raw["client_secret_env"],
        realm_id=raw.get("realm_id") or None,
        refresh_token_env=raw.get("refresh_token_env") or None,
        base_url=str(raw.get("base_url", DEFAULT_BASE_URL)).rstrip("/"),
        oauth_url=str(raw.get("oauth_url", DEFAULT_OAUTH_URL)).rstrip("/"),
        authorize_url=str(raw.get("authorize_url", DEFAULT_AUTHORIZE_URL)),
        redirect_port=int(raw.get("redirect_port", 8765)),
        reference_ttl=parse_duration(raw.get("reference_ttl", 900)),
        customers_ttl=parse_duration(raw.get("customers_ttl", 900)),
        throttle_wait=parse_duration(raw.get("throttle_wait", 60)),
        tracking=dict(raw.get("tracking") or DEFAULT_TRACKING),
        duplicate_bill_numbers=bool(raw.get("duplicate_bill_numbers", False)),
    )
