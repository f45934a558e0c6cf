"""The embedded Postgres's life beyond one command: ``wisesync db stop``.

Commands start the embedded server (:mod:`wisesync.store.embedded`) when no DSN is
configured and leave it running, detached, for the next command. :func:`stop_embedded`
stops it again; it never starts one to do so and never touches a configured server.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wisesync.config import AppConfig

#: exit statuses, as the CLI's (wisesync.cli.context): ok, failed, configuration error
EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2


@dataclass(frozen=True, slots=True)
class StopOutcome:
    """What ``db stop`` found and did; ``exit_code`` is the command's exit status."""

    path: Path | None
    was_running: bool
    stopped: bool
    error: str = ""
    exit_code: int = EXIT_OK

    def summary(self) -> str:
        """One line for a person."""
        if self.stopped:
            return f"stopped the embedded Postgres in {self.path}"
        return f"the embedded Postgres in {self.path} is not running"

    def as_dict(self) -> dict[str, Any]:
        """The ``--json`` document."""
        return {
            "path": str(self.path) if self.path else None,
            "was_running": self.was_running,
            "stopped": self.stopped,
            "error": self.error or None,
        }


def embedded_path(config: AppConfig) -> Path:
    """Where commands keep the embedded Postgres of this configuration."""
    return (config.data_dir / "postgres").resolve()


def stop_embedded(config: AppConfig, timeout: float = 30.0) -> StopOutcome:
    """Stop the embedded Postgres of ``config`` if it runs (exit 0 either way).

    A configured DSN means wisesync did not start the server: exit 2, nothing touched.
    A server that will not stop is exit 1 with the reason.
    """
    from wisesync.store.embedded import EmbeddedPostgres, EmbeddedPostgresError

    if config.dsn:
        return StopOutcome(
            None,
            False,
            False,
            "a Postgres DSN is configured (store.dsn_env / WISESYNC_DSN): wisesync did not "
            "start that server and does not stop it; `db stop` stops only the embedded one",
            EXIT_CONFIG,
        )
    path = embedded_path(config)
    server = EmbeddedPostgres(path)
    try:
        if not server.is_running():
            return StopOutcome(path, False, False)
        server.stop(timeout)
    except EmbeddedPostgresError as exc:
        return StopOutcome(path, True, False, str(exc), EXIT_FAILED)
    return StopOutcome(path, True, True)
