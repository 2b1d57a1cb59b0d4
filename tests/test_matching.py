"""Decisions, confirmations and recommendations, with the whole truth table of cn-csrc.

The expected outcomes below are written from the rules of the CSRC 办法 as digested in
shared/domain.md, with the matrix as a literal table; they do not call the code under test.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

import pytest

from suitability import (
    Assessment,
    Client,
    DecisionError,
    DocumentRef,
    Evidence,
    Policy,
    Product,
    ProductError,
    confirm,
    decide,
    decide_many,
    load_policy,
    recommend,
    warnings_hash,
)
from suitability.models import ConsistencyViolation

from .conftest import CSRC_FILE, load

ASSESSED = datetime(2025, 1, 10, tzinfo=UTC)
QREF = DocumentRef(id="cn-securities-individual", version="2026.1", hash="sha256:" + "0" * 64)
ALLOWED = {"C1": "R1", "C2": "R1 R2", "C3": "R1 R2 R3", "C4": "R1 R2 R3 R4", "C5": "R1 R2 R3 R4 R5"}
HORIZONS = ["short", "medium", "long"]
FIRM_BLOCKS = True  # CSRC 办法 Art. 22(3)-(4): the firm may not push what does not fit


def assessment(
    profile: str = "C3",
    *,
    lowest: bool = False,
    horizon: str | None = "medium",
    varieties: tuple[str, ...] = ("fixed_income", "equity"),
    client_id: str | None = "C-1",
    valid_days: int | None = 730,
    inconsistent: bool = False,
) -> Assessment:
    return Assessment(
        id="asm_test_" + profile,
        client_id=client_id,
        profile=profile,  # type: ignore[arg-type]
        score=50,
        dimension_scores={},
        lowest_category=lowest,
        rules_fired=[],
        consistency_violations=[ConsistencyViolation(id="x", message={"zh-CN": "矛盾", "en": "contradiction"})]
        if inconsistent
        else [],
        horizon=horizon,
        varieties=list(varieties),
        assessed_at=ASSESSED,
        valid_until=ASSESSED + timedelta(days=valid_days) if valid_days else None,
        questionnaire=QREF,
    )


def product(risk: str = "R2", term: str | int = "short", variety: str = "equity", **flags: bool) -> Product:
    return Product(
        id=f"P-{risk}", name={"zh-CN": "产品", "en": "Product"}, risk_level=risk, term=term, variety=variety, **flags
    )  # type: ignore[arg-type]


def client(age: int | None = 40, investor_type: str = "ordinary", capable: bool = True, *, on: date) -> Client:
    birth = None if age is None else date(on.year - age, on.month, on.day)
    return Client(client_id="C-1", investor_type=investor_type, birth_date=birth, full_civil_capacity=capable)  # type: ignore[arg-type]


def expected(
    profile: str,
    risk: str,
    client_horizon: str,
    product_horizon: str,
    variety_fits: bool,
    professional: bool,
    initiator: str,
    lowest: bool,
    expired: bool,
    age: int,
) -> tuple[str, set[str]]:
    codes: set[str] = set()
    blocked = False
    if expired:
        codes.add("ASSESSMENT_EXPIRED")
        blocked = True
    if lowest and risk != "R1":  # Art. 22(5): never above the lowest category's limit
        codes.add("LOWEST_CATEGORY")
        blocked = True
    mismatch = False
    if not professional:  # Art. 8, 11-12: the matrix binds ordinary investors
        if risk not in ALLOWED[profile].split():
            codes.add("RISK_ABOVE_PROFILE")
            mismatch = True
        if HORIZONS.index(product_horizon) > HORIZONS.index(client_horizon):
            codes.add("HORIZON_MISMATCH")
            mismatch = True
        if not variety_fits:
            codes.add("VARIETY_MISMATCH")
            mismatch = True
    if mismatch and initiator == "firm" and FIRM_BLOCKS:
        codes.add("FIRM_INITIATED_MISMATCH")
        blocked = True
    if age >= 65 and risk in ("R4", "R5"):  # NFRA 2025 special duty of care
        codes.add("SPECIAL_CARE_REQUIRED")
    if blocked:
        return "blocked", codes
    return ("requires_confirmation" if codes else "suitable"), codes


TABLE = list(
    itertools.product(
        ["C1", "C2", "C3", "C4", "C5"],
        ["R1", "R2", "R3", "R4", "R5"],
        HORIZONS,
        HORIZONS,
        [True, False],
        [False, True],
        ["client", "firm"],
        [False, True],
        [False, True],
        [64, 65],
    )
)


def test_truth_table_of_cn_csrc(csrc: Policy) -> None:
    assert len(TABLE) == 5 * 5 * 3 * 3 * 2**6 == 14_400
    mismatches = []
    for row in TABLE:
        profile, risk, ch, ph, fits, professional, initiator, lowest, expired, age = row
        a = assessment(profile, lowest=lowest, horizon=ch, varieties=("equity",) if fits else ("fixed_income",))
        when = ASSESSED + timedelta(days=731 if expired else 30)
        c = client(age, "professional" if professional else "ordinary", on=when.date())
        d = decide(a, product(risk, ph, "equity"), c, csrc, initiator, when)  # type: ignore[arg-type]
        got = (d.outcome, {r.code for r in d.reasons})
        if got != expected(*row):
            mismatches.append((row, got, expected(*row)))
        if d.outcome == "requires_confirmation":
            assert d.warnings
            assert {w.code for w in d.warnings} == got[1]
        else:
            assert d.warnings == []
    assert mismatches == []


def test_reasons_carry_dimension_and_localized_text(csrc: Policy) -> None:
    when = ASSESSED + timedelta(days=1)
    d = decide(
        assessment("C2", horizon="short"),
        product("R4", 36, "derivatives_financing"),
        client(on=when.date()),
        csrc,
        "client",
        when,
    )
    assert [(r.code, r.dimension) for r in d.reasons] == [
        ("RISK_ABOVE_PROFILE", "risk"),
        ("HORIZON_MISMATCH", "horizon"),
        ("VARIETY_MISMATCH", "variety"),
    ]
    assert (
        d.reasons[0]
        .text["en"]
        .startswith("The product's risk level R4 is above your risk profile C2 (which may buy R1/R2)")
    )
    assert "R4" in d.reasons[0].text["zh-CN"]
    assert "C2" in d.reasons[0].text["zh-CN"]
    assert "(medium)" in d.reasons[1].text["en"]
    assert "(short)" in d.reasons[1].text["en"]


def test_decision_references_and_round_trip(csrc: Policy) -> None:
    when = ASSESSED + timedelta(days=1)
    a = assessment()
    d = decide(a, product(), client(on=when.date()), csrc, "client", when)
    assert d.assessment_id == a.id
    assert d.questionnaire == QREF
    assert d.policy == csrc.ref
    assert d.product == product()
    assert d.initiated_by == "client"
    assert d.as_of == when
    assert type(d).model_validate_json(d.model_dump_json()) == d
    again = decide(a, product(), client(on=when.date()), csrc, "client", when)
    assert again == d
    other = decide(a, product(), client(on=when.date()), csrc, "firm", when)
    assert other.id != d.id


def test_inconsistent_assessment_and_retired_documents_are_blocked(csrc: Policy) -> None:
    when = ASSESSED + timedelta(days=1)
    c = client(on=when.date())
    d = decide(assessment(inconsistent=True), product("R1"), c, csrc, "client", when)
    assert (d.outcome, [r.code for r in d.reasons]) == ("blocked", ["ASSESSMENT_INCONSISTENT"])
    d = decide(assessment(), product("R1"), c, csrc, "client", when, questionnaire_status="retired")
    assert (d.outcome, [r.code for r in d.reasons]) == ("blocked", ["DOCUMENT_NOT_ACTIVE"])
    assert "cn-securities-individual@2026.1" in d.reasons[0].text["en"]
    doc = load(CSRC_FILE)
    doc["status"] = "retired"
    retired = load_policy(doc)
    d = decide(assessment(), product("R1"), c, retired, "client", when)
    assert (d.outcome, [r.code for r in d.reasons]) == ("blocked", ["DOCUMENT_NOT_ACTIVE"])


def test_professional_only_products(csrc: Policy) -> None:
    when = ASSESSED + timedelta(days=1)
    pro_product = product("R5", "long", "complex", professional_only=True)
    d = decide(
        assessment("C5", horizon="long", varieties=("complex",)),
        pro_product,
        client(on=when.date()),
        csrc,
        "client",
        when,
    )
    assert (d.outcome, [r.code for r in d.reasons]) == ("blocked", ["PROFESSIONAL_ONLY"])
    pro = client(investor_type="professional", on=when.date())
    d = decide(assessment("C1", horizon="short", varieties=()), pro_product, pro, csrc, "firm", when)
    assert (d.outcome, d.reasons) == ("suitable", [])


def test_client_without_capacity_is_lowest_even_if_the_assessment_says_otherwise(csrc: Policy) -> None:
    when = ASSESSED + timedelta(days=1)
    d = decide(assessment("C5"), product("R2"), client(capable=False, on=when.date()), csrc, "client", when)
    assert (d.outcome, [r.code for r in d.reasons]) == ("blocked", ["LOWEST_CATEGORY"])


def test_missing_horizon_and_unknown_age(csrc: Policy) -> None:
    when = ASSESSED + timedelta(days=1)
    d = decide(assessment(horizon=None), product("R4"), client(None, on=when.date()), csrc, "client", when)
    assert [r.code for r in d.reasons] == ["RISK_ABOVE_PROFILE", "HORIZON_MISMATCH"]  # no age: no special care


def test_bank_policy_expiry_and_cumulative_varieties(bank: Policy) -> None:
    a = assessment("C4", horizon="long", varieties=("derivatives_financing",), valid_days=None)
    at_365 = ASSESSED + timedelta(days=365)
    c = client(on=at_365.date())
    assert decide(a, product("R3", variety="equity"), c, bank, "firm", at_365).outcome == "suitable"
    later = at_365 + timedelta(seconds=1)
    d = decide(a, product("R3", variety="equity"), c, bank, "firm", later)
    assert [r.code for r in d.reasons] == ["ASSESSMENT_EXPIRED"]
    assert "2026-01-10" in d.reasons[0].text["en"]
    d = decide(a, product("R3", variety="complex"), c, bank, "client", at_365)
    assert [r.code for r in d.reasons] == ["VARIETY_MISMATCH"]


def test_assessment_must_belong_to_the_client_and_precede_the_decision(csrc: Policy) -> None:
    when = ASSESSED + timedelta(days=1)
    with pytest.raises(DecisionError, match="another client"):
        decide(assessment(client_id="C-2"), product(), client(on=when.date()), csrc, "client", when)
    with pytest.raises(DecisionError, match="later than the decision"):
        decide(assessment(), product(), client(on=when.date()), csrc, "client", ASSESSED - timedelta(days=1))


def test_unknown_variety_or_horizon_is_a_product_error(csrc: Policy) -> None:
    when = ASSESSED + timedelta(days=1)
    with pytest.raises(ProductError) as exc:
        decide(assessment(), product(term="forever", variety="lottery"), client(on=when.date()), csrc, "client", when)
    assert [p.pointer for p in exc.value.problems] == ["/term", "/variety"]


def test_policy_may_block_client_initiated_mismatches(csrc: Policy) -> None:
    doc = load(CSRC_FILE)
    doc["on_mismatch"]["client"] = "blocked"
    strict = load_policy(doc)
    when = ASSESSED + timedelta(days=1)
    d = decide(assessment("C2"), product("R3"), client(on=when.date()), strict, "client", when)
    assert (d.outcome, [r.code for r in d.reasons]) == ("blocked", ["RISK_ABOVE_PROFILE"])


# --- confirmations -----------------------------------------------------------------------------


@pytest.fixture
def to_confirm(csrc: Policy):  # type: ignore[no-untyped-def]
    when = ASSESSED + timedelta(days=1)
    return decide(assessment("C3"), product("R4"), client(70, on=when.date()), csrc, "client", when)


def test_confirmation_binds_to_the_decision_and_its_warnings(to_confirm) -> None:  # type: ignore[no-untyped-def]
    assert [w.code for w in to_confirm.warnings] == ["RISK_ABOVE_PROFILE", "SPECIAL_CARE_REQUIRED"]
    at = ASSESSED + timedelta(days=2)
    evidence = Evidence(recording_id="REC-1", sha256="ab" * 32)
    c = confirm(to_confirm, "我已知晓风险，坚持购买", "staff-07", "branch", evidence, confirmed_at=at)
    assert c.decision_id == to_confirm.id
    assert c.confirmed_at == at
    assert c.evidence == evidence
    assert c.warning_codes == ["RISK_ABOVE_PROFILE", "SPECIAL_CARE_REQUIRED"]
    assert c.warnings_hash == warnings_hash(to_confirm.warnings, "zh-CN")
    english = confirm(to_confirm, "I insist", "staff-07", "app", language="en", confirmed_at=at)
    assert english.warnings_hash != c.warnings_hash  # the exact texts shown differ
    shown = confirm(
        to_confirm, "I insist", "client", "app", language="en", shown_warnings=to_confirm.warnings, confirmed_at=at
    )
    assert shown.warnings_hash == english.warnings_hash


def test_confirmation_with_other_warnings_is_refused(to_confirm) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DecisionError) as exc:
        confirm(to_confirm, "I insist", "staff-07", "app", shown_warnings=to_confirm.warnings[:1])
    assert exc.value.problems[0].code == "WARNINGS_DIFFER"
    edited = [
        to_confirm.warnings[0].model_copy(update={"text": {"zh-CN": "没事", "en": "fine"}}),
        to_confirm.warnings[1],
    ]
    with pytest.raises(DecisionError, match="different text"):
        confirm(to_confirm, "I insist", "staff-07", "app", shown_warnings=edited)


def test_blocked_and_suitable_decisions_cannot_be_confirmed(csrc: Policy) -> None:
    when = ASSESSED + timedelta(days=1)
    c = client(on=when.date())
    for outcome, d in [
        ("blocked", decide(assessment("C1", lowest=True), product("R3"), c, csrc, "client", when)),
        ("suitable", decide(assessment("C3"), product("R1"), c, csrc, "client", when)),
    ]:
        assert d.outcome == outcome
        with pytest.raises(DecisionError, match=f"found {outcome}"):
            confirm(d, "I insist", "staff-07", "branch")


def test_empty_acknowledgement_and_bad_evidence(to_confirm) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DecisionError, match="non-empty acknowledgement"):
        confirm(to_confirm, "  ", "staff-07", "branch")
    with pytest.raises(ValueError, match="sha256"):
        Evidence(recording_id="REC-1", sha256="not-hex")


# --- recommendations ---------------------------------------------------------------------------


def test_recommend_lists_only_suitable_products_with_why(csrc: Policy) -> None:
    when = ASSESSED + timedelta(days=1)
    catalog = [product(r, t, v) for r in ("R1", "R3", "R4") for t in ("short", "long") for v in ("equity", "complex")]
    found = recommend(assessment("C3"), catalog, client(on=when.date()), csrc, when)
    assert [(p.product.risk_level, p.product.term, p.product.variety) for p in found] == [
        ("R1", "short", "equity"),
        ("R3", "short", "equity"),
    ]
    assert all(item.decision.outcome == "suitable" and item.decision.initiated_by == "firm" for item in found)
    assert [f.code for f in found[0].fits] == ["FITS_RISK", "FITS_HORIZON", "FITS_VARIETY"]
    assert "C3" in found[0].fits[0].text["en"]


def test_recommend_leaves_out_what_needs_special_care(csrc: Policy) -> None:
    when = ASSESSED + timedelta(days=1)
    found = recommend(
        assessment("C5", horizon="long"), [product("R5"), product("R2")], client(70, on=when.date()), csrc, when
    )
    assert [p.product.risk_level for p in found] == ["R2"]


def test_decide_many_equals_decide_for_each(csrc: Policy) -> None:
    when = ASSESSED + timedelta(days=400)
    catalog = [product(r, t, v) for r in ("R1", "R3", "R5") for t in ("short", 30, 90) for v in ("equity", "complex")]
    for profile, lowest, age in (("C2", False, 40), ("C5", False, 70), ("C1", True, 66)):
        a = assessment(profile, lowest=lowest)
        c = client(age, on=when.date())
        for initiator in ("client", "firm"):
            many = decide_many(a, catalog, c, csrc, initiator, when)  # type: ignore[arg-type]
            assert many == [decide(a, p, c, csrc, initiator, when) for p in catalog]  # type: ignore[arg-type]
    with pytest.raises(DecisionError, match="another client"):
        decide_many(assessment(client_id="C-9"), catalog, client(on=when.date()), csrc, "client", when)
