"""Issue 12 item 6: numeric answers scored by ranges, an exclusive option in a multi-select, and
options disabled by an earlier answer (format 2)."""

from __future__ import annotations

import copy
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from suitability import Client
from suitability.errors import DocumentError, ResponseError
from suitability.questionnaire import load_questionnaire
from suitability.scoring import assess, check_answer, next_question

from .conftest import AS_OF, load

F2 = Path(__file__).resolve().parent / "data" / "format2"
TEXT = {"zh-CN": "说明", "en": "text"}
CLIENT = Client(client_id="HK-1", birth_date="1970-01-01")


def _option(oid: str, score: int, **more: Any) -> dict[str, Any]:
    return {"id": oid, "text": TEXT, "score": score, **more}


def _doc() -> dict[str, Any]:
    doc = copy.deepcopy(load(F2 / "six-level-rpq.json"))
    doc["questions"][4:4] = [  # before "savings": capacity, scored by ranges of a typed number
        {
            "id": "years_to_invest",
            "dimension": "capacity",
            "type": "number",
            "text": TEXT,
            "unit": {"zh-CN": "年", "en": "years"},
            "min": 0,
            "max": 50,
            "ranges": [{"at_least": 0, "score": 0}, {"at_least": 2.5, "score": 1}, {"at_least": 10, "score": 2}],
        },
        {
            "id": "products",
            "dimension": "willingness",
            "type": "multi",
            "aggregate": "max",
            "text": TEXT,
            "options": [
                _option("none_of_these", 0, exclusive=True),
                _option("funds", 0),
                # offered only to a client who will invest for ten years or more
                _option("warrants", 0, enable_when={"question": "years_to_invest", "at_least": 10}),
            ],
        },
    ]
    # capacity's reach grows by 2 points: widen its top bands (P5 at 7-8, P6 at 9-10)
    bands = doc["composition"]["parts"][1]["bands"]
    bands[4]["max"] = 8
    bands[5]["min"], bands[5]["max"] = 9, 10
    return doc


Q = load_questionnaire(_doc(), "answers.json")


def _answers(**answers: Any) -> dict[str, Any]:
    base = {
        "age": "under_65",
        "goal": "over_5y",
        "loss": "large",
        "reaction": "buy",
        "years_to_invest": 12,
        "products": ["funds"],
        "savings": "gt6m",
        "share": "lt20",
    }
    return {**base, **answers}


@pytest.mark.parametrize(
    ("years", "capacity", "profile"),
    [
        # capacity = range score + savings 4 + share 4; willingness 10 -> P6; P5 at 7-8, P6 at 9-10
        (0, 8, "P5"),
        (2.4, 8, "P5"),
        (2.5, 9, "P6"),  # a decimal range start, compared exactly
        (9.99, 9, "P6"),
        (10, 10, "P6"),
        (50, 10, "P6"),
    ],
)
def test_a_number_answer_is_scored_by_its_range(years: float, capacity: int, profile: str) -> None:
    a = assess(Q, _answers(years_to_invest=years, products=["funds"]), CLIENT, AS_OF)
    assert a.dimension_scores["capacity"] == capacity and a.profile == profile


@pytest.mark.parametrize(
    ("raw", "code"),
    [(-1, "ANSWER_OUT_OF_RANGE"), (50.5, "ANSWER_OUT_OF_RANGE"), ("12", "ANSWER_SHAPE"), (True, "ANSWER_SHAPE")],
)
def test_a_number_out_of_range_or_not_a_number_is_a_response_error(raw: Any, code: str) -> None:
    with pytest.raises(ResponseError) as caught:
        assess(Q, _answers(years_to_invest=raw), CLIENT, AS_OF)
    assert [(p.pointer, p.code) for p in caught.value.problems] == [("/answers/years_to_invest", code)]
    assert check_answer(Q, "years_to_invest", raw) is not None
    assert check_answer(Q, "years_to_invest", 3) is None


def test_an_exclusive_option_stands_alone() -> None:
    assert assess(Q, _answers(products=["none_of_these"]), CLIENT, AS_OF).profile == "P6"
    with pytest.raises(ResponseError) as caught:
        assess(Q, _answers(products=["funds", "none_of_these"]), CLIENT, AS_OF)
    assert [(p.pointer, p.code) for p in caught.value.problems] == [("/answers/products", "EXCLUSIVE_OPTION")]
    assert check_answer(Q, "products", ["none_of_these", "funds"]) is not None


def test_an_option_disabled_by_an_earlier_answer_is_refused() -> None:
    assert assess(Q, _answers(products=["funds", "warrants"]), CLIENT, AS_OF).profile == "P6"
    with pytest.raises(ResponseError) as caught:
        assess(Q, _answers(years_to_invest=3, products=["warrants"]), CLIENT, AS_OF)
    assert [(p.pointer, p.code) for p in caught.value.problems] == [("/answers/products", "OPTION_DISABLED")]


def test_number_answers_feed_conditions_and_next_question() -> None:
    doc = _doc()
    doc["rules"].append(
        {
            "id": "short_horizon_cap",
            "when": {"question": "years_to_invest", "at_most": 2.5},
            "cap": "P2",
            "reason": {"zh-CN": "投资期限短", "en": "Short horizon"},
        }
    )
    q = load_questionnaire(doc)
    assert assess(q, _answers(years_to_invest=2.5), CLIENT, AS_OF).profile == "P2"
    assert assess(q, _answers(years_to_invest=2.51), CLIENT, AS_OF).profile == "P6"
    partial = {k: v for k, v in _answers().items() if k not in ("products", "savings", "share")}
    asked = next_question(q, partial)
    assert asked is not None and asked.id == "products"


def test_the_same_number_gives_the_same_assessment_id_and_another_another() -> None:
    first = assess(Q, _answers(years_to_invest=12), CLIENT, AS_OF)
    assert assess(Q, _answers(years_to_invest=12), CLIENT, AS_OF).id == first.id
    assert assess(Q, _answers(years_to_invest=13), CLIENT, AS_OF).id != first.id


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda d: d["questions"][4].update(min=60), "/questions/4/min"),
        (lambda d: d["questions"][4]["ranges"][0].update(at_least=1), "/questions/4/ranges/0/at_least"),
        (lambda d: d["questions"][4]["ranges"][2].update(at_least=2), "/questions/4/ranges/2/at_least"),
        (lambda d: d["questions"][4].update(options=[_option("x", 0)]), "/questions/4/options"),
        (lambda d: d["questions"][0]["options"][0].update(exclusive=True), "/questions/0/options/0/exclusive"),
        (  # an option may depend on earlier answers only
            lambda d: d["questions"][5]["options"][2].update(enable_when={"question": "savings", "any_of": ["gt6m"]}),
            "/questions/5/options/2/enable_when/question",
        ),
        (  # a number question is compared by at_least / at_most, never by options
            lambda d: d["questions"][5]["options"][2].update(
                enable_when={"question": "years_to_invest", "any_of": ["x"]}
            ),
            "/questions/5/options/2/enable_when",
        ),
    ],
)
def test_malformed_richer_answers_are_load_errors_with_their_pointer(change: Any, where: str) -> None:
    doc = _doc()
    change(doc)
    with pytest.raises(DocumentError) as caught:
        load_questionnaire(doc)
    assert where in [p.pointer for p in caught.value.problems]


def test_a_number_question_is_answered_over_http(tmp_path: Path) -> None:
    """A sales app in another language answers a format-2 number question with a JSON number; the
    service scores it exactly as the library does, and refuses a boolean or a string for it."""
    httpx = pytest.importorskip("httpx")
    pytest.importorskip("fastapi")
    import anyio

    from suitability import Registry
    from suitability.engine import Engine
    from suitability.log.sqlite import SQLiteStore
    from suitability.service.app import create_app
    from suitability.service.keys import KeyRing, add_key

    registry = Registry.default(environ={})
    registry.add_document(_doc(), "answers.json")
    store = SQLiteStore(tmp_path / "log.sqlite3")
    app = create_app(Engine(registry, store), KeyRing(tmp_path / "keys.json"))
    _, sales = add_key(tmp_path / "keys.json", "staff-07", "sales")
    client = CLIENT.model_dump(mode="json", exclude_none=True)

    async def post(answers: dict[str, Any]) -> Any:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            body = {"questionnaire": "six-level-rpq", "answers": answers, "client": client}
            return await http.post("/v1/assessments", json=body, headers={"Authorization": f"Bearer {sales}"})

    for years, capacity in ((2.5, 9), (12, 10), (2.4, 8)):
        r = anyio.run(post, _answers(years_to_invest=years))
        assert r.status_code == 201, r.text
        when = datetime.fromisoformat(r.json()["assessed_at"])
        expected = assess(Q, _answers(years_to_invest=years), CLIENT, when)
        assert r.json()["dimension_scores"]["capacity"] == capacity == expected.dimension_scores["capacity"]
    size = store.size()
    for wrong in (True, "12"):
        r = anyio.run(post, _answers(years_to_invest=wrong))
        assert r.status_code == 422, r.text
    assert store.size() == size
