"""Test support shipped with wisesync.

Modules here are used by wisesync's own tests and by plugin test suites:

- ``wisesync.testing.services``: pytest plugin with the real service fixtures
  (``kafka_bootstrap``, ``postgres_dsn``, ``pg_database``); loaded from the root ``conftest.py``.
- ``wisesync.testing.kafka_broker``: resolve Apache Kafka jars and run a single-node KRaft broker.

Other modules (e.g. the target-plugin conformance suite) live beside these.
"""
