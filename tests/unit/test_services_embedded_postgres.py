"""Embedded Postgres checks that need no running server: clear errors, layout, helpers."""

from __future__ import annotations

import os
import stat

import pytest

from wisesync.store import embedded
from wisesync.store.embedded import EmbeddedPostgres, EmbeddedPostgresError


def test_refuses_a_non_empty_directory_that_is_not_a_cluster(tmp_path):
    (tmp_path / "pg" / "pgdata").mkdir(parents=True)
    (tmp_path / "pg" / "pgdata" / "notes.txt").write_text("mine")
    with pytest.raises(EmbeddedPostgresError, match="not a Postgres cluster"):
        EmbeddedPostgres(tmp_path / "pg").start()
    assert (tmp_path / "pg" / "pgdata" / "notes.txt").read_text() == "mine"


def test_cluster_without_its_password_file_is_a_clear_error(tmp_path):
    (tmp_path / "pg" / "pgdata").mkdir(parents=True)
    (tmp_path / "pg" / "pgdata" / "PG_VERSION").write_text("18\n")
    with pytest.raises(EmbeddedPostgresError, match=r"password of the cluster .* is unknown"):
        EmbeddedPostgres(tmp_path / "pg").start()


def test_dsn_needs_a_started_server(tmp_path):
    with pytest.raises(EmbeddedPostgresError, match="not started"):
        _ = EmbeddedPostgres(tmp_path).dsn


def test_repr_never_shows_the_password(tmp_path):
    pg = EmbeddedPostgres(tmp_path)
    (tmp_path / "password").write_text("s3cret")
    pg.port = 5
    assert "s3cret" in pg.dsn  # the DSN carries it ...
    assert "s3cret" not in repr(pg)  # ... the repr does not


def test_stop_without_a_cluster_is_a_no_op(tmp_path):
    EmbeddedPostgres(tmp_path / "nothing").stop()
    assert not (tmp_path / "nothing").exists()


def test_bundled_binaries_are_found():
    assert (embedded._bin_dir() / "pg_ctl").is_file()


def test_search_permission_check():
    st = os.stat_result((stat.S_IFDIR | 0o700, 0, 0, 0, 10, 10, 0, 0, 0, 0))
    assert embedded._can_search(st, uid=10, gid=99)  # owner
    assert not embedded._can_search(st, uid=11, gid=99)  # other, no o+x
    st = os.stat_result((stat.S_IFDIR | 0o711, 0, 0, 0, 10, 10, 0, 0, 0, 0))
    assert embedded._can_search(st, uid=11, gid=99)
