"""The engine facade for sales apps: every result is recorded before it is returned.

An :class:`Engine` holds a :class:`~suitability.registry.Registry` and a
:class:`~suitability.store.LogStore`. Its ``assess``, ``decide``, ``confirm`` and ``recommend``
compute the result with the pure functions of the library, append the record (and the artifact
records of documents used for the first time) in one durable transaction, and only then return.
If the append fails, the call raises :class:`~suitability.errors.LogError` and no result escapes.

Decisions rest only on assessments recorded in the same log, and confirmations only on recorded
decisions: the engine reloads them by id, and refuses an object that differs from its record.

With a ``pseudonym_key``, client ids are replaced by ``hmac-sha256:<hex>`` before anything is
computed, so no raw id reaches the log and every result names the pseudonym. The engine is safe
to share between threads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

import orjson

from .errors import DecisionError, Problem
from .matching import (
    Confirmation,
    Decision,
    Evidence,
    Initiator,
    Language,
    Reason,
    Recommendation,
    confirm,
    decide,
    decide_many,
    explain_fit,
)
from .models import Assessment, Client, Response, as_instant
from .policy import Policy
from .product import Product
from .questionnaire import Questionnaire
from .records import assessment_draft, confirmation_draft, decision_draft, pseudonym
from .registry import Registry
from .scoring import assess
from .store import LogStore


class Engine:
    """Suitability with a tamper-evident record of everything it decides.

    Args:
        registry: where questionnaires and policies are found by ``id@version``.
        store: the decision log.
        pseudonym_key: when given, client ids are pseudonymized with HMAC-SHA256 under this key.
        clock: returns "now" when a call gives no ``as_of`` (read at this edge, then recorded).
    """

    def __init__(
        self,
        registry: Registry,
        store: LogStore,
        *,
        pseudonym_key: bytes | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.registry = registry
        self.store = store
        self._key = pseudonym_key
        self._clock = clock

    def _client(self, client: Client) -> Client:
        if self._key is None or client.client_id.startswith("hmac-sha256:"):
            return client
        return client.model_copy(update={"client_id": pseudonym(client.client_id, self._key)})

    def _when(self, as_of: date | datetime | None) -> datetime:
        return as_instant(as_of if as_of is not None else self._clock())

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
        q = self._questionnaire(questionnaire)
        given = dict(answers.answers if isinstance(answers, Response) else answers)
        who = self._client(client) if client is not None else None
        result = assess(q, given, who, self._when(as_of), source=source)
        self.store.append([assessment_draft(q, given, who, result, actor)])
        return result

    def _recorded(self, given: Any, model: type[Any], kind: str) -> tuple[int, Any]:
        """The seq and recorded form of an assessment or decision (``given`` as an object or id).

        Raises:
            DecisionError: it is not in this log, or ``given`` differs from its record.
        """
        ident = given if isinstance(given, str) else given.id
        found = self.store.find(ident)
        if found is None:
            raise DecisionError(
                f"{kind} {ident} is not in the decision log {self.store.location}",
                [Problem(f"expected a {kind} recorded in this log (made through the engine), found none", "/id")],
            )
        recorded = model.model_validate(orjson.loads(found.data)["result"])
        if not isinstance(given, str) and given != recorded:
            raise DecisionError(
                f"{kind} {ident} differs from its record (seq {found.seq})",
                [
                    Problem(
                        f"expected the {kind} exactly as recorded, found a changed copy", code=f"{kind.upper()}_ALTERED"
                    )
                ],
            )
        return found.seq, recorded

    def recorded_assessment(self, assessment: Assessment | str) -> tuple[int, Assessment]:
        """Return the sequence number and recorded form of an assessment in this log.

        Raises:
            DecisionError: it is not in the log, or differs from its record.
        """
        seq, recorded = self._recorded(assessment, Assessment, "assessment")
        return seq, recorded

    def _questionnaire_status(self, assessment: Assessment) -> str:
        ref = assessment.questionnaire
        for entry in self.registry.entries("questionnaire"):
            if entry.id == ref.id and entry.version == ref.version:
                return entry.status
        artifact = self.store.find(ref.hash)
        if artifact is not None:
            return str(orjson.loads(artifact.data)["document"].get("status", "active"))
        return "active"

    def decide(
        self,
        assessment: Assessment | str,
        product: Product,
        client: Client,
        policy: str | Policy = "cn-csrc",
        initiated_by: Initiator = "client",
        as_of: date | datetime | None = None,
        *,
        actor: str | None = None,
    ) -> Decision:
        """Decide (see :func:`suitability.decide`) on a recorded assessment, record it, return it.

        ``actor`` (the salesperson, or the system, behind the sale) is recorded for reviewers.
        """
        seq, recorded = self.recorded_assessment(assessment)
        p = self._policy(policy)
        who = self._client(client)
        status = self._questionnaire_status(recorded)
        result = decide(recorded, product, who, p, initiated_by, self._when(as_of), questionnaire_status=status)
        self.store.append([decision_draft(result, seq, p, status, actor)])
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
        """Confirm (see :func:`suitability.confirm`) a recorded decision, record it, return it."""
        seq, recorded = self._recorded(decision, Decision, "decision")
        result = confirm(
            recorded,
            acknowledgement,
            actor,
            channel,
            evidence,
            language=language,
            shown_warnings=shown_warnings,
            confirmed_at=self._when(confirmed_at),
        )
        self.store.append([confirmation_draft(result, seq)])
        return result

    def recommend(
        self,
        assessment: Assessment | str,
        catalog: Iterable[Product],
        client: Client,
        policy: str | Policy = "cn-csrc",
        as_of: date | datetime | None = None,
        *,
        actor: str | None = None,
    ) -> list[Recommendation]:
        """Screen ``catalog`` (firm-initiated), record every decision in one batch, return the suitable.

        Every product screened is recorded, blocked ones included, so a reviewer sees what was
        considered and why it was left out.
        """
        seq, recorded = self.recorded_assessment(assessment)
        p = self._policy(policy)
        who = self._client(client)
        status = self._questionnaire_status(recorded)
        when = self._when(as_of)
        # decide_many refuses an unknown level, term or variety before anything is recorded
        decisions = decide_many(recorded, catalog, who, p, "firm", when, questionnaire_status=status)
        self.store.append([decision_draft(d, seq, p, status, actor) for d in decisions])
        return [
            Recommendation(product=d.product, decision=d, fits=explain_fit(recorded, d.product, who, p))
            for d in decisions
            if d.outcome == "suitable"
        ]
