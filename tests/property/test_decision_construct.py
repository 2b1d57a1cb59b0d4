"""Decisions are built without re-validation (issue 16): the result equals the validated model."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from suitability import Assessment, Client, DecisionError, DocumentRef, Product, decide, decide_many
from suitability.matching import Decision

from .strategies import AS_OF, BANK, CSRC, assessments, clients, products

policies = st.sampled_from([CSRC, BANK])


def validated(d: Decision) -> Decision:
    """The same decision built the validating way, field by field."""
    return Decision(**{name: getattr(d, name) for name in Decision.model_fields})


@settings(max_examples=300)
@given(
    a=assessments(), product=products, client=clients, initiator=st.sampled_from(["client", "firm"]),
    policy=policies, later=st.integers(0, 1000), status=st.sampled_from(["active", "retired"]),
)  # fmt: skip
def test_constructed_decisions_equal_validated_ones(
    a: Assessment, product: Product, client: Client, initiator: str, policy, later: int, status: str
) -> None:  # type: ignore[no-untyped-def]
    """Equal objects, equal JSON dumps, equal set fields, and a JSON round trip gives it back."""
    when = AS_OF + timedelta(days=later)
    for d in (
        decide(a, product, client, policy, initiator, when, questionnaire_status=status),  # type: ignore[arg-type]
        *decide_many(a, [product, product], client, policy, initiator, when, questionnaire_status=status),  # type: ignore[arg-type]
    ):
        checked = validated(d)
        assert d == checked
        assert d.model_dump(mode="json") == checked.model_dump(mode="json")
        assert d.model_dump_json() == checked.model_dump_json()
        assert d.model_fields_set == checked.model_fields_set
        assert Decision.model_validate_json(d.model_dump_json()) == d


def _case() -> tuple[Assessment, Product, Client]:
    at = AS_OF - timedelta(days=10)
    a = Assessment(
        id="asm_1", client_id="C-1", profile="C1", score=0, dimension_scores={}, lowest_category=False,
        rules_fired=[], consistency_violations=[], horizon="short", varieties=["fixed_income"], assessed_at=at,
        valid_until=at + timedelta(days=730), questionnaire=DocumentRef(id="q", version="1", hash="sha256:" + "0" * 64),
    )  # fmt: skip
    product = Product(id="P-1", name={"zh-CN": "产品", "en": "Product"}, risk_level="R3", term="long", variety="equity")
    return a, product, Client(client_id="C-1", birth_date="1950-01-01")


def test_a_decision_does_not_share_its_reasons_with_the_next() -> None:
    """The memoized reasons are copied into each decision: changing one list changes no other decision."""
    a, product, client = _case()
    one = decide(a, product, client, CSRC, "client", AS_OF)
    assert one.outcome == "requires_confirmation" and one.warnings
    expected = one.model_dump(mode="json")
    one.reasons.clear()
    one.warnings.clear()
    assert decide(a, product, client, CSRC, "client", AS_OF).model_dump(mode="json") == expected


@pytest.mark.parametrize("initiator", ["Firm", "", "bank", None])
def test_an_unknown_initiator_is_a_decision_error(initiator: object) -> None:
    """Nothing re-validates the Decision, so the initiator is checked where it comes in."""
    a, product, client = _case()
    for call in (decide, lambda *args: decide_many(args[0], [args[1]], *args[2:])):
        with pytest.raises(DecisionError) as caught:
            call(a, product, client, CSRC, initiator, AS_OF)  # type: ignore[operator]
        assert "initiated_by" in caught.value.render()
