"""Run a real single-node Apache Kafka (KRaft) broker from Maven Central jars, without Docker.

The broker classpath is resolved once per Kafka version with Maven
(``deploy/local/kafka/pom.xml``, ``mvn dependency:copy-dependencies``) into
``$WISESYNC_CACHE_DIR/kafka-<version>/libs`` (default ``~/.cache/wisesync``), under a file lock
so concurrent test processes do not resolve at the same time. A :class:`KafkaBroker` then picks
free loopback ports, writes ``server.properties`` (combined broker+controller, static quorum),
formats the storage, starts ``java kafka.Kafka`` and waits until the broker port accepts and a
kafka-python metadata request succeeds.

Used by the ``kafka_bootstrap`` pytest fixture (``wisesync.testing.services``) and by the
developer script ``deploy/local/kafka.py`` (``python deploy/local/kafka.py start``).
Needs Java 17+ and Maven on PATH (``JAVA_HOME`` is honoured for java).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import ctypes
import fcntl
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

__all__ = [
    "KAFKA_VERSION",
    "KafkaBroker",
    "KafkaUnavailable",
    "cache_dir",
    "find_java",
    "free_port",
    "resolve_jars",
]

log = logging.getLogger(__name__)

#: Kafka version started by default (override with ``WISESYNC_KAFKA_VERSION``).
KAFKA_VERSION = os.environ.get("WISESYNC_KAFKA_VERSION", "4.1.1")

# Kafka's release tarball ships log4j-slf4j-impl at the log4j2 version it was built with.
_LOG4J2_FOR_KAFKA = {"4.1.0": "2.24.3", "4.1.1": "2.24.3", "4.1.2": "2.25.3"}
_DEFAULT_LOG4J2 = "2.24.3"

_REPO_ROOT = Path(__file__).resolve().parents[2]
_POM = _REPO_ROOT / "deploy" / "local" / "kafka" / "pom.xml"

_SERVER_PROPERTIES = """\
# Written by wisesync.testing.kafka_broker: one combined broker+controller on loopback,
# static KRaft quorum, single-replica internal topics (a test/dev broker, not production).
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller_port}
listeners=PLAINTEXT://127.0.0.1:{broker_port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{broker_port}
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs={log_dir}
num.partitions=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
"""

# Console only, WARN and up, plus the one INFO line that says the server started.
_LOG4J2_PROPERTIES = """\
status = warn
shutdownHook = disable
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.out.ref = OUT
logger.ready.name = kafka.server.KafkaRaftServer
logger.ready.level = INFO
"""


class KafkaUnavailable(RuntimeError):
    """A broker cannot be provided here (missing tool, failed resolution or failed start)."""


def cache_dir() -> Path:
    """Return wisesync's cache directory: ``$WISESYNC_CACHE_DIR`` or ``~/.cache/wisesync``."""
    env = os.environ.get("WISESYNC_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "wisesync"


def find_java() -> str:
    """Return the ``java`` executable (``$JAVA_HOME/bin/java`` first, then PATH)."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    java = shutil.which("java")
    if not java:
        raise KafkaUnavailable(
            "java not found: install a Java 17+ runtime "
            "(Debian: apt-get install -y openjdk-17-jre-headless) or set JAVA_HOME"
        )
    return java


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free on ``host`` right now (bind to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _libs_complete(libs: Path, version: str) -> bool:
    return (libs / f"kafka_2.13-{version}.jar").is_file()


def resolve_jars(
    version: str = KAFKA_VERSION, *, cache: Path | None = None, timeout: float = 900.0
) -> Path:
    """Resolve the broker classpath for ``version`` once and return its ``libs`` directory.

    Runs ``mvn -B -q dependency:copy-dependencies`` on ``deploy/local/kafka/pom.xml`` into a
    scratch folder and renames it to ``<cache>/kafka-<version>/libs`` when complete, holding an
    exclusive lock on ``<cache>/kafka-<version>.lock`` so that parallel callers wait for one
    resolution instead of racing. Later calls return at once.
    """
    cache = cache or cache_dir()
    home = cache / f"kafka-{version}"
    libs = home / "libs"
    if _libs_complete(libs, version):
        return libs
    home.mkdir(parents=True, exist_ok=True)
    with open(cache / f"kafka-{version}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _libs_complete(libs, version):
            return libs
        mvn = shutil.which("mvn")
        if not mvn:
            raise KafkaUnavailable(
                "mvn not found: install Maven (Debian: apt-get install -y maven) to resolve the "
                f"Kafka {version} jars, or point WISESYNC_TEST_KAFKA_BOOTSTRAP at a running broker"
            )
        pom_src = Path(os.environ.get("WISESYNC_KAFKA_POM", _POM))
        if not pom_src.is_file():
            raise KafkaUnavailable(f"Kafka classpath pom not found at {pom_src}")
        pom = home / "pom.xml"
        shutil.copyfile(pom_src, pom)
        partial = Path(tempfile.mkdtemp(prefix="libs.partial-", dir=home))
        log4j2 = _LOG4J2_FOR_KAFKA.get(version, _DEFAULT_LOG4J2)
        cmd = [
            mvn,
            "-B",
            "-q",
            "-f",
            str(pom),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={partial}",
            "-DincludeScope=runtime",
            f"-Dkafka.version={version}",
            f"-Dlog4j2.version={log4j2}",
        ]
        started = time.monotonic()
        try:
            proc = subprocess.run(
                cmd, cwd=home, capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired as exc:
            shutil.rmtree(partial, ignore_errors=True)
            raise KafkaUnavailable(
                f"resolving Kafka {version} jars timed out after {timeout:.0f} s"
            ) from exc
        if proc.returncode != 0 or not _libs_complete(partial, version):
            shutil.rmtree(partial, ignore_errors=True)
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-30:]
            raise KafkaUnavailable(
                f"mvn could not resolve Kafka {version} jars (exit {proc.returncode}):\n"
                + "\n".join(tail)
            )
        if libs.exists():  # an incomplete leftover from an older run
            shutil.rmtree(libs)
        partial.rename(libs)
        log.info(
            "resolved Kafka %s jars in %.1f s into %s", version, time.monotonic() - started, libs
        )
        return libs


def _cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Ask Linux to SIGTERM the child when the process that started it dies (no orphan JVMs)."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class KafkaBroker:
    """One single-node KRaft broker on 127.0.0.1, with its files in ``data_dir``.

    ``start()`` returns the bootstrap address (``"127.0.0.1:<port>"``); ``stop()`` sends SIGTERM
    and kills after a grace period. A ``data_dir`` that was formatted before is reused as is
    (its topics survive a restart). Usable as a context manager.
    """

    def __init__(
        self,
        data_dir: Path | str,
        *,
        version: str = KAFKA_VERSION,
        libs: Path | None = None,
        broker_port: int | None = None,
        heap: str = "512m",
        die_with_parent: bool = True,
    ) -> None:
        """Prepare (but do not start) a broker; ``libs`` defaults to :func:`resolve_jars`."""
        self.data_dir = Path(data_dir).resolve()
        self.version = version
        self.libs = libs
        self.heap = heap
        self.die_with_parent = die_with_parent
        self.requested_port = broker_port
        self.broker_port: int | None = None
        self.controller_port: int | None = None
        self.startup_seconds: float | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = self.data_dir / "broker.log"

    @property
    def bootstrap(self) -> str:
        """The ``host:port`` clients connect to (only valid while started)."""
        if self.broker_port is None:
            raise KafkaUnavailable("broker not started")
        return f"127.0.0.1:{self.broker_port}"

    # -- lifecycle -------------------------------------------------------------------------
    def start(self, timeout: float = 120.0) -> str:
        """Start the broker and block until it serves metadata; return the bootstrap address."""
        if self.process is not None and self.process.poll() is None:
            return self.bootstrap
        java = find_java()
        libs = self.libs or resolve_jars(self.version)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "log4j2.properties").write_text(_LOG4J2_PROPERTIES)
        started = time.monotonic()
        last_error: Exception | None = None
        for _attempt in range(3):  # a picked free port can be taken before Kafka binds it
            self._write_config()
            self._format(java, libs)
            try:
                self._launch(java, libs, deadline=started + timeout)
            except KafkaUnavailable as exc:
                last_error = exc
                if "Address already in use" in str(exc) and self.requested_port is None:
                    continue
                raise
            self.startup_seconds = time.monotonic() - started
            log.info(
                "Kafka %s ready at %s in %.1f s", self.version, self.bootstrap, self.startup_seconds
            )
            return self.bootstrap
        raise KafkaUnavailable(f"Kafka could not bind its ports: {last_error}")

    def stop(self, timeout: float = 20.0) -> None:
        """Stop the broker: SIGTERM (controlled shutdown), then SIGKILL after ``timeout`` s."""
        proc, self.process = self.process, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("Kafka did not stop within %.0f s; killing it", timeout)
                proc.kill()
                proc.wait(10)

    def __enter__(self) -> KafkaBroker:
        """Start on entry."""
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop on exit."""
        self.stop()

    # -- steps -----------------------------------------------------------------------------
    def _write_config(self) -> None:
        self.broker_port = self.requested_port or free_port()
        self.controller_port = free_port()
        while self.controller_port == self.broker_port:
            self.controller_port = free_port()
        (self.data_dir / "server.properties").write_text(
            _SERVER_PROPERTIES.format(
                broker_port=self.broker_port,
                controller_port=self.controller_port,
                log_dir=self.data_dir / "kraft",
            )
        )

    def _java_base(self, java: str, libs: Path, heap: str) -> list[str]:
        return [
            java,
            f"-Xmx{heap}",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.data_dir / 'log4j2.properties'}",
            "-cp",
            f"{libs}/*",
        ]

    def _format(self, java: str, libs: Path) -> None:
        if (self.data_dir / "kraft" / "meta.properties").exists():
            return  # formatted earlier: keep the cluster (and its topics)
        cmd = [
            *self._java_base(java, libs, "256m"),
            "kafka.tools.StorageTool",
            "format",
            f"--cluster-id={_cluster_id()}",  # "=": an id may start with "-" (argparse)
            "-c",
            str(self.data_dir / "server.properties"),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        if proc.returncode != 0:
            raise KafkaUnavailable(
                f"kafka StorageTool format failed (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}"
            )

    def _launch(self, java: str, libs: Path, *, deadline: float) -> None:
        cmd = [
            *self._java_base(java, libs, self.heap),
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:+ExplicitGCInvokesConcurrent",
            "kafka.Kafka",
            str(self.data_dir / "server.properties"),
        ]
        with open(self.log_path, "ab") as out:
            self.process = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.data_dir,
                start_new_session=True,  # Ctrl-C in the parent's terminal is handled by stop()
                preexec_fn=_die_with_parent if self.die_with_parent else None,
            )
        try:
            self._wait_ready(deadline)
        except BaseException:
            self.stop(timeout=10)
            raise

    def _wait_ready(self, deadline: float) -> None:
        assert self.process is not None
        from kafka import KafkaAdminClient  # noqa: F401 - fail now, not as "never ready", if absent

        port_open = False
        last: Exception | None = None
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code is not None:
                raise KafkaUnavailable(
                    f"Kafka exited with code {code} during startup; log {self.log_path}:\n"
                    + _tail(self.log_path)
                )
            if not port_open:
                # Kafka opens the broker socket only when the broker is unfenced and serving.
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                    sock.settimeout(1.0)
                    port_open = sock.connect_ex(("127.0.0.1", self.broker_port)) == 0
            if port_open:
                try:
                    if self._metadata_ok():
                        return
                except Exception as exc:  # not ready yet; retry until the deadline
                    last = exc
            time.sleep(0.2)
        raise KafkaUnavailable(
            f"Kafka did not become ready at {self.bootstrap} in time (last error: {last!r}); "
            f"log {self.log_path}:\n" + _tail(self.log_path)
        )

    def _metadata_ok(self) -> bool:
        from kafka import KafkaAdminClient

        admin = KafkaAdminClient(
            bootstrap_servers=self.bootstrap,
            client_id="wisesync-readiness",
            request_timeout_ms=5000,
            bootstrap_timeout_ms=5000,
        )
        try:
            cluster = admin.describe_cluster()
        finally:
            admin.close()
        return bool(cluster.get("brokers"))


# -- command line ----------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    """``kafka.py resolve`` pre-resolves the jars; ``kafka.py start`` runs a broker until Ctrl-C."""
    parser = argparse.ArgumentParser(
        prog="deploy/local/kafka.py",
        description="Run a real single-node Kafka (KRaft) broker on 127.0.0.1 without Docker.",
    )
    parser.add_argument(
        "--version", default=KAFKA_VERSION, help="Kafka version (default %(default)s)"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("resolve", help="download the broker jars into the cache and print their folder")
    start = sub.add_parser(
        "start", help="start a broker, print its bootstrap address, run until Ctrl-C"
    )
    start.add_argument(
        "--data-dir",
        type=Path,
        help="broker files (config, log, topics); reused if it exists (default: a temp dir, removed at exit)",
    )
    start.add_argument("--port", type=int, help="broker port (default: a free one)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    log.setLevel(logging.INFO)
    try:
        if args.command == "resolve":
            started = time.monotonic()
            libs = resolve_jars(args.version)
            print(libs)
            print(f"(ready in {time.monotonic() - started:.1f} s)", file=sys.stderr)
            return 0
        return _run_foreground(args.version, args.data_dir, args.port)
    except KafkaUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _run_foreground(version: str, data_dir: Path | None, port: int | None) -> int:
    temp = None
    if data_dir is None:
        temp = data_dir = Path(tempfile.mkdtemp(prefix="wisesync-kafka-"))
    broker = KafkaBroker(data_dir, version=version, broker_port=port)

    def _terminate(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    try:
        bootstrap = broker.start()
        print(bootstrap, flush=True)
        print(
            f"Kafka {version} ready in {broker.startup_seconds:.1f} s; data in {data_dir}, "
            f"log {broker.log_path}. Ctrl-C stops it.",
            file=sys.stderr,
            flush=True,
        )
        while broker.process is not None and broker.process.poll() is None:
            time.sleep(0.5)
        print(f"Kafka exited unexpectedly; log {broker.log_path}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stopping Kafka ...", file=sys.stderr)
        return 0
    finally:
        broker.stop()
        if temp is not None:
            shutil.rmtree(temp, ignore_errors=True)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
