"""Hypothesis strategies shared by the property tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from suitability import Assessment, Client, DocumentRef, Product, Questionnaire, Registry
from suitability.scoring import next_question

REGISTRY = Registry.default(environ={})
QUESTIONNAIRE = REGISTRY.questionnaire("cn-securities-individual")
CSRC = REGISTRY.policy("cn-csrc")
BANK = REGISTRY.policy("cn-bank-wm")
AS_OF = datetime(2026, 11, 28, tzinfo=UTC)

PROFILES = ["C1", "C2", "C3", "C4", "C5"]
LEVELS = ["R1", "R2", "R3", "R4", "R5"]
HORIZONS = ["short", "medium", "long"]
VARIETIES = ["fixed_income", "equity", "derivatives_financing", "complex", "other"]


@st.composite
def answers(draw: st.DrawFn, questionnaire: Questionnaire = QUESTIONNAIRE) -> dict[str, Any]:
    """A complete, valid response: every enabled question answered, in document order."""
    given: dict[str, Any] = {}
    while (question := next_question(questionnaire, given)) is not None:
        ids = [o.id for o in question.options]
        if question.type == "multi":
            given[question.id] = draw(st.lists(st.sampled_from(ids), min_size=1, max_size=len(ids), unique=True))
        else:
            given[question.id] = draw(st.sampled_from(ids))
    return given


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=20,
)


@st.composite
def assessments(draw: st.DrawFn, profile: str | None = None) -> Assessment:
    at = AS_OF - timedelta(days=draw(st.integers(0, 900)))
    return Assessment(
        id="asm_prop",
        client_id="C-1",
        profile=profile or draw(st.sampled_from(PROFILES)),  # type: ignore[arg-type]
        score=0,
        dimension_scores={},
        lowest_category=draw(st.booleans()),
        rules_fired=[],
        consistency_violations=[],
        horizon=draw(st.sampled_from([*HORIZONS, None])),
        varieties=draw(st.lists(st.sampled_from(VARIETIES), unique=True, max_size=5)),
        assessed_at=at,
        valid_until=at + timedelta(days=730),
        questionnaire=DocumentRef(id="q", version="1", hash="sha256:" + "0" * 64),
    )


products = st.builds(
    Product,
    id=st.just("P-1"),
    name=st.just({"zh-CN": "产品", "en": "Product"}),
    risk_level=st.sampled_from(LEVELS),
    term=st.sampled_from(HORIZONS) | st.integers(0, 240),
    variety=st.sampled_from(VARIETIES),
    professional_only=st.booleans(),
    complex=st.booleans(),
)

clients = st.builds(
    Client,
    client_id=st.just("C-1"),
    investor_type=st.sampled_from(["ordinary", "professional"]),
    birth_date=st.none() | st.dates(min_value=date(1920, 1, 1), max_value=date(2008, 1, 1)),
    full_civil_capacity=st.booleans(),
)
