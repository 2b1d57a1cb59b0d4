"""How the golden log beside this script was made (run once, from the repository root, at the commit
that added it: the last commit before the package moved into its log/ and review/ rooms).

    PYTHONPATH=. python tests/data/golden/make_golden.py

It writes ``log.sqlite3`` (a mixed workload of assessments, decisions, confirmations and screens,
a few under a pseudonymization key), ``golden.key``/``golden.pub`` (a test-only key pair),
``checkpoint.txt`` (signed over the whole log and kept in it) and ``bundle/`` (its export).
``tests/test_golden.py`` checks that today's code verifies, replays and exports it byte for byte.
Never regenerate these files to make a test pass: a difference means the record format changed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from suitability.engine import Engine
from suitability.log.checkpoint import Checkpoint, Signer
from suitability.log.export import export
from suitability.log.merkle import root
from suitability.log.sqlite import SQLiteStore
from tests.workload import REGISTRY, mixed_workload

HERE = Path(__file__).resolve().parent


def main() -> None:
    for name in ("log.sqlite3", "log.sqlite3-wal", "log.sqlite3-shm", "checkpoint.txt"):
        (HERE / name).unlink(missing_ok=True)
    shutil.rmtree(HERE / "bundle", ignore_errors=True)
    store = SQLiteStore(HERE / "log.sqlite3")
    mixed_workload(store, clients=4, seed=11)
    mixed_workload(store, clients=2, seed=12, engine=Engine(REGISTRY, store, pseudonym_key=b"golden test key"))
    signer = Signer.generate("golden-test")
    (HERE / "golden.key").write_text(signer.text() + "\n", encoding="utf-8")
    (HERE / "golden.pub").write_text(signer.verifier().text() + "\n", encoding="utf-8")
    leaves = [leaf for _, _, leaf in store.scan()]
    note = Checkpoint("suitability/golden", len(leaves), root(leaves)).sign(signer)
    store.add_checkpoint(len(leaves), note, signer.verifier().text())
    (HERE / "checkpoint.txt").write_text(note, encoding="utf-8")
    export(store, HERE / "bundle")
    store.close()


if __name__ == "__main__":
    main()
