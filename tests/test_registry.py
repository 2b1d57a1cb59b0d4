"""The registry: bundled and extra folders, id@version, active versions, conflicts, bad references."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from suitability import (
    DocumentConflictError,
    DocumentError,
    DocumentNotActiveError,
    Registry,
    UnknownDocumentError,
)
from suitability.registry import ENV_VAR, bundled_folders, parse_ref

from .conftest import DATA, QUESTIONNAIRE_FILE, load


def write(folder: Path, name: str, doc: Any) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


def version_of(doc: dict[str, Any], version: str, status: str, effective_from: str) -> dict[str, Any]:
    return {**doc, "version": version, "status": status, "effective_from": effective_from}


def test_bundled_documents(registry: Registry) -> None:
    assert [e.ref for e in registry.entries("questionnaire")] == ["cn-securities-individual@2026.1"]
    assert [e.ref for e in registry.entries("policy")] == ["cn-bank-wm@2026.1", "cn-csrc@2026.1"]
    assert all(folder.is_dir() for folder in bundled_folders())


def test_active_version_is_the_latest_effective(tmp_path: Path) -> None:
    doc = load(QUESTIONNAIRE_FILE)
    write(tmp_path, "a.json", version_of(doc, "2027.1", "active", "2027-01-01"))
    write(tmp_path, "sub/b.json", version_of(doc, "2027.2", "draft", "2027-06-01"))
    write(tmp_path, "sub/c.json", version_of(doc, "2028.1", "retired", "2028-01-01"))
    write(tmp_path, "answers.json", {"answers": {}})  # not a document: skipped
    registry = Registry.default([tmp_path], environ={})
    assert registry.questionnaire("cn-securities-individual").version == "2027.1"
    assert registry.questionnaire("cn-securities-individual@2026.1").version == "2026.1"
    assert registry.questionnaire("cn-securities-individual@2027.2").status == "draft"
    with pytest.raises(DocumentNotActiveError, match="retired"):
        registry.questionnaire("cn-securities-individual@2028.1", allow_retired=False)
    assert registry.questionnaire("cn-securities-individual@2028.1").status == "retired"


def test_environment_variable_names_folders(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    doc = load(QUESTIONNAIRE_FILE)
    write(one, "x.json", version_of(doc, "3000.1", "draft", "2030-01-01"))
    write(two, "y.json", version_of(doc, "3000.2", "draft", "2030-01-01"))
    registry = Registry.default(environ={ENV_VAR: f"{one}{os.pathsep}{two}"})
    versions = [e.version for e in registry.entries("questionnaire")]
    assert versions == ["2026.1", "3000.1", "3000.2"]


def test_same_identity_same_content_is_one_document(tmp_path: Path) -> None:
    doc = load(QUESTIONNAIRE_FILE)
    write(tmp_path, "copy.json", dict(reversed(list(doc.items()))))  # other key order, same hash
    registry = Registry.default([tmp_path], environ={})
    assert len(registry.entries("questionnaire")) == 1


def test_same_identity_different_content_is_refused(tmp_path: Path) -> None:
    doc = load(QUESTIONNAIRE_FILE)
    doc["title"]["en"] = "Edited in place"
    path = write(tmp_path, "edited.json", doc)
    with pytest.raises(DocumentConflictError) as exc:
        Registry.default([tmp_path], environ={})
    text = exc.value.render()
    assert "cn-securities-individual@2026.1" in text
    assert str(path) in text
    assert exc.value.exit_code == 5


def test_unknown_documents_say_what_exists(registry: Registry) -> None:
    with pytest.raises(UnknownDocumentError, match=r"versions of cn-csrc: cn-csrc@2026.1 \(active\)"):
        registry.policy("cn-csrc@1999.1")
    with pytest.raises(UnknownDocumentError, match="cn-bank-wm"):
        registry.policy("mifid")


@pytest.mark.parametrize("ref", ["../x", "a/b", "x@../1", "", "UPPER", "a@"])
def test_references_with_path_characters_are_refused(ref: str) -> None:
    if ref == "a@":
        assert parse_ref(ref) == ("a", None)
        return
    with pytest.raises(UnknownDocumentError, match="no path characters"):
        parse_ref(ref)


def test_documents_with_path_ids_are_refused(tmp_path: Path) -> None:
    registry = Registry()
    with pytest.raises(UnknownDocumentError, match="plain id"):
        registry.add_file(DATA / "questionnaire-path-id.json")


def test_a_file_is_registered_for_the_run_and_validated(registry: Registry) -> None:
    fresh = Registry.default(environ={})
    retired = fresh.load_file("questionnaire", DATA / "questionnaire-retired.json")
    assert retired.version == "2025.1"
    assert "cn-securities-individual@2025.1" in [e.ref for e in fresh.entries()]
    with pytest.raises(DocumentNotActiveError):
        fresh.load_file("questionnaire", DATA / "questionnaire-retired.json", allow_retired=False)
    with pytest.raises(DocumentConflictError):
        fresh.load_file("questionnaire", DATA / "questionnaire-many-problems.json")
    with pytest.raises(DocumentError):
        Registry().load_file("questionnaire", DATA / "questionnaire-many-problems.json")
    with pytest.raises(UnknownDocumentError, match="not a questionnaire"):
        Registry().load_file("questionnaire", DATA / "policy-not-monotone.json")
    with pytest.raises(UnknownDocumentError, match="not a document"):
        Registry().add_file(DATA / "answers-wrong-type.json")


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(UnknownDocumentError, match="no document folder"):
        Registry.default([tmp_path / "nope"], environ={})
