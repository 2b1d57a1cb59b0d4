"""The SQLite store: gap-free, append-only, durable, safe with many processes."""

from __future__ import annotations

import multiprocessing
import random
import sqlite3
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from suitability.errors import InputError, IntegrityError, LogError
from suitability.log import open_store
from suitability.log import verify as audit_verify
from suitability.log.merkle import leaf_hash
from suitability.log.sqlite import SQLiteStore, _bits
from suitability.log.store import Draft
from suitability.replay import replay as replay_log

from .workload import kill_a_writer, mixed_workload, run_writers


def artifact(name: str) -> Draft:
    return Draft("artifact", {"kind": "questionnaire", "name": name}, key=f"sha256:{name}")


def test_append_assigns_gap_free_seqs_and_writes_artifacts_once(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "log.sqlite3", clock=lambda: "2026-01-01T00:00:00Z")
    first = store.append([Draft("note", {"n": 1}, key="a", artifacts=[artifact("q")])])
    second = store.append(
        [
            Draft("note", {"n": 2}, key="b", artifacts=[artifact("q")]),
            Draft("note", {"n": 3}, key="c", artifacts=[artifact("p")]),
        ]
    )
    assert [s.seq for s in first] == [1]
    assert [s.seq for s in second] == [2, 4]
    assert store.size() == 5
    rows = list(store.scan())
    assert [seq for seq, _, _ in rows] == [0, 1, 2, 3, 4]
    assert [orjson.loads(d)["type"] for _, d, _ in rows] == ["artifact", "note", "note", "artifact", "note"]
    assert all(leaf == leaf_hash(data) for _, data, leaf in rows)
    record = orjson.loads(rows[1][1])
    assert record == {
        "n": 1,
        "seq": 1,
        "type": "note",
        "recorded_at": "2026-01-01T00:00:00Z",
        "engine_version": "0.1.0",
    }
    assert rows[1][1] == b'{"engine_version":"0.1.0","n":1,"recorded_at":"2026-01-01T00:00:00Z","seq":1,"type":"note"}'
    found = store.find("c")
    assert found is not None
    assert found.seq == 4
    assert store.find("zzz") is None
    got = store.get(3)
    assert got is not None
    assert orjson.loads(got.data)["name"] == "p"
    assert list(store.scan(2, 4)) == rows[2:4]


def test_records_cannot_be_updated_or_deleted(tmp_path: Path) -> None:
    path = tmp_path / "log.sqlite3"
    SQLiteStore(path).append([Draft("note", {"n": 1})])
    db = sqlite3.connect(path)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("UPDATE records SET data = x'00' WHERE seq = 0")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("DELETE FROM records")


def test_a_failed_append_records_nothing(tmp_path: Path) -> None:
    path = tmp_path / "log.sqlite3"
    store = SQLiteStore(path, timeout=0.2)
    store.append([Draft("note", {"n": 1})])
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    with pytest.raises(LogError, match="nothing was recorded"):
        store.append([Draft("note", {"n": 2})])
    blocker.execute("ROLLBACK")
    with pytest.raises(InputError):  # a body that cannot be serialized: the batch is rolled back
        store.append([Draft("note", {"n": 2}), Draft("note", {"n": object()})])
    assert store.size() == 1
    assert [s.seq for s in store.append([Draft("note", {"n": 3})])] == [1]


def test_open_errors(tmp_path: Path) -> None:
    with pytest.raises(LogError, match="no decision log"):
        open_store(tmp_path / "missing.sqlite3", create=False)
    (tmp_path / "junk.sqlite3").write_bytes(b"this is not a database" * 100)
    with pytest.raises(LogError, match="cannot open"):
        open_store(tmp_path / "junk.sqlite3")
    SQLiteStore(tmp_path / "future.sqlite3").close()
    db = sqlite3.connect(tmp_path / "future.sqlite3", isolation_level=None)
    db.execute("UPDATE meta SET value = 'suitability-log/9' WHERE name = 'format'")
    db.close()
    with pytest.raises(LogError, match="unknown log format 'suitability-log/9'"):
        open_store(tmp_path / "future.sqlite3")
    other = tmp_path / "customers.db"  # someone else's database is refused and left as it was
    db = sqlite3.connect(other)
    db.execute("CREATE TABLE customers (id TEXT)")
    db.commit()
    db.close()
    before = other.read_bytes()
    with pytest.raises(LogError, match="is not a decision log") as caught:
        open_store(other)
    assert "customers" in caught.value.render()
    assert other.read_bytes() == before and sorted(p.name for p in tmp_path.glob("customers.db*")) == ["customers.db"]


# Ids and hashes, two sharing the last 15 characters the index files keys under, and odd keys.
KEYS = ["asm_" + "0" * 31 + "1", "dec_" + "0" * 31 + "1", "cnf_" + "ab" * 16, "sha256:" + "cd" * 32, "odd key", "x"]


def note(key: str, n: int) -> Draft:
    return Draft("note", {"n": n}, key=key)


class SmallEpochs(SQLiteStore):
    """Epochs of 4 records instead of 16,384, so that a few dozen appends close many of them."""

    _epoch_bits = 2


def assert_filters_cover_keys(store: SQLiteStore) -> None:
    """Every epoch whose keys are all folded has a filter, from epoch 0 up, and it holds each of its keys."""
    db = store._db
    (waiting,) = db.execute("SELECT MIN(seq) FROM recent_keys").fetchone()
    closed = (store.size() if waiting is None else waiting) >> store._epoch_bits
    filters = dict(db.execute("SELECT epoch, bits FROM key_filters").fetchall())
    assert sorted(filters) == list(range(closed))
    for epoch, suffix in db.execute("SELECT epoch, suffix FROM keys WHERE epoch < ?", (closed,)):
        assert all(filters[epoch][bit >> 3] & 1 << (bit & 7) for bit in _bits(suffix.encode()))


@settings(max_examples=60, deadline=None)
@given(
    batches=st.lists(st.lists(st.sampled_from(KEYS), max_size=6), max_size=8),
    fold=st.integers(1, 7),
    small=st.booleans(),
)
def test_find_returns_the_first_record_with_a_key_before_and_after_folds(
    batches: list[list[str]], fold: int, small: bool
) -> None:
    """Whether its key was folded into the index (an epoch closed with its filter, or the open one) or is
    still recent, a record is found, and the first one; keys sharing the 15 characters it is filed
    under are told apart. So too by a reader on another connection, which keeps what it saw waiting
    while the writer folds."""
    kind = SmallEpochs if small else SQLiteStore
    with tempfile.TemporaryDirectory() as folder:
        store = kind(Path(folder) / "log.sqlite3", fold=fold)
        reader = kind(Path(folder) / "log.sqlite3")
        first: dict[str, int] = {}
        n = 0
        for keys in batches:
            for stored, key in zip(store.append([note(k, n + i) for i, k in enumerate(keys)]), keys, strict=True):
                first.setdefault(key, stored.seq)
            n += len(keys)
            for key, seq in first.items():
                for found in (store.find(key), reader.find(key)):
                    assert found is not None and found.seq == seq
                    assert orjson.loads(found.data)["n"] == seq
            assert store.find("asm_never") is None and reader.find("asm_never") is None
            assert_filters_cover_keys(store)
        store.close()
        reader.close()
        reopened = kind(Path(folder) / "log.sqlite3", fold=3)  # another writer, another fold
        reopened.append([note("late", n)])
        assert all(reopened.find(k).seq == s for k, s in first.items())  # type: ignore[union-attr]
        assert_filters_cover_keys(reopened)
        reopened.close()


def _small_epochs_writer(path: str, writer: int, appends: int) -> list[tuple[int, str]]:
    store = SmallEpochs(path, fold=5)
    acked = []
    for i in range(appends):
        keys = [f"w{writer}-{i}-{j}" for j in range(1 + i % 3)]
        acked += [(s.seq, k) for s, k in zip(store.append([note(k, i) for k in keys]), keys, strict=True)]
    store.close()
    return acked


def test_epoch_filters_written_by_several_processes_at_once(tmp_path: Path) -> None:
    """Four processes append at once, each closing epochs (and writing their filters) as its fold comes."""
    path = tmp_path / "log.sqlite3"
    SmallEpochs(path).close()
    reader = SmallEpochs(path)
    seen: dict[str, int] = {}
    rnd = random.Random(4)
    with ProcessPoolExecutor(4, mp_context=multiprocessing.get_context("fork")) as pool:
        runs = [pool.submit(_small_epochs_writer, str(path), w, 150) for w in range(4)]
        while not all(run.done() for run in runs):  # looks up while the writers append and fold
            key = f"w{rnd.randrange(4)}-{rnd.randrange(150)}-0"
            found = reader.find(key)
            if found is not None:
                assert seen.setdefault(key, found.seq) == found.seq
        acked = [pair for run in runs for pair in run.result()]
    by_key = {k: s for s, k in acked}
    assert seen and all(by_key[k] == s for k, s in seen.items())  # what it found, it found right
    assert all(reader.find(k).seq == s for s, k in acked)  # type: ignore[union-attr]
    reader.close()
    store = SmallEpochs(path)
    assert sorted(seq for seq, _ in acked) == list(range(store.size())) and store.size() == 4 * 300
    assert store._db.execute("SELECT COUNT(*) FROM key_filters").fetchone()[0] > 250
    assert_filters_cover_keys(store)
    for seq, key in acked:
        found = store.find(key)
        assert found is not None and found.seq == seq
    store.close()


def _steps_to_miss(store: SQLiteStore) -> int:
    """The SQLite virtual-machine instructions run by a lookup of an absent key (a real count, no clock)."""
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0

    store.find("asm_" + "f" * 32)  # statements prepared, filters cached
    store._db.set_progress_handler(count, 1)
    assert store.find("asm_" + "e" * 32) is None
    store._db.set_progress_handler(None, 1)
    return steps


def test_a_lookup_does_not_grow_with_the_number_of_epochs(tmp_path: Path) -> None:
    """A missing key costs the same in a log of 16 closed epochs as in one of 256: the filters rule them out."""
    steps = []
    for epochs in (16, 256):
        store = SmallEpochs(tmp_path / f"log-{epochs}.sqlite3", fold=4)
        for lo in range(0, epochs * 4, 64):
            store.append([note(f"asm_{i:032x}", i) for i in range(lo, lo + 64)])
        assert store._db.execute("SELECT COUNT(*) FROM key_filters").fetchone()[0] == epochs
        steps.append(_steps_to_miss(store))
        store.close()
    assert steps[1] <= steps[0] + 20, steps  # without the filters: 15 times as many


LEGACY_SCHEMA = """
CREATE TABLE records (seq INTEGER PRIMARY KEY, type TEXT NOT NULL, key TEXT, data BLOB NOT NULL, leaf BLOB NOT NULL);
CREATE INDEX records_key ON records(key);
CREATE TABLE checkpoints (size INTEGER NOT NULL, note TEXT NOT NULL, public_key TEXT NOT NULL);
CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta VALUES ('format', 'suitability-log/1');
"""


def test_a_log_of_the_first_format_is_read_and_written_as_it_is(tmp_path: Path) -> None:
    """Logs written before the folded key index keep their plain index, and work as before."""
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(LEGACY_SCHEMA)
    db.close()
    store = SQLiteStore(path, fold=1)
    mixed_workload(store, clients=2)
    seqs = {orjson.loads(d)["result"]["id"]: s for s, d, _ in store.scan() if b'"result"' in d}
    assert seqs and all(store.find(ident).seq == seq for ident, seq in seqs.items())  # type: ignore[union-attr]
    assert audit_verify.verify(store).ok and replay_log(store).ok
    store.close()
    db = sqlite3.connect(path)
    assert db.execute("SELECT value FROM meta WHERE name = 'format'").fetchone() == ("suitability-log/1",)
    assert db.execute("SELECT name FROM sqlite_master WHERE name = 'keys'").fetchall() == []
    db.close()


def test_db_upgrade_gives_an_old_log_the_folded_index_and_changes_no_record(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from suitability.cli import cli

    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(LEGACY_SCHEMA)
    db.close()
    store = SQLiteStore(path)
    mixed_workload(store, clients=2)
    before = [(s, d) for s, d, _ in store.scan()]
    stale = SQLiteStore(path)  # another process, still of the old format
    store.close()

    result = CliRunner().invoke(cli, ["db", "upgrade", str(path)])
    assert result.exit_code == 0 and "applied suitability-log/1 -> suitability-log/3" in result.output
    again = CliRunner().invoke(cli, ["db", "upgrade", str(path)])
    assert again.exit_code == 0 and again.output.strip() == "schema already current"

    mixed_workload(stale, clients=1, seed=11)  # notices the upgrade at its first append and follows it
    upgraded = SQLiteStore(path, fold=4)
    mixed_workload(upgraded, clients=1, seed=12)  # folds every key waiting, the stale writer's too
    after = [(s, d) for s, d, _ in upgraded.scan()]
    assert after[: len(before)] == before
    ids: dict[str, int] = {}
    for seq, data in after:
        if b'"result"' in data:
            ids.setdefault(orjson.loads(data)["result"]["id"], seq)  # a result recorded twice is found first
    assert len(ids) > len(before) // 2
    assert all(upgraded.find(k).seq == s for k, s in ids.items())  # type: ignore[union-attr]
    assert all(stale.find(k).seq == s for k, s in ids.items())  # type: ignore[union-attr]
    assert audit_verify.verify(upgraded).ok and replay_log(upgraded).ok
    db = sqlite3.connect(path)
    assert db.execute("SELECT value FROM meta WHERE name = 'format'").fetchone() == ("suitability-log/3",)
    assert db.execute("SELECT name FROM sqlite_master WHERE name = 'records_key'").fetchall() == []
    db.close()
    missing = CliRunner().invoke(cli, ["db", "upgrade", str(tmp_path / "nothing.sqlite3")])
    assert missing.exit_code == 9 and "no decision log" in missing.output


def test_four_processes_append_at_once(tmp_path: Path) -> None:
    log = tmp_path / "log.sqlite3"
    SQLiteStore(log).close()
    acked = run_writers(str(log), writers=4, appends=500, batch=1, fold=64)  # each folds keys as it goes
    assert len(acked) == 4 * 500
    store = SQLiteStore(log)
    assert store.size() == 2000 + 1  # and one questionnaire artifact, written once
    for seq, data, _ in store.scan():
        if seq in acked:
            assert orjson.loads(data)["result"]["id"] == acked[seq]
    for seq, ident in acked.items():  # every record is found by its id, folded or recent
        found = store.find(ident)
        assert found is not None and found.seq == seq
    report = audit_verify.verify(store)
    assert report.ok, [c.failure for c in report.checks]


def test_a_writer_killed_mid_batch_loses_no_acknowledged_record(tmp_path: Path) -> None:
    log = tmp_path / "log.sqlite3"
    acked = kill_a_writer(str(log))
    store = SQLiteStore(log)
    assert store.size() >= len(acked) + 1
    for seq, ident in acked.items():
        stored = store.get(seq)
        assert stored is not None and orjson.loads(stored.data)["result"]["id"] == ident
    assert audit_verify.verify(store).ok
    more = mixed_workload(store, clients=1)  # the log goes on after the crash
    assert more["assessment"] == 1 and audit_verify.verify(store).ok


def test_batch_writer_predicts_every_seq(tmp_path: Path) -> None:
    from suitability.log.store import BatchWriter

    store = SQLiteStore(tmp_path / "log.sqlite3")
    store.append([Draft("note", {"n": 0}, artifacts=[artifact("q")])])  # an artifact already in the log
    writer = BatchWriter(store, batch=3)
    seqs = [writer.add(Draft("note", {"n": i}, artifacts=[artifact("q"), artifact("p")])) for i in range(7)]
    writer.flush()
    assert seqs == [3, 4, 5, 6, 7, 8, 9]  # "p" is written once, before the first of them
    for seq in seqs:
        got = store.get(seq)
        assert got is not None and orjson.loads(got.data)["seq"] == seq
    writer.add(Draft("note", {"n": 99}))
    store.append([Draft("note", {"n": "someone else"})])
    with pytest.raises(LogError, match="someone else"):
        writer.flush()


def test_find_across_epochs_of_the_key_index(tmp_path: Path) -> None:
    """Keys folded into different epochs (2**14 records each) are all found, the first one first."""
    from suitability.log.sqlite import EPOCH_BITS

    store = SQLiteStore(tmp_path / "log.sqlite3")
    total = 3 * (1 << EPOCH_BITS) + 500
    for lo in range(0, total, 1_000):
        store.append([note(f"asm_{i:032x}", i) for i in range(lo, min(lo + 1_000, total))])
    store.append([note(f"asm_{7:032x}", total)])  # the same key again, three epochs later
    for i in (0, 7, (1 << EPOCH_BITS) - 1, 1 << EPOCH_BITS, 2 * (1 << EPOCH_BITS) + 3, total - 1):
        found = store.find(f"asm_{i:032x}")
        assert found is not None and found.seq == i
    assert store.find(f"asm_{total:032x}") is None
    epochs, folded = store._db.execute("SELECT COUNT(DISTINCT epoch), COUNT(*) FROM keys").fetchone()
    (waiting,) = store._db.execute("SELECT COUNT(*) FROM recent_keys").fetchone()
    assert epochs >= 3 and 0 < waiting < 2_048 and folded + waiting == total + 1
    assert_filters_cover_keys(store)  # each epoch whose keys are all folded has its filter
    assert store._db.execute("SELECT COUNT(*) FROM key_filters").fetchone()[0] >= 2


def test_a_log_of_the_second_format_is_read_written_and_upgraded_in_place(tmp_path: Path) -> None:
    """A folded index without filters (suitability-log/2) works as before; `upgrade` adds the filters of
    its closed epochs in one transaction, touching no record, and a writer still holding it in the
    old format follows at its next append."""
    path = tmp_path / "two.sqlite3"
    first: dict[str, int] = {}

    def add(store: SQLiteStore, keys: list[str]) -> None:
        for stored, key in zip(store.append([note(k, 0) for k in keys]), keys, strict=True):
            first.setdefault(key, stored.seq)

    with SmallEpochs(path, fold=3) as store:
        add(store, [f"k{i}" for i in range(5)])
    db = sqlite3.connect(path, isolation_level=None)  # the schema the previous version wrote
    db.execute("DROP TABLE key_filters")
    db.execute("UPDATE meta SET value = 'suitability-log/2' WHERE name = 'format'")
    db.close()
    old = SmallEpochs(path, fold=3)
    stale = SmallEpochs(path, fold=2)
    for lo in range(5, 60, 5):
        add(old, [f"k{i}" for i in range(lo, lo + 5)] + ["k3"])
    assert all(old.find(k).seq == seq for k, seq in first.items())  # type: ignore[union-attr]
    names = {r[0] for r in old._db.execute("SELECT name FROM sqlite_master")}
    assert "key_filters" not in names and "keys" in names
    before = [(s, d) for s, d, _ in old.scan()]
    old.close()

    upgrader = SmallEpochs(path)
    assert upgrader.upgrade() == ["suitability-log/2 -> suitability-log/3 (epoch filters)"]
    assert upgrader.upgrade() == []
    assert [(s, d) for s, d, _ in upgrader.scan()] == before
    assert_filters_cover_keys(upgrader)
    assert upgrader._db.execute("SELECT COUNT(*) FROM key_filters").fetchone()[0] >= 10
    add(stale, [f"k{i}" for i in range(60, 80)] + ["k7"])  # folds, and writes the filters it closes
    assert_filters_cover_keys(upgrader)
    for store in (upgrader, stale):
        assert all(store.find(k).seq == seq for k, seq in first.items())  # type: ignore[union-attr]
        assert store.find("k80") is None
    upgrader.close()
    stale.close()


# --- issue 10: kept checkpoints, gaps, altered and damaged files ------------------------------


def _old_log_without_checkpoint_triggers(path: Path) -> None:
    """A log as an older version left it: no triggers on the checkpoints, no gap watermark."""
    with SQLiteStore(path) as store:
        store.append([Draft("note", {"n": i}, key=f"k{i}") for i in range(3)])
        store.add_checkpoint(3, "note", "key")
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("DROP TRIGGER checkpoints_no_update")
    db.execute("DROP TRIGGER checkpoints_no_delete")
    db.execute("DELETE FROM meta WHERE name = 'contiguous'")
    db.close()


def test_kept_checkpoints_cannot_be_updated_or_deleted(tmp_path: Path) -> None:
    """Checkpoints kept beside the log are append-only, in new logs and in old ones once opened."""
    path = tmp_path / "log.sqlite3"
    _old_log_without_checkpoint_triggers(path)
    SQLiteStore(path, create=False).close()  # any open gives an older log the triggers
    db = sqlite3.connect(path, isolation_level=None)
    for sql in ("DELETE FROM checkpoints", "UPDATE checkpoints SET size = 1", "UPDATE checkpoints SET note = 'x'"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.execute(sql)
    db.execute("INSERT INTO checkpoints VALUES (4, 'n2', 'key')")  # appending one stays possible
    db.close()
    with SQLiteStore(path) as store:
        assert [(c.number, c.size, c.note) for c in store.checkpoints()] == [(1, 3, "note"), (2, 4, "n2")]


def test_an_append_refuses_to_write_after_a_gap(tmp_path: Path) -> None:
    """A seq inserted far ahead out of band: appends refuse (LogError naming the gap), nothing is written."""
    path = tmp_path / "log.sqlite3"
    with SQLiteStore(path) as store:
        store.append([Draft("note", {"n": i}, key=f"k{i}") for i in range(3)])
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("INSERT INTO records VALUES (1000, 'note', 'x', x'7b7d', zeroblob(32))")
    db.close()
    with SQLiteStore(path) as store:
        for attempt in (lambda: store.append([Draft("note", {"n": 9})]), lambda: store.append_raw([])):
            with pytest.raises(LogError, match="gap") as caught:
                attempt()
            assert "expected seq 3 next, found seq 1000 (records 3 to 999 are missing)" in caught.value.render()
        assert store.size() == 1001 and store.get(1001) is None
    assert _cli("assess", "--log", str(path)).exit_code == 9


def test_a_gap_in_an_older_log_is_found_at_its_first_append(tmp_path: Path) -> None:
    """A log without the gap watermark is checked from its first record once, then only its new end."""
    path = tmp_path / "log.sqlite3"
    _old_log_without_checkpoint_triggers(path)
    with SQLiteStore(path) as store:
        assert [s.seq for s in store.append([Draft("note", {"n": 3})])] == [3]  # gap-free: counted once, accepted
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("DELETE FROM meta WHERE name = 'contiguous'")
    db.execute("DROP TRIGGER records_no_delete")
    db.execute("DELETE FROM records WHERE seq = 1")  # an insider removed a record
    db.close()
    with SQLiteStore(path) as store, pytest.raises(LogError, match="expected seq 1 next, found seq 2"):
        store.append([Draft("note", {"n": 4})])


def test_append_raw_refuses_rows_that_skip_a_seq(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "log.sqlite3") as store:
        rows = [(0, "note", None, b"{}", leaf_hash(b"{}")), (2, "note", None, b"{}", leaf_hash(b"{}"))]
        with pytest.raises(LogError, match="expected seq 1 after seq 0, found 2"):
            store.append_raw(rows)
        assert store.size() == 0


def _cli(*args: str) -> object:
    from click.testing import CliRunner

    from suitability.cli import cli

    from .conftest import EXAMPLES

    extra = ["--questionnaire", "cn-securities-individual", "--answers", str(EXAMPLES / "answers.json"),
             "--client", str(EXAMPLES / "client.json"), "--json"] if args[0] == "assess" else []  # fmt: skip
    result = CliRunner().invoke(cli, [*args, *extra], env={"SUITABILITY_DOCUMENTS": ""})
    assert "Traceback" not in result.output and "internal error" not in result.output, result.output
    return result


@pytest.mark.parametrize(
    ("column", "value", "found"),
    [("data", "CAST(data AS TEXT)", "str"), ("leaf", "NULL", "NULL"), ("data", "12", "int")],
)
def test_a_record_not_stored_as_bytes_is_reported_altered(tmp_path: Path, column: str, value: str, found: str) -> None:
    """A record rewritten as TEXT, or with a NULL leaf: verify, replay and query say altered (exit 10)."""
    path = tmp_path / "log.sqlite3"
    with SQLiteStore(path) as store:
        mixed_workload(store, clients=1)
    db = sqlite3.connect(path, isolation_level=None)
    # A NULL needs the NOT NULL constraint gone: the table rebuilt, as an insider with the file can.
    db.executescript(
        "DROP TRIGGER records_no_update; ALTER TABLE records RENAME TO old;"
        "CREATE TABLE records (seq INTEGER PRIMARY KEY, type TEXT, key TEXT, data BLOB, leaf BLOB);"
        "INSERT INTO records SELECT * FROM old; DROP TABLE old;"
        f"UPDATE records SET {column} = {value} WHERE seq = 2;"
    )
    db.close()
    with SQLiteStore(path, create=False) as store, pytest.raises(IntegrityError, match="altered") as caught:
        audit_verify.verify(store)
    assert caught.value.seq == 2 and f"found {found}" in caught.value.render()
    for command in (["audit", "verify", str(path), "--allow-no-checkpoint"], ["audit", "replay", str(path)],
                    ["audit", "query", str(path)]):  # fmt: skip
        result = _cli(*command)
        assert result.exit_code == 10, (command, result.output)  # type: ignore[attr-defined]
        assert "was altered: record 2" in result.output  # type: ignore[attr-defined]


def test_a_damaged_file_is_a_log_error_on_every_path(tmp_path: Path) -> None:
    """Bytes overwritten in the middle of the file: verify, replay, query and append exit 9, never 70."""
    path = tmp_path / "log.sqlite3"
    with SQLiteStore(path) as store:
        mixed_workload(store, clients=2)
        store.close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    size = path.stat().st_size
    with path.open("r+b") as handle:
        for page in range(size // 4096 // 3, size // 4096):  # from a third of the way in, every page
            handle.seek(page * 4096 + 100)
            handle.write(b"\xa5" * 2000)
    for command in (
        ["audit", "verify", str(path), "--allow-no-checkpoint"],
        ["audit", "verify", str(path), "--quick", "--allow-no-checkpoint"],
        ["audit", "replay", str(path)],
        ["audit", "query", str(path)],
        ["assess", "--log", str(path)],
    ):
        result = _cli(*command)
        assert result.exit_code == 9, (command, result.output)  # type: ignore[attr-defined]
        assert "SQLite said" in result.output or "nothing was recorded" in result.output  # type: ignore[attr-defined]


def _read_paths(store: SQLiteStore) -> dict[str, object]:
    return {
        "size": store.size,
        "scan": lambda: list(store.scan()),
        "find": lambda: store.find("sha256:a"),
        "get": lambda: store.get(1),
        "checkpoints": store.checkpoints,
        "latest_checkpoint": store.latest_checkpoint,
        "public_key": store.public_key,
    }


def test_every_read_path_turns_a_damaged_file_into_a_log_error(tmp_path: Path) -> None:
    """The pages of the records, their key index and the kept checkpoints overwritten: each read says LogError."""
    path = tmp_path / "log.sqlite3"
    with SQLiteStore(path, fold=2) as store:
        store.append([artifact(c) for c in "abcdef"])
        store.add_checkpoint(6, "note", "key")
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    (page_size,) = db.execute("PRAGMA page_size").fetchone()
    roots = [r for (r,) in db.execute("SELECT rootpage FROM sqlite_master WHERE name IN "
                                      "('records', 'keys', 'recent_keys', 'checkpoints')")]  # fmt: skip
    db.close()
    assert len(roots) == 4
    with path.open("r+b") as handle:
        for root in roots:
            handle.seek((root - 1) * page_size)
            handle.write(b"\xa5" * page_size)
    with SQLiteStore(path, create=False) as store:
        for name, read in _read_paths(store).items():
            with pytest.raises(LogError, match="cannot read the decision log") as caught:
                read()  # type: ignore[operator]
            assert "SQLite said" in caught.value.render(), name


@pytest.mark.parametrize(("column", "value"), [("size", "'many'"), ("note", "NULL"), ("public_key", "x'00'")])
def test_a_kept_checkpoint_not_stored_as_written_is_reported_altered(tmp_path: Path, column: str, value: str) -> None:
    """A kept checkpoint's column rewritten outside the store: an IntegrityError (exit 10), not exit 70."""
    path = tmp_path / "log.sqlite3"
    with SQLiteStore(path) as store:
        store.append([artifact("a")])
        store.add_checkpoint(1, "note", "key")
    db = sqlite3.connect(path, isolation_level=None)
    db.executescript(
        "DROP TRIGGER checkpoints_no_update; ALTER TABLE checkpoints RENAME TO old;"
        "CREATE TABLE checkpoints (size, note, public_key); INSERT INTO checkpoints SELECT * FROM old; DROP TABLE old;"
        f"UPDATE checkpoints SET {column} = {value};"
    )
    db.close()
    with SQLiteStore(path, create=False) as store:
        for read in (store.checkpoints, store.latest_checkpoint, store.public_key):
            with pytest.raises(IntegrityError, match="a kept checkpoint is not stored as written"):
                read()
    from suitability.log.checkpoint import Signer

    (tmp_path / "k.pub").write_text(Signer.generate("k").verifier().text() + "\n", encoding="utf-8")
    result = _cli("audit", "verify", str(path), "--public-key", str(tmp_path / "k.pub"))
    assert result.exit_code == 10 and "not stored as written" in result.output, result.output  # type: ignore[attr-defined]


# --- issue 13: what an append writes -------------------------------------------------------------


def _wal_frames(path: Path) -> int:
    db = sqlite3.connect(path, isolation_level=None)
    try:
        return int(db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1])
    finally:
        db.close()


def test_an_append_of_one_record_writes_four_pages(tmp_path: Path) -> None:
    """The record's page, its waiting key's, the gap-free mark's and the file header: was five
    (the mark was replaced, deleting and inserting its row, so meta's key index was written too)."""
    path = tmp_path / "log.sqlite3"
    with SQLiteStore(path) as store:
        store.append([Draft("note", {"n": 0}, key="k0")])
        sqlite3.connect(path, isolation_level=None).execute("PRAGMA wal_checkpoint(TRUNCATE)").close()
        for n in range(1, 101):
            store.append([Draft("note", {"n": n, "pad": "x" * 1500}, key=f"k{n}")])
        assert _wal_frames(path) <= 4 * 100


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "a2", "insider"]), min_size=1, max_size=12))
def test_appends_stay_gap_free_whoever_wrote_between_them(steps: list[str]) -> None:
    """A store reads nothing of the log's end when nobody else committed since its last append
    (``PRAGMA data_version``); any other writer in between, an insider's gap included, is seen."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "log.sqlite3"
        a, b = SQLiteStore(path), SQLiteStore(path)
        try:
            expected, gap = 0, False
            for n, step in enumerate(steps):
                if step == "insider":
                    if gap:
                        continue
                    with sqlite3.connect(path) as db:
                        db.execute(
                            "INSERT INTO records VALUES (?, 'note', NULL, x'7b7d', zeroblob(32))", (expected + 3,)
                        )
                    gap = True
                    continue
                store = b if step == "b" else a
                drafts = [Draft("note", {"n": n, "i": i}, key=f"k{n}-{i}") for i in range(2 if step == "a2" else 1)]
                if gap:
                    with pytest.raises(LogError, match="gap"):
                        store.append(drafts)
                    continue
                stored = store.append(drafts)
                assert [s.seq for s in stored] == list(range(expected, expected + len(drafts)))
                expected += len(drafts)
            assert [seq for seq, _, _ in a.scan()] == list(range(expected)) + ([expected + 3] if gap else [])
        finally:
            a.close()
            b.close()
