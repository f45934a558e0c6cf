"""Kafka broker launcher logic that needs no running broker: cache, jar resolution, config."""

from __future__ import annotations

from pathlib import Path

import pytest

from wisesync.testing import kafka_broker
from wisesync.testing.kafka_broker import KafkaBroker, KafkaUnavailable, cache_dir, resolve_jars


def test_cache_dir_honours_wisesync_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("WISESYNC_CACHE_DIR", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c"
    monkeypatch.delenv("WISESYNC_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "wisesync"


def test_resolved_jars_are_reused_without_running_maven(monkeypatch, tmp_path):
    libs = tmp_path / "kafka-9.9.9" / "libs"
    libs.mkdir(parents=True)
    (libs / "kafka_2.13-9.9.9.jar").write_bytes(b"")
    monkeypatch.setenv("PATH", "")  # maven would not be found if it were needed
    assert resolve_jars("9.9.9", cache=tmp_path) == libs


def test_missing_maven_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no mvn here
    with pytest.raises(KafkaUnavailable, match=r"mvn not found.*apt-get install -y maven"):
        resolve_jars("9.9.9", cache=tmp_path)
    assert not (tmp_path / "kafka-9.9.9" / "libs").exists()


def test_failed_resolution_leaves_no_half_filled_libs(monkeypatch, tmp_path):
    fake = tmp_path / "bin"
    fake.mkdir()
    mvn = fake / "mvn"
    mvn.write_text("#!/bin/sh\necho 'Could not resolve dependencies' >&2\nexit 1\n")
    mvn.chmod(0o755)
    monkeypatch.setenv("PATH", str(fake))
    with pytest.raises(KafkaUnavailable, match="Could not resolve dependencies"):
        resolve_jars("9.9.9", cache=tmp_path / "cache")
    home = tmp_path / "cache" / "kafka-9.9.9"
    assert not (home / "libs").exists()
    assert not list(home.glob("libs.partial-*"))


def test_missing_java_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(KafkaUnavailable, match="java not found"):
        kafka_broker.find_java()


def test_server_properties_use_two_distinct_loopback_ports(tmp_path):
    broker = KafkaBroker(tmp_path)
    broker._write_config()
    props = dict(
        line.split("=", 1)
        for line in (tmp_path / "server.properties").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert broker.broker_port != broker.controller_port
    assert props["listeners"] == (
        f"PLAINTEXT://127.0.0.1:{broker.broker_port},CONTROLLER://127.0.0.1:{broker.controller_port}"
    )
    assert props["controller.quorum.voters"] == f"1@127.0.0.1:{broker.controller_port}"
    assert props["advertised.listeners"] == f"PLAINTEXT://127.0.0.1:{broker.broker_port}"
    assert Path(props["log.dirs"]) == tmp_path / "kraft"
    assert props["offsets.topic.replication.factor"] == "1"


def test_bootstrap_before_start_is_an_error(tmp_path):
    with pytest.raises(KafkaUnavailable, match="not started"):
        _ = KafkaBroker(tmp_path).bootstrap


def test_cluster_ids_are_kafka_uuids():
    ids = {kafka_broker._cluster_id() for _ in range(20)}
    assert len(ids) == 20
    assert all(len(i) == 22 and "=" not in i for i in ids)
