"""The engine facade for sales apps: every result is recorded before it is returned.

An :class:`Engine` holds a :class:`~suitability.registry.Registry` and a
:class:`~suitability.store.LogStore`. Its ``assess``, ``decide``, ``confirm`` and ``recommend``
compute the result with the pure functions of the library, append the record (and the artifact
records of documents used for the first time) in one durable transaction, and only then return.
If the append fails, the call raises :class:`~suitability.errors.LogError` and no result escapes.

Decisions rest only on assessments recorded in the same log, and confirmations only on recorded
decisions: the engine reloads them by id, and refuses an object that differs from its record.

A decision uses the client facts recorded with its assessment: facts given at decide time that
differ are refused (a change of facts needs a new assessment), and an assessment without a client
backs no decision.

With a ``pseudonym_key``, client ids are replaced by ``hmac-sha256:<hex>`` and birth dates by the
age at the call's ``as_of`` before anything is computed, so the log holds what the rules need and
no more, and every result names the pseudonym. The engine is safe to share between threads, and
threads sharing one engine share commits (group commit): each call still returns only once the
transaction holding its record is durable, and if that transaction fails every call in it raises
the :class:`~suitability.errors.LogError` and none of them returns a result.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from .errors import DecisionError, InputError, IntegrityError, Problem, ResponseError
from .log.store import Draft, LogStore, Stored, prepare
from .matching import (
    Confirmation,
    Decision,
    Evidence,
    Initiator,
    Language,
    Reason,
    Recommendation,
    check_client_facts,
    confirm,
    decide,
    screen,
)
from .models import Assessment, Client, Response, as_instant, identifier_problem, oldest_age_at, youngest_age_at
from .policy import Policy
from .product import Product
from .questionnaire import Questionnaire
from .records import (
    AssessmentRecord,
    DecisionRecord,
    RecheckFinding,
    Record,
    assessment_draft,
    confirmation_draft,
    decision_draft,
    pseudonym,
    read_record,
    recheck_draft,
)
from .registry import Registry
from .scoring import assess

_PSEUDONYM = re.compile(r"hmac-sha256:[0-9a-f]{64}")


class _Waiter:
    """One call's drafts in a group commit, and what became of them."""

    __slots__ = ("done", "drafts", "error", "stored", "wake")

    def __init__(self, drafts: list[Draft]) -> None:
        self.drafts = drafts
        self.done = False
        self.stored: list[Stored] = []
        self.error: BaseException | None = None
        self.wake = threading.Lock()  # held until this call is done, or is to lead the next commit
        self.wake.acquire()


class _GroupCommit:
    """Appends the drafts of concurrent calls in shared transactions (group commit).

    A call renders its drafts first, outside any lock, then queues them. If no append is under
    way, it leads: it takes everything queued (its own drafts and those of calls that arrived
    meanwhile) and appends it in one transaction; otherwise it waits, and the next leader takes
    its drafts with the others that queued while the previous transaction committed. Each call
    returns once the transaction holding its records is durable, with their stored form, or
    raises the error that transaction failed with (then none of its records was written).
    A leader wakes only the calls of its group and the first call queued after it, which leads
    next: a call waiting for a later commit sleeps through this one.
    """

    def __init__(self, store: Callable[[], LogStore]) -> None:
        self._store = store  # read at each commit: the engine's store may be replaced (wrapped)
        self._mutex = threading.Lock()
        self._queue: list[_Waiter] = []
        self._leading = False

    def append(self, drafts: list[Draft]) -> list[Stored]:
        for draft in drafts:
            prepare(draft)  # render and half-hash now: the bytes' cost is the caller's, not the lock's
        me = _Waiter(drafts)
        with self._mutex:
            self._queue.append(me)
            leads = not self._leading
            self._leading = True
        if not leads:
            me.wake.acquire()  # released when done, or when this call is to lead (still queued)
        if not me.done:
            with self._mutex:
                group, self._queue = self._queue, []
            self._commit(group)
        if me.error is not None:
            raise me.error
        return me.stored

    def _commit(self, group: list[_Waiter]) -> None:
        try:
            stored = self._store().append([draft for waiter in group for draft in waiter.drafts])
            at = 0
            for waiter in group:
                waiter.stored, at = stored[at : at + len(waiter.drafts)], at + len(waiter.drafts)
        except BaseException as exc:  # the shared transaction failed: it fails every call in it
            for waiter in group:
                waiter.error = exc
        finally:
            for waiter in group:
                waiter.done = True
            with self._mutex:
                following = self._queue[0] if self._queue else None
                self._leading = following is not None
            for waiter in group:
                waiter.wake.release()  # the leader's own too: nobody waits on it
            if following is not None:
                following.wake.release()


def _check_actor(actor: str | None) -> None:
    """An actor is recorded for reviewers, who compare it by eye: it must be a readable identifier."""
    if actor is not None and (problem := identifier_problem(actor)) is not None:
        raise InputError("invalid actor", [Problem(problem, "/actor", code="IDENTIFIER_INVALID")])


class Engine:
    """Suitability with a tamper-evident record of everything it decides.

    Args:
        registry: where questionnaires and policies are found by ``id@version``.
        store: the decision log.
        pseudonym_key: when given, client ids are pseudonymized with HMAC-SHA256 under this key
            and birth dates recorded as ages; an empty key is refused, never taken as "off".
        clock: returns "now" when a call gives no ``as_of`` (read at this edge, then recorded).
        confirm_within: how long after its decision a confirmation may be taken (the client's
            situation, and the warnings that fit it, may change after that).

    Raises:
        InputError: ``pseudonym_key`` is empty.
    """

    def __init__(
        self,
        registry: Registry,
        store: LogStore,
        *,
        pseudonym_key: bytes | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        confirm_within: timedelta = timedelta(hours=24),
    ) -> None:
        if pseudonym_key is not None and not pseudonym_key:
            raise InputError(
                "the pseudonymization key is empty",
                [Problem("expected a non-empty key (or none, to store client ids as given), found an empty one")],
            )
        self.registry = registry
        self.store = store
        self._key = pseudonym_key
        self._clock = clock
        self._confirm_within = confirm_within
        self._commits = _GroupCommit(lambda: self.store)

    def _pseudonymous(self, client: Client) -> Client:
        """``client`` named by its pseudonym (a well-formed pseudonym is taken as it is)."""
        if self._key is None or _PSEUDONYM.fullmatch(client.client_id):
            return client
        return client.model_copy(update={"client_id": pseudonym(client.client_id, self._key)})

    def _recordable(self, client: Client, when: datetime) -> Client:
        """The facts the log may hold: under a key, the age at ``when`` in place of the birth date."""
        if self._key is None or client.birth_date is None:
            return client
        if client.birth_date > when.date():
            raise ResponseError(
                "the client's birth date is after the moment of the call",
                [
                    Problem(
                        f"expected a birth date on or before {when.date()}, found {client.birth_date}", "/birth_date"
                    )
                ],
            )
        return client.model_copy(update={"birth_date": None, "age": client.age_at(when.date())})

    def _when(self, as_of: date | datetime | None) -> datetime:
        return as_instant(as_of if as_of is not None else self._clock())

    def now(self) -> datetime:
        """The engine's clock: the ``as_of`` of a call that gives none (and what a service compares a given one with)."""
        return as_instant(self._clock())

    def _questionnaire(self, questionnaire: str | Questionnaire) -> Questionnaire:
        if isinstance(questionnaire, Questionnaire):
            return questionnaire
        return self.registry.questionnaire(questionnaire, allow_retired=False)

    def _policy(self, policy: str | Policy) -> Policy:
        return policy if isinstance(policy, Policy) else self.registry.policy(policy)

    def assess(
        self,
        questionnaire: str | Questionnaire,
        answers: Response | Mapping[str, Any],
        client: Client | None,
        as_of: date | datetime | None = None,
        *,
        actor: str | None = None,
        source: str | None = None,
    ) -> Assessment:
        """Score ``answers`` (see :func:`suitability.assess`), record the assessment, return it.

        ``actor`` (who administered the questionnaire) is recorded for reviewers; it changes nothing.
        """
        _check_actor(actor)
        q = self._questionnaire(questionnaire)
        given = dict(answers.answers if isinstance(answers, Response) else answers)
        when = self._when(as_of)
        who = self._recordable(self._pseudonymous(client), when) if client is not None else None
        result = assess(q, given, who, when, source=source)
        self._commits.append([assessment_draft(q, given, who, result, actor)])
        return result

    def _recorded(self, given: Any, model: type[Any], kind: str) -> tuple[int, Any, AssessmentRecord | DecisionRecord]:
        """The seq, recorded result and whole record of an assessment or decision (``given`` as an object or id).

        Raises:
            DecisionError: it is not in this log (another type of record under that key included),
                or ``given`` differs from its record.
        """
        ident = given if isinstance(given, str) else given.id
        found = self.store.find(ident)
        record = self._read(found.seq, found.data) if found is not None else None
        if (
            found is None
            or record is None
            or record["type"] == "artifact"
            or record["type"] == "confirmation"
            or record["type"] == "recheck"
            or record["type"] != kind
        ):
            raise DecisionError(
                f"{kind} {ident} is not in the decision log {self.store.location}",
                [Problem(f"expected a {kind} recorded in this log (made through the engine), found none", "/id")],
            )
        try:
            recorded = model.model_validate(record["result"])
        except (KeyError, ValueError) as exc:  # a pydantic ValidationError is a ValueError
            raise self._damaged(found.seq, exc) from None
        if not isinstance(given, str) and given != recorded:
            raise DecisionError(
                f"{kind} {ident} differs from its record (seq {found.seq})",
                [
                    Problem(
                        f"expected the {kind} exactly as recorded, found a changed copy", code=f"{kind.upper()}_ALTERED"
                    )
                ],
            )
        return found.seq, recorded, record

    def _read(self, seq: int, data: bytes) -> Record:
        try:
            return read_record(data)
        except ValueError as exc:
            raise self._damaged(seq, exc) from None

    def _damaged(self, seq: int, exc: Exception) -> IntegrityError:
        return IntegrityError(
            f"record {seq} of the decision log {self.store.location} cannot be read",
            [Problem(f"expected a well-formed record, found {type(exc).__name__}: {exc}", f"/records/{seq}")],
            seq=seq,
        )

    def recorded_assessment(self, assessment: Assessment | str) -> tuple[int, Assessment]:
        """Return the sequence number and recorded form of an assessment in this log.

        Raises:
            DecisionError: it is not in the log, or differs from its record.
        """
        seq, recorded, _ = self._recorded(assessment, Assessment, "assessment")
        return seq, recorded

    def _decided_for(
        self, assessment: Assessment | str, client: Client | None, when: datetime
    ) -> tuple[int, Assessment, Client, tuple[int, int] | None]:
        """The recorded assessment and the client facts a decision at ``when`` uses: those recorded
        with the assessment (given facts that differ are refused; none given, those recorded); and,
        when only an age was recorded, the lowest and highest ages it allows at ``when``."""
        seq, recorded, record = self._recorded(assessment, Assessment, "assessment")
        client_facts = record.get("client")
        try:
            facts = Client.model_validate(client_facts) if client_facts is not None else None
        except ValueError as exc:
            raise self._damaged(seq, exc) from None
        given = self._pseudonymous(client) if client is not None else facts
        if given is None:  # neither given nor recorded: refused as an assessment without a client
            check_client_facts(None, recorded.assessed_at, Client(client_id="-"), when)
        assert given is not None
        check_client_facts(facts, recorded.assessed_at, given, when)
        assert facts is not None  # check_client_facts refused an assessment without facts
        if facts.birth_date is None and facts.age is not None:
            # Only an age was recorded: the decision takes the highest age it allows at ``when``,
            # so no fact given now (an age, a birth date) can make the client younger.
            on, at = recorded.assessed_at.date(), when.date()
            age = oldest_age_at(facts.age, on, at)
            span = (youngest_age_at(facts.age, on, at), age)
            return seq, recorded, given.model_copy(update={"birth_date": None, "age": age}), span
        return seq, recorded, self._recordable(given, when), None

    @staticmethod
    def _age_for_axes(policy: Policy, client: Client, span: tuple[int, int] | None) -> Client:
        """The age an age-only client is decided with under ``policy``: the highest it allows (see
        :meth:`_decided_for`), or the lowest where the policy's only age rules limit the younger
        (an ascending axis on age); refused where an age rule limits each side and the age is not
        certain, since no one age is the stricter for both."""
        if span is None or span[0] == span[1]:
            return client
        ascending = any(a.fact == "age" and a.permissive == "ascending" for a in policy.model.axes)
        if not ascending:
            return client
        if policy.care_age is not None or any(
            a.fact == "age" and a.permissive == "descending" for a in policy.model.axes
        ):
            raise DecisionError(
                f"policy {policy.id}@{policy.version} needs the client's birth date",
                [
                    Problem(
                        f"expected a birth date in the client's facts: the recorded age gives {span[0]} or "
                        f"{span[1]} now, and the policy limits both younger and older clients by age; "
                        "assess again with the birth date",
                        "/client/birth_date",
                        code="AGE_REQUIRED",
                    )
                ],
            )
        return client.model_copy(update={"age": span[0]})

    def recorded_decision(self, decision: Decision | str) -> tuple[int, Decision]:
        """Return the sequence number and recorded form of a decision in this log (given whole or by id).

        Raises:
            DecisionError: it is not in the log, or differs from its record.
        """
        seq, recorded, _ = self._recorded(decision, Decision, "decision")
        return seq, recorded

    def _needs_age(self, policy: Policy, client: Client, when: datetime) -> None:
        """A policy with an age rule (special care) cannot be applied without the client's age."""
        if policy.care_age is not None and client.age_at(when.date()) is None:
            raise DecisionError(
                f"policy {policy.id}@{policy.version} needs the client's age",
                [
                    Problem(
                        f"expected a birth date (or age) in the client's facts: the policy's special care from "
                        f"age {policy.care_age} cannot be applied without one; assess again with it",
                        "/client/birth_date",
                        code="AGE_REQUIRED",
                    )
                ],
            )

    def _deciding(
        self, assessment: Assessment | str, client: Client | None, policy: str | Policy, as_of: date | datetime | None
    ) -> tuple[datetime, int, Assessment, Client, Policy, str]:
        """What ``decide`` and ``recommend`` decide with: the instant, the recorded assessment (its seq
        and itself), the client facts (checked against the policy's age rules), the policy and the
        questionnaire's status. The assessment's questionnaire and the policy are checked as a pair
        (issue 12 item 8): a scale the policy does not accept is an error; what the pair cannot do, a
        warning."""
        when = self._when(as_of)
        seq, recorded, who, span = self._decided_for(assessment, client, when)
        p = self._policy(policy)
        ref = recorded.questionnaire
        self.registry.check_recorded_pair(ref.id, ref.version, ref.hash, p)
        self._needs_age(p, who, when)
        who = self._age_for_axes(p, who, span)
        return when, seq, recorded, who, p, self._questionnaire_status(recorded)

    def _questionnaire_status(self, assessment: Assessment) -> str:
        ref = assessment.questionnaire
        for entry in self.registry.entries("questionnaire"):
            if entry.id == ref.id and entry.version == ref.version:
                return entry.status
        found = self.store.find(ref.hash)
        artifact = self._read(found.seq, found.data) if found is not None else None
        if artifact is not None and artifact["type"] == "artifact":
            return str(artifact["document"].get("status", "active"))
        return "active"

    def decide(
        self,
        assessment: Assessment | str,
        product: Product,
        client: Client | None,
        policy: str | Policy = "cn-csrc",
        initiated_by: Initiator = "client",
        as_of: date | datetime | None = None,
        *,
        actor: str | None = None,
    ) -> Decision:
        """Decide (see :func:`suitability.decide`) on a recorded assessment, record it, return it.

        ``actor`` (the salesperson, or the system, behind the sale) is recorded for reviewers.
        ``client`` None takes the facts recorded with the assessment (``assessment`` may be its id).
        """
        _check_actor(actor)
        when, seq, recorded, who, p, status = self._deciding(assessment, client, policy, as_of)
        result = decide(recorded, product, who, p, initiated_by, when, questionnaire_status=status)
        self._commits.append([decision_draft(result, seq, p, status, actor)])
        return result

    def confirm(
        self,
        decision: Decision | str,
        acknowledgement: str,
        actor: str,
        channel: str,
        evidence: Evidence | None = None,
        *,
        language: Language = "zh-CN",
        shown_warnings: Sequence[Reason] | None = None,
        confirmed_at: datetime | None = None,
    ) -> Confirmation:
        """Confirm (see :func:`suitability.confirm`) a recorded decision, record it, return it.

        A confirmation is taken within ``confirm_within`` of its decision and while the assessment
        behind it is valid: a decision kept for later cannot be confirmed once the client's
        situation (an age, an expired profile) may have changed.
        """
        seq, recorded, _ = self._recorded(decision, Decision, "decision")
        when = self._when(confirmed_at)
        result = confirm(
            recorded,
            acknowledgement,
            actor,
            channel,
            evidence,
            language=language,
            shown_warnings=shown_warnings,
            confirmed_at=when,
        )
        self._still_confirmable(recorded, when)  # after the decision's own checks: those come first
        self._commits.append([confirmation_draft(result, seq)])
        return result

    def _still_confirmable(self, decision: Decision, when: datetime) -> None:
        problems = []
        if when > decision.as_of + self._confirm_within:
            problems.append(
                Problem(
                    f"expected a confirmation by {(decision.as_of + self._confirm_within).isoformat()} "
                    f"({self._confirm_within} after the decision), found {when.isoformat()}: decide again",
                    "/confirmed_at",
                    code="CONFIRMATION_TOO_LATE",
                )
            )
        _, assessment = self.recorded_assessment(decision.assessment_id)
        valid_until = assessment.valid_until
        if valid_until is not None and when > valid_until:
            problems.append(
                Problem(
                    f"expected a confirmation while the assessment is valid (until {valid_until.isoformat()}), "
                    f"found {when.isoformat()}: assess the client again",
                    "/confirmed_at",
                    code="ASSESSMENT_EXPIRED",
                )
            )
        if problems:
            raise DecisionError(f"decision {decision.id} can no longer be confirmed", problems)

    def recommend(
        self,
        assessment: Assessment | str,
        catalog: Iterable[Product],
        client: Client | None,
        policy: str | Policy = "cn-csrc",
        as_of: date | datetime | None = None,
        *,
        actor: str | None = None,
    ) -> list[Recommendation]:
        """Screen ``catalog`` (firm-initiated), record every decision in one batch, return the suitable.

        Every product screened is recorded, blocked ones included, so a reviewer sees what was
        considered and why it was left out.
        """
        _check_actor(actor)
        when, seq, recorded, who, p, status = self._deciding(assessment, client, policy, as_of)
        # screen refuses an unknown level, term or variety before anything is recorded
        decisions, chosen = screen(recorded, catalog, who, p, when, questionnaire_status=status)
        self._commits.append([decision_draft(d, seq, p, status, actor) for d in decisions])
        return chosen

    def record_recheck(
        self,
        findings: Sequence[RecheckFinding],
        products: Sequence[Product],
        *,
        checked: int,
        catalog: str,
        holdings: str | None = None,
        as_of: date | datetime | None = None,
        actor: str | None = None,
    ) -> tuple[int, str]:
        """Record a re-check of earlier sales (see :mod:`suitability.review.recheck`); return its seq and id.

        The record says that the firm looked (``checked`` sales, against the re-rated ``catalog``
        and, if given, the ``holdings``) and what it found; verify checks that every finding names
        an earlier decision and assessment, and replay recomputes each finding.
        """
        _check_actor(actor)
        draft = recheck_draft(
            list(findings),
            list(products),
            as_of=self._when(as_of),
            checked=checked,
            catalog=catalog,
            holdings=holdings,
            actor=actor,
        )
        stored = self.store.append([draft])
        return stored[-1].seq, str(draft.key)
