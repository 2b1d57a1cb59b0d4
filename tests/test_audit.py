"""verify, replay, prove and export on real logs, and the audit CLI."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner, Result

from suitability import audit
from suitability.checkpoint import Checkpoint, Signer, open_note
from suitability.cli import cli
from suitability.errors import InputError, IntegrityError, LogError
from suitability.merkle import leaf_hash
from suitability.store import SQLiteStore

from .workload import mixed_workload


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Signer]:
    path = tmp_path_factory.mktemp("log") / "log.sqlite3"
    store = SQLiteStore(path)
    mixed_workload(store, clients=4, seed=9)
    store.close()
    return path, Signer.generate("auditor")


@pytest.fixture
def log(built: tuple[Path, Signer], tmp_path: Path) -> Path:
    copy = tmp_path / "log.sqlite3"
    shutil.copy(built[0], copy)
    return copy


def signed(store: SQLiteStore, signer: Signer, size: int | None = None) -> str:
    report = audit.verify(store)
    from suitability.merkle import root

    n = report.size if size is None else size
    leaves = [leaf_hash(d) for _, d, _ in store.scan(0, n)]
    return Checkpoint("test/log", n, root(leaves)).sign(signer)


def tamper(path: Path, seq: int, change: dict[str, object]) -> None:
    """Rewrite one record's content as a thorough attacker would: canonical bytes, fresh leaf hash."""
    from suitability.codec import canonical_bytes

    db = sqlite3.connect(path, isolation_level=None)
    db.execute("DROP TRIGGER records_no_update")
    record = orjson.loads(db.execute("SELECT data FROM records WHERE seq = ?", (seq,)).fetchone()[0])
    record["result"].update(change)
    data = canonical_bytes(record)
    db.execute("UPDATE records SET data = ?, leaf = ? WHERE seq = ?", (data, leaf_hash(data), seq))
    db.close()


def first_of(path: Path, kind: str, outcome: str | None = None) -> int:
    for seq, data, _ in SQLiteStore(path).scan():
        record = orjson.loads(data)
        if record["type"] == kind and (outcome is None or record["result"].get("outcome") == outcome):
            return seq
    raise AssertionError(kind)


def test_replay_catches_a_rewritten_result_at_its_record(log: Path) -> None:
    seq = first_of(log, "decision", "blocked")
    tamper(log, seq, {"outcome": "suitable"})
    store = SQLiteStore(log)
    assert audit.verify(store).ok  # internally consistent: the attacker recomputed the hashes
    report = audit.replay(store)
    assert [(d.seq, d.field, d.recorded, d.recomputed) for d in report.differences] == [
        (seq, "outcome", "suitable", "blocked")
    ]
    with pytest.raises(IntegrityError) as exc:
        report.raise_for_failure()
    assert exc.value.seq == seq


def test_replay_reports_nested_differences(log: Path) -> None:
    seq = first_of(log, "assessment")
    tamper(log, seq, {"dimension_scores": {"financial_situation": 99}})
    (difference, *_) = audit.replay(SQLiteStore(log)).differences
    assert difference.seq == seq and difference.field.startswith("dimension_scores/")


def test_every_record_is_provable_offline(log: Path, built: tuple[Path, Signer]) -> None:
    signer = built[1]
    store = SQLiteStore(log)
    note = signed(store, signer)
    size = store.size()
    for seq in range(size):
        proof = audit.prove(store, seq, note, signer.verifier())
        proven_seq, record, checkpoint = audit.verify_proof(json.loads(json.dumps(proof)), signer.verifier())
        assert proven_seq == seq and record == store.get(seq).data  # type: ignore[union-attr]
        assert checkpoint.size == size


def test_bad_proofs_are_refused(log: Path, built: tuple[Path, Signer]) -> None:
    signer = built[1]
    store = SQLiteStore(log)
    note = signed(store, signer)
    proof = audit.prove(store, 3, note, signer.verifier())
    import base64

    altered = dict(proof, record=base64.b64encode(store.get(4).data).decode())  # type: ignore[union-attr]
    with pytest.raises(IntegrityError, match="not proven"):
        audit.verify_proof(altered, signer.verifier())
    moved = dict(proof, seq=4)
    with pytest.raises(IntegrityError, match="not proven"):
        audit.verify_proof(moved, signer.verifier())
    with pytest.raises(IntegrityError, match="no valid signature"):
        audit.verify_proof(proof, Signer.generate("auditor").verifier())
    with pytest.raises(InputError, match="not an inclusion proof"):
        audit.verify_proof({"format": "x"}, signer.verifier())
    with pytest.raises(InputError, match="not covered"):
        audit.prove(store, store.size(), note, signer.verifier())


def test_a_checkpoint_the_log_does_not_reproduce_cannot_be_proven_against(
    log: Path, built: tuple[Path, Signer]
) -> None:
    signer = built[1]
    store = SQLiteStore(log)
    note = signed(store, signer)
    tamper(log, first_of(log, "assessment"), {"score": 1})
    with pytest.raises(IntegrityError, match="does not reproduce"):
        audit.prove(SQLiteStore(log), 0, note, signer.verifier())


def test_export_is_checked_by_the_stdlib_script(log: Path, built: tuple[Path, Signer], tmp_path: Path) -> None:
    signer = built[1]
    store = SQLiteStore(log)
    with pytest.raises(LogError, match="no checkpoint"):
        audit.export(store, tmp_path / "none")
    store.add_checkpoint(store.size(), signed(store, signer), signer.verifier().text())
    mixed_workload(store, clients=1, seed=77)  # records after the checkpoint are exported too
    manifest = audit.export(store, tmp_path / "bundle")
    assert manifest["records"] == store.size()
    lines = (tmp_path / "bundle" / "records.jsonl").read_bytes().split(b"\n")
    assert lines[:-1] == [d for _, d, _ in store.scan()]
    script = tmp_path / "bundle" / "verify.py"
    assert "import suitability" not in script.read_text()
    run = subprocess.run([sys.executable, "-I", str(script)], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.strip().endswith("VERIFIED")
    # change one byte inside a string of an early record: the signed root no longer matches
    records = (tmp_path / "bundle" / "records.jsonl").read_bytes()
    at = records.index(b'"actor":"staff-') + len(b'"actor":"staff-')
    (tmp_path / "bundle" / "records.jsonl").write_bytes(records[:at] + b"X" + records[at + 1 :])
    run = subprocess.run([sys.executable, "-I", str(script)], capture_output=True, text=True, check=False)
    assert run.returncode == 1
    assert "(5) FAIL" in run.stdout
    # a forged signature
    (tmp_path / "bundle" / "records.jsonl").write_bytes(records)
    cp = (tmp_path / "bundle" / "checkpoint.txt").read_text()
    (tmp_path / "bundle" / "checkpoint.txt").write_text(cp.replace("test/log", "test/lag"))
    run = subprocess.run([sys.executable, "-I", str(script)], capture_output=True, text=True, check=False)
    assert run.returncode == 1 and "(2) FAIL" in run.stdout


def test_the_pure_python_ed25519_agrees_with_cryptography() -> None:
    from suitability import _verify_export

    signer = Signer.generate("k")
    public = signer.verifier().public
    for message in (b"", b"abc", b"x" * 1000):
        signature = signer.sign(message)
        assert _verify_export.ed25519_verify(public, message, signature)
        assert not _verify_export.ed25519_verify(public, message + b"!", signature)
        assert not _verify_export.ed25519_verify(public, message, signature[:-1] + bytes([signature[-1] ^ 1]))


# --- the audit CLI ----------------------------------------------------------------------------


def cli_run(*args: str) -> Result:
    result = CliRunner().invoke(cli, list(args), env={"SUITABILITY_DOCUMENTS": ""})
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def test_audit_cli_end_to_end(log: Path, tmp_path: Path) -> None:
    key, pub = tmp_path / "k.key", tmp_path / "k.pub"
    assert cli_run("audit", "keygen", "--private", str(key), "--public", str(pub), "--name", "auditor").exit_code == 0
    assert key.stat().st_mode & 0o777 == 0o600
    again = cli_run("audit", "keygen", "--private", str(key), "--public", str(pub))
    assert again.exit_code == 3 and "never overwritten" in again.stderr
    cp1 = tmp_path / "cp1.txt"
    made = cli_run("audit", "checkpoint", str(log), "--key", str(key), "--origin", "test/log", "--out", str(cp1))
    assert made.exit_code == 0, made.output
    verified = cli_run("audit", "verify", str(log), "--checkpoint", str(cp1), "--public-key", str(pub))
    assert verified.exit_code == 0
    assert [line[:8] for line in verified.stdout.splitlines()[:5]] == [
        "(1) ok  ",
        "(2) ok  ",
        "(3) ok  ",
        "(4) ok  ",
        "(5) ok  ",
    ]
    assert "VERIFIED" in verified.stdout
    kept = cli_run("audit", "verify", str(log), "--public-key", str(pub))
    assert "(checkpoint #1 kept with the log) (50 records)" in kept.stdout
    replayed = cli_run("audit", "replay", str(log))
    assert replayed.exit_code == 0 and "REPLAYED" in replayed.stdout
    html = tmp_path / "review.html"
    reported = cli_run(
        "audit",
        "report",
        str(log),
        "--out",
        str(html),
        "--checkpoint",
        str(cp1),
        "--public-key",
        str(pub),
        "--lang",
        "en",
    )
    assert reported.exit_code == 0
    assert f"Checked against signed checkpoint: {cp1}" in html.read_text()
    proof = tmp_path / "p.json"
    assert (
        cli_run(
            "audit",
            "prove",
            str(log),
            "--seq",
            "5",
            "--checkpoint",
            str(cp1),
            "--out",
            str(proof),
            "--public-key",
            str(pub),
        ).exit_code
        == 0
    )
    proven = cli_run("audit", "verify-proof", str(proof), "--public-key", str(pub))
    assert proven.exit_code == 0 and proven.stdout.startswith("PROVEN record 5")
    exported = cli_run("audit", "export", str(log), "--out", str(tmp_path / "bundle"))
    assert exported.exit_code == 0
    assert (
        subprocess.run(
            [sys.executable, str(tmp_path / "bundle" / "verify.py")], capture_output=True, check=False
        ).returncode
        == 0
    )


def test_audit_cli_failures(log: Path, tmp_path: Path, built: tuple[Path, Signer]) -> None:
    signer = built[1]
    pub = tmp_path / "k.pub"
    pub.write_text(signer.verifier().text())
    store = SQLiteStore(log)
    cp = tmp_path / "cp.txt"
    cp.write_text(signed(store, signer))
    seq = first_of(log, "decision", "blocked")
    tamper(log, seq, {"outcome": "suitable"})
    bad = cli_run("audit", "verify", str(log), "--checkpoint", str(cp), "--public-key", str(pub))
    assert bad.exit_code == 10
    assert "(4) FAIL root" in bad.stdout and "the decision log failed verification" in bad.stderr
    replayed = cli_run("audit", "replay", str(log))
    assert replayed.exit_code == 10 and f"/records/{seq}: decision field outcome" in replayed.stderr
    assert cli_run("audit", "verify", str(tmp_path / "missing.sqlite3")).exit_code == 9
    assert cli_run("audit", "verify", str(log), "--checkpoint", str(cp)).exit_code == 2
    forged = tmp_path / "forged.txt"
    forged.write_text(cp.read_text().replace("test/log", "test/lag"))
    refused = cli_run("audit", "verify", str(log), "--checkpoint", str(forged), "--public-key", str(pub))
    assert refused.exit_code == 10 and "no valid signature" in refused.stderr
    proof = tmp_path / "p.json"
    proof.write_text('{"format": "nope"}')
    assert cli_run("audit", "verify-proof", str(proof), "--public-key", str(pub)).exit_code == 3
    not_key = cli_run("audit", "verify-proof", str(proof), "--public-key", str(cp))
    assert not_key.exit_code == 3 and "not a public key" in not_key.stderr
    assert cli_run("audit", "export", str(log), "--out", str(tmp_path / "b")).exit_code == 9  # no checkpoint kept
    assert open_note(cp.read_text(), signer.verifier()).size == store.size()


def test_a_long_pass_raises_the_collector_thresholds_and_restores_them(log: Path) -> None:
    """verify and replay run with the collector set to run rarely; nested and concurrent passes share one setting."""
    import gc
    import threading

    from suitability._passes import PASS_THRESHOLD, long_pass

    before = gc.get_threshold()
    seen: list[int] = []
    with long_pass():
        seen.append(gc.get_threshold()[0])
        with long_pass():
            seen.append(gc.get_threshold()[0])
        seen.append(gc.get_threshold()[0])  # the inner pass ended; the outer one still runs
    assert seen == [PASS_THRESHOLD] * 3
    assert gc.get_threshold() == before

    started, release = threading.Event(), threading.Event()

    def hold() -> None:
        with long_pass():
            started.set()
            release.wait(10)

    other = threading.Thread(target=hold)
    other.start()
    started.wait(10)
    assert audit.verify(SQLiteStore(log)).ok  # a pass of its own, ending while the other runs
    assert gc.get_threshold()[0] == PASS_THRESHOLD
    release.set()
    other.join()
    assert gc.get_threshold() == before

    with pytest.raises(RuntimeError), long_pass():
        raise RuntimeError("a failing pass")
    assert gc.get_threshold() == before


# --- issue 10: kept checkpoints, verify without a checkpoint, --quick parses --------------------


def test_verify_without_a_checkpoint_says_so_and_needs_allow_no_checkpoint(log: Path, tmp_path: Path) -> None:
    """No checkpoint: "no checkpoint: internal consistency only", exit 10 unless --allow-no-checkpoint."""
    bare = cli_run("audit", "verify", str(log))
    assert bare.exit_code == 10 and "VERIFIED" not in bare.stdout
    assert "no checkpoint: internal consistency only" in bare.stdout
    assert "--allow-no-checkpoint" in bare.stderr
    allowed = cli_run("audit", "verify", str(log), "--allow-no-checkpoint")
    assert allowed.exit_code == 0 and "no checkpoint: internal consistency only" in allowed.stdout
    assert "VERIFIED" in allowed.stdout
    quick = cli_run("audit", "verify", str(log), "--quick", "--allow-no-checkpoint")
    assert quick.exit_code == 0
    # A key, but no checkpoint kept with the log under it: still no checkpoint.
    pub = tmp_path / "k.pub"
    pub.write_text(Signer.generate("auditor").verifier().text())
    keyed = cli_run("audit", "verify", str(log), "--public-key", str(pub))
    assert keyed.exit_code == 10 and "no checkpoint: internal consistency only" in keyed.stdout
    # A failure is still a failure with the flag.
    tamper(log, first_of(log, "decision"), {"outcome": "suitable"})
    db = sqlite3.connect(log, isolation_level=None)
    db.execute("UPDATE records SET leaf = zeroblob(32) WHERE seq = 0")
    db.close()
    assert cli_run("audit", "verify", str(log), "--allow-no-checkpoint").exit_code == 10


def test_kept_checkpoints_cannot_be_deleted_and_each_is_checked(log: Path, tmp_path: Path) -> None:
    """The insider deletes the kept checkpoints, then rewrites a record: refused, and caught by name."""
    key, pub = tmp_path / "k.key", tmp_path / "k.pub"
    cli_run("audit", "keygen", "--private", str(key), "--public", str(pub), "--name", "auditor")
    for n in (1, 2):
        cli_run(
            "audit", "checkpoint", str(log), "--key", str(key), "--origin", "test/log", "--out", str(tmp_path / f"{n}")
        )
    other = Signer.generate("someone-else")
    with SQLiteStore(log) as store:
        store.add_checkpoint(1, signed(store, other, 1), other.verifier().text())  # another key: left aside
    kept = cli_run("audit", "verify", str(log), "--public-key", str(pub))
    assert kept.exit_code == 0, kept.output
    assert "checked against" in kept.stdout and "(checkpoint #1 kept with the log)" in kept.stdout
    assert "(checkpoint #2 kept with the log)" in kept.stdout and "#3" not in kept.stdout
    db = sqlite3.connect(log, isolation_level=None)
    for sql in ("DELETE FROM checkpoints", "UPDATE checkpoints SET note = ''"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.execute(sql)
    db.close()
    tamper(log, first_of(log, "decision", "blocked"), {"outcome": "suitable"})
    caught = cli_run("audit", "verify", str(log), "--public-key", str(pub))
    assert caught.exit_code == 10 and "(4) FAIL root" in caught.stdout
    assert "checkpoint #1 kept with the log" in caught.stdout
    # A checkpoint forged under the trusted key and slipped into the log is refused, by name.
    forged = (tmp_path / "1").read_text().replace("test/log", "test/lag")
    with SQLiteStore(log) as store:
        store.add_checkpoint(store.size(), forged, pub.read_text().strip())
    forged_run = cli_run("audit", "verify", str(log), "--public-key", str(pub))
    assert forged_run.exit_code == 10 and "checkpoint #4 kept with the log" in forged_run.stderr
    # An insider who drops the triggers and empties the table leaves no checkpoint: that fails too.
    db = sqlite3.connect(log, isolation_level=None)
    db.execute("DROP TRIGGER checkpoints_no_delete")
    db.execute("DELETE FROM checkpoints")
    db.close()
    emptied = cli_run("audit", "verify", str(log), "--public-key", str(pub))
    assert emptied.exit_code == 10 and "no checkpoint: internal consistency only" in emptied.stdout


def test_quick_reads_each_records_own_seq_by_parsing_it(tmp_path: Path) -> None:
    """A record that says seq 0 at the top and seq 1 inside, stored at seq 1: --quick names it."""
    from suitability.codec import canonical_bytes

    records = [canonical_bytes({"seq": 0, "type": "note"}), b'{"seq":0,"type":"note","z":{"a":0,"seq":1}}']
    with SQLiteStore(tmp_path / "log.sqlite3") as store:
        store.append_raw([(i, "note", None, data, leaf_hash(data)) for i, data in enumerate(records)])
        for deep in (True, False):
            report = audit.verify(store, deep=deep)
            assert not report.checks[0].ok and report.checks[0].seq == 1, deep
            assert report.checks[0].failure is not None
            assert "expected the record to say seq 1, found 0" in report.checks[0].failure.message
