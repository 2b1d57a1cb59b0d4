"""The registry: bundled and extra folders, id@version, active versions, conflicts, bad references."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from suitability import (
    DocumentConflictError,
    DocumentError,
    DocumentNotActiveError,
    InputError,
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
    assert [e.ref for e in registry.entries("questionnaire")] == [
        "cn-securities-individual@2026.1",
        "hk-bank-rpq@2026.1",
        "horizon-risk-chart@2026.1",
    ]
    assert [e.ref for e in registry.entries("policy")] == [
        "cn-bank-wm@2026.1",
        "cn-csrc@2026.1",
        "eu-priips-sri@2026.1",
    ]
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
    versions = [e.version for e in registry.entries("questionnaire") if e.id == "cn-securities-individual"]
    assert versions == ["2026.1", "3000.1", "3000.2"]


def test_same_identity_same_content_is_one_document(tmp_path: Path) -> None:
    doc = load(QUESTIONNAIRE_FILE)
    write(tmp_path, "copy.json", dict(reversed(list(doc.items()))))  # other key order, same hash
    registry = Registry.default([tmp_path], environ={})
    assert len([e for e in registry.entries("questionnaire") if e.id == "cn-securities-individual"]) == 1


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


# --- issue 10: one bad unrelated file does not stop the work on every other document ----------

BAD_FOLDER = DATA / "documents-bad-file"


def test_a_malformed_unrelated_file_is_skipped_and_reported() -> None:
    seen: list[tuple[Path, Exception]] = []
    registry = Registry.default([BAD_FOLDER], environ={}, on_problem=lambda f, e: seen.append((f, e)))
    assert registry.questionnaire("cn-securities-individual").version == "2026.1"
    skipped = sorted(str(f.relative_to(BAD_FOLDER)) for f, _ in registry.problems)
    assert skipped == ["cn-broken/2026.1.json", "notes.json"]
    assert [(f, type(e)) for f, e in seen] == [(f, type(e)) for f, e in registry.problems]
    assert all(isinstance(e, InputError) for _, e in registry.problems)


@pytest.mark.parametrize("ref", ["cn-broken", "cn-broken@2026.1"])
def test_asking_for_the_bad_file_s_own_id_gives_its_error(ref: str) -> None:
    registry = Registry.default([BAD_FOLDER], environ={})
    with pytest.raises(InputError) as exc:
        registry.questionnaire(ref)
    assert "cn-broken/2026.1.json" in exc.value.render()
    assert "invalid JSON" in exc.value.render()


def test_a_bad_file_named_for_an_id_is_not_passed_over_for_an_older_version(tmp_path: Path) -> None:
    """The skipped file may be the newest version: the registry fails closed, not silently older."""
    (tmp_path / "cn-securities-individual").mkdir()
    (tmp_path / "cn-securities-individual" / "2027.1.json").write_text("{", encoding="utf-8")
    registry = Registry.default([tmp_path], environ={})
    with pytest.raises(InputError):
        registry.questionnaire("cn-securities-individual")
    assert registry.questionnaire("cn-securities-individual@2026.1").version == "2026.1"


def test_unknown_ids_list_the_skipped_files() -> None:
    registry = Registry.default([BAD_FOLDER], environ={})
    with pytest.raises(UnknownDocumentError) as exc:
        registry.policy("mifid")
    assert "notes.json" in exc.value.render()


def test_a_document_without_a_usable_id_is_skipped_too(tmp_path: Path) -> None:
    write(tmp_path, "bad-id.json", {**load(QUESTIONNAIRE_FILE), "id": "../etc"})
    registry = Registry.default([tmp_path], environ={})
    ((file, error),) = registry.problems
    assert file.name == "bad-id.json"
    assert isinstance(error, UnknownDocumentError)
    assert registry.questionnaire("cn-securities-individual").version == "2026.1"


def test_a_fifo_under_a_folder_is_skipped_not_waited_on(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.json")
    done = subprocess.run(
        [sys.executable, "-c", f"from suitability import Registry; print(Registry.default([{str(tmp_path)!r}]).problems)"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "FIFO" in done.stdout


def test_a_document_is_resolved_from_a_file_or_a_reference(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What --questionnaire and --policy accept: an existing file, else id[@version]; the same for an embedding app."""
    from .conftest import CSRC_FILE

    fresh = Registry.default(environ={})
    by_ref = fresh.resolve_questionnaire("cn-securities-individual@2026.1")
    by_file = fresh.resolve_questionnaire(QUESTIONNAIRE_FILE)
    assert by_file.hash == by_ref.hash
    assert fresh.resolve_policy(str(CSRC_FILE)).hash == fresh.resolve_policy("cn-csrc").hash
    # a retired one is refused for new work, by reference or by file alike
    with pytest.raises(DocumentNotActiveError):
        fresh.resolve_questionnaire(DATA / "questionnaire-retired.json", allow_retired=False)
    assert fresh.resolve_questionnaire(DATA / "questionnaire-retired.json").version == "2025.1"
    with pytest.raises(DocumentNotActiveError):
        fresh.resolve_questionnaire("cn-securities-individual@2025.1", allow_retired=False)
    # a file of the other kind, and a path that is no file (so it must be a plain reference)
    with pytest.raises(UnknownDocumentError, match="not a policy"):
        Registry().resolve_policy(QUESTIONNAIRE_FILE)
    with pytest.raises(UnknownDocumentError, match="not a document reference"):
        Registry().resolve_questionnaire(tmp_path / "missing.json")
    # a file in the working folder named like a reference is taken as the file, as the CLI always did
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "cn-csrc", {**load(CSRC_FILE), "version": "9.9"})
    assert Registry.default(environ={}).resolve_policy("cn-csrc").version == "9.9"
