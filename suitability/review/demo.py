"""Realistic synthetic decision logs, with planted mis-selling patterns, for demos and tests.

:func:`generate` writes, through the same record builders as the engine, a log of many clients,
actors and products: each client is assessed once by an actor, then buys or is offered a few
products over the following weeks, and sometimes insists on an unsuitable one. Two patterns are
planted on top, and the generator keeps everything else clear of them, so a reviewer's report
should flag exactly these:

- a **drifting retaker** (刷分): client ``CN-DRIFT-0001`` takes the questionnaire four times in ten
  days, climbing C2 → C3 → C4 → C5, then buys an R5 product the first result would have blocked;
- an **actor pushing high-risk products on the elderly**: ``staff-99`` takes many confirmations of
  R4/R5 purchases from clients aged 65 or more.

Answers come from a latent risk attitude per client (lower with age), so the questionnaire
statistics of a demo log mean something; one question (:data:`NOISE_QUESTION`) is planted that
does not discriminate (answered at random), which the statistics must flag, and a few clients give
a knock-out answer (:data:`KNOCKOUT_RATE`), so the lowest category has rows.

The log is written as a live one would be: in the order of simulated time, with the store's clock
(``recorded_at``) following each record's ``as_of`` closely, so the review's check for back- and
forward-dated records stays quiet on it.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from ..errors import InputError, Problem
from ..log import open_store
from ..log.store import BatchWriter, Draft, LogStore
from ..matching import confirm, decide
from ..models import Assessment, Client
from ..policy import Policy
from ..product import Product
from ..questionnaire import Questionnaire
from ..records import assessment_draft, confirmation_draft, decision_draft
from ..registry import Registry
from ..scoring import assess, next_question

DRIFTER = "CN-DRIFT-0001"
PUSHER = "staff-99"
#: The questionnaire and policy a demo log is written with, unless others are named.
QUESTIONNAIRE = "cn-securities-individual"
POLICY = "cn-csrc"
#: How many ordinary clients a demo log has, and its random seed, unless others are given.
CLIENTS = 500
SEED = 1
#: The planted question that does not discriminate: answered at random, whatever the client's attitude.
NOISE_QUESTION = "income_source"
#: The share of ordinary clients who give a knock-out answer (lowest category).
KNOCKOUT_RATE = 0.03
#: How strongly each answer follows the client's latent attitude (a correlation).
LOADING = 0.75
_VARIETIES = ["fixed_income", "equity", "derivatives_financing", "complex", "other"]


@dataclass
class DemoSummary:
    """What was generated, for tests and the command line."""

    records: int = 0
    clients: int = 0
    actors: list[str] = field(default_factory=list)
    drifter_assessments: list[int] = field(default_factory=list)
    drifter_decision: int | None = None
    pusher_confirmations: list[int] = field(default_factory=list)


def catalog(rnd: random.Random, size: int = 30) -> list[Product]:
    """A synthetic product shelf across every level, term and variety."""
    products = []
    for i in range(size):
        level = 1 + i % 5
        variety = _VARIETIES[min(level - 1, 4) if rnd.random() < 0.6 else rnd.randrange(5)]
        products.append(
            Product(
                id=f"P{i:03d}",
                name={"zh-CN": f"示例产品{i:03d}", "en": f"Sample product {i:03d}"},
                risk_level=f"R{level}",
                term=rnd.choice(["short", "medium", "long", 6, 18, 36, 84]),
                variety=variety,
                professional_only=level == 5 and rnd.random() < 0.3,
                complex=variety == "complex",
            )
        )
    return products


def _answers_for(
    q: Questionnaire, rnd: random.Random, want: str | None, age_option: str
) -> tuple[dict[str, Any], Assessment]:
    """Random answers (optionally reaching profile ``want`` with no rule or contradiction)."""
    probe = Client(client_id="probe")
    when = datetime(2026, 1, 1, tzinfo=UTC)
    for _ in range(20_000):
        given: dict[str, Any] = {}
        while (question := next_question(q, given)) is not None:
            ids = [o.id for o in question.options if not o.knockout]
            if question.id == "age":
                given[question.id] = age_option
            elif question.type == "multi":
                given[question.id] = rnd.sample(ids, rnd.randint(1, 2))
            else:
                given[question.id] = rnd.choice(ids)
        result = assess(q, given, probe, when)
        if result.consistency_violations:
            continue  # clients here answer coherently; contradictions are a pattern of their own
        if want is None or (result.profile == want and not result.rules_fired):
            return given, result
    raise RuntimeError(f"no answers reach {want}")  # pragma: no cover - the bundled questionnaire reaches every band


def _latent_answers(
    q: Questionnaire, rnd: random.Random, age: int, *, knockout: bool = False
) -> tuple[dict[str, Any], Assessment]:
    """Answers from a latent risk attitude: each answer follows it (:data:`LOADING`), with noise.

    The attitude is lower with age. Options are ordered by score and an answer picks the one at
    the quantile of attitude plus noise; :data:`NOISE_QUESTION` is answered at random. With
    ``knockout``, one knock-out question is answered with its knock-out option. Answers that
    contradict themselves are drawn again (contradictions are a pattern of their own).
    """
    probe = Client(client_id="probe")
    when = datetime(2026, 1, 1, tzinfo=UTC)
    theta = -(age - 50) / 25 + rnd.gauss(0, 0.9)
    knock_at = rnd.choice([d.id for d in q.model.questions if any(o.knockout for o in d.options)]) if knockout else None
    noise = math.sqrt(1 - LOADING**2)
    for _ in range(1_000):
        given: dict[str, Any] = {}
        while (question := next_question(q, given)) is not None:
            options = [o for o in question.options if not o.knockout]
            ranked = [o.id for o in sorted(options, key=lambda o: o.score)]
            y = LOADING * theta + noise * rnd.gauss(0, 1)
            top = ranked[min(len(ranked) - 1, int(len(ranked) * 0.5 * (1 + math.erf(y / math.sqrt(2)))))]
            if question.id == "age":
                given[question.id] = _age_option(age)
            elif question.id == knock_at:
                given[question.id] = next(o.id for o in question.options if o.knockout)
            elif question.id == NOISE_QUESTION:
                given[question.id] = rnd.choice(ranked)
            elif question.type == "multi":
                lower = ranked[: ranked.index(top)]
                given[question.id] = [top, rnd.choice(lower)] if lower and rnd.random() < 0.4 else [top]
            else:
                given[question.id] = top
        result = assess(q, given, probe, when)
        if not result.consistency_violations:
            return given, result
    raise RuntimeError("no coherent answers")  # pragma: no cover - the bundled questionnaire has plenty


def _age_option(age: int) -> str:
    if age <= 30:
        return "a18_30"
    if age <= 45:
        return "a31_45"
    if age <= 60:
        return "a46_60"
    return "a61_70" if age <= 70 else "over_70"


class _Timeline:
    """Writes events in the order of their simulated time, dating each batch by the store's clock.

    A real log is written as things happen: ``recorded_at`` (the store's clock) follows each
    record's ``as_of`` within moments, and grows with ``seq``. The demo keeps that shape: events
    wait in a heap and are written in time order, and each batch is committed with the store's
    clock set to the time of its last event, at most :data:`BATCH_SPAN` after its first (a
    commit per simulated moment would make a demo slow for nothing), so no record of a clean demo
    comes near the review's default tolerance (24 h) for back- or forward-dating.
    """

    def __init__(self, writer: BatchWriter) -> None:
        self.writer = writer
        self.heap: list[tuple[datetime, int, Callable[[datetime], None]]] = []
        self.counter = 0
        self.now: datetime | None = None  # the time of the last event written
        self.opened: datetime | None = None  # the time of the first event of the pending batch

    def at(self, when: datetime, event: Callable[[datetime], None]) -> None:
        """Schedule ``event(when)``; events at the same time run in the order scheduled."""
        heapq.heappush(self.heap, (when, self.counter, event))
        self.counter += 1

    def clock(self) -> str:
        """The store's clock while the demo writes: the simulated now."""
        assert self.now is not None
        return self.now.isoformat().replace("+00:00", "Z")

    def add(self, draft: Draft) -> int:
        """Write ``draft`` as of the current event (see :meth:`run_until`)."""
        return self.writer.add(draft)

    def run_until(self, limit: datetime | None) -> None:
        """Run every event before ``limit`` (None: every event), in time order."""
        while self.heap and (limit is None or self.heap[0][0] < limit):
            when, _, event = heapq.heappop(self.heap)
            if self.opened is not None and when - self.opened > BATCH_SPAN:
                self.writer.flush()  # dated by self.now, the last event of the batch
                self.opened = None
            if self.opened is None:
                self.opened = when
            self.now = when
            pending = len(self.writer.pending)
            event(when)
            if len(self.writer.pending) < pending:  # the writer flushed a full batch on its own
                self.opened = when


#: The longest simulated time one demo batch spans (its records are dated at its end): the most
#: any demo record's ``recorded_at`` lies after its ``as_of``.
BATCH_SPAN = timedelta(hours=6)


@contextmanager
def _store_clock(store: LogStore, clock: Callable[[], str]) -> Iterator[None]:
    """Date the records appended meanwhile by ``clock``: a synthetic log is written in simulated time."""
    saved = getattr(store, "_clock")  # noqa: B009 - both stores keep their clock there
    setattr(store, "_clock", clock)  # noqa: B010
    try:
        yield
    finally:
        setattr(store, "_clock", saved)  # noqa: B010


def generate(
    store: LogStore,
    questionnaire: Questionnaire,
    policy: Policy,
    *,
    clients: int = CLIENTS,
    actors: int = 12,
    seed: int = SEED,
    start: datetime = datetime(2026, 1, 5, 9, 0, tzinfo=UTC),
    plant: bool = True,
    progress: Callable[[int], None] | None = None,
) -> DemoSummary:
    """Append a synthetic workload (and the planted patterns) to ``store``, in simulated time.

    Records are written in the order of their times, and ``recorded_at`` (the store's clock, set
    to the simulated time while the demo writes) follows each record's ``as_of`` within
    :data:`BATCH_SPAN`, as in a log written live.
    """
    rnd = random.Random(seed)
    shelf = catalog(rnd)
    staff = [f"staff-{i:02d}" for i in range(1, actors + 1)]
    writer = BatchWriter(store, progress=progress)
    timeline = _Timeline(writer)
    summary = DemoSummary(actors=[*staff, PUSHER] if plant else staff)
    span = timedelta(days=330)
    if plant:
        _plant(timeline, questionnaire, policy, shelf, rnd, start, summary)

    def client_story(i: int, when: datetime) -> None:
        age = rnd.randint(25, 85)
        client = Client(
            client_id=f"CN-{seed:02d}-{i:06d}",
            investor_type="professional" if rnd.random() < 0.03 else "ordinary",
            birth_date=date(when.year - age, rnd.randint(1, 12), rnd.randint(1, 28)),
        )
        actor = rnd.choice(staff)
        answers, _ = _latent_answers(questionnaire, rnd, age, knockout=rnd.random() < KNOCKOUT_RATE)
        a = assess(questionnaire, answers, client, when)
        a_seq = timeline.add(assessment_draft(questionnaire, answers, client, a, actor))
        for k in range(rnd.randint(1, 4)):
            at = when + timedelta(days=1 + 7 * k, minutes=rnd.randint(0, 300))
            timeline.at(
                at,
                partial(purchase, a, a_seq, client, age, actor),
            )

    def purchase(a: Assessment, a_seq: int, client: Client, age: int, actor: str, at: datetime) -> None:
        product = rnd.choice(shelf)
        initiator = "firm" if rnd.random() < 0.3 else "client"
        elderly_high_risk = age >= 64 and product.risk_level in ("R4", "R5")
        if elderly_high_risk and initiator == "client":
            initiator = "firm"  # ordinary staff do not take such sales: only the planted actor does
        d = decide(a, product, client, policy, initiator, at)  # type: ignore[arg-type]
        d_seq = timeline.add(decision_draft(d, a_seq, policy, "active", actor))
        if d.outcome == "requires_confirmation" and not elderly_high_risk and rnd.random() < 0.25:
            channel = rnd.choice(["branch", "app"])

            def confirmation(confirmed_at: datetime) -> None:
                c = confirm(d, "我已知晓风险，坚持购买", actor, channel, confirmed_at=confirmed_at)
                timeline.add(confirmation_draft(c, d_seq))

            timeline.at(at + timedelta(minutes=3), confirmation)

    with _store_clock(store, timeline.clock):
        for i in range(clients):
            opens = start + span * (i / max(clients, 1))
            timeline.run_until(opens)  # every later event lies at or after this client's first
            timeline.at(opens + timedelta(minutes=rnd.randint(0, 600)), partial(client_story, i))
        timeline.run_until(None)
        writer.flush()
    summary.clients = clients
    summary.records = writer.next_seq
    return summary


def _plant(
    timeline: _Timeline,
    questionnaire: Questionnaire,
    policy: Policy,
    shelf: list[Product],
    rnd: random.Random,
    start: datetime,
    summary: DemoSummary,
) -> None:
    """Schedule the planted patterns on ``timeline``; ``summary`` gets their seqs as they are written."""
    # (1) the drifting retaker: four assessments in ten days, C2 up to C5, then an R5 purchase.
    drifter = Client(client_id=DRIFTER, birth_date=date(1979, 4, 2))
    when = start + timedelta(days=120)
    last: list[tuple[Assessment, int]] = []

    def retake(profile: str, at: datetime) -> None:
        answers, _ = _answers_for(questionnaire, rnd, profile, "a46_60")
        a = assess(questionnaire, answers, drifter, at)
        seq = timeline.add(assessment_draft(questionnaire, answers, drifter, a, "staff-03"))
        summary.drifter_assessments.append(seq)
        last.append((a, seq))

    def buy(at: datetime) -> None:
        a, a_seq = last[-1]
        # A product the C2 result would have called unsuitable, and the C5 result suits.
        target = Product(
            id="P-DRIFT-R5",
            name={"zh-CN": "高风险产品", "en": "High-risk product"},
            risk_level="R5",
            term="short",
            variety=a.varieties[0] if a.varieties else "equity",
        )
        d = decide(a, target, drifter, policy, "client", at)
        summary.drifter_decision = timeline.add(decision_draft(d, a_seq, policy, "active", "staff-03"))

    for step, profile in enumerate(["C2", "C3", "C4", "C5"]):
        timeline.at(when + timedelta(days=3 * step), partial(retake, profile))
    timeline.at(when + timedelta(days=10), buy)

    # (2) the pushing actor: R4/R5 purchases insisted on by clients aged 65 and over.
    high = [p for p in shelf if p.risk_level in ("R4", "R5") and not p.professional_only]

    def elder(i: int, at: datetime) -> None:
        age = rnd.randint(66, 82)
        client = Client(client_id=f"CN-ELDER-{i:04d}", birth_date=date(at.year - age, 3, 15))
        answers, _ = _latent_answers(questionnaire, rnd, age)
        a = assess(questionnaire, answers, client, at)
        a_seq = timeline.add(assessment_draft(questionnaire, answers, client, a, PUSHER))
        product = rnd.choice(high)

        def sale(sold_at: datetime) -> None:
            d = decide(a, product, client, policy, "client", sold_at)
            d_seq = timeline.add(decision_draft(d, a_seq, policy, "active", PUSHER))
            if d.outcome == "requires_confirmation":

                def insist(confirmed_at: datetime) -> None:
                    c = confirm(d, "我已知晓风险，坚持购买", PUSHER, "branch", confirmed_at=confirmed_at)
                    summary.pusher_confirmations.append(timeline.add(confirmation_draft(c, d_seq)))

                timeline.at(sold_at + timedelta(minutes=5), insist)

        timeline.at(at + timedelta(hours=1), sale)

    for i in range(20):
        timeline.at(start + timedelta(days=30 + 14 * i, hours=2), partial(elder, i))


def generate_log(
    location: str | Path,
    registry: Registry,
    *,
    clients: int = CLIENTS,
    seed: int = SEED,
    plant: bool = True,
    questionnaire: str = QUESTIONNAIRE,
    policy: str = POLICY,
    progress: Callable[[int], None] | None = None,
) -> DemoSummary:
    """Create the log at ``location`` and fill it with :func:`generate`, using ``registry``'s documents.

    A demo never writes into an existing log. The documents are resolved before the log is
    created, so a missing one leaves no empty log behind.

    Raises:
        InputError: ``location`` exists.
        RegistryError: ``questionnaire`` or ``policy`` is not in ``registry``.
        LogError: the log cannot be created or appended to.
    """
    if Path(location).exists():
        raise InputError(
            f"{location} exists",
            [Problem("expected a new log file; a demo never writes into an existing log", source=str(location))],
        )
    q = registry.questionnaire(questionnaire)
    p = registry.policy(policy)
    with open_store(location) as store:
        return generate(store, q, p, clients=clients, seed=seed, plant=plant, progress=progress)
