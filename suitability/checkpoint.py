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

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from .errors import InputError, IntegrityError, Problem

_ED25519 = b"\x01"
_DASH = "\u2014"


def _key_id(name: str, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + _ED25519 + public).digest()[:4]


def _check_name(name: str) -> None:
    if not name or "+" in name or any(ch.isspace() for ch in name):
        raise InputError("bad key name", [Problem(f"expected a key name without spaces or '+', found {name!r}")])


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
        """Return the checkpoint as a signed note."""
        body = self.body()
        signature = signer.sign(body.encode())
        line = base64.b64encode(signer.verifier().key_id + signature).decode()
        return f"{body}\n{_DASH} {signer.name} {line}\n"


def open_note(note: str, verifier: Verifier, source: str = "<checkpoint>") -> Checkpoint:
    """Check a signed checkpoint against ``verifier`` and return what it says.

    Raises:
        InputError: the note is not a checkpoint.
        IntegrityError: no valid signature by ``verifier`` is on it.
    """
    body, sep, signatures = note.partition("\n\n")
    lines = body.split("\n")
    if not sep or len(lines) < 3:
        raise InputError(
            f"{source} is not a checkpoint",
            [Problem("expected origin, size and root lines, a blank line and signatures", source=source)],
        )
    origin, size_text, root_text = lines[0], lines[1], lines[2]
    try:
        size = int(size_text)
        root = base64.b64decode(root_text, validate=True)
    except (ValueError, binascii.Error):
        raise InputError(
            f"{source} is not a checkpoint",
            [Problem(f"expected a size and a base64 root, found {size_text!r}, {root_text!r}", source=source, line=2)],
        ) from None
    if size < 0 or len(root) != 32 or not origin or size_text != str(size):
        raise InputError(
            f"{source} is not a checkpoint",
            [Problem("expected a non-negative size and a 32-byte root", source=source, line=2)],
        )
    message = (body + "\n").encode()
    for line in signatures.splitlines():
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != _DASH or parts[1] != verifier.name:
            continue
        try:
            raw = base64.b64decode(parts[2], validate=True)
        except binascii.Error:
            continue
        if raw[:4] == verifier.key_id and verifier.verify(message, raw[4:]):
            return Checkpoint(origin, size, root)
    raise IntegrityError(
        f"{source}: no valid signature by {verifier.name}",
        [
            Problem(
                f"expected a signature by key {verifier.name}+{verifier.key_id.hex()}, found none that verifies",
                source=source,
            )
        ],
    )
