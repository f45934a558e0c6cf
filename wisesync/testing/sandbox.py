"""The shared base of every plugin sandbox: a stateful HTTP server on 127.0.0.1.

A plugin's sandbox (``wisesync_<name>.sandbox``) subclasses :class:`SandboxApp`,
declares routes with :meth:`SandboxApp.route`, keeps its state in memory and
answers with the real API's paths, status codes, headers and error bodies.
This module adds what every simulator needs:

* a threaded HTTP/1.1 server with keep-alive (:class:`SandboxServer`);
* fault injection (:class:`Faults`): latency, 5xx, 429 with Retry-After, and
  "committed but the response was lost" (the handler runs, then the socket is
  closed without an answer), each for the next N matching requests;
* realistic response times (:class:`Latency`, :meth:`SandboxApp.set_latency`): every
  request waits a seeded-random time in a range for reads and another for writes, on the
  sandbox's clock (a ``ScaledClock`` in benchmarks), sleeping, never spinning;
* a control API under ``/__sandbox/`` (faults, reset, request log) so a
  sandbox started by ``wisesync sandbox <name>`` can be driven from outside;
* a request log (method, path, status) for tests and call counting.
"""

from __future__ import annotations

import random
import re
import ssl
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from wisesync import money


@dataclass(slots=True)
class Request:
    """An incoming request, decoded."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    params: dict[str, str] = field(default_factory=dict)

    def arg(self, name: str, default: str | None = None) -> str | None:
        """First value of a query parameter, case-insensitive name."""
        for key, values in self.query.items():
            if key.lower() == name.lower():
                return values[0]
        return default

    def header(self, name: str, default: str | None = None) -> str | None:
        """A request header, case-insensitive."""
        return self.headers.get(name.lower(), default)

    def json(self) -> Any:
        """The body parsed as JSON with Decimals; raises ValueError when malformed."""
        return money.loads(self.body) if self.body else None


@dataclass(slots=True)
class Response:
    """What a handler returns: status, JSON-able body (or bytes/str) and headers."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return money.dumps(self.body).encode()


Handler = Callable[[Request], Response]


@dataclass(slots=True)
class Fault:
    """One armed fault: what to do to the next ``count`` requests matching ``path``."""

    kind: str  # "latency" | "status" | "rate_limit" | "lose_response"
    count: int = 1
    path: str = ""  # regex searched in the path; "" matches all
    method: str = ""  # "" matches all
    status: int = 503
    retry_after: float = 1.0
    seconds: float = 0.0


class Faults:
    """Armed faults, consumed in order by matching requests. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: list[Fault] = []
        self.latency = 0.0

    def arm(self, fault: Fault) -> None:
        """Arm ``fault`` for its next ``count`` matching requests."""
        with self._lock:
            self._armed.append(fault)

    def disarm(self, fault: Fault) -> None:
        """Disarm ``fault`` (armed with :meth:`arm`) if it is still armed."""
        with self._lock:
            self._armed = [armed for armed in self._armed if armed is not fault]

    def clear(self) -> None:
        """Disarm everything and remove latency."""
        with self._lock:
            self._armed.clear()
            self.latency = 0.0

    def take(self, method: str, path: str, kinds: tuple[str, ...]) -> Fault | None:
        """Consume one armed fault of ``kinds`` matching the request, if any."""
        with self._lock:
            for fault in self._armed:
                if fault.kind not in kinds or fault.count <= 0:
                    continue
                if fault.method and fault.method.upper() != method:
                    continue
                if fault.path and not re.search(fault.path, path):
                    continue
                fault.count -= 1
                if fault.count == 0:
                    self._armed.remove(fault)
                return fault
        return None


_READS = ("GET", "HEAD", "OPTIONS")


@dataclass(frozen=True, slots=True)
class Latency:
    """Response times drawn uniformly from a range, one range for reads and one for writes.

    Seconds are the sandbox clock's (simulated seconds on a ``ScaledClock``). ``seed`` makes
    the sequence of draws repeatable (their order across threads follows the requests').

    >>> Latency.parse("reads=0.15-0.3,writes=0.3-0.8")   # doctest: +SKIP
    """

    reads: tuple[float, float] = (0.0, 0.0)
    writes: tuple[float, float] = (0.0, 0.0)
    seed: int = 0

    @classmethod
    def parse(cls, text: str, seed: int = 0) -> Latency:
        """``"reads=0.15-0.3,writes=0.3-0.8"`` (seconds; a single number is a fixed time,
        ``"all=0.1-0.25"`` sets both); raises ValueError naming the bad part."""
        ranges: dict[str, tuple[float, float]] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, _, value = part.partition("=")
            low, _, high = value.partition("-")
            try:
                bounds = (float(low), float(high or low))
            except ValueError:
                raise ValueError(f"latency {part!r}: expected NAME=SECONDS[-SECONDS]") from None
            if name not in ("reads", "writes", "all") or not 0 <= bounds[0] <= bounds[1]:
                raise ValueError(
                    f"latency {part!r}: NAME is reads, writes or all, and 0 <= low <= high"
                )
            for key in ("reads", "writes") if name == "all" else (name,):
                ranges[key] = bounds
        return cls(**ranges, seed=seed)

    def to_json(self) -> dict[str, Any]:
        """As the control API takes it (``POST /__sandbox/faults {"latency_ranges": ...}``)."""
        return {"reads": list(self.reads), "writes": list(self.writes), "seed": self.seed}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Latency:
        """The inverse of :meth:`to_json`."""

        def bounds(name: str) -> tuple[float, float]:
            low, high = data.get(name) or (0.0, 0.0)
            return float(low), float(high)

        return cls(reads=bounds("reads"), writes=bounds("writes"), seed=int(data.get("seed", 0)))


class _LatencyDraw:
    """A :class:`Latency` with its random generator (thread-safe draws)."""

    def __init__(self, latency: Latency):
        self.latency = latency
        self._rng = random.Random(latency.seed)
        self._lock = threading.Lock()

    def draw(self, method: str) -> float:
        low, high = self.latency.reads if method in _READS else self.latency.writes
        if high <= 0:
            return 0.0
        with self._lock:
            return self._rng.uniform(low, high)


class _LostResponse(Exception):
    """Raised after a handler ran to drop the connection without answering."""


class SandboxApp:
    """Routing, faults and the request log. Subclasses add routes and state.

    ``error_response(status, message)`` builds the API's own error body for
    injected faults and unknown routes; override it per API.
    """

    system = "sandbox"

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.faults = Faults()
        self.log: list[tuple[str, str, int]] = []
        self._log_lock = threading.Lock()
        self.lock = threading.RLock()  # guards subclass state
        self._latency: _LatencyDraw | None = None
        self._in_flight = 0
        #: Most API requests ever served at once (reset by :meth:`reset`).
        self.peak_in_flight = 0

    def set_latency(self, latency: Latency | None) -> None:
        """Make every API request (not the ``/__sandbox/`` controls) take a random time in
        ``latency``'s ranges, slept on the sandbox's ``clock`` when it has one (so a
        ``ScaledClock`` shortens it in real time), else in real time. None: no latency."""
        self._latency = _LatencyDraw(latency) if latency is not None else None

    @property
    def latency_ranges(self) -> Latency | None:
        """The response times set with :meth:`set_latency` (None: answers at once)."""
        return self._latency.latency if self._latency is not None else None

    def _sleep_latency(self, method: str) -> None:
        if self._latency is None:
            return
        seconds = self._latency.draw(method)
        if seconds > 0:
            clock = getattr(self, "clock", None)
            (clock.sleep if clock is not None else time.sleep)(seconds)

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        """Serve ``method`` on paths matching ``pattern`` (``{name}`` captures a segment).

        Matching is case-insensitive, as ConnectWise and Xero paths are.
        """
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern.rstrip("/"))
        self._routes.append((method.upper(), re.compile(f"^{regex}/?$", re.IGNORECASE), handler))

    def error_response(self, status: int, message: str) -> Response:
        """The API's error body for ``status``; override per API."""
        return Response(status, {"message": message})

    def connection_settings(self, company: str, url: str) -> tuple[dict[str, Any], dict[str, str]]:
        """How a company connects to this sandbox served at ``url``.

        Returns the plugin's ``[companies.<plugin>]`` settings table and the
        environment variables that hold the secrets it names (``*_env`` keys).
        ``wisesync demo``, the end-to-end tests and the benchmarks build their
        configuration from it, so they never need to know a plugin's settings.
        """
        raise NotImplementedError(f"{type(self).__name__} does not describe its connection")

    def calls(self, method: str | None = None, path: str | None = None) -> int:
        """How many requests were served (matching ``method`` and a ``path`` regex)."""
        with self._log_lock:
            return sum(
                1
                for m, p, _ in self.log
                if (method is None or m == method) and (path is None or re.search(path, p))
            )

    def dispatch(self, request: Request) -> Response:
        """Run faults, route, run the handler, apply "lose the response"."""
        if request.path.startswith("/__sandbox/"):
            return self._control(request)
        with self._log_lock:
            self._in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self._in_flight)
        try:
            return self._dispatch(request)
        finally:
            with self._log_lock:
                self._in_flight -= 1

    def _dispatch(self, request: Request) -> Response:
        self._sleep_latency(request.method)
        if self.faults.latency:
            time.sleep(self.faults.latency)
        target = self.fault_path(request)
        fault = self.faults.take(request.method, target, ("latency", "status", "rate_limit"))
        if fault and fault.kind == "latency":
            time.sleep(fault.seconds)
        elif fault and fault.kind == "status":
            return self.error_response(fault.status, "Injected server error")
        elif fault and fault.kind == "rate_limit":
            response = self.error_response(429, "Rate limit exceeded")
            response.headers["Retry-After"] = f"{fault.retry_after:g}"
            return response
        response = self.handle(request)
        if self.faults.take(request.method, target, ("lose_response",)):
            raise _LostResponse
        return response

    def fault_path(self, request: Request) -> str:
        """The path a :class:`Fault`'s ``path`` regex is matched against: the request's path;
        an API whose reads and writes share a path may tell them apart here."""
        return request.path

    def handle(self, request: Request) -> Response:
        """Find the route and run it."""
        allowed = False
        for method, regex, handler in self._routes:
            match = regex.match(request.path)
            if not match:
                continue
            if method != request.method:
                allowed = True
                continue
            request.params = {k: v for k, v in match.groupdict().items() if v is not None}
            return handler(request)
        if allowed:
            return self.error_response(405, f"Method {request.method} not allowed")
        return self.error_response(404, f"No resource at {request.path}")

    def reset(self) -> None:
        """Forget faults and the request log; subclasses also reset their state."""
        self.faults.clear()
        with self._log_lock:
            self.log.clear()
            self.peak_in_flight = self._in_flight

    def _control(self, request: Request) -> Response:
        what = request.path[len("/__sandbox/") :].strip("/")
        if what == "faults" and request.method == "POST":
            spec = request.json() or {}
            if "latency" in spec:
                self.faults.latency = float(spec.pop("latency"))
            if "latency_ranges" in spec:
                ranges = spec.pop("latency_ranges")
                self.set_latency(Latency.from_json(ranges) if ranges else None)
            if spec.get("kind"):
                self.faults.arm(Fault(**spec))
            return Response(204)
        if what == "faults" and request.method == "DELETE":
            self.faults.clear()
            return Response(204)
        if what == "log":
            with self._log_lock:
                return Response(
                    200, [{"method": m, "path": p, "status": s} for m, p, s in self.log]
                )
        if what == "reset" and request.method == "POST":
            self.reset()
            return Response(204)
        return Response(404, {"message": f"unknown control {what!r}"})

    def record(self, method: str, path: str, status: int) -> None:
        with self._log_lock:
            self.log.append((method, path, status))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two sends; with Nagle on, the body waits for the
    # client's delayed ACK and every keep-alive request costs ~40 ms.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if len(body) < length:
            # The client went away mid-body (killed, connection reset): a real server never
            # sees this request. Handling the truncated body would store its 400 under the
            # request's Idempotency-Key and refuse the genuine retry as "a different request".
            self.close_connection = True
            return
        request = Request(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        app = self.server.app
        try:
            response = app.dispatch(request)
        except _LostResponse:
            app.record(request.method, request.path, 0)
            self.close_connection = True
            return
        except Exception as exc:  # a sandbox bug must show as a 500, not hang the client
            response = app.error_response(500, f"sandbox error: {type(exc).__name__}: {exc}")
        payload = response.encode()
        app.record(request.method, request.path, response.status)
        self.send_response(response.status)
        headers = {"Content-Type": "application/json; charset=utf-8", **response.headers}
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], app: SandboxApp):
        self.app = app
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away (killed, gave up waiting) is not a sandbox error: no
        traceback on stderr; anything else is printed as usual."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class SandboxServer:
    """Runs a :class:`SandboxApp` on 127.0.0.1 in a background thread (HTTPS with ``tls``,
    e.g. :func:`wisesync.testing.tls.server_context`).

    >>> with SandboxServer(app) as server:   # doctest: +SKIP
    ...     requests.get(server.url + "/...")
    """

    def __init__(
        self,
        app: SandboxApp,
        port: int = 0,
        host: str = "127.0.0.1",
        tls: ssl.SSLContext | None = None,
    ):
        self.app = app
        self.tls = tls
        self._server = _Server((host, port), app)
        if tls is not None:  # HTTPS: the handshake runs on the request's own thread
            self._server.socket = tls.wrap_socket(
                self._server.socket, server_side=True, do_handshake_on_connect=False
            )
        self._thread = threading.Thread(
            target=self._server.serve_forever, daemon=True, name=f"sandbox-{app.system}"
        )

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321`` (``https://`` when serving TLS)."""
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def connection_settings(self, company: str) -> tuple[dict[str, Any], dict[str, str]]:
        """See :meth:`SandboxApp.connection_settings`."""
        return self.app.connection_settings(company, self.url)

    def start(self) -> SandboxServer:
        """Start serving; returns self."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serve_until_stopped(self) -> None:
        """Block until Ctrl-C or SIGTERM, then stop (``python -m <plugin>.sandbox``)."""
        import signal

        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()
