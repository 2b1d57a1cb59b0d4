"""The face of the log wing: opening a log and bringing it to the current format."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from suitability.errors import LogError
from suitability.log import SQLiteStore, upgrade

from .test_store import LEGACY_SCHEMA
from .workload import mixed_workload


def test_upgrade_brings_an_old_sqlite_log_to_the_current_format_once(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(LEGACY_SCHEMA)
    db.close()
    with SQLiteStore(path) as store:
        mixed_workload(store, clients=1)
        before = [(s, d) for s, d, _ in store.scan()]
    assert upgrade(path) == ["suitability-log/1 -> suitability-log/3 (folded key index, epoch filters)"]
    assert upgrade(str(path)) == []  # idempotent
    with SQLiteStore(path, create=False) as store:
        assert [(s, d) for s, d, _ in store.scan()] == before


def test_upgrade_creates_no_log_and_takes_no_role_for_sqlite(tmp_path: Path) -> None:
    missing = tmp_path / "nothing.sqlite3"
    with pytest.raises(LogError, match="no decision log"):
        upgrade(missing)
    assert not missing.exists()
    with pytest.raises(ValueError, match="PostgreSQL"):
        upgrade(missing, app_role="app")
