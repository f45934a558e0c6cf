"""Plain-SQL migrations, applied once each in filename order and recorded.

Files live in ``wisesync/store/migrations/NNNN_what.sql``. An applied file must
never change: its checksum is recorded, and a mismatch stops ``db migrate``
with the file's name (write a new migration instead). Concurrent migrators
serialise on an advisory lock.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg

from wisesync.errors import WisesyncError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_LOCK_ID = 0x77697365  # "wise"


class MigrationError(WisesyncError):
    """A migration failed or an applied migration was edited."""


@dataclass(frozen=True)
class Migration:
    """One migration file and, once applied, when."""

    version: str
    name: str
    path: Path
    checksum: str
    applied_at: datetime | None = None


def available(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Every migration file, in order."""
    found = []
    for path in sorted(directory.glob("*.sql")):
        version, _, name = path.stem.partition("_")
        found.append(Migration(version, name, path, hashlib.sha256(path.read_bytes()).hexdigest()))
    return found


def _ensure_table(conn: psycopg.Connection) -> None:
    conn.execute(
        """CREATE TABLE IF NOT EXISTS schema_migrations (
               version text PRIMARY KEY,
               name text NOT NULL,
               checksum text NOT NULL,
               applied_at timestamptz NOT NULL DEFAULT now())"""
    )


def status(conn: psycopg.Connection, directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Every migration with its applied time (None = pending)."""
    _ensure_table(conn)
    applied = {
        row[0]: (row[1], row[2])
        for row in conn.execute("SELECT version, checksum, applied_at FROM schema_migrations")
    }
    conn.commit()
    result = []
    for m in available(directory):
        if m.version in applied:
            checksum, at = applied[m.version]
            if checksum != m.checksum:
                raise MigrationError(
                    f"migration {m.path.name} was edited after it was applied; restore it and "
                    "put the change in a new migration file"
                )
            result.append(Migration(m.version, m.name, m.path, m.checksum, at))
        else:
            result.append(m)
    return result


def migrate(conn: psycopg.Connection, directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Apply every pending migration, each in its own transaction. Returns those applied."""
    conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_ID,))
    conn.commit()
    try:
        done = []
        for m in status(conn, directory):
            if m.applied_at is not None:
                continue
            try:
                with conn.transaction():
                    conn.execute(m.path.read_text())
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s,%s,%s)",
                        (m.version, m.name, m.checksum),
                    )
            except psycopg.Error as exc:
                raise MigrationError(f"migration {m.path.name} failed: {exc}") from None
            done.append(m)
        return done
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_ID,))
        conn.commit()
