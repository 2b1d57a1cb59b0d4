"""Policy documents: the bundled ones are valid; every problem is reported with its pointer."""

from __future__ import annotations

import json
from typing import Any

import pytest

from suitability import REASON_CODES, DocumentError, Policy, load_policy
from suitability import policy as pol
from suitability._schema import Check, run_checks
from suitability.policy import PolicyDoc

from .conftest import CSRC_FILE, DATA, load
from .test_questionnaire import _DELETE, edited


def problems_of(document: Any) -> dict[str, str]:
    with pytest.raises(DocumentError) as exc:
        load_policy(document, "p.json")
    return {p.pointer: p.message for p in exc.value.problems}


def test_bundled_csrc_policy(csrc: Policy) -> None:
    m = csrc.model
    assert m.matrix == {
        "C1": ["R1"],
        "C2": ["R1", "R2"],
        "C3": ["R1", "R2", "R3"],
        "C4": ["R1", "R2", "R3", "R4"],
        "C5": ["R1", "R2", "R3", "R4", "R5"],
    }
    assert m.lowest_category_max_risk == "R1"
    assert m.professional_may_buy_all
    assert m.special_care is not None
    assert (m.special_care.min_age, m.special_care.from_risk) == (65, "R4")
    assert m.assessment_validity_days == 730
    assert set(m.messages) == set(REASON_CODES)


def test_bundled_bank_policy(bank: Policy) -> None:
    assert bank.model.assessment_validity_days == 365
    assert bank.model.variety_mode == "cumulative"


def test_non_monotone_matrix() -> None:
    found = problems_of(load(DATA / "policy-not-monotone.json"))
    assert found == {
        "/matrix/C3": "expected the matrix to be monotone (what C2 may buy, C3 may buy), found C3 missing ['R2']"
    }


def test_unknown_levels_missing_rows_and_messages() -> None:
    found = problems_of(load(DATA / "policy-unknown-level.json"))
    assert "found 'R6'" in found["/matrix/C5/5"]
    assert "found 'R0'" in found["/lowest_category_max_risk"]
    assert "row for profile C2" in found["/matrix"]
    assert "HORIZON_MISMATCH" in found["/messages"]


def test_other_semantic_checks() -> None:
    doc = load(CSRC_FILE)
    doc["special_care"]["from_risk"] = "R9"
    doc["horizon_max_months"] = {"medium": 12, "short": 60, "eternal": 1}
    doc["messages"]["RISK_ABOVE_PROFILE"]["en"] = "Level {level} too high"
    doc["messages"]["MADE_UP"] = {"zh-CN": "x", "en": "x"}
    found = problems_of(doc)
    assert "/special_care/from_risk" in found
    assert "/horizon_max_months/eternal" in found
    assert "/horizon_max_months" in found
    assert "{level}" in found["/messages/RISK_ABOVE_PROFILE/en"]
    assert "known reason code" in found["/messages/MADE_UP"]


def test_schema_problems() -> None:
    doc = load(CSRC_FILE)
    doc["on_mismatch"]["firm"] = "requires_confirmation"
    del doc["messages"]["LOWEST_CATEGORY"]["en"]
    doc["variety_mode"] = "vibes"
    found = problems_of(doc)
    assert set(found) == {"/on_mismatch/firm", "/messages/LOWEST_CATEGORY", "/variety_mode"}


def test_messages_fill_placeholders(csrc: Policy) -> None:
    text = csrc.message("LOWEST_CATEGORY", {"limit": "R1", "risk_level": "R3"})
    assert "R1" in text["en"]
    assert "R3" in text["zh-CN"]
    assert "{" not in text["en"]


def test_horizon_of_months(csrc: Policy) -> None:
    assert [csrc.horizon_of_months(m) for m in (0, 12, 13, 60, 61, 600)] == [
        "short", "short", "medium", "medium", "long", "long",
    ]  # fmt: skip


# --- issue 11 item 9: the checkers report exactly what the one long validator reported ----------

#: Bad variants of the bundled CSRC policy; the last one has a problem in nearly every section.
POLICY_EDITS: dict[str, tuple[tuple[str, Any], ...]] = {
    "duplicate-profile": (("/profiles/-", "C5"),),
    "duplicate-risk-level": (("/risk_levels/-", "R1"),),
    "duplicate-horizon": (("/horizons/-", "short"),),
    "duplicate-variety": (("/varieties/-", "equity"),),
    "profiles-out-of-order": (("/profiles/0", "C2"), ("/profiles/1", "C1")),
    "matrix-row-missing": (("/matrix/C2", _DELETE),),
    "matrix-row-undeclared": (("/profiles/4", _DELETE),),
    "matrix-unknown-level": (("/matrix/C3/-", "R9"),),
    "matrix-not-monotone": (("/matrix/C4", ["R1", "R2", "R4"]),),
    "lowest-category-unknown-level": (("/lowest_category_max_risk", "R0"),),
    "special-care-unknown-level": (("/special_care/from_risk", "R9"),),
    "horizon-months-unknown-horizon": (("/horizon_max_months/eternal", 1),),
    "horizon-months-decreasing": (("/horizon_max_months/short", 90),),
    "message-missing": (("/messages/LOWEST_CATEGORY", _DELETE),),
    "message-unknown-code": (("/messages/MADE_UP", {"zh-CN": "x", "en": "x"}),),
    "message-unknown-placeholder": (("/messages/RISK_ABOVE_PROFILE/en", "Level {level} is {too} high"),),
    "everything-at-once": (
        ("/profiles", ["C2", "C1", "C3", "C2"]),
        ("/risk_levels/-", "R3"),
        ("/horizons/-", "medium"),
        ("/varieties/-", "other"),
        ("/matrix/C1", _DELETE),
        ("/matrix/C3", ["R1", "R7"]),
        ("/matrix/C5/-", "R8"),
        ("/lowest_category_max_risk", "R0"),
        ("/special_care/from_risk", "R9"),
        ("/horizon_max_months", {"eternal": 1, "medium": 6, "short": 12}),
        ("/messages/HORIZON_MISMATCH", _DELETE),
        ("/messages/DOCUMENT_NOT_ACTIVE", _DELETE),
        ("/messages/MADE_UP", {"zh-CN": "{nope}", "en": "x"}),
        ("/messages/RISK_ABOVE_PROFILE/en", "Level {level} is {too} high"),
    ),
}

SNAPSHOT = DATA / "snapshots" / "policy-problems.json"


def report_of(document: Any) -> dict[str, Any]:
    """Every problem ``load_policy`` reports for ``document``, as plain JSON."""
    try:
        load_policy(document, "p.json")
    except DocumentError as exc:
        return {"error": str(exc), "problems": [[p.code, p.pointer, p.message] for p in exc.problems]}
    return {"error": None, "problems": []}


def policy_reports() -> dict[str, Any]:
    reports = {path.name: report_of(load(path)) for path in sorted(DATA.glob("policy-*.json"))}
    bundled = load(CSRC_FILE)
    reports |= {name: report_of(edited(bundled, *edits)) for name, edits in POLICY_EDITS.items()}
    return reports


def test_problems_are_reported_exactly_as_before() -> None:
    """The snapshot was written by the one long validator, before it became a list of checkers."""
    assert policy_reports() == json.loads(SNAPSHOT.read_text(encoding="utf-8"))


# --- each checker alone, on a small document with exactly one problem of its kind ---------------

_T = {"zh-CN": "文", "en": "text"}

#: A small valid policy: two profiles, two levels, two horizons, one variety.
SMALL: dict[str, Any] = {
    "kind": "policy",
    "schema_version": 1,
    "id": "small",
    "version": "1",
    "status": "active",
    "effective_from": "2026-01-01",
    "title": _T,
    "profiles": ["C1", "C2"],
    "risk_levels": ["R1", "R2"],
    "matrix": {"C1": ["R1"], "C2": ["R1", "R2"]},
    "horizons": ["short", "long"],
    "horizon_max_months": {"short": 12},
    "varieties": ["equity"],
    "variety_mode": "selected",
    "lowest_category_max_risk": "R1",
    "professional_may_buy_all": True,
    "special_care": {"min_age": 65, "from_risk": "R2"},
    "on_mismatch": {"client": "requires_confirmation", "firm": "blocked"},
    "messages": {code: dict(_T) for code in REASON_CODES},  # one dict each: edits change one
}


def test_the_small_policy_is_valid() -> None:
    load_policy(SMALL)
    assert run_checks(pol.CHECKS, PolicyDoc.model_validate(SMALL)) == []


@pytest.mark.parametrize(
    ("check", "edits", "where", "code"),
    [
        (pol.unique_entries, [("/varieties/-", "equity")], "/varieties/1", "INVALID"),
        (pol.profiles_in_c_order, [("/profiles", ["C2", "C1"])], "/profiles", "INVALID"),
        (pol.matrix_rows_present, [("/matrix/C1", _DELETE)], "/matrix", "MATRIX_ROW_MISSING"),
        (pol.matrix_rows_declared, [("/profiles", ["C1"])], "/matrix/C2", "INVALID"),
        (pol.matrix_rows_declared, [("/matrix/C2/-", "R9")], "/matrix/C2/2", "UNKNOWN_LEVEL"),
        (pol.matrix_monotone, [("/matrix/C2", ["R2"])], "/matrix/C2", "MATRIX_NOT_MONOTONE"),
        (
            pol.limits_are_declared_levels,
            [("/special_care/from_risk", "R3")],
            "/special_care/from_risk",
            "UNKNOWN_LEVEL",
        ),
        (
            pol.limits_are_declared_levels,
            [("/lowest_category_max_risk", "R0")],
            "/lowest_category_max_risk",
            "UNKNOWN_LEVEL",
        ),
        (pol.month_limits_declared, [("/horizon_max_months/eternal", 1)], "/horizon_max_months/eternal", "INVALID"),
        (pol.month_limits_increasing, [("/horizon_max_months/long", 6)], "/horizon_max_months", "INVALID"),
        (pol.message_for_every_reason, [("/messages/LOWEST_CATEGORY", _DELETE)], "/messages", "MESSAGE_MISSING"),
        (pol.messages_well_formed, [("/messages/MADE_UP", _T)], "/messages/MADE_UP", "INVALID"),
        (
            pol.messages_well_formed,
            [("/messages/LOWEST_CATEGORY/en", "{nope}")],
            "/messages/LOWEST_CATEGORY/en",
            "INVALID",
        ),
    ],
)
def test_each_checker_finds_its_one_problem(
    check: Check[PolicyDoc], edits: list[tuple[str, Any]], where: str, code: str
) -> None:
    doc = PolicyDoc.model_validate(edited(SMALL, *edits))
    (problem,) = check(doc)
    assert (problem.pointer, problem.code) == (where, code)
    assert problem in run_checks(pol.CHECKS, doc)  # and the full list reports it
