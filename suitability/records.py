"""The shapes of decision-log records (design §8): drafts built from results, and typed views of
recorded bytes (:func:`read_record`) for the engine, replay and review.

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
  ``language``, ``evidence``, ``confirmed_at``, ``result``;
- ``recheck``: a re-check of earlier sales after a change (CSRC 办法 Art. 21): ``as_of``, ``actor``,
  ``catalog`` (the content hash of the products as re-rated), ``holdings`` (the hash of the
  holdings it was limited to, or null), ``checked`` (how many sales it looked at), ``products``
  (the re-rated products its findings rest on) and ``findings`` (each sale that would no longer be
  suitable: client, product, ``decision_id`` and ``decision_seq``, the ``assessment_id`` and
  ``assessment_seq`` it was checked against, ``sale``, ``causes`` and reason ``codes``), ``result``.

The views are typed dictionaries over the parsed JSON, not models: reading one costs a parse and a
type check, so replay and review keep their speed, and the bytes are never re-serialized. What a
field holds is checked where it is used (a result is validated as its model; review checks what
its rows take). The log wing reads only the envelope (``seq``, ``type``, key and references, in
:mod:`suitability.log.store`) and never imports this module.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from typing import Any, Literal, NotRequired, TypedDict

import orjson

from .codec import canonical_bytes
from .ids import digest_id
from .log.store import RECORD_TYPES, Draft
from .matching import Confirmation, Decision
from .models import Assessment, Client
from .policy import Policy
from .product import Product
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
    rendered = result.model_dump(mode="json")  # once: its questionnaire is the record's too
    body = {
        "actor": actor,
        "questionnaire": dict(rendered["questionnaire"]),
        "answers": answers,
        "client": client.model_dump(mode="json") if client else None,
        "as_of": _iso(result.assessed_at),
        "result": rendered,
    }
    return Draft("assessment", body, key=result.id, artifacts=[artifact_draft(questionnaire)])


def decision_draft(
    decision: Decision, assessment_seq: int, policy: Policy, questionnaire_status: str, actor: str | None = None
) -> Draft:
    """The record of a decision, with the policy artifact it needs."""
    rendered = decision.model_dump(mode="json")  # once: its client, product and policy are the record's too
    body = {
        "actor": actor,
        "assessment_id": decision.assessment_id,
        "assessment_seq": assessment_seq,
        "client": dict(rendered["client"]),
        "product": dict(rendered["product"]),
        "policy": dict(rendered["policy"]),
        "questionnaire_status": questionnaire_status,
        "initiated_by": decision.initiated_by,
        "as_of": _iso(decision.as_of),
        "result": rendered,
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


class RecheckFinding(TypedDict):
    """A sale a re-check found no longer suitable, by the records it rests on."""

    client_id: str
    product_id: str
    decision_id: str
    decision_seq: int
    assessment_id: str
    assessment_seq: int
    sale: Literal["suitable", "confirmed"]
    causes: list[str]
    codes: list[str]


def recheck_draft(
    findings: list[RecheckFinding],
    products: list[Product],
    *,
    as_of: datetime,
    checked: int,
    catalog: str,
    holdings: str | None = None,
    actor: str | None = None,
) -> Draft:
    """The record of a re-check: that the firm looked, at what, and what it found.

    Its id is a digest of everything in it, so recording the same re-check twice gives the same id.
    """
    body: dict[str, Any] = {
        "actor": actor,
        "as_of": _iso(as_of),
        "catalog": catalog,
        "holdings": holdings,
        "checked": checked,
        "products": [p.model_dump(mode="json") for p in products],
        "findings": [dict(f) for f in findings],
    }
    ident = digest_id("rck_", canonical_bytes(body))
    body["result"] = {"id": ident, "findings": len(findings)}
    return Draft("recheck", body, key=ident)


def pseudonym(client_id: str, key: bytes) -> str:
    """Return the keyed pseudonym of a client id: ``hmac-sha256:<hex>`` (HMAC-SHA256 with ``key``)."""
    return "hmac-sha256:" + hmac.new(key, client_id.encode(), hashlib.sha256).hexdigest()


# --- reading ----------------------------------------------------------------------------------


class DocumentRefView(TypedDict):
    """A document named by a record: ``id``, ``version`` and content ``hash``."""

    id: str
    version: str
    hash: str


class ArtifactRecord(TypedDict):
    """A questionnaire or policy version, written the first time it is used."""

    seq: int
    type: Literal["artifact"]
    recorded_at: str
    engine_version: str
    kind: Literal["questionnaire", "policy"]
    id: str
    version: str
    hash: str
    document: dict[str, Any]


class AssessmentRecord(TypedDict):
    """An assessment, with what it was computed from (``actor`` and ``client`` may be absent in old logs)."""

    seq: int
    type: Literal["assessment"]
    recorded_at: str
    engine_version: str
    actor: NotRequired[str | None]
    questionnaire: DocumentRefView
    answers: dict[str, Any]
    client: NotRequired[dict[str, Any] | None]
    as_of: str
    result: dict[str, Any]


class DecisionRecord(TypedDict):
    """A decision, with its assessment (by id and seq), facts, product, policy and moment."""

    seq: int
    type: Literal["decision"]
    recorded_at: str
    engine_version: str
    actor: NotRequired[str | None]
    assessment_id: str
    assessment_seq: int
    client: dict[str, Any]
    product: dict[str, Any]
    policy: DocumentRefView
    questionnaire_status: str
    initiated_by: Literal["client", "firm"]
    as_of: str
    result: dict[str, Any]


class ConfirmationRecord(TypedDict):
    """A confirmation of a decision (by id and seq)."""

    seq: int
    type: Literal["confirmation"]
    recorded_at: str
    engine_version: str
    decision_id: str
    decision_seq: int
    acknowledgement: str
    actor: str
    channel: str
    language: Literal["zh-CN", "en"]
    evidence: dict[str, Any] | None
    confirmed_at: str
    result: dict[str, Any]


class RecheckRecord(TypedDict):
    """A re-check of earlier sales after a change, with what it found (see :func:`recheck_draft`)."""

    seq: int
    type: Literal["recheck"]
    recorded_at: str
    engine_version: str
    actor: str | None
    as_of: str
    catalog: str
    holdings: str | None
    checked: int
    products: list[dict[str, Any]]
    findings: list[RecheckFinding]
    result: dict[str, Any]


Record = ArtifactRecord | AssessmentRecord | DecisionRecord | ConfirmationRecord | RecheckRecord


class UnknownRecord(ValueError):
    """Recorded bytes that parse, but not as a record of a known type; ``value`` is what they hold."""

    def __init__(self, value: Any) -> None:
        kind = value.get("type") if isinstance(value, dict) else None
        super().__init__(f"expected a record type among {', '.join(RECORD_TYPES)}, found {kind!r}")
        self.value = value


def read_record(data: bytes) -> Record:
    """The typed view of a record's bytes, by its ``type``.

    Raises:
        orjson.JSONDecodeError: the bytes are not JSON (a ``ValueError``).
        UnknownRecord: they are JSON, but not an object of a known record type (a ``ValueError``).
    """
    value = orjson.loads(data)
    if type(value) is not dict or value.get("type") not in RECORD_TYPES:
        raise UnknownRecord(value)
    record: Record = value  # type: ignore[assignment]  # a view: fields are checked where they are used
    return record
