"""How the test-service fixtures choose a service, and that CI never skips a missing one."""

from __future__ import annotations

import pytest

from wisesync.testing import services
from wisesync.testing.services import ServiceUnavailable, in_ci, provide, with_dbname


def _broken() -> tuple[str, object]:
    raise ServiceUnavailable("java not found")


def _working() -> tuple[str, object]:
    return "127.0.0.1:9", lambda: None


def _env_ok(value: str) -> None:
    return None


def _env_down(value: str) -> None:
    raise ConnectionRefusedError("connection refused")


def _provide(environ: dict[str, str], starters, check_env=_env_ok):
    return provide(
        "kafka",
        env_var="WS_TEST_BOOTSTRAP",
        check_env=check_env,
        starters=starters,
        fix_hint="Fix: install java",
        environ=environ,
    )


def test_ci_true_fails_instead_of_skipping_when_no_starter_works():
    with pytest.raises(pytest.fail.Exception) as failed:
        _provide({"CI": "true"}, [("local", _broken), ("containers", _broken)])
    text = str(failed.value)
    assert "java not found" in text
    assert "Fix: install java" in text
    assert "CI=true" in text


def test_outside_ci_a_missing_service_skips_with_the_fix():
    with pytest.raises(pytest.skip.Exception) as skipped:
        _provide({}, [("local", _broken)])
    assert "local: java not found" in str(skipped.value)
    assert "Fix: install java" in str(skipped.value)


def test_first_working_starter_wins_and_later_ones_are_not_tried():
    calls = []

    def second():
        calls.append("second")
        return "never", lambda: None

    got = _provide({"CI": "true"}, [("broken", _broken), ("local", _working), ("late", second)])
    assert (got.value, got.how) == ("127.0.0.1:9", "local")
    assert calls == []


def test_env_var_is_used_without_starting_anything():
    got = _provide({"WS_TEST_BOOTSTRAP": "10.0.0.1:9092"}, [("local", _broken)])
    assert got.value == "10.0.0.1:9092"
    assert got.how == "$WS_TEST_BOOTSTRAP"


def test_env_var_that_does_not_answer_fails_even_outside_ci():
    with pytest.raises(pytest.fail.Exception) as failed:
        _provide({"WS_TEST_BOOTSTRAP": "10.0.0.1:9092"}, [("local", _working)], _env_down)
    assert "WS_TEST_BOOTSTRAP is set" in str(failed.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("1", True), ("TRUE", True), ("yes", True), ("", False), ("false", False)],
)
def test_in_ci(value, expected):
    assert in_ci({"CI": value}) is expected
    assert in_ci({}) is False


def test_kafka_fixture_fails_under_ci_when_the_broker_cannot_start(monkeypatch):
    """The real fixture path: no env var, every starter broken, CI=true -> failure."""
    monkeypatch.setenv("CI", "true")
    monkeypatch.delenv(services.KAFKA_ENV, raising=False)
    monkeypatch.setattr(services, "_start_local_kafka", _broken)
    monkeypatch.setattr(services, "_start_kafka_container", _broken)
    fixture = services.kafka_bootstrap.__wrapped__  # the plain generator function
    with pytest.raises(pytest.fail.Exception, match="kafka is not available"):
        next(fixture())


@pytest.mark.parametrize(
    ("dsn", "expected"),
    [
        ("postgresql://u:p@127.0.0.1:5432/base", "postgresql://u:p@127.0.0.1:5432/t_1"),
        ("postgres://u@h/base?sslmode=disable", "postgres://u@h/t_1?sslmode=disable"),
    ],
)
def test_with_dbname_url(dsn, expected):
    assert with_dbname(dsn, "t_1") == expected


def test_with_dbname_keyword_form():
    from psycopg.conninfo import conninfo_to_dict

    got = conninfo_to_dict(with_dbname("host=h port=5 user=u dbname=base", "t_1"))
    assert got == {"host": "h", "port": "5", "user": "u", "dbname": "t_1"}


def test_database_names_are_unique_and_valid_identifiers():
    names = {services._database_name("test_x[Param-1]") for _ in range(50)}
    assert len(names) == 50
    for name in names:
        assert name.startswith("t_test_x_param_1_")
        assert len(name) <= 63


def test_redact_hides_passwords():
    assert "secret" not in services._redact("postgresql://u:secret@h:1/db")
    assert "secret" not in services._redact("host=h password=secret dbname=d")


def test_scratch_dirs_of_dead_sessions_are_cleaned_and_live_ones_kept(monkeypatch, tmp_path):
    import os
    import subprocess
    import sys

    monkeypatch.setattr(services.tempfile, "tempdir", str(tmp_path))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / "wisesync-test-x-stale"
    stale.mkdir()
    (stale / "owner.pid").write_text(str(dead.pid))
    live = tmp_path / "wisesync-test-x-live"
    live.mkdir()
    (live / "owner.pid").write_text(str(os.getpid()))
    cleaned = []

    new = services._scratch_dir("wisesync-test-x-", cleanup=cleaned.append)

    assert cleaned == [stale]
    assert not stale.exists()
    assert live.exists()
    assert new.parent == tmp_path
    assert (new / "owner.pid").read_text() == str(os.getpid())


# -- WISESYNC_TEST_SERVICES: which starters are tried -------------------------------------------
_LOCAL = ("local", _working)
_CONTAINER = ("testcontainers", _broken)


@pytest.mark.parametrize(
    ("mode", "names", "required"),
    [
        ("", ["local", "testcontainers"], False),
        ("auto", ["local", "testcontainers"], False),
        ("local", ["local"], False),
        ("LOCAL", ["local"], False),
        ("containers", ["testcontainers"], True),
    ],
)
def test_services_mode_selects_the_starters(mode, names, required):
    starters, must = services.starters_for(_LOCAL, _CONTAINER, {services.SERVICES_ENV: mode})
    assert [name for name, _ in starters] == names
    assert must is required


def test_an_unknown_services_mode_names_the_choices():
    with pytest.raises(ServiceUnavailable) as bad:
        services.starters_for(_LOCAL, _CONTAINER, {services.SERVICES_ENV: "docker"})
    assert "WISESYNC_TEST_SERVICES='docker' is not one of auto, local, containers" in str(bad.value)


def _provide_by_mode(environ, local, container):
    starters, required = services.starters_for(local, container, environ)
    return provide(
        "postgres",
        env_var="WS_TEST_DSN",
        check_env=_env_ok,
        starters=starters,
        fix_hint="Fix: start Docker",
        environ=environ,
        required=required,
    )


@pytest.mark.parametrize("ci", ["true", ""])
def test_containers_without_docker_fail_clearly_instead_of_skipping(monkeypatch, ci):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    environ = {services.SERVICES_ENV: "containers", "CI": ci}
    local, container = ("local", _working), ("testcontainers", services._start_postgres_container)
    with pytest.raises(pytest.fail.Exception) as failed:
        _provide_by_mode(environ, local, container)
    text = str(failed.value)
    assert "no Docker engine answers at unix:///nonexistent/docker.sock" in text
    assert "unset WISESYNC_TEST_SERVICES" in text


def test_a_variable_naming_a_running_service_wins_over_containers():
    environ = {services.SERVICES_ENV: "containers", "WS_TEST_DSN": "postgresql://h/db"}
    got = _provide_by_mode(environ, _LOCAL, _CONTAINER)
    assert got.how == "$WS_TEST_DSN"
