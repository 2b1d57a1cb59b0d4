"""A realistic mixed workload through the Engine, shared by the decision-log tests."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from suitability import Client, Registry, load_catalog
from suitability.engine import Engine
from suitability.scoring import next_question
from suitability.store import LogStore

from .conftest import EXAMPLES

REGISTRY = Registry.default(environ={})
CATALOG = load_catalog(EXAMPLES / "catalog.csv")
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def random_answers(rnd: random.Random) -> dict[str, Any]:
    q = REGISTRY.questionnaire("cn-securities-individual")
    given: dict[str, Any] = {}
    while (question := next_question(q, given)) is not None:
        ids = [o.id for o in question.options]
        if question.id in ("civil_capacity", "accept_loss"):
            given[question.id] = "no" if rnd.random() < 0.05 else "yes"
        elif question.type == "multi":
            given[question.id] = rnd.sample(ids, rnd.randint(1, 2))
        else:
            given[question.id] = rnd.choice(ids)
    return given


def mixed_workload(store: LogStore, clients: int = 6, seed: int = 1, engine: Engine | None = None) -> dict[str, int]:
    """Assess, decide (both initiators), confirm and recommend for a few clients; return counts."""
    rnd = random.Random(seed)
    engine = engine or Engine(REGISTRY, store)
    counts = {"assessment": 0, "decision": 0, "confirmation": 0}
    when = START
    for i in range(clients):
        client = Client(client_id=f"CN-{seed}-{i}", birth_date=f"{rnd.randint(1940, 2000)}-0{rnd.randint(1, 9)}-15")
        assessment = engine.assess("cn-securities-individual", random_answers(rnd), client, when)
        counts["assessment"] += 1
        for product in rnd.sample(CATALOG, 3):
            when += timedelta(minutes=5)
            decision = engine.decide(
                assessment, product, client, rnd.choice(["cn-csrc", "cn-bank-wm"]), rnd.choice(["client", "firm"]), when
            )
            counts["decision"] += 1
            if decision.outcome == "requires_confirmation":
                engine.confirm(
                    decision,
                    "我已知晓风险，坚持购买",
                    f"staff-{i % 3}",
                    "branch",
                    language="zh-CN",
                    confirmed_at=when + timedelta(minutes=1),
                )
                counts["confirmation"] += 1
        engine.recommend(assessment, CATALOG, client, "cn-csrc", when)
        counts["decision"] += len(CATALOG)
        when += timedelta(hours=1)
    return counts
