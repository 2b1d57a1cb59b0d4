"""Policy axes (issue 12 item 7): for random policies with axes, either the load refuses the axes as
not monotone, or moving a client toward an axis's less permissive side (an unknown fact included)
never makes a decision less restrictive: blocked stays blocked, what needs confirmation never
becomes suitable."""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from hypothesis import event, given, settings
from hypothesis import strategies as st

from suitability import Assessment, Client, DocumentRef, decide
from suitability.errors import DocumentError
from suitability.policy import load_policy
from suitability.product import parse_product

from .strategies import AS_OF

BASE = json.loads((Path(__file__).parent.parent / "data" / "format2" / "policy-vulnerable.json").read_text("utf-8"))
RANK = {"suitable": 0, "requires_confirmation": 1, "blocked": 2}
NAME = {"zh-CN": "档", "en": "band"}


@st.composite
def limits(draw: st.DrawFn, levels: list[str]) -> dict[str, Any] | None:
    kind = draw(st.sampled_from(["none", "max_risk", "lower_by"]))
    if kind == "none":
        return None
    if kind == "max_risk":
        return {"max_risk": draw(st.sampled_from(levels))}
    return {"lower_by": draw(st.integers(0, 3))}


@st.composite
def axes(draw: st.DrawFn, fact: str, levels: list[str]) -> dict[str, Any]:
    count = draw(st.integers(2, 3))
    bands: list[dict[str, Any]] = []
    if fact == "training":
        values = ["none", "basic", "full", "expert"][: count + 1]
    else:
        bounds = sorted(draw(st.sets(st.integers(1, 100), min_size=count - 1, max_size=count - 1)))
    for j in range(count):
        band: dict[str, Any] = {"id": f"b{j}", "name": NAME}
        if fact == "training":
            band["values"] = values[j : j + 1] if j < count - 1 else values[j:]
        elif j:
            band["at_least"] = bounds[j - 1]
        suitable = draw(limits(levels))
        if suitable is not None:
            band["suitable_up_to"] = suitable
            confirmable = draw(limits(levels))
            if confirmable is not None:
                band["confirmable_up_to"] = confirmable
        bands.append(band)
    permissive = draw(st.sampled_from(["ascending", "descending"]))
    return {"id": f"on_{fact}", "name": NAME, "fact": fact, "permissive": permissive, "bands": bands}


@st.composite
def policies(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(2, 6))
    levels = [f"S{i}" for i in range(1, n + 1)]
    tops = sorted(draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=4)))
    profiles = [f"P{i}" for i in range(1, len(tops) + 1)]
    doc = copy.deepcopy(BASE)
    doc.update(
        profiles=profiles,
        risk_levels=levels,
        matrix={p: levels[: top + 1] for p, top in zip(profiles, tops, strict=True)},
        lowest_category_max_risk=levels[0],
        special_care=None,
        on_mismatch={"client": draw(st.sampled_from(["requires_confirmation", "blocked"])), "firm": "blocked"},
        professional_may_buy_all=False,
    )
    facts = draw(
        st.lists(st.sampled_from(["age", "experience_years", "training"]), min_size=1, max_size=3, unique=True)
    )
    doc["axes"] = [draw(axes(fact, levels)) for fact in facts]
    return doc


def _values(axis: dict[str, Any]) -> list[Any]:
    """A value in each band, from the most permissive band to the least, then the unknown fact."""
    if axis["fact"] == "training":
        found = [band["values"][0] for band in axis["bands"]]
    else:
        found = [band.get("at_least", 0) for band in axis["bands"]]
    if axis["permissive"] == "ascending":  # later bands more permissive
        found.reverse()
    return [*found, None]


def _client(facts: dict[str, Any]) -> Client:
    given: dict[str, Any] = {}
    if facts.get("age") is not None:
        given["birth_date"] = f"{AS_OF.year - facts['age']}-01-01"
    if facts.get("experience_years") is not None:
        given["experience_years"] = facts["experience_years"]
    if facts.get("training") is not None:
        given["facts"] = {"training": facts["training"]}
    return Client(client_id="X-1", **given)


def _assessment(profile: str) -> Assessment:
    at = AS_OF - timedelta(days=1)
    return Assessment(
        id="asm_1", client_id="X-1", profile=profile, score=0, dimension_scores={}, lowest_category=False,
        rules_fired=[], consistency_violations=[], horizon="long", varieties=["fixed_income"], assessed_at=at,
        valid_until=None, format=2, questionnaire=DocumentRef(id="q", version="1", hash="sha256:" + "0" * 64),
    )  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(doc=policies(), data=st.data())
def test_a_less_permissive_band_never_lifts_a_limit(doc: dict[str, Any], data: st.DataObject) -> None:
    try:
        policy = load_policy(doc)
    except DocumentError as exc:
        refused: DocumentError | None = exc
    else:
        refused = None
    if refused is not None:
        event("refused as not monotone")
        assert {p.code for p in refused.problems} == {"AXIS_NOT_MONOTONE"}, refused.problems
        return
    event("loaded")
    profile = data.draw(st.sampled_from(doc["profiles"]))
    initiator = data.draw(st.sampled_from(["client", "firm"]))
    base = {axis["fact"]: data.draw(st.sampled_from(_values(axis))) for axis in doc["axes"]}
    axis = data.draw(st.sampled_from(doc["axes"]))
    for level in doc["risk_levels"]:
        product = parse_product({"id": "F", "name": NAME, "risk_level": level, "term": "short",
                                 "variety": "fixed_income"})  # fmt: skip
        ranks = []
        for value in _values(axis):  # toward the less permissive side
            client = _client({**base, axis["fact"]: value})
            d = decide(_assessment(profile), product, client, policy, initiator, AS_OF)  # type: ignore[arg-type]
            ranks.append(RANK[d.outcome])
        assert ranks == sorted(ranks), (axis["id"], level, ranks)
