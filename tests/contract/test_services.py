"""The real test services: a Kafka broker that produces/consumes, Postgres that isolates tests."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

from wisesync.store.embedded import EmbeddedPostgres
from wisesync.testing.services import temporary_database

pytestmark = pytest.mark.timeout(180)


@pytest.mark.kafka
def test_kafka_topic_create_produce_consume(kafka_bootstrap):
    topic = f"wisesync.test.{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
        assert topic in admin.list_topics()
    finally:
        admin.close()

    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    sent = [
        producer.send(topic, key=b"acme", value=f"record-{i}".encode(), headers=[("h", b"v")])
        for i in range(5)
    ]
    partitions = {f.get(timeout=30).partition for f in sent}
    producer.close()
    assert len(partitions) == 1  # one key -> one partition, in order

    consumer = KafkaConsumer(
        bootstrap_servers=kafka_bootstrap,
        group_id=f"g-{topic}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=20000,
    )
    try:
        consumer.subscribe([topic])
        got = []
        for message in consumer:
            got.append(message)
            if len(got) == 5:
                break
        assert [m.value for m in got] == [f"record-{i}".encode() for i in range(5)]
        assert all(m.key == b"acme" and m.headers == [("h", b"v")] for m in got)
        consumer.commit()
        tp = TopicPartition(topic, got[0].partition)
        assert consumer.committed(tp) == 5
    finally:
        consumer.close()


@pytest.mark.postgres
def test_postgres_accepts_psycopg3_connections(postgres_dsn):
    with psycopg.connect(postgres_dsn) as conn:
        version = conn.execute("SHOW server_version_num").fetchone()[0]
        assert int(version) >= 140000
        conn.execute("CREATE TEMP TABLE money (amount numeric(12, 2))")
        conn.execute("INSERT INTO money VALUES ('10.105')")
        assert str(conn.execute("SELECT amount FROM money").fetchone()[0]) == "10.11"


_first_database: list[str] = []


def _tables(dsn: str) -> set[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchall()
    return {r[0] for r in rows}


def _databases(dsn: str) -> set[str]:
    with psycopg.connect(dsn) as conn:
        return {r[0] for r in conn.execute("SELECT datname FROM pg_database").fetchall()}


def _dbname(dsn: str) -> str:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT current_database()").fetchone()[0]


@pytest.mark.postgres
def test_pg_database_is_fresh_and_private(pg_database, postgres_dsn):
    assert _tables(pg_database) == set()
    with psycopg.connect(pg_database) as conn:
        conn.execute("CREATE TABLE journal (id int primary key)")
        conn.execute("INSERT INTO journal VALUES (1)")
    # a connection left open must not stop the fixture from dropping the database
    leaked = psycopg.connect(pg_database)
    leaked.execute("SELECT 1")
    assert _tables(pg_database) == {"journal"}
    assert "journal" not in _tables(postgres_dsn)
    with temporary_database(postgres_dsn, "neighbour") as other:
        assert _tables(other) == set()
    _first_database.append(_dbname(pg_database))


@pytest.mark.postgres
def test_pg_database_of_the_next_test_sees_nothing_and_the_last_one_is_gone(
    pg_database, postgres_dsn
):
    assert _tables(pg_database) == set()
    mine = _dbname(pg_database)
    existing = _databases(postgres_dsn)
    assert mine in existing
    for earlier in _first_database:  # filled when the previous test ran in this session
        assert earlier != mine
        assert earlier not in existing


@pytest.mark.postgres
def test_embedded_postgres_restarts_with_its_data_and_start_is_idempotent(tmp_path):
    """The product's embedded store: start twice -> one server; stop/start keeps the data."""
    server = EmbeddedPostgres(tmp_path / "postgres", durable=False)
    try:
        dsn = server.start()
        pid_file = server.pgdata / "postmaster.pid"
        first_pid = pid_file.read_text().split()[0]
        with psycopg.connect(dsn) as conn:
            conn.execute("CREATE TABLE kept (v text)")
            conn.execute("INSERT INTO kept VALUES ('yes')")
        again = EmbeddedPostgres(tmp_path / "postgres", durable=False)
        assert again.start() == dsn  # found the running server, did not start another
        assert pid_file.read_text().split()[0] == first_pid
        server.stop()
        assert not server.is_running()
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(dsn, connect_timeout=3)
        dsn = server.start()
        with psycopg.connect(dsn) as conn:
            assert conn.execute("SELECT v FROM kept").fetchone() == ("yes",)
        wrong = dsn.replace(":" + server._password() + "@", ":wrong@")
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(wrong, connect_timeout=3)
    finally:
        server.stop()
