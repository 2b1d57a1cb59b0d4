"""Decisions per second on random profiles and products, beside two rule engines.

Run: pip install rule-engine json-logic-qubit && python benchmarks/bench_decide.py
(the two engines are installed for this benchmark only; they are not dependencies.)

The same cn-csrc matching (risk matrix, horizon, variety, lowest category, professional-only,
professional exemption, firm-initiated block, special care) is written once as rule-engine
expressions and once as JsonLogic, each evaluated on the same facts. `suitability.decide` does
more per call than either (localized reasons, warnings, the Decision model and its id), so the
ratios are conservative.
"""

from __future__ import annotations

import os
import random
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import best_rate, table

from suitability import Assessment, Client, DocumentRef, Product, Registry, decide, decide_many

N = 20_000
PROFILES = ["C1", "C2", "C3", "C4", "C5"]
LEVELS = ["R1", "R2", "R3", "R4", "R5"]
HORIZONS = ["short", "medium", "long"]
VARIETIES = ["fixed_income", "equity", "derivatives_financing", "complex", "other"]
AS_OF = datetime(2026, 11, 28, tzinfo=UTC)


def cases(rnd: random.Random, n: int) -> list[tuple[Assessment, Product, Client, str]]:
    ref = DocumentRef(id="q", version="1", hash="sha256:" + "0" * 64)
    out = []
    for i in range(n):
        assessed = AS_OF - timedelta(days=rnd.randint(0, 800))
        a = Assessment(
            id=f"asm_{i}", client_id=f"C-{i}", profile=rnd.choice(PROFILES), score=0, dimension_scores={},
            lowest_category=rnd.random() < 0.05, rules_fired=[], consistency_violations=[],
            horizon=rnd.choice(HORIZONS), varieties=rnd.sample(VARIETIES, rnd.randint(1, 3)),
            assessed_at=assessed, valid_until=assessed + timedelta(days=730), questionnaire=ref,
        )  # fmt: skip
        p = Product(
            id=f"P-{i % 50}", name={"zh-CN": "产品", "en": "Product"}, risk_level=rnd.choice(LEVELS),
            term=rnd.choice([*HORIZONS, 6, 24, 84]), variety=rnd.choice(VARIETIES), professional_only=rnd.random() < 0.1,
        )  # fmt: skip
        c = Client(
            client_id=f"C-{i}", investor_type="professional" if rnd.random() < 0.1 else "ordinary",
            birth_date=date(rnd.randint(1940, 2000), rnd.randint(1, 12), rnd.randint(1, 28)),
        )  # fmt: skip
        out.append((a, p, c, rnd.choice(["client", "firm"])))
    return out


def facts(a: Assessment, p: Product, c: Client, initiator: str) -> dict[str, Any]:
    term = p.term if isinstance(p.term, str) else ("short" if p.term <= 12 else "medium" if p.term <= 60 else "long")
    age = c.age_at(AS_OF.date()) or 0
    return {
        "profile": a.profile, "risk": p.risk_level, "risk_index": LEVELS.index(p.risk_level),
        "horizon": HORIZONS.index(a.horizon or "short"), "product_horizon": HORIZONS.index(term),
        "variety": p.variety, "varieties": list(a.varieties), "lowest": a.lowest_category,
        "professional": c.investor_type == "professional", "professional_only": p.professional_only,
        "firm": initiator == "firm", "age": age, "expired": (a.valid_until or AS_OF) < AS_OF,
    }  # fmt: skip


MATRIX = {"C1": ["R1"], "C2": ["R1", "R2"], "C3": ["R1", "R2", "R3"], "C4": ["R1", "R2", "R3", "R4"], "C5": LEVELS}


def rule_engine_decider() -> Any:
    import rule_engine

    ctx = rule_engine.Context(default_value=None)
    blocked = rule_engine.Rule(
        "expired or (lowest and risk_index > 0) or (professional_only and not professional) or "
        "(firm and not professional and (not (risk in matrix[profile]) or product_horizon > horizon or not (variety in varieties)))",
        context=ctx,
    )
    mismatch = rule_engine.Rule(
        "not professional and (not (risk in matrix[profile]) or product_horizon > horizon or not (variety in varieties))",
        context=ctx,
    )
    care = rule_engine.Rule("age >= 65 and risk_index >= 3", context=ctx)

    def decide_one(f: dict[str, Any]) -> str:
        f["matrix"] = MATRIX
        if blocked.matches(f):
            return "blocked"
        return "requires_confirmation" if mismatch.matches(f) or care.matches(f) else "suitable"

    return decide_one


def json_logic_decider() -> Any:
    from json_logic import jsonLogic

    mismatch = {"and": [{"!": {"var": "professional"}}, {"or": [
        {"!": {"in": [{"var": "risk"}, {"var": "allowed"}]}},
        {">": [{"var": "product_horizon"}, {"var": "horizon"}]},
        {"!": {"in": [{"var": "variety"}, {"var": "varieties"}]}},
    ]}]}  # fmt: skip
    rule = {"if": [
        {"or": [{"var": "expired"}, {"and": [{"var": "lowest"}, {">": [{"var": "risk_index"}, 0]}]},
                {"and": [{"var": "professional_only"}, {"!": {"var": "professional"}}]},
                {"and": [{"var": "firm"}, mismatch]}]}, "blocked",
        {"or": [mismatch, {"and": [{">=": [{"var": "age"}, 65]}, {">=": [{"var": "risk_index"}, 3]}]}]}, "requires_confirmation",
        "suitable",
    ]}  # fmt: skip

    def decide_one(f: dict[str, Any]) -> str:
        f["allowed"] = MATRIX[f["profile"]]
        return str(jsonLogic(rule, f))

    return decide_one


def main() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    policy = Registry.default(environ={}).policy("cn-csrc")
    rnd = random.Random(11)
    pool = cases(rnd, 5000)
    prepared = [facts(*case) for case in pool]

    # The engines must agree with decide() before their speed means anything.
    engines = {"rule-engine 5": rule_engine_decider(), "JsonLogic (json-logic-qubit)": json_logic_decider()}
    for name, engine in engines.items():
        wrong = sum(
            engine(dict(f)) != decide(a, p, c, policy, i, AS_OF).outcome
            for f, (a, p, c, i) in zip(prepared, pool, strict=True)
        )  # type: ignore[arg-type]
        assert wrong == 0, f"{name} disagrees with decide() on {wrong} cases"

    def run_decide() -> int:
        for i in range(N):
            a, p, c, initiator = pool[i % 5000]
            decide(a, p, c, policy, initiator, AS_OF)  # type: ignore[arg-type]
        return N

    shelf = [p for _, p, _, _ in pool[:30]]  # a 30-product catalog screened per assessment

    def run_decide_many() -> int:
        done = 0
        for i in range(N // 30):
            a, _, c, initiator = pool[i % 5000]
            done += len(decide_many(a, shelf, c, policy, initiator, AS_OF))  # type: ignore[arg-type]
        return done

    rows = [["engine", "decisions/s (one core)", "suitability ÷ engine"]]
    ours = best_rate(run_decide)
    many = best_rate(run_decide_many)
    rows.append(["suitability.decide (full Decision)", f"{ours:,.0f}", "1.00"])
    rows.append(["suitability.decide_many (a 30-product screen)", f"{many:,.0f}", f"{many / ours:.2f}"])
    for name, engine in engines.items():

        def run(engine: Any = engine) -> int:
            for i in range(N // 4):
                engine(dict(prepared[i % 5000]))
            return N // 4

        rate = best_rate(run, repeat=3)
        rows.append([name, f"{rate:,.0f}", f"{ours / rate:.1f}×"])
    print(table(rows))
    print(
        f"\ntarget ≥ 200,000 decisions/s per core: decide {ours:,.0f} ({ours / 200_000:.2f}×), decide_many {many:,.0f} ({many / 200_000:.2f}×)"
    )


if __name__ == "__main__":
    main()
