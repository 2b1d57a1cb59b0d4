"""Matching: decisions, the insist-to-buy confirmation and recommendations (design §7).

:func:`decide` is a pure function of the assessment, product, client facts, policy, initiator and
``as_of``. It evaluates every rule and lists every reason that fired, not only the first:

1. the assessment must be for this client and not from the future (else ``DecisionError``);
2. blocking reasons: ``ASSESSMENT_EXPIRED``, ``ASSESSMENT_INCONSISTENT``, ``DOCUMENT_NOT_ACTIVE``,
   ``PROFESSIONAL_ONLY`` (ordinary investor), ``LOWEST_CATEGORY`` (product above the policy's
   ``lowest_category_max_risk``, even on the client's own request);
3. mismatches on the three dimensions: ``RISK_ABOVE_PROFILE``, ``HORIZON_MISMATCH``,
   ``VARIETY_MISMATCH`` (skipped for professionals when ``professional_may_buy_all``);
   a firm-initiated mismatch adds ``FIRM_INITIATED_MISMATCH`` and is blocked; a client-initiated
   one follows the policy's ``on_mismatch.client``;
4. ``SPECIAL_CARE_REQUIRED`` when the client's age at ``as_of`` and the product's level reach the
   policy's threshold; it turns ``suitable`` into ``requires_confirmation``.
5. a format-2 policy's ``axes``: each axis puts the client in a band by one client fact (the age
   at ``as_of``, experience, investor type, a declared fact; unknown: the least permissive band),
   and a product above the band's ``suitable_up_to`` fires ``AXIS_CONFIRMATION_REQUIRED`` (up to
   ``confirmable_up_to``) or ``AXIS_LIMIT_EXCEEDED`` (blocking, beyond it). The decision's ``axes``
   names each band.

The outcome is ``blocked`` if any blocking reason fired, else ``requires_confirmation`` if any
confirmable reason fired, else ``suitable``. The warnings of a ``requires_confirmation`` decision
are its confirmable reasons: exactly what must be shown before :func:`confirm`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from .codec import canonical_bytes, sha256_hex
from .errors import DecisionError, DocumentError, Problem
from .i18n import tr
from .ids import client_key, digest_id, parts_id
from .models import Assessment, Client, DocumentRef, LocalizedText, ReadableId, as_instant, identifier_problem
from .policy import FORMAT_2_REASONS, REASON_DIMENSIONS, Policy
from .product import Product, check_against, product_horizon

Outcome = Literal["suitable", "requires_confirmation", "blocked"]
Initiator = Literal["client", "firm"]
Language = Literal["zh-CN", "en"]
_SHA256_HEX = r"^[0-9a-f]{64}$"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Reason(_Frozen):
    """One reason that fired: a stable code, the dimension it concerns, and localized text."""

    code: str
    dimension: str
    text: LocalizedText


def _is_none(value: object) -> bool:
    return value is None


class AxisBand(_Frozen):
    """The band of one policy axis a decision's client was in (format 2 ``axes``).

    ``basis`` is ``value`` (the band holding the client's fact), ``fact_unknown`` (the client did
    not give the fact) or ``value_unknown`` (a value no band lists); the last two are the axis's
    least permissive band.
    """

    axis: str
    fact: str
    band: str
    basis: Literal["value", "fact_unknown", "value_unknown"]


class Decision(_Frozen):
    """The outcome of matching one product to one assessed client, with every reason.

    ``axes`` (a policy with axes only) is the band of each axis the client was in.
    """

    id: str
    outcome: Outcome
    reasons: list[Reason]
    warnings: list[Reason]
    assessment_id: str
    client: Client
    product: Product
    questionnaire: DocumentRef
    policy: DocumentRef
    initiated_by: Initiator
    as_of: datetime
    # absent under a policy without axes, so such decisions serialize as they always have (recorded bytes)
    axes: list[AxisBand] | None = Field(default=None, exclude_if=_is_none)


class Evidence(_Frozen):
    """A 双录 (audio/video) recording that backs a confirmation, by id and SHA-256."""

    recording_id: ReadableId
    sha256: str = Field(pattern=_SHA256_HEX)


class Confirmation(_Frozen):
    """A client's insistence on a ``requires_confirmation`` decision, after its warnings."""

    id: str
    decision_id: str
    warnings_hash: str
    warning_codes: list[str]
    language: Language
    acknowledgement: str
    actor: str
    channel: str
    confirmed_at: datetime
    evidence: Evidence | None = None


class Recommendation(_Frozen):
    """A suitable product and why it fits."""

    product: Product
    decision: Decision
    fits: list[Reason]


_CONFIRMABLE = frozenset(
    {
        "RISK_ABOVE_PROFILE",
        "HORIZON_MISMATCH",
        "VARIETY_MISMATCH",
        "SPECIAL_CARE_REQUIRED",
        "AXIS_CONFIRMATION_REQUIRED",
    }
)


@lru_cache(maxsize=65536)
def _reason(policy: Policy, code: str, params: tuple[tuple[str, str], ...]) -> Reason:
    # Reasons repeat across decisions (a few levels, horizons and varieties), so they are built once.
    return Reason(code=code, dimension=REASON_DIMENSIONS[code], text=policy.message(code, dict(params)))


def _levels(policy: Policy, profile: str) -> str:
    row = sorted(policy.allowed.get(profile, ()), key=policy.risk_index.__getitem__)
    return "/".join(row) if row else "-"


def decide(
    assessment: Assessment,
    product: Product,
    client: Client,
    policy: Policy,
    initiated_by: Initiator,
    as_of: date | datetime,
    *,
    questionnaire_status: str = "active",
) -> Decision:
    """Match ``product`` to the assessed ``client`` under ``policy`` at ``as_of``.

    Args:
        assessment: the client's assessment.
        product: the product, as it is at ``as_of``.
        client: the client's KYC facts at ``as_of``.
        policy: the matching policy.
        initiated_by: ``client`` (the client's own request) or ``firm`` (a recommendation, a push).
        as_of: the instant of the decision (a date means midnight UTC).
        questionnaire_status: the current status of the assessment's questionnaire version.

    Raises:
        DecisionError: the assessment is another client's, or from after ``as_of``.
        ProductError: the product names a level, term or variety the policy does not know.
    """
    when = as_instant(as_of)
    person, known, prefix = _context(assessment, client, policy, initiated_by, when, questionnaire_status)
    return _decide_product(assessment, product, client, policy, initiated_by, when, person, known, prefix)


def decide_many(
    assessment: Assessment,
    products: Iterable[Product],
    client: Client,
    policy: Policy,
    initiated_by: Initiator,
    as_of: date | datetime,
    *,
    questionnaire_status: str = "active",
) -> list[Decision]:
    """:func:`decide` for each of ``products``, for one assessed client (a catalog screen).

    The same decisions as calling :func:`decide` for each product; what depends only on the client
    and the moment is worked out once.
    """
    when = as_instant(as_of)
    person, known, prefix = _context(assessment, client, policy, initiated_by, when, questionnaire_status)
    return [
        _decide_product(assessment, product, client, policy, initiated_by, when, person, known, prefix)
        for product in products
    ]


def _context(
    assessment: Assessment,
    client: Client,
    policy: Policy,
    initiated_by: Initiator,
    when: datetime,
    questionnaire_status: str,
) -> tuple[tuple[Any, ...], dict[Any, Any], Any]:
    """Check the assessment against the client and the moment; return its facts and a hash of its id part."""
    if initiated_by != "client" and initiated_by != "firm":  # the Decision is built unvalidated
        raise DecisionError(
            "unknown initiator",
            [Problem(f"expected initiated_by 'client' or 'firm', found {initiated_by!r}", "/initiated_by")],
        )
    if assessment.client_id is None:
        raise DecisionError(
            "an assessment without a client cannot back a decision",
            [
                Problem(
                    f"expected an assessment of {client.client_id!r} made with the client's facts, found an "
                    "anonymous assessment (client_id null): assess the client again with their facts",
                    "/client_id",
                    code="ASSESSMENT_WITHOUT_CLIENT",
                )
            ],
        )
    if assessment.client_id != client.client_id:
        raise DecisionError(
            "the assessment belongs to another client",
            [Problem(f"expected an assessment of {client.client_id!r}, found {assessment.client_id!r}", "/client_id")],
        )
    if assessment.assessed_at > when:
        raise DecisionError(
            "the assessment is later than the decision",
            [Problem(f"expected assessed_at <= {when.isoformat()}, found {assessment.assessed_at.isoformat()}")],
        )
    client.check_at(when)  # a birth date after as_of is a ResponseError naming /birth_date
    if (
        (policy.format == 2 or assessment.format == 2)
        and assessment.profile is not None
        and assessment.profile not in policy.profiles
    ):
        _scale_mismatch(assessment, policy)
    expiry = policy.expiry(assessment)
    age = client.age_at(when.date()) if policy.care_age is not None else None
    person = (
        assessment.profile,
        assessment.lowest_category or not client.full_civil_capacity,
        assessment.horizon,
        tuple(assessment.varieties),
        bool(assessment.consistency_violations),
        f"{assessment.questionnaire.id}@{assessment.questionnaire.version}",
        questionnaire_status,
        client.investor_type == "professional",
        initiated_by,
        expiry.date().isoformat() if expiry is not None and when > expiry else None,
        age if age is not None and policy.care_age is not None and age >= policy.care_age else None,
        None if assessment.not_eligible is None else tuple(sorted(assessment.not_eligible.reason.items())),
        policy.axis_bands(client, when.date()) if policy.model.axes else (),
    )
    who = client_key(client, "decision")
    prefix = "\x1f".join((assessment.id, who, policy.hash, initiated_by, when.isoformat(), questionnaire_status))
    # Results are memoized by their facts: the client's (one table per client situation, found
    # here once per screen) and the product's (a small key); facts take few distinct values.
    known = policy.memo.get(person)
    if known is None:
        if len(policy.memo) > 20_000:
            policy.memo.clear()
        known = policy.memo[person] = {}
    return person, known, hashlib.sha256(prefix.encode())


def _scale_mismatch(assessment: Assessment, policy: Policy) -> None:
    ref = assessment.questionnaire
    raise DocumentError(
        f"policy {policy.id}@{policy.version} does not accept the scale of questionnaire {ref.id}@{ref.version}",
        [
            Problem(
                f"expected a profile on the scale policy {policy.id}@{policy.version} accepts {list(policy.profiles)}, "
                f"found {assessment.profile} from questionnaire {ref.id}@{ref.version}",
                "/profile",
                code="SCALE_MISMATCH",
            )
        ],
    )


def _decide_product(
    assessment: Assessment,
    product: Product,
    client: Client,
    policy: Policy,
    initiated_by: Initiator,
    when: datetime,
    person: tuple[Any, ...],
    known: dict[Any, Any],
    prefix: Any,
) -> Decision:
    if (
        product.risk_level not in policy.risk_index
        or product.variety not in policy.variety_index
        or (type(product.term) is str and product.term not in policy.horizon_index)
    ):
        check_against(product, policy)  # raises, naming every unknown field
    term = product.term
    horizon = term if isinstance(term, str) else policy.horizon_of_months(term)
    key = (product.risk_level, horizon, product.variety, product.professional_only)
    result = known.get(key)
    if result is None:
        result = known[key] = _evaluate(policy, _Facts._make((*person, *key)))
    outcome, reasons, warnings = result
    digest = prefix.copy()  # the client's part is hashed once per screen; the product's is added
    digest.update(
        f"\x1f{product.id}\x1f{product.risk_level}\x1f{term}\x1f{product.variety}\x1f{product.professional_only:d}".encode()
    )
    # Built without re-validation: every field is a validated model, a code-made literal or a str
    # (tests/property/test_decision_construct.py holds it equal to the validated Decision). The
    # lists are copies, so a caller's change to one cannot reach the memoized result.
    return _built(
        {
            "id": digest_id("dec_", digest),
            "outcome": outcome,
            "reasons": [*reasons],
            "warnings": [*warnings],
            "assessment_id": assessment.id,
            "client": client,
            "product": product,
            "questionnaire": assessment.questionnaire,
            "policy": policy.ref,
            "initiated_by": initiated_by,
            "as_of": when,
            "axes": [*_applied(policy, person[-1])] if person[-1] else None,
        }
    )


@lru_cache(maxsize=4096)
def _applied(policy: Policy, bands: tuple[tuple[int, str], ...]) -> tuple[AxisBand, ...]:
    return tuple(
        AxisBand(axis=axis.id, fact=axis.fact, band=axis.bands[j].id, basis=basis)
        for axis, (j, basis) in zip(policy.model.axes, bands, strict=True)
    )


_DECISION_FIELDS = frozenset(Decision.model_fields)
_new_decision = Decision.__new__
_set = object.__setattr__


def _built(values: dict[str, Any]) -> Decision:
    """A Decision of ``values`` (every field, in order) without validation: what pydantic's
    ``model_construct`` ends with, without its per-field loop (which costs more than validating)."""
    decision = _new_decision(Decision)
    _set(decision, "__dict__", values)
    _set(decision, "__pydantic_fields_set__", set(_DECISION_FIELDS))
    _set(decision, "__pydantic_extra__", None)
    _set(decision, "__pydantic_private__", None)
    return decision


def client_fact_differences(recorded: Client, recorded_on: datetime, given: Client, when: datetime) -> list[Problem]:
    """Where ``given`` (a decision's client facts at ``when``) differs from ``recorded`` (the facts
    recorded with its assessment at ``recorded_on``); empty when they are the same client's facts.

    A decision uses the facts its assessment was made with: a salesperson cannot lift a limit by
    naming the client a professional, or drop special care with a later birth date, at decide time.
    An age given in place of a birth date (a pseudonymized log) is the age at its own moment, so it
    must be the recorded age grown by the time between the two, and a birth date must give the
    recorded age on the day of the assessment.
    """
    problems = []

    def differs(field: str, was: object, now: object) -> None:
        problems.append(
            Problem(
                f"expected {field} {was!r} as recorded with the assessment, found {now!r}: "
                "a change of client facts needs a new assessment",
                f"/client/{field}",
                code="CLIENT_FACTS_DIFFER",
            )
        )

    for field in ("client_id", "investor_type", "full_civil_capacity", "experience_years", "classes_traded"):
        if getattr(recorded, field) != getattr(given, field):
            differs(field, getattr(recorded, field), getattr(given, field))
    # declared facts are of any JSON type, and Python finds 1 == True and 0 == False: a band lists
    # true, not 1, so the facts are compared as the JSON they are
    if recorded.facts != given.facts or (
        recorded.facts is not None and given.facts is not None and _typed(recorded.facts) != _typed(given.facts)
    ):
        differs("facts", recorded.facts, given.facts)
    if recorded.birth_date is not None or recorded.age is None:
        if (recorded.birth_date, recorded.age) != (given.birth_date, given.age):
            if recorded.birth_date != given.birth_date:
                differs("birth_date", recorded.birth_date and recorded.birth_date.isoformat(), given.birth_date)
            else:
                differs("age", recorded.age, given.age)
    elif given.birth_date is not None:
        then = given.age_at(recorded_on.date())
        if then != recorded.age:
            differs("birth_date", f"a birth date giving age {recorded.age} on {recorded_on.date()}", given.birth_date)
    else:
        days = max((when.date() - recorded_on.date()).days, 0)
        low, high = recorded.age + days // 366, recorded.age + days // 365 + 1
        if given.age is None or not low <= given.age <= high:
            differs("age", f"{low}..{high} (age {recorded.age} on {recorded_on.date()})", given.age)
    return problems


def _typed(value: Any) -> Any:
    """``value`` with the type of every scalar beside it, so that equal means the same JSON."""
    if isinstance(value, dict):
        return tuple(sorted((k, _typed(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_typed(v) for v in value)
    return (type(value).__name__, value)


def check_client_facts(recorded: Client | None, recorded_on: datetime, given: Client, when: datetime) -> None:
    """Refuse a decision whose client facts are not those recorded with its assessment.

    Raises:
        DecisionError: the assessment has no client facts, or ``given`` differs (each field named).
    """
    if recorded is None:
        raise DecisionError(
            "an assessment without a client cannot back a decision",
            [
                Problem(
                    "expected an assessment made with the client's facts, found one without (client null): "
                    "assess the client again with their facts",
                    "/client",
                    code="ASSESSMENT_WITHOUT_CLIENT",
                )
            ],
        )
    if given is recorded:  # replay hands over the one parsed object for equal recorded facts
        return
    problems = client_fact_differences(recorded, recorded_on, given, when)
    if problems:
        fields = ", ".join(p.pointer.rsplit("/", 1)[-1] for p in problems if p.pointer)
        raise DecisionError(f"the client facts differ from those recorded with the assessment ({fields})", problems)


class _Facts(NamedTuple):
    """Everything a decision's outcome and reasons depend on; equal facts, equal result."""

    # the client and the moment (see _context)
    profile: str
    lowest: bool
    horizon: str | None
    varieties: tuple[str, ...]
    inconsistent: bool
    questionnaire: str
    questionnaire_status: str
    professional: bool
    initiated_by: str
    expired_on: str | None
    age: int | None  # set only when at or above the policy's special-care age
    not_eligible: tuple[tuple[str, str], ...] | None  # a format-2 stop outcome's reason, by language
    bands: tuple[tuple[int, str], ...]  # the band of each policy axis, with its basis (format 2)
    # the product
    risk_level: str
    product_horizon: str
    variety: str
    professional_only: bool


def _evaluate(policy: Policy, f: _Facts) -> tuple[Outcome, list[Reason], list[Reason]]:
    """The matching rules, written once and plainly; :func:`decide` memoizes their result."""
    model = policy.model
    risk = policy.risk_index[f.risk_level]
    params: tuple[tuple[str, str], ...]
    fired: list[Reason] = []
    blocking = False
    # (1) the assessment and the documents it rests on
    if f.expired_on is not None:
        fired.append(_reason(policy, "ASSESSMENT_EXPIRED", (("valid_until", f.expired_on),)))
        blocking = True
    if f.inconsistent:
        fired.append(_reason(policy, "ASSESSMENT_INCONSISTENT", ()))
        blocking = True
    for name, status in ((f.questionnaire, f.questionnaire_status), (f"{policy.id}@{policy.version}", policy.status)):
        if status == "retired":
            fired.append(_reason(policy, "DOCUMENT_NOT_ACTIVE", (("document", name),)))
            blocking = True
    if f.not_eligible is not None:  # a format-2 stop: no profile, so nothing may be sold
        text = policy.localized_message("NOT_ELIGIBLE", {"reason": dict(f.not_eligible)})
        fired.append(Reason(code="NOT_ELIGIBLE", dimension=FORMAT_2_REASONS["NOT_ELIGIBLE"][0], text=text))
        blocking = True
    # (2) who may buy at all
    if f.professional_only and not f.professional:
        fired.append(_reason(policy, "PROFESSIONAL_ONLY", ()))
        blocking = True
    if f.lowest and risk > policy.lowest_limit:
        params = (("limit", model.lowest_category_max_risk), ("risk_level", f.risk_level))
        fired.append(_reason(policy, "LOWEST_CATEGORY", params))
        blocking = True
    # (3) the three matching dimensions, for ordinary investors (and professionals unless exempt)
    mismatch = False
    if f.not_eligible is None and not (f.professional and model.professional_may_buy_all):
        if f.risk_level not in policy.allowed.get(f.profile, ()):
            params = (("allowed", _levels(policy, f.profile)), ("profile", f.profile), ("risk_level", f.risk_level))
            fired.append(_reason(policy, "RISK_ABOVE_PROFILE", params))
            mismatch = True
        if f.horizon is None or policy.horizon_index[f.product_horizon] > policy.horizon_index.get(f.horizon, -1):
            params = (("horizon", f.horizon or "-"), ("product_horizon", f.product_horizon))
            fired.append(_reason(policy, "HORIZON_MISMATCH", params))
            mismatch = True
        if not _varietyexplain_fit(policy, f.variety, f.varieties):
            params = (("client_varieties", "/".join(f.varieties) or "-"), ("variety", f.variety))
            fired.append(_reason(policy, "VARIETY_MISMATCH", params))
            mismatch = True
    # (4) who initiated a mismatch decides between confirmation and a block
    if mismatch:
        if f.initiated_by == "firm":
            fired.append(_reason(policy, "FIRM_INITIATED_MISMATCH", ()))
            blocking = True
        elif model.on_mismatch.client == "blocked":
            blocking = True
    # (5) special care for older clients buying high-risk products
    if f.age is not None and policy.care_from is not None and risk >= policy.care_from:
        params = (
            ("age", str(f.age)),
            ("from_risk", model.risk_levels[policy.care_from]),
            ("min_age", str(policy.care_age)),
        )
        fired.append(_reason(policy, "SPECIAL_CARE_REQUIRED", params))
    # (6) the policy's axes: a client fact besides the profile limits the matrix
    if f.bands and f.not_eligible is None:
        for i, (j, basis) in enumerate(f.bands):
            suitable, confirmable = policy.axis_limits[(i, j, f.profile)]
            if risk <= suitable:
                continue
            code = "AXIS_LIMIT_EXCEEDED" if risk > confirmable else "AXIS_CONFIRMATION_REQUIRED"
            limit = suitable if code == "AXIS_CONFIRMATION_REQUIRED" else confirmable
            fired.append(_axis_reason(policy, code, i, j, basis, f.profile, f.risk_level, limit))
            blocking = blocking or code == "AXIS_LIMIT_EXCEEDED"
    if blocking:
        return "blocked", fired, []
    warnings = [r for r in fired if r.code in _CONFIRMABLE]
    return ("requires_confirmation" if warnings else "suitable"), fired, warnings


_LANGS = ("zh-CN", "en")


def _basis_text(basis: str) -> LocalizedText:
    if basis == "fact_unknown":
        return {
            lang: tr(lang, "the client did not give this fact: the least permissive band applies") for lang in _LANGS
        }
    if basis == "value_unknown":
        return {lang: tr(lang, "a value no band lists: the least permissive band applies") for lang in _LANGS}
    return {lang: tr(lang, "from the client's facts") for lang in _LANGS}


@lru_cache(maxsize=65536)
def _axis_reason(
    policy: Policy, code: str, axis_index: int, band_index: int, basis: str, profile: str, risk_level: str, limit: int
) -> Reason:
    # Built once per (axis, band, basis, profile, level, limit): a few values each, so few texts.
    axis = policy.model.axes[axis_index]
    level = policy.model.risk_levels[limit] if limit >= 0 else "-"
    params: dict[str, LocalizedText] = {
        "axis": axis.name,
        "band": axis.bands[band_index].name,
        "value": _basis_text(basis),
        "limit": dict.fromkeys(_LANGS, level),
        "risk_level": dict.fromkeys(_LANGS, risk_level),
        "profile": dict.fromkeys(_LANGS, profile),
    }
    return Reason(code=code, dimension="axis", text=policy.localized_message(code, params))


def _varietyexplain_fit(policy: Policy, variety: str, chosen: Sequence[str]) -> bool:
    if policy.model.variety_mode == "selected":
        return variety in chosen
    known = [policy.variety_index[v] for v in chosen if v in policy.variety_index]
    return bool(known) and policy.variety_index[variety] <= max(known)


def warnings_hash(warnings: Iterable[Reason], language: str) -> str:
    """Return ``sha256:<hex>`` of the exact warning texts shown, in order, in ``language``."""
    shown = [{"code": w.code, "text": w.text[language]} for w in warnings]
    return "sha256:" + sha256_hex(canonical_bytes(shown))


def confirm(
    decision: Decision,
    acknowledgement: str,
    actor: str,
    channel: str,
    evidence: Evidence | None = None,
    *,
    language: Language = "zh-CN",
    shown_warnings: Sequence[Reason] | None = None,
    confirmed_at: datetime | None = None,
) -> Confirmation:
    """Record the client's insistence on a ``requires_confirmation`` decision.

    Args:
        decision: the decision being confirmed.
        acknowledgement: the client's own words acknowledging the special risk warning.
        actor: who took the confirmation (staff id, or ``client`` for self-service).
        channel: where (``branch``, ``app``, ``phone``…).
        evidence: the 双录 recording backing it, if any.
        language: the language the warnings were shown in.
        shown_warnings: the warnings the app showed; they must equal the decision's.
        confirmed_at: when; defaults to now (UTC), read at this edge and recorded.

    Raises:
        DecisionError: the decision is ``blocked`` or ``suitable``, the warnings shown differ from
            the decision's, ``confirmed_at`` is before the decision, the acknowledgement is empty (or not text), or the actor or channel is
            not an identifier a person can read (:func:`~suitability.models.identifier_problem`).
    """
    if decision.outcome != "requires_confirmation":
        raise DecisionError(
            f"decision {decision.id} cannot be confirmed",
            [
                Problem(
                    f"expected a requires_confirmation decision, found {decision.outcome}",
                    "/outcome",
                    code="NOT_CONFIRMABLE",
                )
            ],
        )
    problems = [
        Problem(f"expected a non-empty acknowledgement of Unicode text, found {acknowledgement!r}", "/acknowledgement")
        for _ in (1,)
        if not acknowledgement.strip() or any("\ud800" <= c <= "\udfff" for c in acknowledgement)
    ]
    problems += [
        Problem(wrong, "/" + name, code="IDENTIFIER_INVALID")
        for name, value in (("actor", actor), ("channel", channel))
        if (wrong := identifier_problem(value)) is not None
    ]
    expected = warnings_hash(decision.warnings, language)
    if shown_warnings is not None and warnings_hash(shown_warnings, language) != expected:
        problems.append(
            Problem(
                f"expected the warnings of the decision {[w.code for w in decision.warnings]}, "
                f"found {[w.code for w in shown_warnings]} with different text",
                "/warnings",
                code="WARNINGS_DIFFER",
            )
        )
    at = as_instant(confirmed_at) if confirmed_at else datetime.now(UTC)
    if at < decision.as_of:
        problems.append(
            Problem(
                f"expected a confirmation at or after the decision ({decision.as_of.isoformat()}), "
                f"found {at.isoformat()}",
                "/confirmed_at",
                code="CONFIRMED_BEFORE_DECISION",
            )
        )
    if problems:
        raise DecisionError(f"cannot confirm decision {decision.id}", problems)
    return Confirmation(
        id=parts_id("cnf_", [decision.id, expected, acknowledgement, actor, channel, at.isoformat()]),
        decision_id=decision.id,
        warnings_hash=expected,
        warning_codes=[w.code for w in decision.warnings],
        language=language,
        acknowledgement=acknowledgement,
        actor=actor,
        channel=channel,
        confirmed_at=at,
        evidence=evidence,
    )


def recommend(
    assessment: Assessment,
    catalog: Iterable[Product],
    client: Client,
    policy: Policy,
    as_of: date | datetime,
    *,
    questionnaire_status: str = "active",
) -> list[Recommendation]:
    """Return the products of ``catalog`` that are ``suitable``, each with why it fits.

    A recommendation is firm-initiated (CSRC 办法 Art. 22(3)-(4)): anything that does not fit on
    every dimension is left out, as is anything needing a confirmation.
    """
    return screen(assessment, catalog, client, policy, as_of, questionnaire_status=questionnaire_status)[1]


def screen(
    assessment: Assessment,
    catalog: Iterable[Product],
    client: Client,
    policy: Policy,
    as_of: date | datetime,
    *,
    questionnaire_status: str = "active",
) -> tuple[list[Decision], list[Recommendation]]:
    """:func:`recommend` with every decision it made: the firm-initiated decision on each product of
    ``catalog``, blocked ones included (what the engine records), and the recommendations.

    Raises:
        ProductError: a product names a level, term or variety the policy does not know (before
            any decision is returned).
    """
    decisions = decide_many(
        assessment, catalog, client, policy, "firm", as_of, questionnaire_status=questionnaire_status
    )
    chosen = [
        Recommendation(product=d.product, decision=d, fits=explain_fit(assessment, d.product, client, policy))
        for d in decisions
        if d.outcome == "suitable"
    ]
    return decisions, chosen


def explain_fit(assessment: Assessment, product: Product, client: Client, policy: Policy) -> list[Reason]:
    """Return why a suitable ``product`` fits, dimension by dimension (for recommendations)."""
    if client.investor_type == "professional" and policy.model.professional_may_buy_all:
        text = {
            "zh-CN": "专业投资者可购买各风险等级产品",
            "en": "A professional investor may buy every risk level",
        }
        return [Reason(code="FITS_PROFESSIONAL", dimension="investor_type", text=text)]
    horizon = product_horizon(product, policy)
    allowed = _levels(policy, assessment.profile or "-")
    return [
        Reason(
            code="FITS_RISK",
            dimension="risk",
            text={
                "zh-CN": f"产品风险等级 {product.risk_level} 在 {assessment.profile} 可购买的范围（{allowed}）内",
                "en": f"Risk level {product.risk_level} is within what {assessment.profile} may buy ({allowed})",
            },
        ),
        Reason(
            code="FITS_HORIZON",
            dimension="horizon",
            text={
                "zh-CN": f"产品期限（{horizon}）不长于您的投资期限（{assessment.horizon}）",
                "en": f"The product's term ({horizon}) is no longer than your horizon ({assessment.horizon})",
            },
        ),
        Reason(
            code="FITS_VARIETY",
            dimension="variety",
            text={
                "zh-CN": f"产品品种（{product.variety}）在您选择的投资品种内",
                "en": f"The product's variety ({product.variety}) is among the varieties you chose",
            },
        ),
    ]


def still_suitable(
    decision: Decision,
    assessment: Assessment,
    client: Client,
    product: Product,
    policy: Policy,
    *,
    confirmed: bool = False,
) -> list[Reason]:
    """The reasons a sale would no longer be suitable (a re-check, CSRC 办法 Art. 21).

    ``decision`` was a sale (``suitable``, or ``requires_confirmation`` and ``confirmed``); it is
    decided again, as the client's own request, with ``product`` as rated now and ``assessment``
    (the one it was made on, or the client's newest) at the later of the decision's ``as_of`` and
    the assessment's. What the client already accepted (the warnings of a confirmed decision, with
    their very text) is not new; every other reason is returned.
    """
    when = max(decision.as_of, assessment.assessed_at)
    again = decide(assessment, product, client, policy, "client", when)
    accepted = list(decision.warnings) if confirmed else []
    return [r for r in again.reasons if r not in accepted]
