"""Document format 2 (issue 12): format-1 documents unchanged, ``upgrade``, and what format 2 adds."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from suitability import Client, Questionnaire
from suitability._schema import schema
from suitability.cli import cli
from suitability.conditions import Facts
from suitability.engine import Engine
from suitability.errors import DocumentError, ResponseError
from suitability.log.sqlite import SQLiteStore
from suitability.questionnaire import load_questionnaire, upgrade
from suitability.replay import replay as replay_log
from suitability.scoring import assess

from .conftest import AS_OF, QUESTIONNAIRE_FILE, load

V1 = load(QUESTIONNAIRE_FILE)
Q1 = load_questionnaire(V1)
Q2 = load_questionnaire(upgrade(V1))
CLIENT = Client(client_id="CN-000123", birth_date="1980-05-01")


@pytest.mark.parametrize("name", ["questionnaire-2", "policy-2"])
def test_format_2_schemas_ship_as_draft_2020_12(name: str) -> None:
    published = schema(name)
    assert published["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(published)
    assert published["properties"]["schema_version"] == {"const": 2}


def test_upgrade_declares_the_default_scale_and_changes_nothing_else() -> None:
    upgraded = upgrade(V1)
    assert upgraded["schema_version"] == 2 and V1["schema_version"] == 1  # the input is left as it was
    assert [level["id"] for level in upgraded["scale"]["levels"]] == ["C1", "C2", "C3", "C4", "C5"]
    assert upgraded["scale"]["levels"][2]["name"] == V1["bands"][2]["name"]
    assert {k: v for k, v in upgraded.items() if k not in ("schema_version", "scale")} == {
        k: v for k, v in V1.items() if k != "schema_version"
    }
    assert Q2.levels == Q1.levels and Q2.format == 2 and Q1.format == 1


def test_upgrading_a_format_2_document_is_a_document_error() -> None:
    with pytest.raises(DocumentError) as caught:
        upgrade(upgrade(V1))
    assert caught.value.problems[0].pointer == "/schema_version"


def _answer_sets() -> st.SearchStrategy[dict[str, Any]]:
    """Any answers to the bundled questionnaire, each enabled question answered or not (so that
    invalid sets are drawn too: a missing required answer, a wrong shape)."""
    per_question = {}
    for q in Q1.model.questions:
        ids = [o.id for o in q.options]
        choice = st.lists(st.sampled_from(ids), min_size=1, unique=True) if q.type == "multi" else st.sampled_from(ids)
        per_question[q.id] = st.one_of(st.none(), choice, choice, choice)  # mostly answered
    return st.fixed_dictionaries(per_question).map(_enabled_only)


def _enabled_only(drawn: dict[str, Any]) -> dict[str, Any]:
    chosen: dict[str, Any] = {}
    answers: dict[str, Any] = {}
    for q in Q1.questions:
        if q.enable is not None and not q.enable(Facts(chosen, {}, 0)):
            continue
        if drawn[q.id] is not None:
            answers[q.id] = drawn[q.id]
            chosen[q.id] = [drawn[q.id]] if isinstance(drawn[q.id], str) else drawn[q.id]
    return answers


def _outcome(q: Questionnaire, answers: dict[str, Any], client: Client | None) -> Any:
    try:
        a = assess(q, answers, client, AS_OF)
    except ResponseError as exc:
        return [(p.pointer, p.code, p.message) for p in exc.problems]
    kept = a.model_dump(mode="json", exclude={"id", "questionnaire", "format"})
    return kept


@settings(max_examples=300, deadline=None)
@given(answers=_answer_sets(), anonymous=st.booleans(), capable=st.booleans())
def test_the_upgraded_questionnaire_scores_every_answer_set_alike(
    answers: dict[str, Any], anonymous: bool, capable: bool
) -> None:
    client = None if anonymous else CLIENT.model_copy(update={"full_civil_capacity": capable})
    assert _outcome(Q1, answers, client) == _outcome(Q2, answers, client)


def test_a_format_2_assessment_names_its_format_and_a_format_1_one_is_unchanged(answers: dict[str, Any]) -> None:
    one, two = assess(Q1, answers, CLIENT, AS_OF), assess(Q2, answers, CLIENT, AS_OF)
    assert "format" not in one.model_dump(mode="json")  # the bytes recorded before format 2 existed
    assert two.model_dump(mode="json")["format"] == 2
    assert set(two.model_dump(mode="json")) - set(one.model_dump(mode="json")) == {"format"}


def test_a_log_with_both_formats_replays(tmp_path: Path, answers: dict[str, Any]) -> None:
    store = SQLiteStore(tmp_path / "log.sqlite3")
    engine = Engine(_registry(), store)
    engine.assess(Q1, answers, CLIENT, AS_OF)
    engine.assess(Q2, answers, CLIENT, AS_OF)
    records = [json.loads(data) for _, data, _ in store.scan()]
    assert [r["result"].get("format") for r in records if r["type"] == "assessment"] == [None, 2]
    report = replay_log(store)
    assert report.ok, report.differences or report.errors
    assert report.counts["assessment"] == 2


def _registry() -> Any:
    from suitability import Registry

    return Registry.default(environ={})


def test_cli_upgrade_writes_format_2_and_refuses_a_format_2_file(tmp_path: Path) -> None:
    out = tmp_path / "q2.json"
    run = CliRunner().invoke(cli, ["questionnaire", "upgrade", str(QUESTIONNAIRE_FILE), "-o", str(out)])
    assert run.exit_code == 0, run.output
    assert json.loads(out.read_text(encoding="utf-8")) == upgrade(V1)
    again = CliRunner().invoke(cli, ["questionnaire", "upgrade", str(out)])
    assert again.exit_code == 4 and "/schema_version" in again.output


def test_format_1_documents_still_refuse_format_2_fields() -> None:
    doc = copy.deepcopy(V1)
    doc["stops"] = []
    with pytest.raises(DocumentError) as caught:
        load_questionnaire(doc)
    assert any("stops" in p.message for p in caught.value.problems)
