"""The demo log generator's defaults and the log it creates (its patterns are tested in test_review.py)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from suitability.errors import InputError, UnknownDocumentError
from suitability.log import SQLiteStore
from suitability.registry import Registry
from suitability.review import demo


def test_a_demo_log_is_created_with_the_default_documents(tmp_path: Path, registry: Registry) -> None:
    log = tmp_path / "demo.sqlite3"
    summary = demo.generate_log(log, registry, clients=3, seed=7)
    with SQLiteStore(log, create=False) as store:
        assert store.size() == summary.records > 0
        artifacts = {(r["kind"], r["id"]) for r in demo_artifacts(store)}
    assert artifacts == {("questionnaire", demo.QUESTIONNAIRE), ("policy", demo.POLICY)}
    assert demo.PUSHER in summary.actors  # patterns are planted unless asked not to be
    again = demo.generate_log(tmp_path / "again.sqlite3", registry, clients=3, seed=7)
    assert again.records == summary.records  # the same seed, the same log


def test_a_demo_never_writes_into_an_existing_log(tmp_path: Path, registry: Registry) -> None:
    log = tmp_path / "kept.sqlite3"
    log.write_bytes(b"someone's log")
    with pytest.raises(InputError, match="exists") as caught:
        demo.generate_log(log, registry, clients=1)
    assert "never writes into an existing log" in caught.value.problems[0].message
    assert log.read_bytes() == b"someone's log"


def test_an_unknown_document_leaves_no_empty_log_behind(tmp_path: Path, registry: Registry) -> None:
    log = tmp_path / "demo.sqlite3"
    with pytest.raises(UnknownDocumentError):
        demo.generate_log(log, registry, clients=1, policy="no-such-policy")
    assert not log.exists()


def demo_artifacts(store: SQLiteStore) -> list[dict[str, str]]:
    found = []
    for _, data, _ in store.scan():
        record = orjson.loads(data)
        if record["type"] == "artifact":
            found.append({"kind": record["document"]["kind"], "id": record["document"]["id"]})
    return found
