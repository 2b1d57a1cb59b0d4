"""API keys of the service: who is calling, and what they may do.

A key is ``suit_<id>_<secret>`` (the id names its entry, the secret is 32 random bytes in
base64url). The keys file stores, per key, its id, the actor it stands for, its role and the
SHA-256 of the whole key, never the key itself: ``keys add`` prints a new key once. A request
is authenticated by finding the entry by id and comparing hashes in constant time. The file is
read again when it changes, so ``keys revoke`` takes effect without a restart.

Roles: ``sales`` may assess, decide, confirm and recommend (and read); ``auditor`` may only read.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import orjson

from .._output import write_atomic
from ..codec import parse_json, read_bytes
from ..errors import InputError, Problem
from ..models import identifier_problem

FORMAT = "suitability-api-keys/1"
ROLES = ("sales", "auditor")
Role = Literal["sales", "auditor"]
_KEY = re.compile(r"suit_([0-9a-f]{16})_([A-Za-z0-9_-]{43})")


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: the key's id, the actor recorded for it, and its role."""

    key_id: str
    actor: str
    role: Role


@dataclass(frozen=True)
class KeyEntry:
    """One key as the file keeps it (its hash, never the key)."""

    id: str
    actor: str
    role: Role
    sha256: str
    created_at: str
    revoked_at: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "actor": self.actor,
            "role": self.role,
            "sha256": self.sha256,
            "created_at": self.created_at,
            "revoked_at": self.revoked_at,
        }


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("ascii")).hexdigest()


def _bad(path: str, message: str, at: str = "") -> InputError:
    return InputError(f"{path}: not a valid keys file", [Problem(message, at, source=path, code="KEYS_FILE_INVALID")])


def load_keys(path: str | Path) -> list[KeyEntry]:
    """Read the keys file at ``path`` (a missing file has no keys).

    Raises:
        InputError: the file is unreadable or not a keys file.
    """
    if not Path(path).exists():
        return []
    doc = parse_json(read_bytes(path), str(path))
    where = str(path)
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("keys"), list):
        raise _bad(where, f"expected an object with format {FORMAT!r} and a list of keys")
    entries: list[KeyEntry] = []
    for n, item in enumerate(doc["keys"]):
        at = f"/keys/{n}"
        if not isinstance(item, dict):
            raise _bad(where, "expected an object", at)
        for name in ("id", "actor", "role", "sha256", "created_at"):
            if not isinstance(item.get(name), str):
                raise _bad(where, f"expected {name} as a string, found {item.get(name)!r}", f"{at}/{name}")
        if item["role"] not in ROLES:
            raise _bad(where, f"expected a role of {', '.join(ROLES)}, found {item['role']!r}", f"{at}/role")
        if not re.fullmatch(r"[0-9a-f]{64}", item["sha256"]):
            raise _bad(where, "expected 64 lowercase hex digits", f"{at}/sha256")
        revoked = item.get("revoked_at")
        entries.append(
            KeyEntry(
                item["id"],
                item["actor"],
                item["role"],
                item["sha256"],
                item["created_at"],
                revoked if isinstance(revoked, str) else None,
            )
        )
    return entries


def _save(path: str | Path, entries: list[KeyEntry]) -> None:
    doc = {"format": FORMAT, "keys": [e.as_json() for e in entries]}
    write_atomic(path, orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n", mode=0o600)


def add_key(path: str | Path, actor: str, role: str) -> tuple[KeyEntry, str]:
    """Create a key for ``actor`` with ``role``; store its hash; return the entry and the key (shown once).

    Raises:
        InputError: the actor is not a readable identifier, the role is unknown, or the file is bad.
    """
    if (problem := identifier_problem(actor)) is not None:
        raise InputError("invalid actor", [Problem(problem, "/actor", code="IDENTIFIER_INVALID")])
    if role not in ROLES:
        raise InputError("invalid role", [Problem(f"expected one of {', '.join(ROLES)}, found {role!r}", "/role")])
    entries = load_keys(path)
    key_id = secrets.token_hex(8)
    key = f"suit_{key_id}_{secrets.token_urlsafe(32)}"
    entry = KeyEntry(key_id, actor, "sales" if role == "sales" else "auditor", _digest(key), _now())
    _save(path, [*entries, entry])
    return entry, key


def revoke_key(path: str | Path, key_id: str) -> KeyEntry:
    """Mark the key ``key_id`` revoked (it stays listed, so the file shows who had access when).

    Raises:
        InputError: no such key, or the file is bad.
    """
    entries = load_keys(path)
    for n, entry in enumerate(entries):
        if entry.id == key_id:
            if entry.revoked_at is None:
                entry = KeyEntry(entry.id, entry.actor, entry.role, entry.sha256, entry.created_at, _now())
                entries[n] = entry
                _save(path, entries)
            return entry
    raise InputError(f"{path}: no key {key_id!r}", [Problem(f"expected the id of a key in {path}, found {key_id!r}")])


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class KeyRing:
    """The keys a running service accepts, read again (at most once a second) when the file changes."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._checked = 0.0
        self._by_id: dict[str, KeyEntry] = {}
        self._reload()

    def _reload(self) -> None:
        try:
            st = os.stat(self.path)
            stamp: tuple[int, int] | None = (st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            stamp = None
        if stamp != self._stamp:
            self._by_id = {e.id: e for e in load_keys(self.path)}
            self._stamp = stamp

    def _fresh(self) -> dict[str, KeyEntry]:
        now = time.monotonic()
        if now - self._checked >= 1.0:
            with self._lock:
                if now - self._checked >= 1.0:
                    try:
                        self._reload()
                    except InputError:
                        self._by_id = {}  # a damaged file admits nobody until it is fixed
                    self._checked = now
        return self._by_id

    def has_keys(self) -> bool:
        """Whether any unrevoked key is known."""
        return any(e.revoked_at is None for e in self._fresh().values())

    def authenticate(self, key: str) -> Principal | None:
        """The principal ``key`` stands for, or None (unknown, malformed or revoked)."""
        match = _KEY.fullmatch(key)
        if match is None:
            return None
        entry = self._fresh().get(match.group(1))
        if entry is None or entry.revoked_at is not None:
            return None
        if not hmac.compare_digest(entry.sha256, _digest(key)):
            return None
        return Principal(entry.id, entry.actor, entry.role)
