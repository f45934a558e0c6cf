"""Serving the console with uvicorn: blocking (``wisesync console``) or in a thread (``wisesync
run --role console``, ``wisesync demo --serve``, the browser tests)."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn

from wisesync.console.users import UserStore


class NoUsers(Exception):
    """The console has nobody who could sign in."""


FIRST_USER_HINT = (
    "nobody can sign in to the console yet: add the first super admin with\n"
    "  wisesync users add NAME --role super_admin\n"
    "(it asks for the password; `wisesync users --help` shows the rest)"
)


def require_users(db: Any) -> None:
    """Raise NoUsers (with how to add one) when no enabled user exists."""
    if UserStore(db).count_active() == 0:
        raise NoUsers(FIRST_USER_HINT)


class ConsoleServer:
    """uvicorn serving the console app in a background thread."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0):
        if port == 0:
            with socket.socket() as s:
                s.bind((host, 0))
                port = s.getsockname()[1]
        self.host, self.port = host, port
        self.server = uvicorn.Server(
            uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
        )
        self.thread = threading.Thread(target=self.server.run, name="console", daemon=True)

    @property
    def url(self) -> str:
        """The console's base URL."""
        return f"http://{self.host}:{self.port}"

    def start(self, timeout_s: float = 20.0) -> ConsoleServer:
        """Start serving; return once it accepts connections."""
        self.thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the console did not start on {self.url}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        """Stop serving (the requests in hand finish)."""
        self.server.should_exit = True
        self.thread.join(10)

    def __enter__(self) -> ConsoleServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
