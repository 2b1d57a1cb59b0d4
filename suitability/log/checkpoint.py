"""Signed checkpoints: C2SP signed notes carrying a log's size and root, with Ed25519.

A checkpoint body (C2SP ``tlog-checkpoint``) is three lines: the origin, the tree size in decimal
and the base64 root hash. A signed note (C2SP ``signed-note``) appends a blank line and one line per
signature: ``— <key name> <base64(key id ‖ signature)>``, where the key id is the first four bytes
of ``SHA-256(key name ‖ "\\n" ‖ 0x01 ‖ public key)`` and the signature is Ed25519 over the body.

Keys are strings in the note format: a verifier key ``<name>+<hex key id>+<base64(0x01 ‖ public
key)>`` and a signer key ``PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 ‖ seed)>``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from .._output import write_atomic
from ..errors import InputError, IntegrityError, Problem

_ED25519 = b"\x01"
_DASH = "\u2014"


def _key_id(name: str, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + _ED25519 + public).digest()[:4]


def _check_name(name: str, source: str | None = None) -> None:
    if not _valid_name(name):
        raise InputError(
            "bad key name",
            [Problem(f"expected a non-empty key name without spaces or '+', found {name!r}", source=source)],
        )


@dataclass(frozen=True)
class Verifier:
    """An Ed25519 note verifier key."""

    name: str
    key_id: bytes
    public: bytes

    @classmethod
    def parse(cls, text: str, source: str = "<key>") -> Verifier:
        """Parse ``<name>+<hex key id>+<base64(0x01 ‖ key)>``.

        Raises:
            InputError: the text is not such a key, or its key id does not match.
        """
        parts = text.strip().split("+", 2)  # the base64 key may itself hold '+'
        try:
            name, hex_id, encoded = parts
            key_id = bytes.fromhex(hex_id)
            raw = base64.b64decode(encoded, validate=True)
        except (ValueError, binascii.Error):
            raise InputError(
                f"{source} is not a public key",
                [Problem("expected <name>+<8 hex digits>+<base64 key> (a note verifier key)", source=source)],
            ) from None
        _check_name(name, source)
        if raw[:1] != _ED25519 or len(raw) != 33 or _key_id(name, raw[1:]) != key_id:
            raise InputError(
                f"{source} is not a valid Ed25519 verifier key",
                [Problem("expected an Ed25519 key whose key id matches its name and bytes", source=source)],
            )
        return cls(name, key_id, raw[1:])

    def text(self) -> str:
        """Return the key in note verifier format."""
        return f"{self.name}+{self.key_id.hex()}+{base64.b64encode(_ED25519 + self.public).decode()}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Return whether ``signature`` is this key's Ed25519 signature of ``message``."""
        try:
            Ed25519PublicKey.from_public_bytes(self.public).verify(signature, message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class Signer:
    """An Ed25519 note signer key."""

    name: str
    seed: bytes

    @classmethod
    def generate(cls, name: str) -> Signer:
        """Return a new random key named ``name``."""
        _check_name(name)
        private = Ed25519PrivateKey.generate()
        from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

        return cls(name, private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()))

    @classmethod
    def parse(cls, text: str, source: str = "<key>") -> Signer:
        """Parse ``PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 ‖ seed)>``.

        Raises:
            InputError: the text is not such a key.
        """
        parts = text.strip().split("+", 4)
        try:
            private, key, name, hex_id, encoded = parts
            raw = base64.b64decode(encoded, validate=True)
            key_id = bytes.fromhex(hex_id)
        except (ValueError, binascii.Error):
            raise InputError(
                f"{source} is not a private key",
                [Problem("expected PRIVATE+KEY+<name>+<8 hex digits>+<base64 seed>", source=source)],
            ) from None
        _check_name(name, source)
        signer = cls(name, raw[1:])
        if (private, key) != ("PRIVATE", "KEY") or raw[:1] != _ED25519 or len(raw) != 33:
            raise InputError(
                f"{source} is not an Ed25519 private key", [Problem("expected an Ed25519 seed", source=source)]
            )
        if signer.verifier().key_id != key_id:
            raise InputError(
                f"{source}: key id mismatch", [Problem("expected the key id of this name and key", source=source)]
            )
        return signer

    def verifier(self) -> Verifier:
        """Return the matching verifier key."""
        public = (
            Ed25519PrivateKey.from_private_bytes(self.seed).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        )
        return Verifier(self.name, _key_id(self.name, public), public)

    def text(self) -> str:
        """Return the key in note signer format (keep it secret)."""
        key_id = self.verifier().key_id
        return f"PRIVATE+KEY+{self.name}+{key_id.hex()}+{base64.b64encode(_ED25519 + self.seed).decode()}"

    def sign(self, message: bytes) -> bytes:
        """Return the Ed25519 signature of ``message``."""
        return Ed25519PrivateKey.from_private_bytes(self.seed).sign(message)


@dataclass(frozen=True)
class Checkpoint:
    """A log's origin, size and root hash at one moment."""

    origin: str
    size: int
    root: bytes

    def body(self) -> str:
        """Return the checkpoint body (C2SP tlog-checkpoint), ending with a newline."""
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"

    def sign(self, signer: Signer) -> str:
        """Return the checkpoint as a signed note.

        Raises:
            InputError: the origin is not one line of printable text.
        """
        check_origin(self.origin)
        body = self.body()
        signature = signer.sign(body.encode())
        line = base64.b64encode(signer.verifier().key_id + signature).decode()
        return f"{body}\n{_DASH} {signer.name} {line}\n"


_MAX_SIGNATURES = 100


def _malformed(source: str, message: str, line: int | None = None) -> InputError:
    return InputError(f"{source} is not a checkpoint", [Problem(message, source=source, line=line)])


def check_origin(origin: str, source: str = "--origin") -> None:
    """Refuse an origin that is not one line of printable text (C2SP tlog-checkpoint).

    Raises:
        InputError: the origin is empty, or holds a newline or another unprintable character.
    """
    if not origin or not origin.isprintable() or origin != origin.strip():
        raise InputError(
            "bad checkpoint origin",
            [
                Problem(
                    f"expected a non-empty line of printable text without leading or trailing space, found {origin!r}",
                    source=source,
                )
            ],
        )


def split_note(note: str, source: str = "<checkpoint>") -> tuple[str, list[tuple[str, bytes, bytes]]]:
    """Split a C2SP signed note into its text and its signature lines.

    The text ends at the **last** blank line (the text itself may hold blank lines, the signature
    block cannot); every line after it must be ``— <key name> <base64(key id ‖ signature)>``,
    with an em dash (U+2014) and a valid key name.

    Returns:
        The text (ending with a newline) and each signature as (key name, key id, signature).

    Raises:
        InputError: the note is malformed.
    """
    split = note.rfind("\n\n")
    if split < 0:
        raise _malformed(source, "expected the text, a blank line and signature lines")
    text, block = note[: split + 1], note[split + 2 :]
    for at, char in enumerate(text):
        if char != "\n" and (ord(char) < 0x20 or ord(char) == 0x7F):
            lineno = text.count("\n", 0, at) + 1
            raise _malformed(source, f"expected no control character in the text, found {char!r}", lineno)
    if not block.endswith("\n"):
        raise _malformed(source, "expected the signature block to end with a newline")
    first_line = text.count("\n") + 2
    signatures: list[tuple[str, bytes, bytes]] = []
    for offset, line in enumerate(block[:-1].split("\n")):
        number = first_line + offset
        if not line.startswith(_DASH + " "):
            raise _malformed(
                source, f"expected a signature line starting with an em dash (U+2014), found {line!r}", number
            )
        parts = line[2:].split(" ")
        if len(parts) != 2 or not _valid_name(parts[0]):
            raise _malformed(source, f"expected '\u2014 <key name> <base64 signature>', found {line!r}", number)
        try:
            raw = base64.b64decode(parts[1], validate=True)
        except binascii.Error:
            raise _malformed(source, f"expected a base64 signature, found {parts[1]!r}", number) from None
        if len(raw) < 5:
            raise _malformed(source, "expected a key id and a signature, found too few bytes", number)
        signatures.append((parts[0], raw[:4], raw[4:]))
    if not signatures:
        raise _malformed(source, "expected at least one signature line")
    if len(signatures) > _MAX_SIGNATURES:
        raise _malformed(source, f"expected at most {_MAX_SIGNATURES} signatures, found {len(signatures)}")
    return text, signatures


def _valid_name(name: str) -> bool:
    return bool(name) and "+" not in name and not any(ch.isspace() for ch in name)


def _body(text: str, source: str) -> Checkpoint:
    """Parse a checkpoint body (the text of a note, ending with a newline): the one body parser.

    Raises:
        InputError: not the origin, size and root lines (and optional extension lines), none empty,
            with a decimal size without leading zeros and a base64 32-byte root.
    """
    lines = text.split("\n")[:-1]
    if len(lines) < 3 or any(not line for line in lines):
        raise _malformed(source, "expected origin, size and root lines (and optional extension lines), none empty")
    origin, size_text, root_text = lines[0], lines[1], lines[2]
    try:
        root = base64.b64decode(root_text, validate=True)
    except binascii.Error:
        root = b""
    if not size_text.isascii() or not size_text.isdigit() or size_text != str(int(size_text)) or len(root) != 32:
        raise _malformed(
            source,
            f"expected a decimal size without leading zeros and a base64 32-byte root, found {size_text!r}, {root_text!r}",
            2,
        )
    return Checkpoint(origin, int(size_text), root)


def open_note(note: str, verifier: Verifier, source: str = "<checkpoint>") -> Checkpoint:
    """Check a signed checkpoint against ``verifier`` and return what it says.

    Follows C2SP signed-note: the text ends at the last blank line; a signature line by
    ``verifier`` (same name and key id) that does not verify makes the whole note invalid, even
    when another line by it does; lines by other keys are ignored.

    Raises:
        InputError: the note is not a well-formed signed checkpoint.
        IntegrityError: no valid signature by ``verifier``, or a bad one, is on it.
    """
    text, signatures = split_note(note, source)
    checkpoint = _body(text, source)
    message = text.encode()
    verified = False
    for name, key_id, signature in signatures:
        if name != verifier.name or key_id != verifier.key_id:
            continue
        if not verifier.verify(message, signature):
            raise IntegrityError(
                f"{source}: no valid signature by {verifier.name} (a signature by it fails)",
                [
                    Problem(
                        f"expected every signature by key {verifier.name}+{verifier.key_id.hex()} to verify, "
                        "found one that does not (the note was altered or forged)",
                        source=source,
                    )
                ],
            )
        verified = True
    if verified:
        return checkpoint
    raise IntegrityError(
        f"{source}: no valid signature by {verifier.name}",
        [
            Problem(
                f"expected a signature by key {verifier.name}+{verifier.key_id.hex()}, found none that verifies",
                source=source,
            )
        ],
    )


def unverified(note: str, source: str) -> Checkpoint:
    """Parse a checkpoint's origin, size and root without checking any signature (for display, or a
    note checked elsewhere): the body of ``note``, up to its last blank line, as :func:`open_note` reads it.

    Raises:
        InputError: the body is not a well-formed checkpoint.
    """
    end = note.rfind("\n\n")
    return _body(note[: end + 1] if end >= 0 else note.rstrip("\n") + "\n", source)


def write_key_pair(private_path: str | Path, public_path: str | Path, name: str = "suitability") -> Signer:
    """Make an Ed25519 key pair named ``name`` and write it: both files, or neither.

    The signing key goes to ``private_path`` with mode 0600, the verifier key to ``public_path``,
    each written whole (:func:`~suitability._output.write_atomic`) and never over an existing file.
    If the verifier key cannot be written, the signing key just written is removed: a signing key
    whose verifier key was never handed out is of no use.

    Returns:
        The new signer (its :meth:`Signer.verifier` is the key written to ``public_path``).

    Raises:
        InputError: either file exists, the name is not a valid key name, or a file could not be
            written whole; no key file is left behind.
    """
    for path in (private_path, public_path):
        if Path(path).exists():
            raise InputError(
                f"{path} exists",
                [Problem("expected a new file; an existing key is never overwritten", source=str(path))],
            )
    signer = Signer.generate(name)
    write_atomic(private_path, signer.text() + "\n", mode=0o600, exclusive=True)
    try:
        write_atomic(public_path, signer.verifier().text() + "\n", exclusive=True)
    except BaseException:
        Path(private_path).unlink()
        raise
    return signer
