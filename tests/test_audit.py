"""verify, replay, prove and export on real logs, and the audit CLI."""

from __future__ import annotations

import base64
import errno
import json
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner, Result

from suitability.cli import cli
from suitability.errors import InputError, IntegrityError, LogError
from suitability.log import export as audit_export
from suitability.log import verify as audit_verify
from suitability.log.checkpoint import Checkpoint, Signer, open_note
from suitability.log.merkle import leaf_hash
from suitability.log.sqlite import SQLiteStore
from suitability.replay import replay as replay_log

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
    report = audit_verify.verify(store)
    from suitability.log.merkle import root

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
    assert audit_verify.verify(store).ok  # internally consistent: the attacker recomputed the hashes
    report = replay_log(store)
    assert [(d.seq, d.field, d.recorded, d.recomputed) for d in report.differences] == [
        (seq, "outcome", "suitable", "blocked")
    ]
    with pytest.raises(IntegrityError) as exc:
        report.raise_for_failure()
    assert exc.value.seq == seq


def test_replay_reports_nested_differences(log: Path) -> None:
    seq = first_of(log, "assessment")
    tamper(log, seq, {"dimension_scores": {"financial_situation": 99}})
    (difference, *_) = replay_log(SQLiteStore(log)).differences
    assert difference.seq == seq and difference.field.startswith("dimension_scores/")


def test_every_record_is_provable_offline(log: Path, built: tuple[Path, Signer]) -> None:
    signer = built[1]
    store = SQLiteStore(log)
    note = signed(store, signer)
    size = store.size()
    for seq in range(size):
        proof = audit_verify.prove(store, seq, note, signer.verifier())
        proven_seq, record, checkpoint = audit_verify.verify_proof(json.loads(json.dumps(proof)), signer.verifier())
        assert proven_seq == seq and record == store.get(seq).data  # type: ignore[union-attr]
        assert checkpoint.size == size


def test_bad_proofs_are_refused(log: Path, built: tuple[Path, Signer]) -> None:
    signer = built[1]
    store = SQLiteStore(log)
    note = signed(store, signer)
    proof = audit_verify.prove(store, 3, note, signer.verifier())
    import base64

    altered = dict(proof, record=base64.b64encode(store.get(4).data).decode())  # type: ignore[union-attr]
    with pytest.raises(IntegrityError, match="not proven"):
        audit_verify.verify_proof(altered, signer.verifier())
    moved = dict(proof, seq=4)
    with pytest.raises(IntegrityError, match="not proven"):
        audit_verify.verify_proof(moved, signer.verifier())
    with pytest.raises(IntegrityError, match="no valid signature"):
        audit_verify.verify_proof(proof, Signer.generate("auditor").verifier())
    with pytest.raises(InputError, match="not an inclusion proof"):
        audit_verify.verify_proof({"format": "x"}, signer.verifier())
    with pytest.raises(InputError, match="not covered"):
        audit_verify.prove(store, store.size(), note, signer.verifier())


def test_a_checkpoint_the_log_does_not_reproduce_cannot_be_proven_against(
    log: Path, built: tuple[Path, Signer]
) -> None:
    signer = built[1]
    store = SQLiteStore(log)
    note = signed(store, signer)
    tamper(log, first_of(log, "assessment"), {"score": 1})
    with pytest.raises(IntegrityError, match="does not reproduce"):
        audit_verify.prove(SQLiteStore(log), 0, note, signer.verifier())


def test_export_is_checked_by_the_stdlib_script(log: Path, built: tuple[Path, Signer], tmp_path: Path) -> None:
    signer = built[1]
    store = SQLiteStore(log)
    with pytest.raises(LogError, match="no checkpoint"):
        audit_export.export(store, tmp_path / "none")
    store.add_checkpoint(store.size(), signed(store, signer), signer.verifier().text())
    mixed_workload(store, clients=1, seed=77)  # records after the checkpoint are exported too
    manifest = audit_export.export(store, tmp_path / "bundle")
    assert manifest["records"] == store.size()
    lines = (tmp_path / "bundle" / "records.jsonl").read_bytes().split(b"\n")
    assert lines[:-1] == [d for _, d, _ in store.scan()]
    script = tmp_path / "bundle" / "verify.py"
    assert "import suitability" not in script.read_text()
    trust = ["--public-key", signer.verifier().text(), "--origin", "test/log"]
    run = subprocess.run([sys.executable, "-I", str(script), *trust], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.strip().endswith("VERIFIED")
    # change one byte inside a string of an early record: the signed root no longer matches
    records = (tmp_path / "bundle" / "records.jsonl").read_bytes()
    at = records.index(b'"actor":"staff-') + len(b'"actor":"staff-')
    (tmp_path / "bundle" / "records.jsonl").write_bytes(records[:at] + b"X" + records[at + 1 :])
    run = subprocess.run([sys.executable, "-I", str(script), *trust], capture_output=True, text=True, check=False)
    assert run.returncode == 1
    assert "(5) FAIL" in run.stdout
    # a forged signature
    (tmp_path / "bundle" / "records.jsonl").write_bytes(records)
    cp = (tmp_path / "bundle" / "checkpoint.txt").read_text()
    (tmp_path / "bundle" / "checkpoint.txt").write_text(cp.replace("test/log", "test/lag"))
    run = subprocess.run([sys.executable, "-I", str(script), *trust], capture_output=True, text=True, check=False)
    assert run.returncode == 1 and "(2) FAIL" in run.stdout


def test_the_pure_python_ed25519_agrees_with_cryptography() -> None:
    from suitability.log import _verify_export

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
            [sys.executable, str(tmp_path / "bundle" / "verify.py"), "--public-key", str(pub), "--origin", "test/log"],
            capture_output=True,
            check=False,
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
    assert audit_verify.verify(SQLiteStore(log)).ok  # a pass of its own, ending while the other runs
    assert gc.get_threshold()[0] == PASS_THRESHOLD
    release.set()
    other.join()
    assert gc.get_threshold() == before

    with pytest.raises(RuntimeError), long_pass():
        raise RuntimeError("a failing pass")
    assert gc.get_threshold() == before


# --- issue 10: checkpoints sign only a log that grew, consistency proofs, trusted keys ----------


def keys(tmp_path: Path, name: str = "auditor") -> tuple[Path, Path]:
    key, pub = tmp_path / f"{name}.key", tmp_path / f"{name}.pub"
    assert cli_run("audit", "keygen", "--private", str(key), "--public", str(pub), "--name", name).exit_code == 0
    return key, pub


def checkpoint_cli(log: Path, key: Path, out: Path, *extra: str, origin: str = "test/log") -> Result:
    return cli_run("audit", "checkpoint", str(log), "--key", str(key), "--origin", origin, "--out", str(out), *extra)


def test_checkpoint_never_overwrites_an_earlier_checkpoint_file(log: Path, tmp_path: Path) -> None:
    """A slip of the finger (`--out cp-1.txt` again) must not destroy the checkpoint handed out last
    time: the existing file is refused before anything is verified, nothing is signed or kept, and
    `--force` is the only way to replace it."""
    key, _ = keys(tmp_path)
    cp1 = tmp_path / "cp-1.txt"
    assert checkpoint_cli(log, key, cp1).exit_code == 0
    first = cp1.read_bytes()
    kept = len(SQLiteStore(log).checkpoints())
    again = checkpoint_cli(log, key, cp1)
    assert again.exit_code == 3, again.output
    assert f"{cp1} exists" in again.stderr and "--force" in again.stderr
    assert cp1.read_bytes() == first and len(SQLiteStore(log).checkpoints()) == kept
    forced = checkpoint_cli(log, key, cp1, "--force")
    assert forced.exit_code == 0, forced.output
    assert len(SQLiteStore(log).checkpoints()) == kept + 1 and cp1.read_text() == SQLiteStore(log).latest_checkpoint()


def test_checkpoint_refuses_to_sign_a_rewritten_log(log: Path, tmp_path: Path) -> None:
    """The attack: rewrite a record with fresh canonical bytes and leaf hash (checks 1-5 all pass),
    then run the routine checkpoint job. It must prove consistency with the last checkpoint and refuse."""
    key, _ = keys(tmp_path)
    assert checkpoint_cli(log, key, tmp_path / "cp1.txt").exit_code == 0
    tamper(log, first_of(log, "decision", "blocked"), {"outcome": "suitable"})
    assert audit_verify.verify(SQLiteStore(log)).ok  # internally consistent: nothing but the old checkpoint can tell
    refused = checkpoint_cli(log, key, tmp_path / "cp2.txt")
    assert refused.exit_code == 10, refused.output
    assert "is not consistent with" in refused.stderr and "latest checkpoint kept with the log" in refused.stderr
    assert "no longer reproduce the signed root" in refused.stderr
    assert not (tmp_path / "cp2.txt").exists()


def test_checkpoint_uses_a_checkpoint_held_outside_the_firm(log: Path, tmp_path: Path) -> None:
    """An insider who rewrites a record and also wipes the checkpoints kept with the log is still
    stopped by a checkpoint an outside party kept and hands to the job."""
    key, _ = keys(tmp_path)
    held = tmp_path / "held-by-regulator.txt"
    assert checkpoint_cli(log, key, held).exit_code == 0
    tamper(log, first_of(log, "assessment"), {"score": 1})
    db = sqlite3.connect(log, isolation_level=None)
    for (trigger,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'checkpoints'"):
        db.execute(f"DROP TRIGGER {trigger}")
    db.execute("DELETE FROM checkpoints")
    db.close()
    refused = checkpoint_cli(log, key, tmp_path / "cp2.txt", "--checkpoint", str(held))
    assert refused.exit_code == 10 and f"is not consistent with {held}" in refused.stderr


def test_checkpoint_refuses_a_truncated_log(log: Path, tmp_path: Path) -> None:
    key, _ = keys(tmp_path)
    assert checkpoint_cli(log, key, tmp_path / "cp1.txt").exit_code == 0
    db = sqlite3.connect(log, isolation_level=None)
    db.execute("DROP TRIGGER records_no_delete")
    db.execute("DELETE FROM records WHERE seq >= 40")
    db.close()
    assert audit_verify.verify(SQLiteStore(log)).ok
    refused = checkpoint_cli(log, key, tmp_path / "cp2.txt")
    assert refused.exit_code == 10 and "truncated" in refused.stderr


def test_checkpoint_proves_growth_and_checks_keys_and_origins(log: Path, tmp_path: Path) -> None:
    key, pub = keys(tmp_path)
    cp1 = tmp_path / "cp1.txt"
    assert checkpoint_cli(log, key, cp1).exit_code == 0
    mixed_workload(SQLiteStore(log), clients=1, seed=78)
    assert checkpoint_cli(log, key, tmp_path / "cp2.txt", "--checkpoint", str(cp1)).exit_code == 0  # kept = cp1
    mixed_workload(SQLiteStore(log), clients=1, seed=79)
    grown = checkpoint_cli(log, key, tmp_path / "cp3.txt", "--checkpoint", str(cp1))
    assert grown.exit_code == 0, grown.output
    lines = grown.stdout.splitlines()
    assert lines[0].startswith("consistent with") and "latest checkpoint kept with the log" in lines[0]
    assert f"consistent with {cp1} (50 records)" in lines[1]
    # another origin is another log's checkpoint
    other = checkpoint_cli(log, key, tmp_path / "cp9.txt", origin="test/other")
    assert other.exit_code == 10 and "checkpoint of another log" in other.stderr
    # a rotated key: the kept checkpoint is signed by a key the job does not know until told
    new_key, _ = keys(tmp_path, "auditor-2026")
    rotated = checkpoint_cli(log, new_key, tmp_path / "cp4.txt")
    assert rotated.exit_code == 10 and "no valid signature by a trusted key" in rotated.stderr
    assert checkpoint_cli(log, new_key, tmp_path / "cp4.txt", "--public-key", str(pub)).exit_code == 0


@pytest.mark.parametrize("origin", ["", "two\nlines", "tab\there", " padded", "bell\a"])
def test_checkpoint_origin_must_be_one_printable_line(log: Path, tmp_path: Path, origin: str) -> None:
    key, _ = keys(tmp_path)
    refused = checkpoint_cli(log, key, tmp_path / "cp.txt", origin=origin)
    assert refused.exit_code == 3 and "bad checkpoint origin" in refused.stderr
    assert not (tmp_path / "cp.txt").exists()


def test_audit_consistency_proves_and_checks_offline(log: Path, tmp_path: Path) -> None:
    key, pub = keys(tmp_path)
    cp1, cp2, proof = tmp_path / "cp1.txt", tmp_path / "cp2.txt", tmp_path / "c.json"
    assert checkpoint_cli(log, key, cp1).exit_code == 0
    mixed_workload(SQLiteStore(log), clients=2, seed=79)
    assert checkpoint_cli(log, key, cp2).exit_code == 0
    made = cli_run(
        "audit", "consistency", str(cp1), str(cp2), "--log", str(log), "--public-key", str(pub), "--out", str(proof)
    )
    assert made.exit_code == 0, made.output
    assert "CONSISTENT" in made.stdout and "  [0] " in made.stdout
    doc = json.loads(proof.read_text())
    assert doc["format"] == audit_verify.CONSISTENCY_FORMAT and doc["old_size"] == 50 and doc["consistency"]
    # an outsider holding only the two checkpoints, the proof and the key: no log at all
    log.unlink()
    for args in ([], [str(cp1), str(cp2)]):
        checked = cli_run("audit", "consistency", *args, "--proof", str(proof), "--public-key", str(pub))
        assert checked.exit_code == 0 and checked.stdout.startswith("CONSISTENT test/log")
    # a proof about other checkpoints than the ones held
    swapped = cli_run("audit", "consistency", str(cp2), str(cp1), "--proof", str(proof), "--public-key", str(pub))
    assert swapped.exit_code == 10 and "is not" in swapped.stderr
    # an altered proof node
    bad = dict(doc, consistency=[doc["consistency"][-1], *doc["consistency"][:-1]])
    proof.write_text(json.dumps(bad))
    altered = cli_run("audit", "consistency", "--proof", str(proof), "--public-key", str(pub))
    assert altered.exit_code == 10 and "did not only grow" in altered.stderr
    # wrong types are malformed input, not coerced
    proof.write_text(json.dumps(dict(doc, old_size=str(doc["old_size"]))))
    typed = cli_run("audit", "consistency", "--proof", str(proof), "--public-key", str(pub))
    assert typed.exit_code == 3 and "/old_size: expected a JSON integer, found string" in typed.stderr
    # usage
    assert cli_run("audit", "consistency", str(cp1), "--proof", str(proof), "--public-key", str(pub)).exit_code == 2
    assert cli_run("audit", "consistency", str(cp1), str(cp2), "--public-key", str(pub)).exit_code == 2


def test_audit_consistency_catches_a_rewritten_log(log: Path, tmp_path: Path, built: tuple[Path, Signer]) -> None:
    signer = built[1]
    store = SQLiteStore(log)
    old = signed(store, signer, 20)
    new = signed(store, signer)
    assert audit_verify.prove_consistency(store, old, new, signer.verifier())["new_size"] == store.size()
    tamper(log, first_of(log, "assessment"), {"score": 1})  # inside the first 20 records
    assert first_of(log, "assessment") < 20
    with pytest.raises(IntegrityError, match="does not reproduce"):
        audit_verify.prove_consistency(SQLiteStore(log), old, new, signer.verifier())
    # a rewritten tree re-signed by an attacker's key is not signed by the key the verifier trusts
    forged = signed(SQLiteStore(log), Signer.generate("auditor"))
    with pytest.raises(IntegrityError, match="no valid signature"):
        audit_verify.prove_consistency(SQLiteStore(log), old, forged, signer.verifier())


@pytest.mark.parametrize(
    ("field", "value", "found"),
    [
        ("seq", "3", "string '3'"),
        ("seq", 3.9, "number 3.9"),
        ("seq", True, "boolean True"),
        ("seq", -1, "non-negative"),
        ("tree_size", "50", "string '50'"),
        ("inclusion", "AAAA", "string 'AAAA'"),
        ("record", 7, "number 7"),
        ("checkpoint", None, "null None"),
        ("leaf_hash", ["x"], "array"),
    ],
)
def test_verify_proof_refuses_wrong_types(
    log: Path, built: tuple[Path, Signer], tmp_path: Path, field: str, value: object, found: str
) -> None:
    """A proof checked by someone who does not trust its maker coerces nothing: exit 3, with the field's pointer."""
    signer = built[1]
    proof = audit_verify.prove(SQLiteStore(log), 3, signed(SQLiteStore(log), signer), signer.verifier())
    path, pub = tmp_path / "p.json", tmp_path / "k.pub"
    path.write_text(json.dumps(dict(proof, **{field: value})))
    pub.write_text(signer.verifier().text())
    refused = cli_run("audit", "verify-proof", str(path), "--public-key", str(pub))
    assert refused.exit_code == 3, refused.output
    assert f"/{field}: expected" in refused.stderr and found in refused.stderr


def test_non_utf8_key_and_checkpoint_files_are_input_errors(log: Path, tmp_path: Path) -> None:
    key, pub = keys(tmp_path)
    cp = tmp_path / "cp.txt"
    assert checkpoint_cli(log, key, cp).exit_code == 0
    latin = tmp_path / "latin1.pub"
    latin.write_bytes(pub.read_bytes().replace(b"auditor", b"audit\xe9r"))
    bad_cp = tmp_path / "latin1.txt"
    bad_cp.write_bytes(cp.read_bytes().replace(b"test/log", b"test/l\xf6g"))
    for args in (
        ("audit", "verify", str(log), "--public-key", str(latin)),
        ("audit", "verify", str(log), "--checkpoint", str(bad_cp), "--public-key", str(pub)),
        ("audit", "checkpoint", str(log), "--key", str(latin), "--origin", "o", "--out", str(tmp_path / "x")),
        ("audit", "prove", str(log), "--seq", "1", "--checkpoint", str(bad_cp), "--out", str(tmp_path / "x")),
    ):
        result = cli_run(*args)
        assert result.exit_code == 3, (args, result.output)
        assert "expected UTF-8 text, found the byte" in result.stderr and ":1:" in result.stderr
    # the one decoding rule of every text input: a byte order mark is refused, as in JSON and CSV
    bom = tmp_path / "bom.pub"
    bom.write_bytes(b"\xef\xbb\xbf" + pub.read_bytes())
    result = cli_run("audit", "verify", str(log), "--public-key", str(bom))
    assert result.exit_code == 3 and "byte order mark" in result.stderr, result.output


# --- verify.py trusts only the key and origin it is given ------------------------------------


def run_verify_py(bundle: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-I", str(bundle / "verify.py"), *args], capture_output=True, text=True, check=False
    )


def test_an_export_verifies_only_against_the_trusted_key(log: Path, built: tuple[Path, Signer], tmp_path: Path) -> None:
    """The attack: rewrite the records, sign their new root with one's own key and swap that key
    into the bundle. The old verify.py trusted the bundle's key; now only the one given counts."""
    signer = built[1]
    store = SQLiteStore(log)
    store.add_checkpoint(store.size(), signed(store, signer), signer.verifier().text())
    bundle = tmp_path / "bundle"
    audit_export.export(store, bundle)
    trusted = tmp_path / "trusted.pub"
    trusted.write_text(signer.verifier().text() + "\n")
    assert run_verify_py(bundle, "--public-key", str(trusted), "--origin", "test/log").returncode == 0
    # the forger's bundle: a rewritten record, a root re-signed with their own key of the same name
    records = (bundle / "records.jsonl").read_bytes()
    at = records.index(b'"actor":"staff-') + len(b'"actor":"staff-')
    forged_records = records[:at] + b"X" + records[at + 1 :]
    (bundle / "records.jsonl").write_bytes(forged_records)
    from suitability.log.merkle import root

    lines = forged_records.split(b"\n")[:-1]
    forger = Signer.generate("auditor")
    note = Checkpoint("test/log", len(lines), root([leaf_hash(line) for line in lines])).sign(forger)
    (bundle / "checkpoint.txt").write_text(note)
    (bundle / "public-key.txt").write_text(forger.verifier().text() + "\n")
    run = run_verify_py(bundle, "--public-key", str(trusted), "--origin", "test/log")
    assert run.returncode == 1 and "(2) FAIL" in run.stdout and "NOT VERIFIED" in run.stdout
    assert "(a hint, not trusted)" in run.stdout
    # the key may be given as text too; the forger's own key verifies only what the forger signed
    assert run_verify_py(bundle, "--public-key", signer.verifier().text(), "--origin", "test/log").returncode == 1
    assert run_verify_py(bundle, "--public-key", forger.verifier().text(), "--origin", "test/log").returncode == 0
    # no key: a usage error, never a fallback to the bundle's key
    assert run_verify_py(bundle, "--origin", "test/log").returncode == 2


def test_an_export_checks_the_origin_and_every_signature_by_the_trusted_key(
    log: Path, built: tuple[Path, Signer], tmp_path: Path
) -> None:
    signer = built[1]
    store = SQLiteStore(log)
    note = signed(store, signer)
    store.add_checkpoint(store.size(), note, signer.verifier().text())
    bundle = tmp_path / "bundle"
    audit_export.export(store, bundle)
    key = signer.verifier().text()
    wrong_origin = run_verify_py(bundle, "--public-key", key, "--origin", "test/another-log")
    assert wrong_origin.returncode == 1 and "(2) FAIL" in wrong_origin.stdout
    # a valid signature followed by a bad one by the same trusted key: rejected, not skipped
    line = note.rstrip("\n").rsplit("\n", 1)[1]
    blob = base64.b64decode(line.split(" ")[2])
    bad = f"\u2014 auditor {base64.b64encode(blob[:4] + bytes(64)).decode()}"
    (bundle / "checkpoint.txt").write_text(note + bad + "\n")
    run = run_verify_py(bundle, "--public-key", key, "--origin", "test/log")
    assert run.returncode == 1 and "a signature by it fails" in run.stdout
    # a malformed note is a failure with a message, not a traceback
    (bundle / "checkpoint.txt").write_text(note.replace("\u2014", "-"))
    run = run_verify_py(bundle, "--public-key", key, "--origin", "test/log")
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "NOT VERIFIED: BadInput: expected a signature line" in run.stdout


# --- the pure-Python Ed25519 of verify.py ---------------------------------------------------

WYCHEPROOF = Path(__file__).resolve().parent / "data" / "wycheproof"


def wycheproof_cases() -> list[tuple[int, bytes, bytes, bytes, bool]]:
    doc = json.loads((WYCHEPROOF / "ed25519_test.json").read_text())
    return [
        (
            t["tcId"],
            bytes.fromhex(g["publicKey"]["pk"]),
            bytes.fromhex(t["msg"]),
            bytes.fromhex(t["sig"]),
            t["result"] == "valid",
        )
        for g in doc["testGroups"]
        for t in g["tests"]
    ]


def test_the_wycheproof_vectors_ship_with_their_licence() -> None:
    assert len(wycheproof_cases()) == 151
    assert "Apache License" in (WYCHEPROOF / "LICENSE").read_text()
    assert "C2SP/wycheproof" in (WYCHEPROOF / "README.md").read_text()


@pytest.mark.parametrize(
    ("tc_id", "public", "message", "signature", "valid"),
    wycheproof_cases(),
    ids=[f"tc{c[0]}" for c in wycheproof_cases()],
)
def test_the_pure_python_ed25519_passes_wycheproof(
    tc_id: int, public: bytes, message: bytes, signature: bytes, valid: bool
) -> None:
    from suitability.log import _verify_export

    assert _verify_export.ed25519_verify(public, message, signature) is valid, tc_id


def test_the_pure_python_ed25519_refuses_x0_with_the_sign_bit_set() -> None:
    """RFC 8032 §5.1.3 step 4: x = 0 with the sign bit set is not a point. ed25519-speccheck case 9
    (novifinancial/ed25519-speccheck, cases.json, Apache-2.0): R = (0, -1) encoded with the sign bit."""
    from suitability.log import _verify_export

    message = bytes.fromhex("9bedc267423725d473888631ebf45988bad3db83851ee85c85e241a07d148b41")
    public = bytes.fromhex("f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43")
    signature = bytes.fromhex(
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
        "ca8c5b64cd208982aa38d4936621a4775aa233aa0505711d8fdcfdaa943d4908"
    )
    assert _verify_export._decompress(signature[:32]) is None
    assert not _verify_export.ed25519_verify(public, message, signature)
    # the same point with the sign bit clear is a valid encoding of (0, -1)
    assert _verify_export._decompress(signature[:31] + b"\x7f") is not None


# --- output files are written whole or not at all -----------------------------------------------


def _limited(limit: int) -> Callable[[], None]:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG

    return apply


def run_cli_limited(limit: int, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI in a real process whose files may not grow past ``limit`` bytes (a portable full disk)."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent), "SUITABILITY_DOCUMENTS": ""}
    return subprocess.run(
        [sys.executable, "-m", "suitability", *args],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        preexec_fn=_limited(limit),  # the limit applies to the child alone
    )


needs_rlimit = pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX only")


@needs_rlimit
def test_keygen_on_a_full_disk_leaves_no_key_file(tmp_path: Path) -> None:
    folder = tmp_path / "keys"
    folder.mkdir()
    run = run_cli_limited(
        64,
        "audit",
        "keygen",
        "--private",
        str(folder / "k.key"),
        "--public",
        str(folder / "k.pub"),
        "--name",
        "auditor",
    )
    assert run.returncode == 3, run.stderr
    assert "cannot write" in run.stderr and "Traceback" not in run.stderr
    assert list(folder.iterdir()) == []  # no empty or partial key, no temporary file


@needs_rlimit
def test_export_and_report_on_a_full_disk_leave_nothing_half_written(
    log: Path, built: tuple[Path, Signer], tmp_path: Path
) -> None:
    signer = built[1]
    store = SQLiteStore(log)
    store.add_checkpoint(store.size(), signed(store, signer), signer.verifier().text())
    store.close()
    out = tmp_path / "out"
    out.mkdir()
    limit = 48 * 1024  # above SQLite's 32 KiB shared-memory file, below the 127 KB of records
    run = run_cli_limited(limit, "audit", "export", str(log), "--out", str(out / "bundle"))
    assert run.returncode == 3 and "cannot write" in run.stderr, run.stderr
    assert list(out.iterdir()) == []
    # an existing bundle is left as it was
    audit_export.export(SQLiteStore(log), out / "bundle")
    before = {p.name: p.read_bytes() for p in (out / "bundle").iterdir()}
    run = run_cli_limited(limit, "audit", "export", str(log), "--out", str(out / "bundle"))
    assert run.returncode == 3
    assert {p.name: p.read_bytes() for p in (out / "bundle").iterdir()} == before
    assert [p.name for p in out.iterdir()] == ["bundle"]


@needs_rlimit
def test_write_atomic_past_the_file_size_limit_leaves_the_old_file(tmp_path: Path) -> None:
    """The helper every command writes through, in a process that may not write more than 1 KiB to a file."""
    target = tmp_path / "out.txt"
    target.write_text("the old content\n")
    script = (
        "import sys\n"
        "from suitability._output import write_atomic\n"
        "from suitability.errors import SuitabilityError\n"
        "try:\n"
        "    write_atomic(sys.argv[1], 'x' * 4096)\n"
        "except SuitabilityError as exc:\n"
        "    print(exc.render()); sys.exit(exc.exit_code)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    run = subprocess.run(
        [sys.executable, "-c", script, str(target)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        preexec_fn=_limited(1024),
    )
    assert run.returncode == 3, run.stdout + run.stderr
    assert "cannot write" in run.stdout and "File too large" in run.stdout
    assert target.read_text() == "the old content\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def _fill(folder: Path) -> None:
    with (folder / "filler").open("wb", buffering=0) as handle:
        try:
            while handle.write(b"\0" * 4096):
                pass
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A real, full filesystem (a 64 KiB tmpfs filled up); skipped where mounting is not permitted."""
    where = tmp_path / "full"
    where.mkdir()
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root on Linux")
    try:
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(where)], capture_output=True, check=False
        )
    except OSError as exc:
        pytest.skip(f"cannot run mount: {exc}")
    if mounted.returncode != 0:
        pytest.skip(f"mounting a small tmpfs is not permitted here: {mounted.stderr.decode().strip()}")
    try:
        _fill(where)
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=False)


def test_every_command_that_writes_a_file_fails_cleanly_on_a_full_disk(
    log: Path, built: tuple[Path, Signer], tmp_path: Path, full_disk: Path
) -> None:
    key, pub = keys(tmp_path)
    cp1 = tmp_path / "cp1.txt"
    assert checkpoint_cli(log, key, cp1).exit_code == 0
    mixed_workload(SQLiteStore(log), clients=1, seed=80)
    cp2 = tmp_path / "cp2.txt"
    assert checkpoint_cli(log, key, cp2).exit_code == 0
    proof = tmp_path / "p.json"
    assert (
        cli_run("audit", "prove", str(log), "--seq", "1", "--checkpoint", str(cp1), "--out", str(proof)).exit_code == 0
    )
    full = full_disk
    commands = {
        "checkpoint": (
            "audit",
            "checkpoint",
            str(log),
            "--key",
            str(key),
            "--origin",
            "test/log",
            "--out",
            str(full / "cp.txt"),
        ),
        "prove": ("audit", "prove", str(log), "--seq", "1", "--checkpoint", str(cp1), "--out", str(full / "p.json")),
        "consistency": (
            "audit",
            "consistency",
            str(cp1),
            str(cp2),
            "--log",
            str(log),
            "--public-key",
            str(pub),
            "--out",
            str(full / "c.json"),
        ),
        "keygen": ("audit", "keygen", "--private", str(full / "n.key"), "--public", str(full / "n.pub")),
        "export": ("audit", "export", str(log), "--out", str(full / "bundle")),
        "report": ("audit", "report", str(log), "--out", str(full / "r.html"), "--lang", "en"),
        "report --json": (
            "audit",
            "report",
            str(log),
            "--out",
            str(tmp_path / "r.html"),
            "--json",
            str(full / "r.json"),
        ),
    }
    kept = SQLiteStore(log).latest_checkpoint()
    for name, args in commands.items():
        result = cli_run(*args)
        assert result.exit_code == 3, (name, result.output)
        assert "cannot write" in result.stderr and "No space left on device" in result.stderr, name
        assert sorted(p.name for p in full.iterdir()) == ["filler"], name
    assert SQLiteStore(log).latest_checkpoint() == kept  # the failed checkpoint was not kept either


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
            report = audit_verify.verify(store, deep=deep)
            assert not report.checks[0].ok and report.checks[0].seq == 1, deep
            assert report.checks[0].failure is not None
            assert "expected the record to say seq 1, found 0" in report.checks[0].failure.message


def _rewrite_version(path: Path, seq: int, version: str) -> None:
    from suitability.codec import canonical_bytes

    db = sqlite3.connect(path, isolation_level=None)
    db.execute("DROP TRIGGER records_no_update")
    record = orjson.loads(db.execute("SELECT data FROM records WHERE seq = ?", (seq,)).fetchone()[0])
    record["engine_version"] = version
    data = canonical_bytes(record)
    db.execute("UPDATE records SET data = ?, leaf = ? WHERE seq = ?", (data, leaf_hash(data), seq))
    db.close()


@pytest.mark.parametrize(
    ("version", "said"),
    [("9.0.0", "newer than this one"), ("0.1", "MAJOR.MINOR.PATCH"), ("0.0.9", "from 0.1.0 on"), ("01.1.0", "MAJOR")],
)
def test_replay_recomputes_a_record_only_with_the_derivation_of_its_engine_version(
    log: Path, version: str, said: str
) -> None:
    """A record written by an engine newer than the replaying one may derive its result in a way this
    one does not know: replay names it instead of judging it by today's rules (either way)."""
    from suitability.replay import DERIVATIONS, derivation

    assert derivation("0.1.0") == DERIVATIONS[-1][1] == "1"
    seq = first_of(log, "decision")
    _rewrite_version(log, seq, version)
    report = replay_log(SQLiteStore(log))
    assert [p.pointer for p in report.errors] == [f"/records/{seq}"] and said in report.errors[0].message
    assert not report.differences
