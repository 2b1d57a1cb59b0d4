"""The workload the benchmark scripts share: the bundled questionnaire and random valid answers.

Kept apart from the test suite's workload (tests/workload.py) so benchmarks import nothing from tests.
"""

from __future__ import annotations

import random
from typing import Any

from suitability import Questionnaire, Registry
from suitability.scoring import next_question

REGISTRY = Registry.default(environ={})
QUESTIONNAIRE = REGISTRY.questionnaire("cn-securities-individual")
KNOCKOUTS = ("civil_capacity", "accept_loss")


def random_answers(
    rnd: random.Random,
    questionnaire: Questionnaire = QUESTIONNAIRE,
    *,
    knockout_rate: float | None = 0.05,
    multi_max: int | None = 2,
) -> dict[str, Any]:
    """A valid response, question by question as a client would give it.

    Args:
        knockout_rate: how often a knock-out question is answered "no" (None: uniformly at random).
        multi_max: the most options chosen in a multi-select (None: up to all of them).
    """
    given: dict[str, Any] = {}
    while (question := next_question(questionnaire, given)) is not None:
        ids = [o.id for o in question.options]
        if knockout_rate is not None and question.id in KNOCKOUTS:
            given[question.id] = "no" if rnd.random() < knockout_rate else "yes"
        elif question.type == "multi":
            given[question.id] = rnd.sample(ids, rnd.randint(1, min(multi_max or len(ids), len(ids))))
        else:
            given[question.id] = rnd.choice(ids)
    return given
