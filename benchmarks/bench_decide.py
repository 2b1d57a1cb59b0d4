"""Decisions per second on random profiles and products, beside the rule engines a bank would pick.

Run: pip install zen-engine gordon-to-regorus rule-engine json-logic-qubit
     python benchmarks/bench_decide.py [--rounds 7] [--cases 5000]
(the engines are installed for this benchmark only; they are not dependencies.)

The same cn-csrc matching (risk matrix, horizon, variety, lowest category, professional-only,
professional exemption, firm-initiated block, special care) is written once for each peer, each
returning the outcome *and* the reason codes that fired:

- zen-engine (GoRules, Rust): one compiled expression (``zen.compile_expression``), and a decision
  graph (``ZenEngine.create_decision``: a decision table with the *collect* hit policy, one row a
  reason, then an expression node for the outcome);
- regorus (Rego, Rust; the ``gordon-to-regorus`` 0.13.0 build on the package index): the policy
  compiled to an RVM program (``regorus.Program.compile_from_modules``) run on its VM
  (``regorus.Rvm``), input given as JSON and the JSON result parsed with orjson, the VM's API;
- rule-engine 5 and JsonLogic (json-logic-qubit), pure-Python interpreters;
- plain Python, a hand-written function (the floor: what the arithmetic alone costs in Python).
  It is reported beside the others, not as a target.

The peers get the facts worked out for them, untimed (the risk index, horizon indexes, the levels
the profile allows, age, expiry): `suitability.decide` works them out from the assessment, product
and client itself, and builds the full `Decision` (reasons with bilingual texts, warnings, the
digest id), so the ratios are conservative. Before anything is timed, every peer must agree with
`decide` on all cases: the same outcome and the same set of reason codes.

Timing: `decide` and the peers run interleaved, the same number of rounds each (every round runs
every side over all cases once, the order rotated each round); each figure is the median of the
rounds with the range beside it, pinned to one core. The rates depend on the host; the ratios,
taken in the same run, are the claim (target: `decide` ≥ 2× the fastest engine peer).
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import orjson
from _common import interleaved, pin_one_core, ratio_cell, table

from suitability import Assessment, Client, DocumentRef, Product, Registry, decide, decide_many
from suitability.ids import client_key, digest_id
from suitability.matching import _built

PROFILES = ["C1", "C2", "C3", "C4", "C5"]
LEVELS = ["R1", "R2", "R3", "R4", "R5"]
HORIZONS = ["short", "medium", "long"]
VARIETIES = ["fixed_income", "equity", "derivatives_financing", "complex", "other"]
AS_OF = datetime(2026, 11, 28, tzinfo=UTC)
MATRIX = {"C1": ["R1"], "C2": ["R1", "R2"], "C3": ["R1", "R2", "R3"], "C4": ["R1", "R2", "R3", "R4"], "C5": LEVELS}
BLOCKING = ["ASSESSMENT_EXPIRED", "PROFESSIONAL_ONLY", "LOWEST_CATEGORY", "FIRM_INITIATED_MISMATCH"]

Result = tuple[str, list[str]]  # the outcome and the reason codes that fired


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
        "allowed": MATRIX[a.profile], "horizon": HORIZONS.index(a.horizon or "short"),
        "product_horizon": HORIZONS.index(term), "variety": p.variety, "varieties": list(a.varieties),
        "lowest": a.lowest_category, "professional": c.investor_type == "professional",
        "professional_only": p.professional_only, "firm": initiator == "firm", "age": age,
        "expired": (a.valid_until or AS_OF) < AS_OF,
    }  # fmt: skip


# --- the floor: plain Python --------------------------------------------------------------------


def plain_python(f: dict[str, Any]) -> Result:
    codes = []
    if f["expired"]:
        codes.append("ASSESSMENT_EXPIRED")
    if f["professional_only"] and not f["professional"]:
        codes.append("PROFESSIONAL_ONLY")
    if f["lowest"] and f["risk_index"] > 0:
        codes.append("LOWEST_CATEGORY")
    blocked = bool(codes)
    if not f["professional"]:
        mismatch = len(codes)
        if f["risk"] not in f["allowed"]:
            codes.append("RISK_ABOVE_PROFILE")
        if f["product_horizon"] > f["horizon"]:
            codes.append("HORIZON_MISMATCH")
        if f["variety"] not in f["varieties"]:
            codes.append("VARIETY_MISMATCH")
        if len(codes) > mismatch and f["firm"]:
            codes.append("FIRM_INITIATED_MISMATCH")
            blocked = True
    if f["age"] >= 65 and f["risk_index"] >= 3:
        codes.append("SPECIAL_CARE_REQUIRED")
    return ("blocked" if blocked else "requires_confirmation" if codes else "suitable"), codes


# --- zen-engine (GoRules) -------------------------------------------------------------------------

ZEN_MISMATCH = (
    "(not professional and (not (risk in allowed) or product_horizon > horizon or not (variety in varieties)))"
)
ZEN_CARE = "(age >= 65 and risk_index >= 3)"
ZEN_BLOCKED = (
    f"(expired or (professional_only and not professional) or (lowest and risk_index > 0) or (firm and {ZEN_MISMATCH}))"
)
ZEN_ROWS = [
    ("ASSESSMENT_EXPIRED", "expired"),
    ("PROFESSIONAL_ONLY", "professional_only and not professional"),
    ("LOWEST_CATEGORY", "lowest and risk_index > 0"),
    ("RISK_ABOVE_PROFILE", "not professional and not (risk in allowed)"),
    ("HORIZON_MISMATCH", "not professional and product_horizon > horizon"),
    ("VARIETY_MISMATCH", "not professional and not (variety in varieties)"),
    ("FIRM_INITIATED_MISMATCH", f"firm and {ZEN_MISMATCH}"),
    ("SPECIAL_CARE_REQUIRED", ZEN_CARE),
]


def zen_expression() -> Callable[[dict[str, Any]], Result]:
    import zen

    codes = "filter([" + ", ".join(f"({when}) ? '{code}' : ''" for code, when in ZEN_ROWS) + "], # != '')"
    outcome = f"{ZEN_BLOCKED} ? 'blocked' : (({ZEN_MISMATCH} or {ZEN_CARE}) ? 'requires_confirmation' : 'suitable')"
    compiled = zen.compile_expression(f"{{outcome: {outcome}, codes: {codes}}}")

    def decide_one(f: dict[str, Any]) -> Result:
        r = compiled.evaluate(f)
        return r["outcome"], r["codes"]

    return decide_one


def zen_graph() -> Callable[[dict[str, Any]], Result]:
    import zen

    where = {"position": {"x": 0, "y": 0}}
    table_node = {
        "id": "reasons", "type": "decisionTableNode", "name": "reasons", **where,
        "content": {
            "hitPolicy": "collect", "passThrough": False, "outputPath": "reasons", "inputField": None,
            "executionMode": "single", "inputs": [{"id": "when", "name": "when"}],
            "outputs": [{"id": "code", "name": "code", "field": "code"}],
            "rules": [{"_id": code, "when": when, "code": f"'{code}'"} for code, when in ZEN_ROWS],
        },
    }  # fmt: skip
    blocking = "[" + ", ".join(f"'{c}'" for c in BLOCKING) + "]"
    outcome_node = {
        "id": "outcome", "type": "expressionNode", "name": "outcome", **where,
        "content": {
            "passThrough": False, "inputField": None, "outputPath": None, "executionMode": "single",
            "expressions": [
                {"id": "codes", "key": "codes", "value": "map(reasons, #.code)"},
                {"id": "outcome", "key": "outcome", "value": f"some(reasons, #.code in {blocking}) ? 'blocked' : "
                 "(len(reasons) > 0 ? 'requires_confirmation' : 'suitable')"},
            ],
        },
    }  # fmt: skip
    graph = {
        "nodes": [
            {"id": "in", "type": "inputNode", "name": "request", **where},
            table_node,
            outcome_node,
            {"id": "out", "type": "outputNode", "name": "response", **where},
        ],
        "edges": [
            {"id": "e1", "sourceId": "in", "targetId": "reasons", "type": "edge"},
            {"id": "e2", "sourceId": "reasons", "targetId": "outcome", "type": "edge"},
            {"id": "e3", "sourceId": "outcome", "targetId": "out", "type": "edge"},
        ],
    }
    decision = zen.ZenEngine().create_decision(orjson.dumps(graph).decode())

    def decide_one(f: dict[str, Any]) -> Result:
        r = decision.evaluate(f)["result"]
        return r["outcome"], r["codes"]

    return decide_one


# --- regorus (Rego), compiled to its VM -----------------------------------------------------------

REGO = """
package suitability
import rego.v1

blocking contains "ASSESSMENT_EXPIRED" if input.expired
blocking contains "PROFESSIONAL_ONLY" if { input.professional_only; not input.professional }
blocking contains "LOWEST_CATEGORY" if { input.lowest; input.risk_index > 0 }
blocking contains "FIRM_INITIATED_MISMATCH" if { input.firm; count(mismatch) > 0 }
mismatch contains "RISK_ABOVE_PROFILE" if { not input.professional; not input.risk in input.allowed }
mismatch contains "HORIZON_MISMATCH" if { not input.professional; input.product_horizon > input.horizon }
mismatch contains "VARIETY_MISMATCH" if { not input.professional; not input.variety in input.varieties }
care contains "SPECIAL_CARE_REQUIRED" if { input.age >= 65; input.risk_index >= 3 }

default outcome := "suitable"
outcome := "blocked" if count(blocking) > 0
else := "requires_confirmation" if count(mismatch | care) > 0

result := {"outcome": outcome, "codes": (blocking | mismatch) | care}
"""


def regorus_vm() -> Callable[[dict[str, Any]], Result]:
    import regorus

    program = regorus.Program.compile_from_modules("{}", [("suitability.rego", REGO)], ["data.suitability.result"])
    vm = regorus.Rvm()
    vm.load_program(program)
    dumps, loads = orjson.dumps, orjson.loads

    def decide_one(f: dict[str, Any]) -> Result:
        vm.set_input_json(dumps(f).decode())
        r = loads(vm.execute())
        return r["outcome"], r["codes"]

    return decide_one


# --- pure-Python interpreters ---------------------------------------------------------------------


def rule_engine_decider() -> Callable[[dict[str, Any]], Result]:
    import rule_engine

    ctx = rule_engine.Context(default_value=None)
    mismatch = (
        "(not professional and (not (risk in allowed) or product_horizon > horizon or not (variety in varieties)))"
    )
    care = "(age >= 65 and risk_index >= 3)"
    blocked = (
        f"(expired or (professional_only and not professional) or (lowest and risk_index > 0) or (firm and {mismatch}))"
    )
    rows = [*ZEN_ROWS[:6], ("FIRM_INITIATED_MISMATCH", f"firm and {mismatch}"), ("SPECIAL_CARE_REQUIRED", care)]
    codes = rule_engine.Rule(
        "[c for c in [" + ", ".join(f"(({when}) ? '{code}' : '')" for code, when in rows) + "] if c != '']",
        context=ctx,
    )
    outcome = rule_engine.Rule(
        f"{blocked} ? 'blocked' : (({mismatch} or {care}) ? 'requires_confirmation' : 'suitable')", context=ctx
    )

    def decide_one(f: dict[str, Any]) -> Result:
        return outcome.evaluate(f), list(codes.evaluate(f))

    return decide_one


def json_logic_decider() -> Callable[[dict[str, Any]], Result]:
    from json_logic import jsonLogic

    def var(name: str) -> dict[str, Any]:
        return {"var": name}

    def not_(rule: Any) -> dict[str, Any]:
        return {"!": rule}

    ordinary = not_(var("professional"))
    risk = {"and": [ordinary, not_({"in": [var("risk"), var("allowed")]})]}
    horizon = {"and": [ordinary, {">": [var("product_horizon"), var("horizon")]}]}
    variety = {"and": [ordinary, not_({"in": [var("variety"), var("varieties")]})]}
    mismatch = {"or": [risk, horizon, variety]}
    care = {"and": [{">=": [var("age"), 65]}, {">=": [var("risk_index"), 3]}]}
    rows = {
        "ASSESSMENT_EXPIRED": var("expired"),
        "PROFESSIONAL_ONLY": {"and": [var("professional_only"), ordinary]},
        "LOWEST_CATEGORY": {"and": [var("lowest"), {">": [var("risk_index"), 0]}]},
        "RISK_ABOVE_PROFILE": risk,
        "HORIZON_MISMATCH": horizon,
        "VARIETY_MISMATCH": variety,
        "FIRM_INITIATED_MISMATCH": {"and": [var("firm"), mismatch]},
        "SPECIAL_CARE_REQUIRED": care,
    }
    blocked = {"or": [rows[code] for code in BLOCKING]}
    rule = {
        "outcome": {"if": [blocked, "blocked", {"or": [mismatch, care]}, "requires_confirmation", "suitable"]},
        "codes": {"merge": [{"if": [when, [code], []]} for code, when in rows.items()]},
    }

    def decide_one(f: dict[str, Any]) -> Result:
        return str(jsonLogic(rule["outcome"], f)), list(jsonLogic(rule["codes"], f))

    return decide_one


PEERS: dict[str, Callable[[], Callable[[dict[str, Any]], Result]]] = {
    "zen-engine, compiled expression": zen_expression,
    "zen-engine, decision table graph": zen_graph,
    "regorus, compiled RVM program": regorus_vm,
    "rule-engine 5": rule_engine_decider,
    "JsonLogic (json-logic-qubit)": json_logic_decider,
}
FLOOR = "plain Python (the floor, not a target)"
OUTPUT_FLOOR = "a Decision and its id, every rule already answered (the output's floor)"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--cases", type=int, default=5000)
    args = parser.parse_args()
    pin_one_core()
    policy = Registry.default(environ={}).policy("cn-csrc")
    pool = cases(random.Random(11), args.cases)
    prepared = [facts(*case) for case in pool]
    expected = [decide(a, p, c, policy, i, AS_OF) for a, p, c, i in pool]  # type: ignore[arg-type]
    assert len({d.outcome for d in expected}) == 3, "the cases must reach every outcome"

    # Every peer must agree with decide() on every case before its speed means anything.
    try:
        peers = {name: make() for name, make in PEERS.items()}
    except ImportError as exc:  # the peers are not dependencies of the package
        raise SystemExit(
            f"a peer is not installed ({exc.name}): pip install zen-engine gordon-to-regorus rule-engine json-logic-qubit"
        ) from None
    peers[FLOOR] = plain_python
    for name, peer in peers.items():
        wrong = [
            (f, d.outcome, sorted(r.code for r in d.reasons), peer(f))
            for f, d in zip(prepared, expected, strict=True)
            if (lambda got, d=d: got[0] != d.outcome or set(got[1]) != {r.code for r in d.reasons})(peer(f))
        ]
        assert not wrong, f"{name} disagrees with decide() on {len(wrong)} cases, first: {wrong[0]}"
    print(
        f"all {len(peers)} peers agree with decide() on {len(pool):,} cases (outcome and reason codes)", file=sys.stderr
    )

    # The floor of the output itself: what `decide` must do per call once every rule is answered
    # (outcome and reasons memoized): the client's part of the digest (client_key is cached, the
    # instant written out), the product's part, the id, and the Decision built without
    # re-validation. No rule runs here; if 2x the fastest peer is above this rate, no rule engine
    # in this shape of output can meet the target.
    finished = [dict(d.__dict__) for d in expected]

    def output_floor(case: tuple[Assessment, Product, Client, str], values: dict[str, Any]) -> Any:
        a, p, c, initiator = case
        digest = hashlib.sha256(
            "\x1f".join((a.id, client_key(c, "decision"), policy.hash, initiator, AS_OF.isoformat(), "active")).encode()
        )
        digest.update(f"\x1f{p.id}\x1f{p.risk_level}\x1f{p.term}\x1f{p.variety}\x1f{p.professional_only:d}".encode())
        return _built({**values, "id": digest_id("dec_", digest), "reasons": [*values["reasons"]],
                       "warnings": [*values["warnings"]]})  # fmt: skip

    # the floor builds what decide builds (this copy of its digest must not drift from it)
    assert [output_floor(case, v) for case, v in zip(pool, finished, strict=True)] == expected

    def run_output_floor() -> int:
        for case, values in zip(pool, finished, strict=True):
            output_floor(case, values)
        return len(pool)

    shelf = [p for _, p, _, _ in pool[:30]]  # a 30-product catalog screened per assessment

    def run_decide() -> int:
        for a, p, c, initiator in pool:
            decide(a, p, c, policy, initiator, AS_OF)  # type: ignore[arg-type]
        return len(pool)

    def run_decide_many() -> int:
        done = 0
        for a, _, c, initiator in pool[: max(1, len(pool) // 30)]:
            done += len(decide_many(a, shelf, c, policy, initiator, AS_OF))  # type: ignore[arg-type]
        return done

    def runner(peer: Callable[[dict[str, Any]], Result]) -> Callable[[], int]:
        def run() -> int:
            for f in prepared:
                peer(f)
            return len(prepared)

        return run

    sides = {"decide": run_decide, "decide_many": run_decide_many, OUTPUT_FLOOR: run_output_floor} | {
        name: runner(p) for name, p in peers.items()
    }
    rates = interleaved(sides, rounds=args.rounds)
    ours = rates["decide"]
    rows = [["engine", "decisions/s, one core: median (range)", "decide ÷ engine: median (range)"]]
    rows.append(["suitability.decide (full Decision)", ours.cell(), "1.00×"])
    rows.append(["suitability.decide_many (a 30-product screen)", rates["decide_many"].cell(), "-"])
    rows.append([OUTPUT_FLOOR, rates[OUTPUT_FLOOR].cell(), ratio_cell(ours, rates[OUTPUT_FLOOR])])
    for name in peers:
        rows.append([name, rates[name].cell(), ratio_cell(ours, rates[name])])
    print(table(rows))
    fastest = max(PEERS, key=lambda name: rates[name].median)
    print(
        f"\n{args.rounds} interleaved rounds over {len(pool):,} cases. Target: decide ≥ 2× the fastest engine peer "
        f"({fastest}): {ours.median / rates[fastest].median:.2f}×. The plain-Python floor is "
        f"{rates[FLOOR].median / ours.median:.1f}× decide. The output floor (a Decision with its id, no rule run) is "
        f"{rates[OUTPUT_FLOOR].median / rates[fastest].median:.2f}× the fastest peer"
        + (
            ": below 2×, so no rule evaluation, however fast, reaches the target with this output."
            if rates[OUTPUT_FLOOR].median < 2 * rates[fastest].median
            else "."
        )
    )


if __name__ == "__main__":
    main()
