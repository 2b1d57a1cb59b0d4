"""Record models carry no float field, so their canonical bytes need no float handling."""

from __future__ import annotations

import typing
from pathlib import Path

from pydantic import BaseModel

from suitability import Assessment, Client, Confirmation, Decision, Product


def float_fields(model: type[BaseModel], seen: set[type] | None = None) -> list[str]:
    seen = seen or set()
    found = []
    for name, info in model.model_fields.items():
        stack = [info.annotation]
        while stack:
            tp = stack.pop()
            if tp is float:
                found.append(f"{model.__name__}.{name}")
            stack.extend(typing.get_args(tp))
            if isinstance(tp, type) and issubclass(tp, BaseModel) and tp not in seen:
                seen.add(tp)
                found += float_fields(tp, seen)
    return found


def test_no_record_model_has_a_float_field() -> None:
    for model in (Assessment, Client, Confirmation, Decision, Product):
        assert float_fields(model) == []


def test_the_package_ships_its_type_information() -> None:
    # PEP 561: apps type-check against the API only when the package says it is typed.
    import suitability

    assert (Path(suitability.__file__).parent / "py.typed").is_file()


def _typed_fields(view: type) -> tuple[set[str], set[str]]:
    hints = typing.get_type_hints(view, include_extras=True)
    optional = {k for k, v in hints.items() if typing.get_origin(v) is typing.NotRequired}
    return set(hints) - optional, set(hints)


def test_the_typed_views_read_every_record_of_the_golden_log(tmp_path: Path) -> None:
    """Every record of the log written before the move reads as the view of its type, field for field."""
    import shutil

    import pytest

    from suitability.log.sqlite import SQLiteStore
    from suitability.records import (
        ArtifactRecord,
        AssessmentRecord,
        ConfirmationRecord,
        DecisionRecord,
        UnknownRecord,
        read_record,
    )

    from .conftest import DATA

    views: dict[str, type] = {
        "artifact": ArtifactRecord,
        "assessment": AssessmentRecord,
        "decision": DecisionRecord,
        "confirmation": ConfirmationRecord,
    }
    shutil.copy(DATA / "golden" / "log.sqlite3", tmp_path / "log.sqlite3")
    seen = set()
    with SQLiteStore(tmp_path / "log.sqlite3", create=False) as store:
        for seq, data, _ in store.scan():
            record = read_record(data)
            required, known = _typed_fields(views[record["type"]])
            assert required <= set(record) <= known, (seq, set(record) ^ known)
            assert record["seq"] == seq
            ref = record.get("questionnaire") or record.get("policy")
            if ref is not None:
                assert set(ref) == {"id", "version", "hash"}
            seen.add(record["type"])
    assert seen == set(views)
    for wrong in (b'{"type": "note"}', b"[1]", b'"artifact"'):
        with pytest.raises(UnknownRecord, match="expected a record type among artifact, assessment"):
            read_record(wrong)
