#!/usr/bin/env python3
"""Check a suitability decision-log export with nothing but Python's standard library.

Usage: python verify.py [FOLDER]   (default: the folder this script is in)

It reads records.jsonl (the exact record bytes, one a line), checkpoint.txt (a C2SP signed note)
and public-key.txt (a note verifier key), then:

1. checks the key's id matches its name and bytes;
2. checks the checkpoint's Ed25519 signature (RFC 8032, written out below);
3. checks every record names its own position (seq 0, 1, 2, ...);
4. recomputes the RFC 6962 Merkle root of the first N records, N being the checkpoint's size,
   with leaf = SHA-256(0x00 || record) and node = SHA-256(0x01 || left || right);
5. compares it with the signed root.

It prints each step and exits 0 when all pass, 1 otherwise.
"""

from __future__ import annotations

import base64
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
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P)
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


def main(folder: Path) -> int:
    """Run the checks on the bundle in ``folder``; return the exit status."""
    failures = 0

    def step(number: int, ok: bool, text: str) -> None:
        nonlocal failures
        failures += 0 if ok else 1
        print(f"({number}) {'ok  ' if ok else 'FAIL'} {text}")

    # (1) the key
    name, key_id_hex, encoded = (folder / "public-key.txt").read_text(encoding="utf-8").strip().split("+", 2)
    key_bytes = base64.b64decode(encoded)
    public = key_bytes[1:]
    key_id = hashlib.sha256(name.encode() + b"\n" + b"\x01" + public).digest()[:4]
    step(1, key_bytes[:1] == b"\x01" and key_id.hex() == key_id_hex, f"public key {name}+{key_id_hex}")
    # (2) the checkpoint signature
    note = (folder / "checkpoint.txt").read_text(encoding="utf-8")
    body, _, signatures = note.partition("\n\n")
    origin, size_text, root_text = body.split("\n")[:3]
    signed = False
    for line in signatures.splitlines():
        parts = line.split(" ")
        if len(parts) == 3 and parts[1] == name:
            blob = base64.b64decode(parts[2])
            signed = signed or (blob[:4] == key_id and ed25519_verify(public, (body + "\n").encode(), blob[4:]))
    step(2, signed, f"checkpoint of {origin!r} signed by {name}")
    size, signed_root = int(size_text), base64.b64decode(root_text)
    # (3) positions and (4) the root of the first `size` records
    root, count, misplaced = Root(), 0, None
    with (folder / "records.jsonl").open("rb") as handle:
        for raw_line in handle:
            record: bytes = raw_line[:-1] if raw_line.endswith(b"\n") else raw_line
            if misplaced is None and json.loads(record).get("seq") != count:
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


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent))
