"""The extractor publishes the first records as soon as the source yields them: the journal
check (records already posted and awaiting acknowledgement are not published again) runs
on batches that grow from one record, not on 200 at a time."""

from __future__ import annotations

from types import SimpleNamespace

from wisesync.pipeline import extractor
from wisesync.pipeline.extractor import Extractor


class _Journal:
    def __init__(self, owned: set[str]):
        self.owned = owned
        self.checked: list[int] = []

    def awaiting_acknowledgement(self, batch):
        self.checked.append(len(batch))
        return {e.identity for e in batch if e.identity in self.owned}


def _unowned(items, owned=frozenset()):
    journal = _Journal(set(owned))
    host = SimpleNamespace(_journal=journal, skipped_awaiting_ack={})
    run = SimpleNamespace(run_id="r1", company="acme")
    return Extractor._unowned(host, items, run), journal, host


def test_the_first_record_comes_out_before_the_source_reads_the_next() -> None:
    read: list[str] = []

    def source():
        for i in range(5):
            read.append(f"r{i}")
            yield SimpleNamespace(identity=f"r{i}")

    out, journal, _ = _unowned(source())
    first = next(out)
    assert first.identity == "r0" and read == ["r0"]
    assert [e.identity for e in out] == ["r1", "r2", "r3", "r4"]
    assert journal.checked == [1, 2, 2]  # 1, then 2, then the last 2 of the next 4


def test_owned_records_are_left_out_and_counted_and_batches_stop_growing(monkeypatch) -> None:
    monkeypatch.setattr(extractor, "CHECK_BATCH", 8)
    items = [SimpleNamespace(identity=f"r{i}") for i in range(40)]
    out, journal, host = _unowned(iter(items), owned={"r0", "r9", "r39"})
    assert [e.identity for e in out] == [
        e.identity for e in items if e.identity not in {"r0", "r9", "r39"}
    ]
    assert host.skipped_awaiting_ack == {"r1": 3}
    assert journal.checked == [1, 2, 4, 8, 8, 8, 8, 1]
