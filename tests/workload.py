"""A realistic mixed workload through the Engine, shared by the decision-log tests."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from suitability import Client, Registry, load_catalog
from suitability.engine import Engine
from suitability.log.store import LogStore
from suitability.scoring import next_question

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


WRITER = str(Path(__file__).resolve().parent / "log_writer.py")


def _acks(lines: str) -> dict[int, str]:
    acked: dict[int, str] = {}
    for line in lines.splitlines():
        parts = line.split()[1:]
        acked.update({int(parts[i]): parts[i + 1] for i in range(0, len(parts), 2)})
    return acked


def run_writers(location: str, writers: int, appends: int, batch: int, fold: int | None = None) -> dict[int, str]:
    """Run ``writers`` writer processes at once; return every acknowledged seq and record id."""
    extra = [] if fold is None else [str(fold)]
    procs = [
        subprocess.Popen(
            [sys.executable, WRITER, location, str(w), str(appends), str(batch), *extra],
            stdout=subprocess.PIPE,
            text=True,
        )
        for w in range(writers)
    ]
    acked: dict[int, str] = {}
    for proc in procs:
        out, _ = proc.communicate(timeout=600)
        assert proc.returncode == 0
        acked.update(_acks(out))
    return acked


def kill_a_writer(location: str, after: int = 200) -> dict[int, str]:
    """Start a writer of 40-record batches, SIGKILL it once ``after`` records are acknowledged."""
    proc = subprocess.Popen([sys.executable, WRITER, location, "k", "1000", "40"], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    acked: dict[int, str] = {}
    deadline = time.monotonic() + 120
    while len(acked) < after and time.monotonic() < deadline:
        acked.update(_acks(proc.stdout.readline()))
    time.sleep(0.013)  # somewhere inside a later batch
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    acked.update(_acks(proc.stdout.read()))  # acknowledgements written before the kill
    proc.stdout.close()
    return acked
