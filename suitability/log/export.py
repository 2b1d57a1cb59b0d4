"""Export and copy: a decision log leaves the firm as a bundle anyone can check.

:func:`export` writes the records, a checkpoint, a key hint and ``verify.py`` (standard library
only, trusting only the key and origin its user gives it); :func:`copy_log` copies a log into
another store byte for byte, so both have the same root.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

from .._output import atomic_folder, atomic_writer, write_atomic
from ..errors import LogError, Problem
from .store import LogStore, key_of

Progress = Callable[[int], None]


def export(
    store: LogStore,
    out: Path,
    *,
    note: str | None = None,
    public_key: str | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Write a self-contained bundle to ``out``: the records, a checkpoint, the key and ``verify.py``.

    ``records.jsonl`` holds the exact stored bytes, one record a line (canonical JSON has no raw
    newline). ``verify.py`` needs only Python's standard library, and trusts only the key and
    origin its user gives it: ``public-key.txt`` is a hint, never trusted.

    Raises:
        LogError: there is no checkpoint to export (make one with ``audit checkpoint``).
        InputError: the bundle could not be written whole (nothing is left half written).
    """
    note = note or store.latest_checkpoint()
    if note is None:
        raise LogError(
            f"no checkpoint kept with {store.location}",
            [Problem("expected a checkpoint: run `suitability audit checkpoint` first, or pass one")],
        )
    key = public_key or store.public_key()
    script = resources.files("suitability.log").joinpath("_verify_export.py").read_text(encoding="utf-8")
    count = 0
    # The bundle is written whole into a folder beside ``out`` and moved in at the end: a full disk
    # leaves no half bundle (and no records file that stops short of what the checkpoint covers).
    with atomic_folder(out) as staging:
        with atomic_writer(staging / "records.jsonl") as handle:
            for seq, data, _ in store.scan():
                handle.write(data + b"\n")
                count += 1
                if progress is not None and seq % 10_000 == 0:
                    progress(seq)
        if progress is not None:
            progress(count)
        write_atomic(staging / "checkpoint.txt", note)
        if key:
            write_atomic(staging / "public-key.txt", key + "\n")
        write_atomic(staging / "verify.py", script)
        manifest = {
            "records": count,
            "checkpoint": "checkpoint.txt",
            "public_key": "public-key.txt" if key else None,
            "verifier": "verify.py",
        }
        write_atomic(staging / "manifest.json", json.dumps(manifest, indent=2) + "\n")
    return manifest


def copy_log(source: LogStore, target: LogStore, *, progress: Progress | None = None) -> int:
    """Copy every record of ``source`` (exact bytes and leaf hashes) and its checkpoints to an empty ``target``.

    Returns the number of records copied; the target then has the source's root.

    Raises:
        LogError: the target is not empty.
    """

    if target.size():
        raise LogError(f"{target.location} is not empty", [Problem("expected an empty log to copy into")])
    batch: list[tuple[int, str, str | None, bytes, bytes]] = []
    count = 0
    for seq, data, leaf in source.scan():
        record = orjson.loads(data)
        batch.append((seq, str(record.get("type")), key_of(record), data, leaf))
        count += 1
        if len(batch) >= 5_000:
            target.append_raw(batch)
            batch = []
            if progress is not None:
                progress(count)
    target.append_raw(batch)
    target.analyze()  # a PostgreSQL target plans its lookups from fresh statistics
    for kept in source.checkpoints():  # every one, oldest first: each is evidence someone may hold
        target.add_checkpoint(kept.size, kept.note, kept.public_key)
    return count
