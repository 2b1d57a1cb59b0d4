"""verify's engine: the same report for one process or many, chunks of any size, and --quick's own seq.

The pass is cut into chunks checked on their own and folded in order (suitability/log/_parallel.py);
these tests tamper with real logs in every way the checks look for and hold the report (each
check's first failure, its seq and message, the size and root) equal whatever the chunking: one
scan cut every 1, 3, 8 or 64 records, ranges of seqs as the workers read them, and real worker
processes (``jobs=2``).
"""

from __future__ import annotations

import multiprocessing
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import orjson
import pytest
import rfc8785
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from suitability.cli import cli
from suitability.codec import canonical_bytes
from suitability.log import _parallel
from suitability.log import verify as audit_verify
from suitability.log.checkpoint import Checkpoint, Signer, open_note
from suitability.log.merkle import leaf_hash, root
from suitability.log.sqlite import SQLiteStore

from .workload import mixed_workload

SIGNER = Signer.generate("auditor")


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("jobs") / "log.sqlite3"
    with SQLiteStore(path) as store:
        mixed_workload(store, clients=3, seed=4)
    return path


def _records(path: Path) -> list[tuple[int, bytes]]:
    with SQLiteStore(path, create=False) as store:
        return [(seq, data) for seq, data, _ in store.scan()]


def _db(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("DROP TRIGGER IF EXISTS records_no_update")
    db.execute("DROP TRIGGER IF EXISTS records_no_delete")
    return db


def _put(db: sqlite3.Connection, seq: int, data: bytes, leaf: bytes | None = None) -> None:
    db.execute("UPDATE records SET data = ?, leaf = ? WHERE seq = ?", (data, leaf or leaf_hash(data), seq))


def _edit(record: dict[str, Any], how: str) -> dict[str, Any]:
    if how == "id" and isinstance(record.get("result"), dict):
        record["result"]["id"] = "asm_forged"
    elif how == "ref" and "assessment_seq" in record:
        record["assessment_seq"] = record["seq"] + 1
    elif how == "ref" and "decision_seq" in record:
        record["decision_seq"] = "0"
    elif how == "document" and record.get("type") == "artifact":
        record["document"]["forged"] = True
    elif how == "hash" and "policy" in record:
        record["policy"]["hash"] = "sha256:" + "0" * 64
    elif how == "type":
        record["type"] = "memo"
    elif how == "drop":
        record.pop("result", None)
        record.pop("hash", None)
    elif how == "seq":
        record["seq"] += 1
    elif how == "string":  # a string value that says another seq, at the very end of the bytes
        record["zz"] = f'","seq":{record["seq"] + 1},"type":"x"}}'
    return record


TAMPERS = ("id", "ref", "document", "hash", "type", "drop", "seq", "string")
RAW = ("spaces", "float", "float-1.0", "garbage", "array", "leaf", "delete", "far", "duplicate-seq")


def tamper(path: Path, seq: int, how: str) -> None:
    """Rewrite record ``seq`` as an insider might, with a fresh leaf hash unless the leaf is the point."""
    seq = min(seq, len(_records(path)) - 1)
    db = _db(path)
    data = db.execute("SELECT data FROM records WHERE seq = ?", (seq,)).fetchone()
    try:
        record = orjson.loads(data[0]) if data is not None else None
    except orjson.JSONDecodeError:
        record = None
    if not isinstance(record, dict):  # deleted or made unreadable by an earlier tamper
        db.close()
        return
    if how in TAMPERS:
        _put(db, seq, canonical_bytes(_edit(record, how)))
    elif how == "spaces":
        _put(db, seq, orjson.dumps(record, option=orjson.OPT_SORT_KEYS).replace(b'":', b'": ', 1))
    elif how == "float":  # canonical, but holding floats: the exact path
        record["ratio"] = [0.5, 1e21, -2.25]
        _put(db, seq, rfc8785.dumps(record))
    elif how == "float-1.0":  # 1.0 is 1 in RFC 8785
        _put(db, seq, orjson.dumps({**record, "ratio": 1.0}, option=orjson.OPT_SORT_KEYS))
    elif how == "garbage":
        _put(db, seq, b'{"seq":' + str(seq).encode() + b",")
    elif how == "array":
        _put(db, seq, b"[1,2]")
    elif how == "leaf":
        _put(db, seq, data[0], bytes(32))
    elif how == "delete":
        db.execute("DELETE FROM records WHERE seq = ?", (seq,))
    elif how == "far":  # a stray record far past the end
        db.execute("INSERT OR IGNORE INTO records (seq, type, key, data, leaf) VALUES (?, 'x', NULL, ?, ?)",
                   (10**12, data[0], leaf_hash(data[0])))  # fmt: skip
    elif how == "duplicate-seq":
        _put(db, seq, data[0][:-1] + b',"seq":' + str(seq + 7).encode() + b"}")
    db.close()


def report_of(report: audit_verify.VerifyReport) -> tuple[Any, ...]:
    return (
        report.size,
        report.root,
        report.checkpoints,
        [(c.number, c.ok, c.seq, c.skipped, c.failure.message if c.failure else None) for c in report.checks],
    )


def checkpoints_for(original: list[tuple[int, bytes]], sizes: list[int]) -> list[tuple[Checkpoint, str]]:
    leaves = [leaf_hash(d) for _, d in original]
    out = []
    for size in sizes:
        note = Checkpoint("test/log", size, root(leaves[:size])).sign(SIGNER)
        out.append((open_note(note, SIGNER.verifier(), f"cp-{size}"), f"cp-{size}"))
    return out


def chunked(path: Path, cps: list[tuple[Checkpoint, str]], deep: bool, chunk: int, ranges: bool) -> tuple[Any, ...]:
    """The report with the pass cut every ``chunk`` records: one scan, or ranges of seqs as workers read them."""
    with SQLiteStore(path, create=False) as store:
        if ranges:
            chunks = _parallel.in_order(store, store.size(), deep, chunk, _parallel.in_process(store), 4)
        else:
            chunks = _parallel.inline_chunks(store, deep, chunk)
        return report_of(audit_verify._report(chunks, cps, deep, None))


tampers = st.lists(st.tuples(st.integers(0, 200), st.sampled_from(TAMPERS + RAW)), min_size=0, max_size=3)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    tampers=tampers,
    sizes=st.lists(st.integers(0, 120), max_size=3),
    deep=st.booleans(),
    chunk=st.sampled_from([1, 3, 8, 64]),
)
def test_the_report_is_the_same_however_the_pass_is_cut(
    base: Path, tmp_path_factory: pytest.TempPathFactory, tampers: list[tuple[int, str]], sizes: list[int],
    deep: bool, chunk: int,
) -> None:  # fmt: skip
    path = tmp_path_factory.mktemp("t") / "log.sqlite3"
    shutil.copy(base, path)
    original = _records(path)
    for seq, how in tampers:
        tamper(path, seq, how)
    cps = checkpoints_for(original, [min(s, len(original)) for s in sizes])
    with SQLiteStore(path, create=False) as store:
        one = report_of(audit_verify.verify(store, cps, deep=deep))
    assert chunked(path, cps, deep, chunk, ranges=False) == one
    assert chunked(path, cps, deep, chunk, ranges=True) == one


@pytest.mark.parametrize(
    "tampers",
    [
        [],
        [(40, "id")],
        [(30, "delete"), (75, "ref")],
        [(17, "spaces"), (50, "leaf"), (90, "garbage")],
        [(9, "far"), (60, "seq")],
        [(0, "document"), (33, "float-1.0")],
    ],
)
def test_jobs_2_gives_the_report_of_jobs_1(
    base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tampers: list[tuple[int, str]]
) -> None:
    """Real worker processes, chunks of 8 records: the same first failures, seqs, messages and root."""
    monkeypatch.setattr(_parallel, "CHUNK", 8)
    path = tmp_path / "log.sqlite3"
    shutil.copy(base, path)
    original = _records(path)
    for seq, how in tampers:
        tamper(path, seq, how)
    cps = checkpoints_for(original, [12, 16, len(original)])
    with SQLiteStore(path, create=False) as store:
        for deep in (True, False):
            one = report_of(audit_verify.verify(store, cps, deep=deep, jobs=1))
            assert report_of(audit_verify.verify(store, cps, deep=deep, jobs=2)) == one
    assert not multiprocessing.active_children()


def test_cli_verify_with_jobs_prints_the_same(base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_parallel, "CHUNK", 8)
    path = tmp_path / "log.sqlite3"
    shutil.copy(base, path)
    tamper(path, 44, "type")
    runs = [
        CliRunner().invoke(cli, ["audit", "verify", str(path), "--allow-no-checkpoint", "--jobs", jobs])
        for jobs in ("1", "2")
    ]
    assert runs[0].exit_code == runs[1].exit_code == 10
    assert runs[0].output == runs[1].output and "(5) FAIL references: seq" in runs[0].output
    bad = CliRunner().invoke(cli, ["audit", "verify", str(path), "--jobs", "0"])
    assert bad.exit_code == 2 and "--jobs" in bad.output


def test_cli_report_with_jobs_writes_the_same(base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`audit report --jobs N` verifies in N processes: the same figures and integrity rows for any N."""
    monkeypatch.setattr(_parallel, "CHUNK", 8)
    path = tmp_path / "log.sqlite3"
    shutil.copy(base, path)
    tamper(path, 17, "spaces")  # checks 2 and 3 fail; every record still reads
    tamper(path, 50, "leaf")
    figures = []
    for jobs in ("1", "2"):
        done = CliRunner().invoke(
            cli,
            [
                "audit",
                "report",
                str(path),
                "--out",
                str(tmp_path / f"r{jobs}.html"),
                "--json",
                str(tmp_path / f"r{jobs}.json"),
                "--jobs",
                jobs,
                "--lang",
                "en",
            ],
        )
        assert done.exit_code == 0, done.output
        assert "FAILED VERIFICATION at seq" in done.output
        data = orjson.loads((tmp_path / f"r{jobs}.json").read_bytes())
        del data["generated_at"]
        figures.append(data)
    assert figures[0] == figures[1]
    assert figures[0]["verified"] is False and any(row[2] == "FAIL" for row in figures[0]["integrity"])
    assert not multiprocessing.active_children()
    bad = CliRunner().invoke(cli, ["audit", "report", str(path), "--out", str(tmp_path / "x.html"), "--jobs", "0"])
    assert bad.exit_code == 2 and "--jobs" in bad.output


def test_ctrl_c_ends_the_workers(base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_parallel, "CHUNK", 8)
    path = tmp_path / "log.sqlite3"
    shutil.copy(base, path)
    seen: list[int] = []

    def interrupt(done: int) -> None:
        seen.append(done)
        if len(seen) == 2:
            raise KeyboardInterrupt

    with SQLiteStore(path, create=False) as store, pytest.raises(KeyboardInterrupt):
        audit_verify.verify(store, jobs=2, progress=interrupt)
    assert seen == [8, 16] and not multiprocessing.active_children()


# --- --quick: each record's own seq, read by a parser ----------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
# strings built to look like a top-level seq member to anything that searches the bytes
_lures = st.builds(
    lambda n, pre, post: f'{pre}"seq":{n}{post}',
    st.integers(0, 50),
    st.sampled_from(["", ",", '\\",', "\\", "}", '"}', "\\\\"]),
    st.sampled_from(["", ",", "}", '}"', ',"type":"decision"}', "\\"]),
)


def _old_quick(data: bytes, seq: int) -> bool:
    """What --quick accepted before: a full orjson parse, the top-level seq an int equal to ``seq``."""
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError:
        return False
    own = parsed.get("seq") if isinstance(parsed, dict) else None
    return own == seq and type(own) is int


def _new_quick(data: bytes, seq: int) -> bool:
    own = _parallel.own_seq(data)
    return own == seq and type(own) is int


@settings(max_examples=400, deadline=None)
@given(
    members=st.dictionaries(st.text(max_size=6), _json | _lures, max_size=5),
    nested=st.dictionaries(st.sampled_from(["seq", "a", "z"]), st.integers(0, 50) | _lures, max_size=2),
    own=st.integers(0, 50) | st.booleans() | st.floats(0, 50) | st.text(max_size=3) | st.none(),
    claimed=st.integers(0, 50),
    sort=st.booleans(),
    encode=st.sampled_from(["orjson", "canonical", "seq-twice", "truncated", "no-seq"]),
)
def test_quick_reads_the_top_level_seq_and_no_string_fools_it(
    members: dict[str, Any], nested: dict[str, Any], own: Any, claimed: int, sort: bool, encode: str
) -> None:
    """Adversarial records: lures in string values and keys, a nested seq, seq twice, bad types.

    Whatever the bytes, --quick accepts a record as seq ``claimed`` exactly when a full parse
    finds the top-level ``seq`` to be the integer ``claimed``.
    """
    record: dict[str, Any] = {**members, "inner": nested}
    if encode != "no-seq":
        record["seq"] = own
    data = orjson.dumps(record, option=orjson.OPT_SORT_KEYS if sort else 0)
    if encode == "canonical" and not isinstance(own, float):
        data = canonical_bytes(record)
    elif encode == "seq-twice":
        data = data[:-1] + b',"seq":' + str(claimed).encode() + b"}"
    elif encode == "truncated":
        data = data[:-1]
    for seq in {claimed, own if isinstance(own, int) else claimed}:
        assert _new_quick(data, seq) == _old_quick(data, seq), (data, seq)


@pytest.mark.parametrize(
    ("data", "seq", "accepted"),
    [
        (b'{"a":"\\",\\"seq\\":1","seq":0}', 1, False),  # the lure is inside a string
        (b'{"a":"\\\\","seq":1}', 1, True),  # an escaped backslash ends the string: seq is real
        (b'{"a":{"seq":1},"seq":0}', 1, False),  # a nested seq
        (b'{"seq":0,"z":"\\"seq\\":1}"}', 1, False),
        (b'{"seq":true}', 1, False),
        (b'{"seq":1.0}', 1, False),
        (b'{"seq":1', 1, False),
        (b'[{"seq":1}]', 1, False),
    ],
)
def test_quick_seq_examples(data: bytes, seq: int, accepted: bool) -> None:
    assert _new_quick(data, seq) is accepted and _old_quick(data, seq) is accepted


def test_the_deep_parse_tells_floats_without_scanning(tmp_path: Path) -> None:
    """Floats go the exact way: 1.0 is not canonical (RFC 8785 writes 1), 0.5 written canonically is."""
    records = [
        canonical_bytes({"seq": 0, "type": "memo", "x": 0.5}),
        orjson.dumps({"seq": 1, "type": "memo", "x": 1.0}, option=orjson.OPT_SORT_KEYS),
        canonical_bytes({"note": 'a ":1.5 lure', "seq": 2, "type": "memo"}),
    ]
    with SQLiteStore(tmp_path / "log.sqlite3") as store:
        store.append_raw([(i, "memo", None, data, leaf_hash(data)) for i, data in enumerate(records)])
        report = audit_verify.verify(store)
    canonical = report.checks[1]
    assert canonical.seq == 1 and canonical.failure is not None
    assert "expected RFC 8785 canonical bytes" in canonical.failure.message
