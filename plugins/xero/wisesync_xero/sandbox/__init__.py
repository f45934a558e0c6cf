"""A faithful Xero Accounting API simulator for tests, benchmarks and ``wisesync demo``.

Start one::

    server = start_sandbox(seed=1, contacts=20)        # background thread, 127.0.0.1:any
    app = server.app                                    # the XeroSandbox
    creds = app.credentials()                           # custom connection (client_credentials)
    creds.client_id, creds.client_secret, creds.tenant_id
    app.client_id, app.client_secret                    # web app (authorization code + PKCE)

Point a client at ``server.url`` for everything: API ``/api.xro/2.0/...``, token
``/connect/token``, revocation ``/connect/revocation``, authorize
``/identity/connect/authorize``, ``/connections``. ``python -m wisesync_xero.sandbox --port N``
runs it in the foreground and prints the same.

Options (:class:`XeroSandbox`): ``clock`` (``now()``/``sleep()``: ``ManualClock`` for tests,
``wisesync.ratelimit.ScaledClock`` for benchmarks), ``limits=Limits(per_minute, per_day,
concurrent, app_per_minute)``, ``contacts`` (count -> ``C00001``... or a list), ``tenants``,
``refresh_grace`` (0 = each refresh token strictly single use; Xero allows 1800 s),
``auto_consent``, ``strict_spec``, ``tax_tolerance``, ``idempotency_ttl``.

Test helpers on the app: ``revoke(tenant)`` / ``reconnect(tenant)``, ``expire_tokens()``,
``create_account(code, name, type)``, ``archive_account(code)``,
``create_tracking_option(category, option)``, ``add_contacts(...)``, ``create_invoice(element)``,
``apply_payment(invoice_number, amount, date)``, ``delete_payment(id)``, ``invoices()``,
``invoice_by_number(n)``, ``credit_notes()``, ``payments()``, ``contacts()``,
``documents_count()``, ``calls(method, path)``; counters ``spec_violations``,
``rate_limited``, ``idempotent_replays``; faults via ``app.faults`` (base class). The same
controls are served under ``/__sandbox/xero/`` for a sandbox in another process.
"""

from __future__ import annotations

from typing import Any

from wisesync.testing.clock import ManualClock
from wisesync.testing.sandbox import SandboxServer

from .app import API, Credentials, XeroSandbox
from .limits import Limits


def start_sandbox(port: int = 0, seed: int = 0, **options: Any) -> SandboxServer:
    """Start a :class:`XeroSandbox` on 127.0.0.1 in a background thread (``port=0``: any).

    ``options`` go to :class:`XeroSandbox` (``clock``, ``limits``, ``contacts``, ``tenants``,
    ``refresh_grace``, ``auto_consent``, ``strict_spec``, ...). Stop it with ``.stop()``.
    """
    return SandboxServer(XeroSandbox(seed=seed, **options), port=port).start()


__all__ = ["API", "Credentials", "Limits", "ManualClock", "XeroSandbox", "start_sandbox"]
