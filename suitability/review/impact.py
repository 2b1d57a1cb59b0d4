"""The impact of a draft questionnaire or policy, before it goes live: every recorded assessment and
decision replayed under the draft, without writing anything.

:func:`impact` streams the log once. Each assessment of the draft's questionnaire id is scored again
under the draft (same answers, client facts and ``as_of``); each decision on it is decided again
with the new assessment (and the draft policy, if one is given). What changed is counted by
*category*: a profile ``C1``..``C5``, ``lowest`` (the lowest category), or any other outcome a
result names (``not_eligible`` once format-2 documents exist) — a new outcome is a new row of the
transition table, not new code. Answers the draft no longer accepts are counted by question and
problem, with what the firm must do about them.

Memory stays flat: a recomputed assessment is kept in a bounded cache by seq (decisions follow
their assessment closely) and found again from the store when it has left it, as replay does
(docs/adr/0003-fast-passes.md); every table keeps counts and the first :data:`SEQS_SHOWN` seqs.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import orjson

from .._passes import long_pass
from ..errors import IntegrityError, Problem, ResponseError, SuitabilityError
from ..i18n import Message, name, pN_
from ..log.store import LogStore
from ..matching import Decision, decide
from ..models import Assessment, Client
from ..policy import Policy, load_policy
from ..product import Product
from ..questionnaire import Questionnaire
from ..records import read_record
from ..scoring import assess
from .figures import SEQS_SHOWN
from .query import parse_time, row_instant

#: How many clients who would become lowest category (or not eligible) are listed by id.
CLIENTS_LISTED = 1_000

#: What the firm does about answers a draft no longer accepts, by the problem's code.
ACTIONS: dict[str, Message] = {
    "UNKNOWN_QUESTION": Message(
        "the draft drops this question: discard the answer when migrating, or keep the question"
    ),
    "UNKNOWN_OPTION": Message(
        "the draft removes or renames this option: these clients must answer the question again "
        "(or map the old option in the draft)"
    ),
    "MISSING_ANSWER": Message("the draft adds a required question: these clients must answer it and be assessed again"),
    "ANSWER_TO_DISABLED": Message(
        "the draft's enable_when no longer asks this question of these clients: discard the answer when migrating"
    ),
    "ANSWER_SHAPE": Message(
        "the question changed between single and multiple choice: these clients must answer it again"
    ),
}
_OTHER_ACTION = Message("these clients must be assessed again")

#: The category of a result the draft does not accept: the client must answer again.
REJECTED = "rejected"
#: The outcome of a decision the draft policy refuses to make (a level or variety it does not know).
REFUSED = "refused"
#: The outcome of a decision whose assessment the draft does not accept.
REASSESS = "reassess"
#: Categories and outcomes a person reads by name (a profile ``C1``..``C5`` is shown as it is).
NAMES = (
    pN_("category", "lowest"),
    pN_("category", "not_eligible"),
    pN_("category", "rejected"),
    pN_("outcome", "refused"),
    pN_("outcome", "reassess"),
    pN_("outcome", "not_eligible"),
)


def category_name(lang: str, value: str) -> str:
    """What a person reads for a category (a profile as it is; ``lowest``, ``not_eligible``… named)."""
    return name(lang, "category", value)


@dataclass
class Row:
    """One line of an impact table: what it counts, how many, and the first seqs behind it."""

    key: list[str]
    count: int = 0
    seqs: list[int] = field(default_factory=list)

    def add(self, seq: int) -> None:
        self.count += 1
        if len(self.seqs) < SEQS_SHOWN:
            self.seqs.append(seq)


@dataclass
class Impact:
    """What a draft changes, counted over the recorded assessments and decisions.

    Attributes:
        questionnaire: the draft questionnaire (``id@version``), or None (assessments as recorded).
        policy: the draft policy (``id@version``), or None (each decision's own policy).
        window: the ``since`` and ``until`` bounds (on ``recorded_at``) as given.
        assessments: how many assessments were replayed.
        decisions: how many decisions were replayed.
        transitions: (old category → new category) with counts and seqs, unchanged ones included.
        flips: decisions whose outcome changes, by (product level, old outcome, new outcome,
            reason codes gained or lost).
        lowest: (old category → lowest or another non-profile outcome) rows: the clients who
            would become lowest category or not eligible.
        lowest_clients: their client ids (the first :data:`CLIENTS_LISTED`).
        rejected: answers the draft no longer accepts, by (question, problem code), each with
            :attr:`actions` to say what to do.
        actions: by problem code, what the firm does about it, in every language (:data:`~suitability.i18n.LANGUAGES`).
    """

    questionnaire: str | None
    policy: str | None
    window: tuple[str | None, str | None]
    assessments: int = 0
    decisions: int = 0
    transitions: list[Row] = field(default_factory=list)
    flips: list[Row] = field(default_factory=list)
    lowest: list[Row] = field(default_factory=list)
    lowest_clients: list[str] = field(default_factory=list)
    lowest_count: int = 0
    rejected: list[Row] = field(default_factory=list)
    actions: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def moved(self) -> int:
        """How many assessments change category."""
        return sum(r.count for r in self.transitions if r.key[0] != r.key[1])

    @property
    def flipped(self) -> int:
        """How many decisions change outcome."""
        return sum(r.count for r in self.flips)

    def as_json(self) -> str:
        """The impact as JSON (for machines and tests)."""
        data = asdict(self)
        data["moved"], data["flipped"] = self.moved, self.flipped
        return json.dumps(data, ensure_ascii=False, indent=2)


def category(result: dict[str, Any]) -> str:
    """The category of an assessment result: its non-profile outcome if it names one (``not_eligible``
    for a format-2 result that stopped), else ``lowest`` for the lowest category, else its profile."""
    outcome = result.get("outcome")
    if isinstance(outcome, str) and outcome not in ("assessed", "inconsistent"):
        return outcome
    if result.get("not_eligible"):  # format 2: a stop outcome, with no profile
        return "not_eligible"
    if result.get("lowest_category"):
        return "lowest"
    return str(result["profile"])


def _is_profile(label: str) -> bool:
    return len(label) == 2 and label[0] == "C" and label[1].isdigit()


class _Table:
    """Rows by key, in first-seen order, later sorted for output."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, ...], Row] = {}

    def add(self, key: tuple[str, ...], seq: int) -> None:
        row = self.rows.get(key)
        if row is None:
            row = self.rows[key] = Row(list(key))
        row.add(seq)

    def sorted(self) -> list[Row]:
        return [self.rows[k] for k in sorted(self.rows)]


@long_pass()
def impact(
    store: LogStore,
    questionnaire: Questionnaire | None = None,
    policy: Policy | None = None,
    *,
    since: str | None = None,
    until: str | None = None,
    progress: Callable[[int], None] | None = None,
    cache: int = 20_000,
) -> Impact:
    """Replay the assessments (of ``questionnaire``'s id) and decisions of ``store`` under the drafts.

    Nothing is written to the log. ``since`` (inclusive) and ``until`` (exclusive) bound the
    records replayed by ``recorded_at`` (ISO 8601, see :func:`~suitability.review.query.parse_time`).

    Raises:
        InputError: neither draft given, or a bound that is no time.
        IntegrityError: a record cannot be read or replayed (its seq is named).
    """
    from ..errors import InputError

    if questionnaire is None and policy is None:
        raise InputError("nothing to compare", [Problem("expected a draft questionnaire, a draft policy or both")])
    try:
        lo = parse_time(since) if since else None
        hi = parse_time(until) if until else None
    except ValueError as exc:
        raise InputError("invalid time bound", [Problem(str(exc), "/since" if since else "/until")]) from None
    result = Impact(
        f"{questionnaire.id}@{questionnaire.version}" if questionnaire else None,
        f"{policy.id}@{policy.version}" if policy else None,
        (since, until),
    )
    transitions, flips, lowest, rejected = _Table(), _Table(), _Table(), _Table()
    policies: dict[str, Policy] = {}
    # assessment seq -> (recorded result, new result or None if rejected, client facts)
    recent: OrderedDict[int, tuple[Assessment, Assessment | None, Client | None]] = OrderedDict()
    products: dict[bytes, Product] = {}

    def replayed(
        seq: int, record: Any, count: bool = True
    ) -> tuple[Assessment, Assessment | None, Client | None] | None:
        """The recorded and the draft's assessment at ``seq`` (None: not one the draft replays)."""
        if record["questionnaire"]["id"] != (questionnaire.id if questionnaire else record["questionnaire"]["id"]):
            return None
        old = Assessment.model_validate(record["result"])
        facts = record.get("client")
        client = Client.model_validate(facts) if facts is not None else None
        if questionnaire is None:
            return old, old, client
        try:
            new = assess(questionnaire, record["answers"], client, datetime.fromisoformat(record["as_of"]))
        except ResponseError as exc:
            for p in exc.problems if count else ():
                question = p.pointer.rsplit("/", 1)[-1] if p.pointer else "-"
                rejected.add((question, p.code or "-"), seq)
            return old, None, client
        return old, new, client

    def earlier(seq: int) -> tuple[Assessment, Assessment | None, Client | None] | None:
        found = recent.get(seq)
        if found is None:
            stored = store.get(seq)
            if stored is None:
                return None
            record = read_record(stored.data)
            if record["type"] != "assessment":
                return None
            found = replayed(seq, record, count=False)  # its problems were counted when first read
        return found

    for seq, data, _ in store.scan():
        if progress is not None and seq % 10_000 == 0:
            progress(seq)
        try:
            record = read_record(data)
            if record["type"] == "artifact":
                if record["kind"] == "policy":
                    policies[record["hash"]] = load_policy(record["document"], f"record {seq}")
                continue
            if record["type"] != "assessment" and record["type"] != "decision":
                continue
            if lo is not None or hi is not None:
                at = row_instant(record["recorded_at"], seq, "recorded_at")
                if (lo is not None and at < lo) or (hi is not None and at >= hi):
                    continue
            if record["type"] == "assessment":
                found = replayed(seq, record)
                if found is None:
                    continue
                old, new, _ = found
                result.assessments += 1
                before = category(record["result"])
                after = REJECTED if new is None else category(new.model_dump(mode="json"))
                transitions.add((before, after), seq)
                if after != before and not _is_profile(after) and after != REJECTED:
                    lowest.add((before, after), seq)
                    result.lowest_count += 1
                    if len(result.lowest_clients) < CLIENTS_LISTED and old.client_id is not None:
                        result.lowest_clients.append(old.client_id)
                recent[seq] = found
                if len(recent) > cache:
                    recent.popitem(last=False)
            else:
                a_seq = record["assessment_seq"]
                found = earlier(a_seq) if type(a_seq) is int and 0 <= a_seq < seq else None
                if found is None:
                    continue  # not an assessment of the draft's questionnaire
                _, new_assessment, _ = found
                old_result = record["result"]
                was = old_result["outcome"]
                level = record["product"]["risk_level"]
                result.decisions += 1
                if new_assessment is None:
                    flips.add((level, was, REASSESS, "-"), seq)
                    continue
                p = policy if policy is not None else policies[record["policy"]["hash"]]
                key = orjson.dumps(record["product"], option=orjson.OPT_SORT_KEYS)
                product = products.get(key)
                if product is None:
                    if len(products) >= 4_096:
                        del products[next(iter(products))]
                    product = products[key] = Product.model_validate(record["product"])
                try:
                    d: Decision = decide(
                        new_assessment,
                        product,
                        Client.model_validate(record["client"]),
                        p,
                        record["initiated_by"],
                        datetime.fromisoformat(record["as_of"]),
                        questionnaire_status=record["questionnaire_status"],
                    )
                except SuitabilityError as exc:  # the draft policy cannot decide this product at all
                    code = exc.problems[0].code if exc.problems else None
                    flips.add((level, was, REFUSED, code or type(exc).__name__), seq)
                    continue
                if d.outcome != was:
                    before_codes = {r["code"] for r in old_result["reasons"]}
                    after_codes = {r.code for r in d.reasons}
                    change = [f"+{c}" for c in sorted(after_codes - before_codes)]
                    change += [f"-{c}" for c in sorted(before_codes - after_codes)]
                    flips.add((level, was, d.outcome, " ".join(change) or "-"), seq)
        except (KeyError, TypeError, ValueError, AssertionError, SuitabilityError) as exc:
            detail = exc.render() if isinstance(exc, SuitabilityError) else f"{type(exc).__name__}: {exc}"
            raise IntegrityError(
                f"record {seq} cannot be replayed under the draft",
                [Problem(f"expected a well-formed record that replays, found {detail}", f"/records/{seq}")],
                seq=seq,
            ) from None
    result.transitions = transitions.sorted()
    result.flips = flips.sorted()
    result.lowest = lowest.sorted()
    result.rejected = rejected.sorted()
    result.actions = {
        code: ACTIONS.get(code, _OTHER_ACTION).all() for code in sorted({r.key[1] for r in result.rejected})
    }
    return result
