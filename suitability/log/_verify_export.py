#!/usr/bin/env python3
"""Check a suitability decision-log export with nothing but Python's standard library.

Usage: python verify.py [FOLDER] --public-key FILE|KEY --origin ORIGIN
       (FOLDER defaults to the folder this script is in)

It trusts only the verifier key you give it (a file holding a note verifier key, or the key text
``<name>+<hex key id>+<base64 key>``), obtained from the firm by a channel you trust; the bundle's
own public-key.txt is shown as a hint and never used. It reads records.jsonl (the exact record
bytes, one a line) and checkpoint.txt (a C2SP signed note), then:

1. checks the trusted key's id matches its name and bytes;
2. checks the checkpoint is a well-formed signed note carrying a valid Ed25519 signature by that
   key (RFC 8032, written out below), none of its signatures by that key failing, and that it
   names the origin you expect;
3. checks every record names its own position (seq 0, 1, 2, ...);
4. checks the export holds at least the N records the checkpoint covers;
5. recomputes the RFC 6962 Merkle root of the first N records, with leaf = SHA-256(0x00 || record)
   and node = SHA-256(0x01 || left || right), and compares it with the signed root.

It prints each step and exits 0 when all pass, 1 otherwise (2 for a missing argument).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import sys
from pathlib import Path

# --- Ed25519 verification, after the reference code of RFC 8032 §6 ---------------------------
P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)
Point = tuple[int, int, int, int]


def _add(a: Point, b: Point) -> Point:
    x = (a[1] - a[0]) * (b[1] - b[0]) % P
    y = (a[1] + a[0]) * (b[1] + b[0]) % P
    c = 2 * a[3] * b[3] * D % P
    d = 2 * a[2] * b[2] % P
    e, f, g, h = y - x, d - c, d + c, y + x
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _mul(s: int, point: Point) -> Point:
    result: Point = (0, 1, 1, 0)
    while s > 0:
        if s & 1:
            result = _add(result, point)
        point = _add(point, point)
        s >>= 1
    return result


def _equal(a: Point, b: Point) -> bool:
    return (a[0] * b[2] - b[0] * a[2]) % P == 0 and (a[1] * b[2] - b[1] * a[2]) % P == 0


def _recover_x(y: int, sign: int) -> int | None:
    if y >= P:
        return None
    # Reduced mod p: y = p - 1 gives y*y - 1 = 0 (mod p) though not as an integer, and x = 0 with
    # the sign bit set must then be refused (RFC 8032 §5.1.3 step 4; ed25519-speccheck case 9).
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P) % P
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P != 0:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P != 0:
        return None
    if (x & 1) != sign:
        x = P - x
    return x


def _decompress(data: bytes) -> Point | None:
    if len(data) != 32:
        return None
    y = int.from_bytes(data, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = _recover_x(y, sign)
    return None if x is None else (x, y, 1, x * y % P)


_GY = 4 * pow(5, P - 2, P) % P
_GX = _recover_x(_GY, 0) or 0
BASE: Point = (_GX, _GY, 1, _GX * _GY % P)


def ed25519_verify(public: bytes, message: bytes, signature: bytes) -> bool:
    """Verify an Ed25519 signature (RFC 8032 §5.1.7)."""
    if len(public) != 32 or len(signature) != 64:
        return False
    a = _decompress(public)
    r = _decompress(signature[:32])
    if a is None or r is None:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= L:
        return False
    h = int.from_bytes(hashlib.sha512(signature[:32] + public + message).digest(), "little") % L
    return _equal(_mul(s, BASE), _add(r, _mul(h, a)))


# --- RFC 6962 Merkle root ------------------------------------------------------------------


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


class Root:
    """The root of a growing list of leaves in O(log n) memory."""

    def __init__(self) -> None:
        self.stack: list[tuple[int, bytes]] = []

    def push(self, leaf: bytes) -> None:
        size, node = 1, leaf
        while self.stack and self.stack[-1][0] == size:
            node = _node(self.stack.pop()[1], node)
            size *= 2
        self.stack.append((size, node))

    def value(self) -> bytes:
        if not self.stack:
            return hashlib.sha256(b"").digest()
        node = self.stack[-1][1]
        for _, left in reversed(self.stack[:-1]):
            node = _node(left, node)
        return node


_DASH = "\u2014"


class BadInput(Exception):
    """An input file that is not what it should be."""


def parse_key(text: str) -> tuple[str, bytes, bytes]:
    """Parse a note verifier key: return its name, key id and Ed25519 public key."""
    parts = text.strip().split("+", 2)
    if len(parts) != 3:
        raise BadInput(f"expected <name>+<hex key id>+<base64 key>, found {text.strip()[:80]!r}")
    name, key_id_hex, encoded = parts
    if not name or any(ch.isspace() for ch in name):
        raise BadInput(f"expected a key name without spaces, found {name!r}")
    try:
        key_id = bytes.fromhex(key_id_hex)
        key_bytes = base64.b64decode(encoded, validate=True)
    except (ValueError, binascii.Error):
        raise BadInput("expected a hex key id and a base64 key") from None
    if key_bytes[:1] != b"\x01" or len(key_bytes) != 33:
        raise BadInput("expected an Ed25519 key (0x01 and 32 bytes)")
    public = key_bytes[1:]
    if hashlib.sha256(name.encode() + b"\n" + b"\x01" + public).digest()[:4] != key_id:
        raise BadInput(f"expected the key id of name {name!r} and these key bytes, found {key_id_hex}")
    return name, key_id, public


def split_note(note: str) -> tuple[str, list[tuple[str, bytes]]]:
    """Split a C2SP signed note at its last blank line: the text, and each (key name, key id + signature)."""
    split = note.rfind("\n\n")
    if split < 0:
        raise BadInput("expected the text, a blank line and signature lines")
    text, block = note[: split + 1], note[split + 2 :]
    if any(ch != "\n" and (ord(ch) < 0x20 or ord(ch) == 0x7F) for ch in text):
        raise BadInput("expected no control character in the note text")
    if not block.endswith("\n"):
        raise BadInput("expected the signature block to end with a newline")
    signatures = []
    for line in block[:-1].split("\n"):
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != _DASH or not parts[1] or "+" in parts[1]:
            raise BadInput(f"expected a signature line '\u2014 <key name> <base64>', found {line[:80]!r}")
        try:
            blob = base64.b64decode(parts[2], validate=True)
        except binascii.Error:
            raise BadInput(f"expected a base64 signature, found {parts[2][:80]!r}") from None
        if len(blob) < 5:
            raise BadInput("expected a key id and a signature")
        signatures.append((parts[1], blob))
    return text, signatures


def main(folder: Path, trusted_key: str, origin: str) -> int:
    """Run the checks on the bundle in ``folder`` against ``trusted_key`` and ``origin``; return the exit status."""
    failures = 0

    def step(number: int, ok: bool, text: str) -> None:
        nonlocal failures
        failures += 0 if ok else 1
        print(f"({number}) {'ok  ' if ok else 'FAIL'} {text}")

    hint = folder / "public-key.txt"
    if hint.is_file():
        print(
            f"    the bundle names the key {hint.read_text(encoding='utf-8', errors='replace').strip()} (a hint, not trusted)"
        )
    # (1) the trusted key
    try:
        name, key_id, public = parse_key(trusted_key)
    except BadInput as exc:
        step(1, False, f"the trusted key: {exc}")
        print("NOT VERIFIED (no usable trusted key)")
        return 1
    step(1, True, f"trusted key {name}+{key_id.hex()}")
    # (2) the checkpoint: well formed, signed by the trusted key (no bad signature by it), our origin
    note = (folder / "checkpoint.txt").read_text(encoding="utf-8")
    text, signatures = split_note(note)
    lines = text.split("\n")[:-1]
    if len(lines) < 3 or not all(lines):
        raise BadInput("expected a checkpoint: origin, size and root lines")
    cp_origin, size_text, root_text = lines[:3]
    if not (size_text.isascii() and size_text.isdigit() and size_text == str(int(size_text))):
        raise BadInput(f"expected a decimal tree size, found {size_text!r}")
    size, signed_root = int(size_text), base64.b64decode(root_text, validate=True)
    verdicts = [
        ed25519_verify(public, text.encode(), blob[4:])
        for key_name, blob in signatures
        if key_name == name and blob[:4] == key_id
    ]
    signed = bool(verdicts) and all(verdicts)
    detail = "" if signed else " (no signature by it)" if not verdicts else " (a signature by it fails)"
    step(
        2, signed and cp_origin == origin, f"checkpoint of {cp_origin!r} (expected {origin!r}) signed by {name}{detail}"
    )
    # (3) positions and (4) the root of the first `size` records
    root, count, misplaced = Root(), 0, None
    with (folder / "records.jsonl").open("rb") as handle:
        for raw_line in handle:
            record: bytes = raw_line[:-1] if raw_line.endswith(b"\n") else raw_line
            try:
                own = json.loads(record).get("seq")
            except (ValueError, AttributeError):
                own = None
            if misplaced is None and (type(own) is not int or own != count):
                misplaced = count
            if count < size:
                root.push(hashlib.sha256(b"\x00" + record).digest())
            count += 1
    step(
        3,
        misplaced is None,
        f"{count} records, each at its own seq" + (f" (first misplaced: {misplaced})" if misplaced is not None else ""),
    )
    step(4, count >= size, f"the checkpoint covers {size} records, the export has {count}")
    # (5) the roots agree
    computed = root.value()
    step(
        5,
        computed == signed_root,
        f"root of the first {size} records {base64.b64encode(computed).decode()} (signed: {root_text})",
    )
    print("VERIFIED" if failures == 0 else f"NOT VERIFIED ({failures} check(s) failed)")
    return 0 if failures == 0 else 1


def run(argv: list[str]) -> int:
    """Parse the command line and run :func:`main`; malformed input is a failure, not a traceback."""
    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description="Check a suitability decision-log export (stdlib only).")
    parser.add_argument("folder", nargs="?", default=str(here), help="the bundle (default: this script's folder)")
    parser.add_argument("--public-key", required=True, help="the verifier key you trust: a file, or the key text")
    parser.add_argument("--origin", required=True, help="the origin (log name) the checkpoint must carry")
    args = parser.parse_args(argv)
    key_path = Path(args.public_key)
    try:
        trusted = key_path.read_text(encoding="utf-8") if key_path.is_file() else args.public_key
        return main(Path(args.folder), trusted, args.origin)
    except (OSError, UnicodeError, ValueError, BadInput) as exc:
        print(f"NOT VERIFIED: {type(exc).__name__}: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
