"""The ``[companies.xero]`` settings table: parsing and checking (no I/O).

Example::

    [companies.xero]
    grant = "authorization_code"          # or "client_credentials" (custom connection)
    client_id_env = "ACME_XERO_CLIENT_ID"
    client_secret_env = "ACME_XERO_CLIENT_SECRET"
    tenant_id = ""                        # optional: picked from /connections on connect
    base_url = "https://api.xero.com"     # a sandbox URL in tests and demos
    identity_url = "https://identity.xero.com"
    reference_ttl = "15m"                 # how long accounts, tax rates, items... are cached
    tracking = { location = "Location", department = "Department" }
    invoice_status = "AUTHORISED"         # or "DRAFT" (Wise-Sync's "automatically approved")
    bill_status = "AUTHORISED"            # bills and credit notes, same choices
    mark_sent = false                     # Xero's "Sent to contact" on approved invoices
"""

from __future__ import annotations

from dataclasses import dataclass, field

from wisesync.company import CompanyConfig, ConfigProblem
from wisesync.config import parse_duration
from wisesync.fields import checked_section, ledger_fields

SECTION = "xero"
GRANTS = ("authorization_code", "client_credentials")
DEFAULT_BASE_URL = "https://api.xero.com"
DEFAULT_IDENTITY_URL = "https://identity.xero.com"
DEFAULT_AUTHORIZE_URL = "https://login.xero.com/identity/connect/authorize"
DEFAULT_SCOPES = (
    "openid profile email offline_access accounting.transactions accounting.contacts "
    "accounting.settings"
)
#: RecordEvent ``Line.tracking`` field -> Xero tracking category name.
DEFAULT_TRACKING = {"location": "Location", "department": "Department"}
STATUSES = ("AUTHORISED", "DRAFT")

_KEYS = {
    "grant",
    "client_id_env",
    "client_secret_env",
    "tenant_id",
    "base_url",
    "identity_url",
    "authorize_url",
    "scopes",
    "redirect_port",
    "reference_ttl",
    "contacts_ttl",
    "tracking",
    "invoice_status",
    "bill_status",
    "mark_sent",
}


@dataclass(frozen=True, slots=True)
class Approval:
    """How documents are created in Xero: the status of invoices and of bills / credit
    notes (``AUTHORISED`` or ``DRAFT``) and whether approved invoices are marked sent."""

    invoice_status: str = "AUTHORISED"
    bill_status: str = "AUTHORISED"
    mark_sent: bool = False


DEFAULT_APPROVAL = Approval()


@dataclass(frozen=True, slots=True)
class XeroSettings:
    """One company's Xero connection settings, validated."""

    client_id_env: str
    client_secret_env: str
    grant: str = "authorization_code"
    tenant_id: str | None = None
    base_url: str = DEFAULT_BASE_URL
    identity_url: str = DEFAULT_IDENTITY_URL
    authorize_url: str = DEFAULT_AUTHORIZE_URL
    scopes: str = DEFAULT_SCOPES
    redirect_port: int = 8765
    reference_ttl: int = 900
    contacts_ttl: int = 900
    tracking: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_TRACKING))
    approval: Approval = field(default_factory=Approval)

    @property
    def token_url(self) -> str:
        """The OAuth2 token endpoint."""
        return f"{self.identity_url}/connect/token"

    @property
    def revocation_url(self) -> str:
        """The OAuth2 token revocation endpoint."""
        return f"{self.identity_url}/connect/revocation"

    @property
    def connections_url(self) -> str:
        """``GET /connections``: the tenants this token may use."""
        return f"{self.base_url}/connections"


def check(company: CompanyConfig) -> list[ConfigProblem]:
    """Every problem in ``company``'s ``[companies.xero]`` table (keys relative to the company)."""
    f = ledger_fields(company, SECTION, "Xero", _KEYS, "ACME_XERO")
    if f.absent:
        return f.problems
    raw = f.raw
    if raw.get("grant", "authorization_code") not in GRANTS:
        f.problem(
            "grant",
            f"expected one of {', '.join(GRANTS)}, got {raw['grant']!r}",
            '"client_credentials" for a Xero custom connection, "authorization_code" '
            "for a standard app",
        )
    for key in ("base_url", "identity_url", "authorize_url"):
        f.url(key)
    f.string("tenant_id", hint="the Xero tenant id")
    f.integer("redirect_port", 8765, 0, 65535, "a port number on 127.0.0.1")
    f.duration("reference_ttl")
    f.duration("contacts_ttl")
    for key in ("invoice_status", "bill_status"):
        if key in raw and str(raw[key]).upper() not in STATUSES:
            f.problem(key, f"expected AUTHORISED or DRAFT, got {raw[key]!r}")
    if "mark_sent" in raw and not isinstance(raw["mark_sent"], bool):
        f.problem("mark_sent", f"expected true or false, got {raw['mark_sent']!r}")
    f.tracking(
        lambda v: isinstance(v, str) and bool(v),
        "Xero tracking category names",
        'tracking = { location = "Location", department = "Department" }',
    )
    return f.problems


def load(company: CompanyConfig) -> XeroSettings:
    """The validated settings of ``company``; :class:`~wisesync.config.ConfigInvalid`
    naming every problem when :func:`check` finds any."""
    raw = checked_section(company, SECTION, check)
    identity = str(raw.get("identity_url", DEFAULT_IDENTITY_URL)).rstrip("/")
    default_authorize = (
        DEFAULT_AUTHORIZE_URL
        if identity == DEFAULT_IDENTITY_URL
        else f"{identity}/identity/connect/authorize"
    )
    return XeroSettings(
        client_id_env=raw["client_id_env"],
        client_secret_env=raw["client_secret_env"],
        grant=raw.get("grant", "authorization_code"),
        tenant_id=raw.get("tenant_id") or None,
        base_url=str(raw.get("base_url", DEFAULT_BASE_URL)).rstrip("/"),
        identity_url=identity,
        authorize_url=str(raw.get("authorize_url", default_authorize)),
        scopes=str(raw.get("scopes", DEFAULT_SCOPES)),
        redirect_port=int(raw.get("redirect_port", 8765)),
        reference_ttl=parse_duration(raw.get("reference_ttl", 900)),
        contacts_ttl=parse_duration(raw.get("contacts_ttl", 900)),
        tracking=dict(raw.get("tracking") or DEFAULT_TRACKING),
        approval=_approval(raw),
    )


def _approval(raw: dict) -> Approval:
    return Approval(
        invoice_status=str(raw.get("invoice_status", "AUTHORISED")).upper(),
        bill_status=str(raw.get("bill_status", "AUTHORISED")).upper(),
        mark_sent=raw.get("mark_sent", False) is True,
    )


def approval_of(company: CompanyConfig) -> Approval:
    """How ``company``'s documents are created (its ``[companies.xero]`` approval keys)."""
    return _approval(company.section(SECTION))
