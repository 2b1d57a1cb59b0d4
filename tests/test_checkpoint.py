"""Signed checkpoints in the C2SP note format, with Ed25519 keys."""

from __future__ import annotations

import base64
import hashlib
import stat
from pathlib import Path

import pytest

from suitability.errors import InputError, IntegrityError
from suitability.log.checkpoint import (
    Checkpoint,
    Signer,
    Verifier,
    check_origin,
    open_note,
    split_note,
    write_key_pair,
)
from suitability.log.sqlite import SQLiteStore
from suitability.log.verify import sign_checkpoint

from .workload import mixed_workload

ROOT = bytes(range(32))


def test_keys_round_trip_in_note_format() -> None:
    signer = Signer.generate("broker-x")
    again = Signer.parse(signer.text())
    assert again == signer
    verifier = Verifier.parse(signer.verifier().text())
    assert verifier == signer.verifier()
    name, key_id, encoded = verifier.text().split("+", 2)
    assert name == "broker-x"
    assert len(bytes.fromhex(key_id)) == 4
    assert base64.b64decode(encoded)[:1] == b"\x01"
    assert signer.text().startswith("PRIVATE+KEY+broker-x+")


def test_signed_checkpoint_format_and_verification() -> None:
    signer = Signer.generate("log-key")
    note = Checkpoint("example.com/log", 7, ROOT).sign(signer)
    lines = note.split("\n")
    assert lines[:4] == ["example.com/log", "7", base64.b64encode(ROOT).decode(), ""]
    assert lines[4].startswith("\u2014 log-key ")
    assert open_note(note, signer.verifier()) == Checkpoint("example.com/log", 7, ROOT)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda n: n.replace("\n7\n", "\n8\n"),  # the size
        lambda n: n.replace("example.com/log", "example.com/lag"),  # the origin
        lambda n: n[:-6] + ("A" if n[-6] != "A" else "B") + n[-5:],  # the signature
    ],
)
def test_tampered_notes_are_refused(tamper) -> None:  # type: ignore[no-untyped-def]
    signer = Signer.generate("log-key")
    note = Checkpoint("example.com/log", 7, ROOT).sign(signer)
    with pytest.raises(IntegrityError, match="no valid signature"):
        open_note(tamper(note), signer.verifier())


def test_another_key_is_refused() -> None:
    note = Checkpoint("o", 1, ROOT).sign(Signer.generate("k"))
    with pytest.raises(IntegrityError):
        open_note(note, Signer.generate("k").verifier())


@pytest.mark.parametrize(
    "text", ["", "a+b", "k+zz+AAAA", "k+00000000+" + base64.b64encode(b"\x01" + bytes(32)).decode()]
)
def test_bad_verifier_keys(text: str) -> None:
    with pytest.raises(InputError):
        Verifier.parse(text)


def test_bad_signer_keys_and_names() -> None:
    with pytest.raises(InputError):
        Signer.parse("PRIVATE+KEY+x+00000000+AAAA")
    good = Signer.generate("k").text()
    with pytest.raises(InputError, match="key id"):
        Signer.parse(good.replace("+k+", "+j+"))
    with pytest.raises(InputError, match="key name"):
        Signer.generate("has space")


@pytest.mark.parametrize(
    "note", ["", "o\nx\nAAAA\n\n", "o\n1\nnot base64!\n\n", "o\n-1\n" + base64.b64encode(ROOT).decode() + "\n\n"]
)
def test_malformed_notes(note: str) -> None:
    with pytest.raises(InputError, match="not a checkpoint"):
        open_note(note, Signer.generate("k").verifier())


# --- C2SP signed-note rules (issue 10) ------------------------------------------------------


def signature_line(note: str) -> str:
    return note.rstrip("\n").rsplit("\n", 1)[1]


def bad_signature_line(signer: Signer) -> str:
    blob = signer.verifier().key_id + bytes(64)
    return f"\u2014 {signer.name} {base64.b64encode(blob).decode()}"


def test_a_bad_signature_by_the_trusted_key_rejects_the_note() -> None:
    """C2SP signed-note: a signature by a known key that fails makes the note invalid, even beside a valid one."""
    signer = Signer.generate("log-key")
    note = Checkpoint("example.com/log", 7, ROOT).sign(signer)
    good = signature_line(note)
    bad = bad_signature_line(signer)
    body = note[: note.rindex("\n\n") + 2]
    for lines in ([good, bad], [bad, good]):
        with pytest.raises(IntegrityError, match="a signature by it fails"):
            open_note(body + "\n".join(lines) + "\n", signer.verifier())
    # a signature by another key is ignored
    other = Checkpoint("example.com/log", 7, ROOT).sign(Signer.generate("witness"))
    cosigned = note + signature_line(other) + "\n"
    assert open_note(cosigned, signer.verifier()).size == 7


def test_the_text_ends_at_the_last_blank_line() -> None:
    """The signatures follow the last blank line: anything after a later blank line is not a signature."""
    signer = Signer.generate("log-key")
    note = Checkpoint("example.com/log", 7, ROOT).sign(signer)
    with pytest.raises(InputError, match="em dash"):
        open_note(note + "\nextra text\n", signer.verifier())
    text, signatures = split_note("a\n\nb\n\n" + signature_line(note) + "\n")
    assert text == "a\n\nb\n" and [s[0] for s in signatures] == ["log-key"]


@pytest.mark.parametrize("dash", ["-", "\u2013", "\u2015", "--"])
def test_only_the_em_dash_starts_a_signature_line(dash: str) -> None:
    signer = Signer.generate("log-key")
    note = Checkpoint("example.com/log", 7, ROOT).sign(signer)
    line = signature_line(note).replace("\u2014", dash)
    with pytest.raises(InputError, match="em dash"):
        open_note(note + line + "\n", signer.verifier())
    with pytest.raises(InputError, match="em dash"):
        open_note(note.replace("\u2014", dash), signer.verifier())


@pytest.mark.parametrize("name", ["", "has space", "tab\there", "no\u00a0break"])
def test_key_names_with_spaces_or_empty_are_refused(name: str) -> None:
    public = Signer.generate("k").verifier().public
    key_id = hashlib.sha256(name.encode() + b"\n\x01" + public).digest()[:4]
    encoded = base64.b64encode(b"\x01" + public).decode()
    text = f"{name}+{key_id.hex()}+{encoded}"
    with pytest.raises(InputError, match="key name"):
        Verifier.parse(text)
    seed = Signer.generate("k").seed
    signer = Signer(name, seed)
    encoded_seed = base64.b64encode(b"\x01" + seed).decode()
    with pytest.raises(InputError, match="key name"):
        Signer.parse(f"PRIVATE+KEY+{name}+{signer.verifier().key_id.hex()}+{encoded_seed}")
    with pytest.raises(InputError, match="key name"):
        Signer.generate(name)
    with pytest.raises(InputError, match="key name"):
        Signer.generate("plus+sign")


@pytest.mark.parametrize(
    "line",
    [
        "\u2014 has space AAAA",
        "\u2014  AAAAAAAAAAAAAAAAAAAAAAAA",
        "\u2014 k+x AAAAAAAAAAAAAAAA",
        "\u2014 k not-base64!",
        "\u2014 k AAAA",
    ],
)
def test_malformed_signature_lines(line: str) -> None:
    signer = Signer.generate("k")
    note = Checkpoint("o", 1, ROOT).sign(signer)
    with pytest.raises(InputError, match="not a checkpoint"):
        open_note(note + line + "\n", signer.verifier())


@pytest.mark.parametrize("origin", ["", "a\nb", "a\tb", " a", "a\x7f", "a\u2028b"])
def test_an_origin_is_one_printable_line(origin: str) -> None:
    with pytest.raises(InputError, match="bad checkpoint origin"):
        check_origin(origin)
    with pytest.raises(InputError, match="bad checkpoint origin"):
        Checkpoint(origin, 1, ROOT).sign(Signer.generate("k"))
    check_origin("example.com/log 2026")


def test_sizes_are_plain_decimal() -> None:
    signer = Signer.generate("k")
    for size_text in ("07", "+7", "\u0667", "7 "):
        note = Checkpoint("o", 7, ROOT).sign(signer).replace("\n7\n", f"\n{size_text}\n", 1)
        with pytest.raises(InputError, match="not a checkpoint"):
            open_note(note, signer.verifier())


@pytest.mark.parametrize(
    ("size", "root"),
    [("7", base64.b64encode(b"short").decode()), ("007", base64.b64encode(ROOT).decode()), ("-1", "AA==")],
)
def test_a_checkpoint_body_is_parsed_by_one_rule_signed_or_not(size: str, root: str) -> None:
    """unverified (prove without a key, copy) reads a body exactly as open_note does: a short root or a
    size with leading zeros is malformed either way (unverified took them before)."""
    from suitability.log.checkpoint import unverified

    signer = Signer.generate("k")
    good = Checkpoint("example.com/log", 7, ROOT).sign(signer)
    assert unverified(good, "cp") == open_note(good, signer.verifier()) == Checkpoint("example.com/log", 7, ROOT)
    assert unverified(Checkpoint("o", 3, ROOT).body(), "cp") == Checkpoint("o", 3, ROOT)
    body = f"example.com/log\n{size}\n{root}\n"
    note = (
        body + "\n\u2014 k " + base64.b64encode(signer.verifier().key_id + signer.sign(body.encode())).decode() + "\n"
    )
    for read in (lambda: unverified(note, "cp"), lambda: open_note(note, signer.verifier(), "cp")):
        with pytest.raises(InputError, match="is not a checkpoint") as caught:
            read()
        assert "32-byte root" in caught.value.render()


# --- a key pair on disk ---------------------------------------------------------------------------


def test_a_key_pair_is_written_with_a_private_signing_key(tmp_path: Path) -> None:
    private, public = tmp_path / "log.key", tmp_path / "log.pub"
    signer = write_key_pair(private, public, "broker-x")
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert Signer.parse(private.read_text()) == signer
    assert Verifier.parse(public.read_text()) == signer.verifier()
    assert public.read_text() == signer.verifier().text() + "\n"


def test_a_key_is_never_overwritten(tmp_path: Path) -> None:
    private, public = tmp_path / "log.key", tmp_path / "log.pub"
    public.write_text("the key a regulator already holds\n")
    with pytest.raises(InputError, match="exists") as caught:
        write_key_pair(private, public)
    assert caught.value.problems[0].source == str(public)
    assert public.read_text() == "the key a regulator already holds\n"
    assert not private.exists()  # checked before anything is written


@pytest.mark.parametrize("where", ["no-such-folder/log.pub", "dangling-link"])
def test_a_signing_key_is_not_left_behind_when_its_verifier_key_cannot_be_written(tmp_path: Path, where: str) -> None:
    private, public = tmp_path / "log.key", tmp_path / where
    if where == "dangling-link":
        public.symlink_to(tmp_path / "elsewhere")  # not there when checked, refused when linked in
    with pytest.raises(InputError):
        write_key_pair(private, public)
    assert not private.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ([] if where != "dangling-link" else ["dangling-link"])


def test_a_bad_key_name_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="bad key name"):
        write_key_pair(tmp_path / "k", tmp_path / "p", "two words")
    assert list(tmp_path.iterdir()) == []


# --- signing a checkpoint: verify, sign, write, keep ------------------------------------------------


def test_a_signed_checkpoint_is_written_and_kept_with_the_log(tmp_path: Path) -> None:
    """The next checkpoint is checked against the latest one kept, so signing keeps what it signed."""
    signer = Signer.generate("broker-x")
    with SQLiteStore(tmp_path / "log.sqlite3") as store:
        mixed_workload(store, clients=1)
        out = tmp_path / "cp-1.txt"
        made = sign_checkpoint(store, signer, "broker-x/suitability", out=out)
        assert out.read_text() == made.note
        assert store.latest_checkpoint() == made.note
        (kept,) = store.checkpoints()
        assert (kept.size, kept.public_key) == (store.size(), signer.verifier().text())
        assert open_note(made.note, signer.verifier()).size == store.size()
        # without a file to write, it is still kept; and the second is proven consistent with the first
        mixed_workload(store, clients=1, seed=2)
        again = sign_checkpoint(store, signer, "broker-x/suitability")
        assert [source for source, _ in again.consistent_with] == [
            f"{store.location} (latest checkpoint kept with the log)"
        ]
        assert store.latest_checkpoint() == again.note and len(store.checkpoints()) == 2


def test_a_checkpoint_that_cannot_be_written_is_not_kept(tmp_path: Path) -> None:
    signer = Signer.generate("broker-x")
    with SQLiteStore(tmp_path / "log.sqlite3") as store:
        mixed_workload(store, clients=1)
        with pytest.raises(InputError, match="cannot write"):
            sign_checkpoint(store, signer, "broker-x/suitability", out=tmp_path / "no-such-folder" / "cp.txt")
        assert store.checkpoints() == []


def test_an_existing_checkpoint_file_is_replaced_only_when_asked(tmp_path: Path) -> None:
    signer = Signer.generate("broker-x")
    out = tmp_path / "cp-1.txt"
    with SQLiteStore(tmp_path / "log.sqlite3") as store:
        mixed_workload(store, clients=1)
        first = sign_checkpoint(store, signer, "broker-x/suitability", out=out)
        mixed_workload(store, clients=1, seed=2)
        with pytest.raises(InputError, match="exists"):
            sign_checkpoint(store, signer, "broker-x/suitability", out=out)
        assert out.read_text() == first.note and len(store.checkpoints()) == 1
        second = sign_checkpoint(store, signer, "broker-x/suitability", out=out, replace=True)
        assert out.read_text() == second.note != first.note and len(store.checkpoints()) == 2
