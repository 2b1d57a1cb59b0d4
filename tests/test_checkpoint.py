"""Signed checkpoints in the C2SP note format, with Ed25519 keys."""

from __future__ import annotations

import base64

import pytest

from suitability.checkpoint import Checkpoint, Signer, Verifier, open_note
from suitability.errors import InputError, IntegrityError

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
