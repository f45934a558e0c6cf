"""A faithful QuickBooks Online Accounting API simulator for tests, benchmarks and
``wisesync demo --ledger qbo``.

Start one::

    server = start_sandbox(seed=1, customers=20)   # background thread, 127.0.0.1:any
    app = server.app                               # the QboSandbox
    app.realm_id                                   # the first company's realm id
    app.app.client_id, app.app.client_secret       # the Intuit app (authorization code)
    tokens = app.issue_tokens()                    # as if the user had consented

Point a client at ``server.url``: API ``/v3/company/{realmId}/...``, token
``/oauth2/v1/tokens/bearer``, authorize ``/connect/oauth2``, discovery
``/.well-known/openid_configuration`` (intuit-oauth's ``AuthClient(environment=<that
URL>)`` reads it). ``wisesync sandbox qbo`` / ``python -m wisesync_qbo.sandbox`` run it
in the foreground.

Test helpers on the app: ``expire_tokens()``, ``revoke()`` / ``reconnect()``,
``fail_next(code, entity)`` (the next write fails with a QBO error code, e.g. 5010),
``touch(entity, id)`` (another user saves it: SyncToken moves on),
``keep_editing(entity, id)`` / ``stop_editing()`` (every update meets a newer SyncToken),
``set_active(entity, name, active)``, ``add(entity, body)``, ``documents(entity)``,
``receive_payment(doc_number, amount)``, ``pay_bill(doc_number, amount, pay_type)``,
``delete_payment(id, entity=...)``,
``run_query(company, text)``, ``calls(method, path)``; counters ``rate_limited``,
``requestid_replays``, ``minor_versions``, ``batch_writes``; HTTP faults via ``app.faults`` (base class; a
fault's path sees a batch that writes as ``.../batch/write/{Entity}``, one of queries as
``.../batch/read``).
"""

from __future__ import annotations

from typing import Any

from wisesync.testing.clock import ManualClock
from wisesync.testing.sandbox import SandboxServer

from .app import API, Limits, QboSandbox


def start_sandbox(port: int = 0, seed: int = 0, **options: Any) -> SandboxServer:
    """Start a :class:`QboSandbox` on 127.0.0.1 in a background thread (``port=0``: any).

    ``options`` go to :class:`QboSandbox` (``clock``, ``limits``, ``customers``,
    ``country``, ``multicurrency``, ``batch_replay``, ...). Stop it with ``.stop()``.
    """
    return SandboxServer(QboSandbox(seed=seed, **options), port=port).start()


def describe(server: SandboxServer) -> list[str]:
    """How to reach a running sandbox: its URLs, the app's credentials, the realm id."""
    app = server.app
    return [
        f"QBO sandbox at {server.url}",
        f"  API base        {server.url}{API}/{app.realm_id}",
        f"  discovery       {server.url}/.well-known/openid_configuration",
        f"  app             client_id={app.app.client_id} client_secret={app.app.client_secret}",
        f'  settings        base_url = oauth_url = "{server.url}", realm_id = "{app.realm_id}"',
    ]


__all__ = ["API", "Limits", "ManualClock", "QboSandbox", "describe", "start_sandbox"]
