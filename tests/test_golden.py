"""A log written before the package moved into its rooms still verifies, replays and exports alike.

``tests/data/golden`` was written once by ``make_golden.py`` (see its docstring) with the code of
that day. A difference here means the record format or the export changed: that needs a new
format version, never a regenerated golden file.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from suitability.log import export as audit_export
from suitability.log import verify as audit_verify
from suitability.log.checkpoint import Verifier, open_note
from suitability.log.sqlite import SQLiteStore
from suitability.replay import replay as replay_log

from .conftest import DATA

GOLDEN = DATA / "golden"


@pytest.fixture
def golden(tmp_path: Path) -> SQLiteStore:
    # a copy: opening a log may add its triggers, and the committed bytes must stay as they are
    shutil.copy(GOLDEN / "log.sqlite3", tmp_path / "log.sqlite3")
    return SQLiteStore(tmp_path / "log.sqlite3", create=False)


def verifier() -> Verifier:
    return Verifier.parse((GOLDEN / "golden.pub").read_text(encoding="utf-8").strip())


def test_the_golden_log_verifies_against_its_checkpoint(golden: SQLiteStore) -> None:
    checkpoint = open_note((GOLDEN / "checkpoint.txt").read_text(encoding="utf-8"), verifier())
    report = audit_verify.verify(golden, [(checkpoint, "checkpoint.txt")])
    assert report.ok, [c.failure for c in report.checks if c.failure]
    assert report.size == checkpoint.size == 72


def test_the_golden_log_replays(golden: SQLiteStore) -> None:
    report = replay_log(golden)
    assert report.ok, report.differences[:3] or report.errors[:3]
    assert report.counts["confirmation"] > 0 and report.counts["decision"] > report.counts["assessment"]


def test_the_golden_log_exports_byte_for_byte(golden: SQLiteStore, tmp_path: Path) -> None:
    audit_export.export(golden, tmp_path / "bundle")
    made = sorted(p.name for p in (tmp_path / "bundle").iterdir())
    assert made == sorted(p.name for p in (GOLDEN / "bundle").iterdir())
    for name in made:
        if name != "verify.py":  # the verifier's own source may improve; what it checks may not change
            assert (tmp_path / "bundle" / name).read_bytes() == (GOLDEN / "bundle" / name).read_bytes(), name
    run = subprocess.run(
        [sys.executable, "-I", str(GOLDEN / "bundle" / "verify.py"), "--public-key", str(GOLDEN / "golden.pub"),
         "--origin", "suitability/golden"],
        capture_output=True, text=True, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
