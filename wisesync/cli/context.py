"""What every command shares: the config, the database, output helpers."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from wisesync.config import AppConfig
    from wisesync.store.db import Database

EXIT_OK = 0
EXIT_NOT_ALL_POSTED = 1
EXIT_CONFIG = 2


@dataclass
class AppContext:
    """Lazily loaded config and database for the running command."""

    config_file: str | None = None
    _db: Database | None = field(default=None, repr=False)

    @cached_property
    def config(self) -> AppConfig:
        from wisesync.config import load_config
        from wisesync.plugins import registry

        return registry().checked(load_config(self.config_file))

    def database(self, *, migrate: bool = True) -> Database:
        """Connect (starting the embedded Postgres when no DSN is set) and migrate."""
        if self._db is None:
            from wisesync.store import migrate as migrations
            from wisesync.store.db import open_database

            self._db = open_database(self.config)
            if migrate:
                with self._db.connection() as conn:
                    migrations.migrate(conn)
                self._record_requests(self._db.dsn)
        return self._db

    def _record_requests(self, dsn: str) -> None:
        """Log the API calls this command makes (wisesync.requestlog); the log is written
        and the recorder removed when the command ends (at exit outside a click command)."""
        from wisesync.requestlog.recorder import install

        request_log = install(self.config, dsn)
        ctx = click.get_current_context(silent=True)
        if ctx is not None:
            ctx.find_root().call_on_close(request_log.close)
        else:
            import atexit

            atexit.register(request_log.close)


pass_app = click.make_pass_decorator(AppContext)


def print_json(data: Any) -> None:
    """Machine output: one JSON document on stdout (Decimals as strings)."""
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
