"""A plugin's failing observer hook never stops the service: ``wisesync run`` starts its
roles, keeps them running and stops cleanly while on_startup and on_shutdown raise."""

from __future__ import annotations

import logging

import pytest

from wisesync import hookimpl
from wisesync.config import parse_config
from wisesync.daemon import Service
from wisesync.plugins import build_registry


class Broken:
    """An observer plugin whose every call fails."""

    @hookimpl
    def on_startup(self, roles):  # type: ignore[no-untyped-def]
        raise RuntimeError("startup observer bug")

    @hookimpl
    def on_shutdown(self):  # type: ignore[no-untyped-def]
        raise RuntimeError("shutdown observer bug")


class Watcher:
    """An observer plugin that records what it saw."""

    def __init__(self) -> None:
        self.seen: list[object] = []

    @hookimpl
    def on_startup(self, roles):  # type: ignore[no-untyped-def]
        self.seen.append(tuple(roles))

    @hookimpl
    def on_shutdown(self):  # type: ignore[no-untyped-def]
        self.seen.append("shutdown")


@pytest.mark.postgres
def test_the_service_runs_and_stops_while_observers_raise(
    pg_database: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("WISESYNC_LOAD_PLUGINS", "hello")
    watcher = Watcher()
    config = parse_config({"group": "observers"}, environ={"WISESYNC_DSN": pg_database})
    service = Service(config, roles=("reporter",), registry=build_registry((Broken(), watcher)))
    with caplog.at_level(logging.ERROR, logger="wisesync.plugins"):
        service.open().start()
        try:
            assert service.alive()  # the role runs although on_startup raised
        finally:
            service.stop()
            service.close()
    assert service.errors == []
    assert watcher.seen == [("reporter",), "shutdown"]
    logged = [str(r.exc_info[1]) for r in caplog.records if r.exc_info]
    assert logged == ["startup observer bug", "shutdown observer bug"]
