"""A faithful Xero Accounting API simulator for tests, benchmarks and ``wisesync demo``.

>>> from wisesync_xero.sandbox import start_sandbox      # doctest: +SKIP
>>> server = start_sandbox(seed=1, contacts=20)
>>> creds = server.app.credentials()                      # client_credentials grant
>>> server.url, creds.client_id, creds.tenant_id

See :class:`XeroSandbox` for options and test helpers.
"""

from __future__ import annotations

from typing import Any

from wisesync.testing.sandbox import SandboxServer

from .app import API, Credentials, XeroSandbox
from .limits import Limits
from .state import ManualClock


def start_sandbox(port: int = 0, seed: int = 0, **options: Any) -> SandboxServer:
    """Start a :class:`XeroSandbox` on 127.0.0.1 in a background thread (``port=0``: any).

    ``options`` go to :class:`XeroSandbox` (``clock``, ``limits``, ``contacts``, ``tenants``,
    ``refresh_grace``, ``auto_consent``, ``strict_spec``, ...). Stop it with ``.stop()``.
    """
    return SandboxServer(XeroSandbox(seed=seed, **options), port=port).start()


__all__ = ["API", "Credentials", "Limits", "ManualClock", "XeroSandbox", "start_sandbox"]
