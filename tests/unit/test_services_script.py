"""script_services: benchmarks get the services the tests would use, without pytest."""

from __future__ import annotations

import pytest

from wisesync.testing import services


def test_env_vars_name_the_services_and_nothing_is_started(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv(services.KAFKA_ENV, " 127.0.0.1:9 ")
    monkeypatch.setenv(services.POSTGRES_ENV, "postgresql://u@h/db")

    def boom(**_: object) -> None:
        raise AssertionError("must not start a server when the env var names one")

    monkeypatch.setattr(services, "_start_local_kafka", boom)
    monkeypatch.setattr(services, "_start_embedded_postgres", boom)
    with services.script_services() as found:
        assert found == {
            "kafka": "127.0.0.1:9",
            "kafka_from": f"${services.KAFKA_ENV}",
            "postgres": "postgresql://u@h/db",
            "postgres_from": f"${services.POSTGRES_ENV}",
        }


def test_started_services_are_stopped_on_exit_and_failures_say_how_to_fix(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv(services.KAFKA_ENV, raising=False)
    monkeypatch.delenv(services.POSTGRES_ENV, raising=False)
    stopped = []
    monkeypatch.setattr(
        services,
        "_start_embedded_postgres",
        lambda *, durable: ("dsn", lambda: stopped.append(f"pg durable={durable}")),
    )
    with services.script_services(kafka=False) as found:
        assert found["postgres"] == "dsn" and "kafka" not in found
        assert stopped == []
    assert stopped == ["pg durable=True"]  # benchmarks measure a durable Postgres by default

    monkeypatch.setattr(
        services, "_start_local_kafka", lambda: ("kafka:1", lambda: stopped.append("kafka"))
    )

    def no_initdb(**_: object) -> None:
        raise RuntimeError("initdb not found")

    monkeypatch.setattr(services, "_start_embedded_postgres", no_initdb)
    with (
        pytest.raises(services.ServiceUnavailable, match=r"initdb not found(.|\n)*Fix:"),
        services.script_services(),
    ):
        pass
    assert stopped == [
        "pg durable=True",
        "kafka",
    ]  # the broker started first is stopped after the failure
