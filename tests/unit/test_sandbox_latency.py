"""The sandbox kit's realistic response times: ranges per reads/writes, seeded, on the
sandbox's clock (so a benchmark's ScaledClock shortens them), and outages that end."""

from __future__ import annotations

import pytest
import requests

from wisesync.testing.clock import ManualClock
from wisesync.testing.sandbox import Fault, Latency, Response, SandboxApp, SandboxServer


class _App(SandboxApp):
    def __init__(self, clock: ManualClock | None = None):
        super().__init__()
        if clock is not None:
            self.clock = clock
        self.route("GET", "/thing", lambda _: Response(200, {"ok": True}))
        self.route("PUT", "/thing", lambda _: Response(200, {"ok": True}))


def test_each_request_sleeps_a_seeded_time_in_its_range_on_the_sandbox_clock() -> None:
    clock = ManualClock()
    app = _App(clock)
    app.set_latency(Latency(reads=(0.15, 0.3), writes=(0.3, 0.8), seed=7))
    with SandboxServer(app) as server:
        for _ in range(5):
            requests.get(server.url + "/thing", timeout=5)
        for _ in range(5):
            requests.put(server.url + "/thing", timeout=5)
        requests.get(server.url + "/__sandbox/log", timeout=5)  # controls take no time
    reads, writes = clock.sleeps[:5], clock.sleeps[5:]
    assert len(clock.sleeps) == 10
    assert all(0.15 <= s <= 0.3 for s in reads)
    assert all(0.3 <= s <= 0.8 for s in writes)
    assert len(set(clock.sleeps)) == 10  # drawn, not fixed

    again = ManualClock()
    replay = _App(again)
    replay.set_latency(Latency(reads=(0.15, 0.3), writes=(0.3, 0.8), seed=7))
    with SandboxServer(replay) as server:
        for method in ["GET"] * 5 + ["PUT"] * 5:
            requests.request(method, server.url + "/thing", timeout=5)
    assert again.sleeps == clock.sleeps  # the same seed, the same times


def test_latency_is_set_and_removed_through_the_control_api() -> None:
    clock = ManualClock()
    app = _App(clock)
    with SandboxServer(app) as server:
        ranges = Latency.parse("all=0.1-0.25", seed=3).to_json()
        requests.post(server.url + "/__sandbox/faults", json={"latency_ranges": ranges}, timeout=5)
        requests.get(server.url + "/thing", timeout=5)
        assert app.latency_ranges == Latency(reads=(0.1, 0.25), writes=(0.1, 0.25), seed=3)
        requests.post(server.url + "/__sandbox/faults", json={"latency_ranges": None}, timeout=5)
        requests.get(server.url + "/thing", timeout=5)
    assert len(clock.sleeps) == 1 and 0.1 <= clock.sleeps[0] <= 0.25
    assert app.latency_ranges is None


def test_parse_names_what_is_wrong() -> None:
    assert Latency.parse("reads=0.2,writes=0.3-0.8") == Latency((0.2, 0.2), (0.3, 0.8))
    with pytest.raises(ValueError, match="'reads=fast'"):
        Latency.parse("reads=fast")
    with pytest.raises(ValueError, match="NAME is reads, writes or all"):
        Latency.parse("posts=0.1")
    with pytest.raises(ValueError, match="low <= high"):
        Latency.parse("reads=0.5-0.1")


def test_a_disarmed_outage_stops_answering_503() -> None:
    app = _App()
    outage = Fault("status", count=10**9, status=503)
    app.faults.arm(outage)
    with SandboxServer(app) as server:
        assert requests.get(server.url + "/thing", timeout=5).status_code == 503
        app.faults.disarm(outage)
        assert requests.get(server.url + "/thing", timeout=5).status_code == 200
