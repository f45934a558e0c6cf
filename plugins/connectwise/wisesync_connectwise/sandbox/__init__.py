"""A faithful ConnectWise PSA REST simulator for tests, benchmarks and ``wisesync demo``.

>>> server = start_sandbox(seed=0)                       # doctest: +SKIP
>>> server.api_url                                      # doctest: +SKIP
'http://127.0.0.1:54321/v4_6_release/apis/3.0'
>>> requests.get(server.api_url + "/finance/accounting/unpostedinvoices",
...              headers=server.credentials.headers())   # doctest: +SKIP

``python -m wisesync_connectwise.sandbox --port 8081 --seed 0`` runs one in the
foreground and prints its URL and credentials.

Modules: :mod:`.app` (routes, auth, rate limit, helpers), :mod:`.state`
(tenant and mutations: batches, payments, GL mapping edits), :mod:`.views`
(ConnectWise JSON, cached and pre-encoded per record), :mod:`.listing`
(paging, Link headers, fields, orderBy), :mod:`.conditions` (the condition
language), :mod:`.seed` (the deterministic MSP), :mod:`.errors` (CW error bodies).

Helpers on the app (``server.app``): ``unposted_counts()``, ``case(name)`` /
``cases``, ``invoice_by_number(n)``, ``unposted_invoice(n)``, ``payments(n)``,
``batches()``, ``set_invoice_status(n, status)``, ``gl_mapping(key)``,
``fix_mapping(key, account=, location=, department=, non_product_id=)``,
``add_gl_mapping(...)``, ``remap_invoice_lines(n, key)``, ``warm()``,
``reset()``, and from the base ``calls()``, ``faults``, ``log``.
"""

from __future__ import annotations

from typing import Any

from wisesync.testing.sandbox import SandboxServer

from .app import API_BASE, API_VERSION, ConnectWiseSandbox, Credentials
from .seed import demo, generate

__all__ = [
    "API_BASE",
    "API_VERSION",
    "ConnectWiseSandbox",
    "Credentials",
    "demo",
    "generate",
    "start_sandbox",
]


def start_sandbox(port: int = 0, seed: int | None = 0, **options: Any) -> SandboxServer:
    """Start a ConnectWise sandbox on 127.0.0.1 and return the running server (prints nothing).

    ``options`` go to :class:`ConnectWiseSandbox` (``invoices``, ``expenses``,
    ``procurement``, ``customers``, ``cases``, ``max_page_size``, ``rate_limit``,
    ``credentials``, ``latency``, ``single_payment_per_invoice``, ``clock``) except ``warm``
    (default True: encode every record's JSON before serving). The server gets
    two extra attributes: ``api_url`` (``url`` + :data:`API_BASE`) and
    ``credentials``.
    """
    warm = options.pop("warm", True)
    app = ConnectWiseSandbox(seed, **options)
    if warm:
        app.warm()
    server = SandboxServer(app, port=port)
    server.api_url = server.url + API_BASE  # type: ignore[attr-defined]
    server.credentials = app.credentials  # type: ignore[attr-defined]
    return server.start()
