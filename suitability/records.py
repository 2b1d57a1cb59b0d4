"""The shapes of decision-log records (design §8), built from results and read back for replay.

Every record is a JSON object with ``seq``, ``type``, ``recorded_at``, ``engine_version`` and the
fields of its type. Each result record carries everything replay needs, beside the result itself:

- ``artifact``: ``kind``, ``id``, ``version``, ``hash`` and the whole ``document``, written the first
  time a questionnaire or policy version is used; later records refer to it by hash;
- ``assessment``: ``questionnaire`` (id, version, hash), ``answers``, ``client``, ``as_of``,
  ``actor`` (who administered it, or null), ``result``;
- ``decision``: ``assessment_id``, ``assessment_seq``, ``client``, ``product``, ``policy`` (id,
  version, hash), ``questionnaire_status``, ``initiated_by``, ``as_of``, ``actor`` (the salesperson
  or system, or null), ``result``;
- ``confirmation``: ``decision_id``, ``decision_seq``, ``acknowledgement``, ``actor``, ``channel``,
  ``language``, ``evidence``, ``confirmed_at``, ``result``.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from .log.store import Draft
from .matching import Confirmation, Decision
from .models import Assessment, Client
from .policy import Policy
from .questionnaire import Questionnaire


def _iso(value: Any) -> str:
    text: str = value.isoformat()
    return text.replace("+00:00", "Z")


def artifact_draft(document: Questionnaire | Policy) -> Draft:
    """The artifact record of a questionnaire or policy version."""
    kind = "questionnaire" if isinstance(document, Questionnaire) else "policy"
    body = {
        "kind": kind,
        "id": document.id,
        "version": document.version,
        "hash": document.hash,
        "document": document.document,
    }
    return Draft("artifact", body, key=document.hash)


def assessment_draft(
    questionnaire: Questionnaire,
    answers: dict[str, Any],
    client: Client | None,
    result: Assessment,
    actor: str | None = None,
) -> Draft:
    """The record of an assessment, with the questionnaire artifact it needs."""
    body = {
        "actor": actor,
        "questionnaire": result.questionnaire.model_dump(mode="json"),
        "answers": answers,
        "client": client.model_dump(mode="json") if client else None,
        "as_of": _iso(result.assessed_at),
        "result": result.model_dump(mode="json"),
    }
    return Draft("assessment", body, key=result.id, artifacts=[artifact_draft(questionnaire)])


def decision_draft(
    decision: Decision, assessment_seq: int, policy: Policy, questionnaire_status: str, actor: str | None = None
) -> Draft:
    """The record of a decision, with the policy artifact it needs."""
    body = {
        "actor": actor,
        "assessment_id": decision.assessment_id,
        "assessment_seq": assessment_seq,
        "client": decision.client.model_dump(mode="json"),
        "product": decision.product.model_dump(mode="json"),
        "policy": decision.policy.model_dump(mode="json"),
        "questionnaire_status": questionnaire_status,
        "initiated_by": decision.initiated_by,
        "as_of": _iso(decision.as_of),
        "result": decision.model_dump(mode="json"),
    }
    return Draft("decision", body, key=decision.id, artifacts=[artifact_draft(policy)])


def confirmation_draft(confirmation: Confirmation, decision_seq: int) -> Draft:
    """The record of a confirmation."""
    body = {
        "decision_id": confirmation.decision_id,
        "decision_seq": decision_seq,
        "acknowledgement": confirmation.acknowledgement,
        "actor": confirmation.actor,
        "channel": confirmation.channel,
        "language": confirmation.language,
        "evidence": confirmation.evidence.model_dump(mode="json") if confirmation.evidence else None,
        "confirmed_at": _iso(confirmation.confirmed_at),
        "result": confirmation.model_dump(mode="json"),
    }
    return Draft("confirmation", body, key=confirmation.id)


def pseudonym(client_id: str, key: bytes) -> str:
    """Return the keyed pseudonym of a client id: ``hmac-sha256:<hex>`` (HMAC-SHA256 with ``key``)."""
    return "hmac-sha256:" + hmac.new(key, client_id.encode(), hashlib.sha256).hexdigest()
