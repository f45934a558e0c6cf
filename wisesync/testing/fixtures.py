"""Shared pytest fixtures for wisesync's tests and every plugin's (a pytest plugin).

Loaded from the root ``conftest.py`` (``pytest_plugins``) and registered under the
``pytest11`` entry point, so a plugin's test suite run on its own gets them too:

* ``manual_clock``: a :class:`~wisesync.testing.clock.ManualClock` at 0;
* ``migrated_db``: a :class:`~wisesync.store.db.Database` on a fresh Postgres database
  with every migration applied (closed after the test);
* ``migrated_dsn``: the DSN of such a database, with ``WISESYNC_SECRET_KEY`` set so the
  token store can encrypt;
* ``sandbox_factory``: ``sandbox_factory(app)`` serves a sandbox app, and
  ``sandbox_factory(start_sandbox, **options)`` runs a plugin's starter; both stop after.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from wisesync.testing.clock import ManualClock
from wisesync.testing.sandbox import SandboxApp, SandboxServer


@pytest.fixture
def manual_clock() -> ManualClock:
    """A clock at 0 that tests move by hand; sleeping advances it."""
    return ManualClock()


def _migrate(dsn: str) -> None:
    import psycopg

    from wisesync.store.migrate import migrate

    with psycopg.connect(dsn) as conn:
        migrate(conn)


@pytest.fixture
def migrated_dsn(pg_database: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """DSN of a fresh database with the schema migrated and a token-store key set."""
    from cryptography.fernet import Fernet

    from wisesync.store.tokens import SECRET_KEY_ENV

    monkeypatch.setenv(SECRET_KEY_ENV, Fernet.generate_key().decode())
    _migrate(pg_database)
    return pg_database


@pytest.fixture
def migrated_db(pg_database: str) -> Iterator[Any]:
    """A connection pool (``Database``) on a fresh, migrated database; closed after."""
    from wisesync.store.db import Database

    _migrate(pg_database)
    database = Database(pg_database, max_size=6)
    try:
        yield database
    finally:
        database.close()


@pytest.fixture
def sandbox_factory() -> Iterator[Callable[..., SandboxServer]]:
    """Start sandboxes for the test; stopped after it, in the background (a shutdown polls
    every 0.5 s).

    ``sandbox_factory(app)`` serves a :class:`~wisesync.testing.sandbox.SandboxApp`;
    ``sandbox_factory(start, **options)`` calls a plugin's ``start_sandbox(**options)``.
    """
    servers: list[SandboxServer] = []

    def start(app: SandboxApp | Callable[..., SandboxServer], **options: Any) -> SandboxServer:
        server = (
            SandboxServer(app, **options).start() if isinstance(app, SandboxApp) else app(**options)
        )
        servers.append(server)
        return server

    yield start
    for server in servers:
        threading.Thread(target=server.stop, daemon=True).start()
