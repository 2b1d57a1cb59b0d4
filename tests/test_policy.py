"""Policy documents: the bundled ones are valid; every problem is reported with its pointer."""

from __future__ import annotations

from typing import Any

import pytest

from suitability import REASON_CODES, DocumentError, Policy, load_policy

from .conftest import CSRC_FILE, DATA, load


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
