"""Tamper evidence (issue: the decision log is verifiable): every alteration is caught, and where."""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from suitability.log import verify as audit_verify
from suitability.log.checkpoint import Checkpoint, Signer, open_note
from suitability.log.merkle import leaf_hash
from suitability.log.sqlite import SQLiteStore

from ..workload import mixed_workload

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def base() -> tuple[Path, int, list[tuple[Checkpoint, str]]]:
    folder = Path(tempfile.mkdtemp())
    path = folder / "base.sqlite3"
    store = SQLiteStore(path)
    mixed_workload(store, clients=3, seed=5)
    report = audit_verify.verify(store)
    assert report.ok
    signer = Signer.generate("auditor")
    note = Checkpoint("test/log", report.size, report.root).sign(signer)
    store.close()
    return path, report.size, [(open_note(note, signer.verifier()), "cp")]


def attacker(base: Path) -> tuple[Path, sqlite3.Connection]:
    """A copy of the log opened the way an attacker with the file would: triggers dropped."""
    copy = Path(tempfile.mkdtemp()) / "log.sqlite3"
    shutil.copy(base, copy)
    db = sqlite3.connect(copy, isolation_level=None)
    db.execute("DROP TRIGGER records_no_update")
    db.execute("DROP TRIGGER records_no_delete")
    return copy, db


def verdict(path: Path, checkpoints: list[tuple[Checkpoint, str]] | None = None) -> audit_verify.VerifyReport:
    """The deep verification, after checking the quick one blames the same record."""
    store = SQLiteStore(path)
    try:
        deep = audit_verify.verify(store, checkpoints or [])
        quick = audit_verify.verify(store, checkpoints or [], deep=False)
        assert quick.ok == deep.ok or deep.checks[1].failure or deep.checks[4].failure
        if quick.first_bad() is not None:
            assert quick.first_bad() == deep.first_bad()
        return deep
    finally:
        store.close()


def rows(db: sqlite3.Connection) -> list[tuple[int, str, str | None, bytes, bytes]]:
    return db.execute("SELECT seq, type, key, data, leaf FROM records ORDER BY seq").fetchall()


def rewrite(db: sqlite3.Connection, new_rows: list[tuple[int, str, str | None, bytes, bytes]]) -> None:
    db.execute("DELETE FROM records")
    db.executemany("INSERT INTO records (seq, type, key, data, leaf) VALUES (?, ?, ?, ?, ?)", new_rows)


@SETTINGS
@given(data=st.data())
def test_any_single_byte_change_is_caught_at_its_record(base, data: st.DataObject) -> None:  # type: ignore[no-untyped-def]
    """Any single-byte change of a stored record is detected, and the record is named."""
    path, size, _ = base
    copy, db = attacker(path)
    seq = data.draw(st.integers(0, size - 1))
    record = bytes(db.execute("SELECT data FROM records WHERE seq = ?", (seq,)).fetchone()[0])
    at = data.draw(st.integers(0, len(record) - 1))
    byte = data.draw(st.integers(0, 255).filter(lambda b: b != record[at]))
    db.execute("UPDATE records SET data = ? WHERE seq = ?", (record[:at] + bytes([byte]) + record[at + 1 :], seq))
    db.close()
    report = verdict(copy)
    assert not report.ok
    assert report.first_bad() == seq


@SETTINGS
@given(data=st.data())
def test_a_change_with_recomputed_hashes_is_caught_by_the_checkpoint(base, data: st.DataObject) -> None:  # type: ignore[no-untyped-def]
    """An attacker who recomputes every stored hash is still caught by a checkpoint handed out earlier."""
    path, size, checkpoints = base
    copy, db = attacker(path)
    seq = data.draw(st.integers(0, size - 1))
    record = bytes(db.execute("SELECT data FROM records WHERE seq = ?", (seq,)).fetchone()[0])
    at = data.draw(st.integers(0, len(record) - 1))
    changed = record[:at] + bytes([record[at] ^ data.draw(st.integers(1, 255))]) + record[at + 1 :]
    db.execute("UPDATE records SET data = ?, leaf = ? WHERE seq = ?", (changed, leaf_hash(changed), seq))
    db.close()
    report = verdict(copy, checkpoints)
    assert not report.ok
    assert not report.checks[3].ok or report.first_bad() == seq


@SETTINGS
@given(data=st.data())
def test_deletion_is_caught_at_its_position(base, data: st.DataObject) -> None:  # type: ignore[no-untyped-def]
    """Deleting a record leaves a gap the sequence check names."""
    path, size, _ = base
    copy, db = attacker(path)
    seq = data.draw(st.integers(0, size - 2))
    db.execute("DELETE FROM records WHERE seq = ?", (seq,))
    db.close()
    assert verdict(copy).first_bad() == seq


@SETTINGS
@given(data=st.data())
def test_insertion_is_caught_at_its_position(base, data: st.DataObject) -> None:  # type: ignore[no-untyped-def]
    """Inserting a record (a copy of another, renumbered rows) is caught where it was inserted."""
    path, size, _ = base
    copy, db = attacker(path)
    seq = data.draw(st.integers(0, size - 1))
    source = data.draw(st.integers(0, size - 1))
    old = rows(db)
    inserted = old[source]
    new = [*old[:seq], (seq, *inserted[1:]), *[(r[0] + 1, *r[1:]) for r in old[seq:]]]
    rewrite(db, new)
    db.close()
    # A copy of the very record at that position is indistinguishable from it: the next one is out of place.
    assert verdict(copy).first_bad() == (seq if source != seq else seq + 1)


@SETTINGS
@given(data=st.data())
def test_reordering_is_caught_at_the_first_moved_record(base, data: st.DataObject) -> None:  # type: ignore[no-untyped-def]
    """Swapping two records is caught at the first of them."""
    path, size, _ = base
    copy, db = attacker(path)
    first = data.draw(st.integers(0, size - 2))
    second = data.draw(st.integers(first + 1, size - 1))
    old = rows(db)
    new = list(old)
    new[first] = (first, *old[second][1:])
    new[second] = (second, *old[first][1:])
    rewrite(db, new)
    db.close()
    assert verdict(copy).first_bad() == first


@SETTINGS
@given(data=st.data())
def test_truncation_is_caught_by_a_checkpoint(base, data: st.DataObject) -> None:  # type: ignore[no-untyped-def]
    """Cutting records off the end is invisible without a checkpoint and caught with one, at the cut."""
    path, size, checkpoints = base
    copy, db = attacker(path)
    keep = data.draw(st.integers(0, size - 1))
    db.execute("DELETE FROM records WHERE seq >= ?", (keep,))
    db.close()
    assert verdict(copy).ok  # a shorter log is internally consistent...
    report = verdict(copy, checkpoints)
    assert not report.ok  # ...but not with what was signed
    assert report.first_bad() == keep
