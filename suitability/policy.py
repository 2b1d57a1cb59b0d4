"""Matching policy documents: model, complete validation and compilation (design §5).

A policy is firm or regulatory matching configuration as data: the profile × risk-level matrix,
the horizon and variety categories, the lowest-category limit, the professional-investor rule,
the special-care threshold, what a mismatch leads to per initiator, the assessment validity, and
a bilingual message for every reason code; in format 2 also ``axes``, client facts besides the
profile that limit the matrix, checked monotone along each axis (:func:`axes_monotone`).
:func:`load_policy` reports every schema problem, or else every semantic one (a profile without a row, an unknown level, horizon or variety, a matrix
that is not monotone, a missing message; one checker each in :data:`CHECKS`), each with its
JSON Pointer.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from ._schema import Check, validated
from .codec import content_hash
from .conditions import BUILTIN_FACTS
from .errors import Problem, pointer
from .i18n import tr
from .models import PROFILES, Assessment, Client, DocumentRef, LevelId, LocalizedText
from .questionnaire import Questionnaire

#: Every stable reason code (design §7), with the dimension it concerns.
REASON_DIMENSIONS: dict[str, str] = {
    "RISK_ABOVE_PROFILE": "risk",
    "HORIZON_MISMATCH": "horizon",
    "VARIETY_MISMATCH": "variety",
    "LOWEST_CATEGORY": "risk",
    "PROFESSIONAL_ONLY": "investor_type",
    "ASSESSMENT_EXPIRED": "assessment",
    "ASSESSMENT_INCONSISTENT": "assessment",
    "DOCUMENT_NOT_ACTIVE": "document",
    "SPECIAL_CARE_REQUIRED": "age",
    "FIRM_INITIATED_MISMATCH": "initiator",
}
REASON_CODES = tuple(REASON_DIMENSIONS)

#: Reason codes a format-2 policy adds, with their dimension and the message used when the policy
#: gives none (``{reason}`` is the questionnaire's own reason, in the message's language).
FORMAT_2_REASONS: dict[str, tuple[str, LocalizedText]] = {
    "NOT_ELIGIBLE": (
        "assessment",
        {
            "zh-CN": "评估结论为不适合投资（{reason}），任何产品均不得销售",
            "en": "The assessment found the client not eligible ({reason}): no product may be sold",
        },
    ),
    "AXIS_LIMIT_EXCEEDED": (
        "axis",
        {
            lang: tr(
                lang,
                "The product's risk level {risk_level} is above what clients in band {band} of {axis} "
                "({value}) may buy, even on their own request (up to {limit}): this product is not sold to you",
            )
            for lang in ("zh-CN", "en")
        },
    ),
    "AXIS_CONFIRMATION_REQUIRED": (
        "axis",
        {
            lang: tr(
                lang,
                "The product's risk level {risk_level} is above what clients in band {band} of {axis} "
                "({value}) may buy without confirming (up to {limit}): it needs your confirmation",
            )
            for lang in ("zh-CN", "en")
        },
    ),
}

#: The placeholders the messages of the axis reason codes may use, besides :data:`PLACEHOLDERS`.
AXIS_PLACEHOLDERS = frozenset({"axis", "band", "value", "limit", "risk_level", "profile"})

#: The placeholders a message may use; each is filled from the decision's facts.
PLACEHOLDERS = frozenset(
    {
        "profile",
        "allowed",
        "risk_level",
        "horizon",
        "product_horizon",
        "variety",
        "client_varieties",
        "age",
        "min_age",
        "from_risk",
        "limit",
        "valid_until",
        "document",
    }
)
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


class _Doc(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SpecialCareDoc(_Doc):
    """Clients aged ``min_age`` or more buying ``from_risk`` or above need special care."""

    min_age: int
    from_risk: str


class OnMismatchDoc(_Doc):
    """What a mismatch leads to, by who initiated the sale."""

    client: Literal["requires_confirmation", "blocked"]
    firm: Literal["blocked"]


class AxisLimitDoc(_Doc):
    """A limit on the product risk levels of one axis band: an absolute ``max_risk``, or
    ``lower_by`` levels below the highest level the client's profile may buy (exactly one)."""

    max_risk: str | None = None
    lower_by: int | None = None


class AxisBandDoc(_Doc):
    """One band of an axis: the clients whose fact is at least ``at_least`` (an integer fact; the
    first band has none) or one of ``values`` (a string or boolean fact), and what they may buy."""

    id: str
    name: LocalizedText
    at_least: int | None = None
    values: list[str | bool] | None = None
    suitable_up_to: AxisLimitDoc | None = None
    confirmable_up_to: AxisLimitDoc | None = None


class AxisDoc(_Doc):
    """A client fact besides the profile that limits the matrix, banded in order, with the way
    toward which the bands grow more permissive (``ascending``: each band may buy at least what the
    one before it may)."""

    id: str
    name: LocalizedText
    fact: str
    permissive: Literal["ascending", "descending"]
    bands: list[AxisBandDoc]


class PolicyDoc(_Doc):
    """The policy document, schema_version 1 (design §5) or 2.

    Format 2 reads scales other than C1..C5 and R1..R5: ``profiles`` and ``risk_levels`` are then
    any level ids, lowest first (format 1's schema holds them to C1..C5 and R1..R5).
    """

    kind: Literal["policy"]
    schema_version: Literal[1, 2]
    id: str
    version: str
    status: Literal["draft", "active", "retired"]
    effective_from: date
    title: LocalizedText
    description: LocalizedText | None = None
    sources: list[str] = []
    profiles: list[LevelId]
    risk_levels: list[LevelId]
    matrix: dict[str, list[str]]
    horizons: list[str]
    horizon_max_months: dict[str, int] = {}
    varieties: list[str]
    variety_mode: Literal["selected", "cumulative"]
    assessment_validity_days: int | None = None
    lowest_category_max_risk: str
    professional_may_buy_all: bool
    special_care: SpecialCareDoc | None = None
    on_mismatch: OnMismatchDoc
    axes: list[AxisDoc] = []
    messages: dict[str, LocalizedText]


# --- semantic checks (design §5): one checker per rule, each ``(doc) -> Iterable[Problem]`` -------


def unique_entries(doc: PolicyDoc) -> Iterator[Problem]:
    """Profiles, risk levels, horizons and varieties are each listed once."""
    yield from _unique(list(doc.profiles), "profiles", "profiles")
    yield from _unique(list(doc.risk_levels), "risk_levels", "risk levels")
    yield from _unique(doc.horizons, "horizons", "horizons")
    yield from _unique(doc.varieties, "varieties", "varieties")


def profiles_in_c_order(doc: PolicyDoc) -> Iterator[Problem]:
    """Profiles are listed C1 first (format 2: the list's order is the scale's)."""
    if doc.schema_version == 1 and list(doc.profiles) != _profiles(doc):
        yield Problem(f"expected profiles in C order, found {doc.profiles}", "/profiles")


def matrix_rows_present(doc: PolicyDoc) -> Iterator[Problem]:
    """Every declared profile has a matrix row."""
    for profile in map(str, doc.profiles):
        if profile not in doc.matrix:
            yield Problem(
                f"expected a matrix row for profile {profile}, found none", "/matrix", code="MATRIX_ROW_MISSING"
            )


def matrix_rows_declared(doc: PolicyDoc) -> Iterator[Problem]:
    """Each matrix row is for a declared profile and names declared risk levels only."""
    levels = set(doc.risk_levels)
    for profile, row in doc.matrix.items():
        if profile not in doc.profiles:
            yield Problem(
                f"expected a row for a declared profile {list(doc.profiles)}, found {profile}",
                pointer("matrix", profile),
            )
        for i, level in enumerate(row):
            if level not in levels:
                yield Problem(
                    f"expected a declared risk level {sorted(levels)}, found {level!r}",
                    pointer("matrix", profile, i),
                    code="UNKNOWN_LEVEL",
                )


def matrix_monotone(doc: PolicyDoc) -> Iterator[Problem]:
    """What a profile may buy, every higher profile may buy too."""
    for lower, higher in itertools.pairwise(_profiles(doc)):
        missing = sorted(set(doc.matrix.get(lower, [])) - set(doc.matrix.get(higher, [])))
        if missing:
            yield Problem(
                f"expected the matrix to be monotone (what {lower} may buy, {higher} may buy), "
                f"found {higher} missing {missing}",
                pointer("matrix", higher),
                code="MATRIX_NOT_MONOTONE",
            )


def limits_are_declared_levels(doc: PolicyDoc) -> Iterator[Problem]:
    """The lowest-category limit and the special-care threshold are declared risk levels."""
    limits = [("/lowest_category_max_risk", doc.lowest_category_max_risk)]
    if doc.special_care is not None:
        limits.append(("/special_care/from_risk", doc.special_care.from_risk))
    for where, level in limits:
        if level not in doc.risk_levels:
            yield Problem(f"expected a declared risk level, found {level!r}", where, code="UNKNOWN_LEVEL")


def month_limits_declared(doc: PolicyDoc) -> Iterator[Problem]:
    """Month limits are given for declared horizons only."""
    for horizon in doc.horizon_max_months:
        if horizon not in doc.horizons:
            yield Problem(
                f"expected a declared horizon {doc.horizons}, found {horizon!r}",
                pointer("horizon_max_months", horizon),
            )


def month_limits_increasing(doc: PolicyDoc) -> Iterator[Problem]:
    """Month limits increase with the horizon order."""
    bounds = [doc.horizon_max_months[h] for h in doc.horizons if h in doc.horizon_max_months]
    if bounds != sorted(bounds):
        yield Problem("expected month limits increasing with the horizon order", "/horizon_max_months")


def message_for_every_reason(doc: PolicyDoc) -> Iterator[Problem]:
    """Every reason code has a message."""
    for code in REASON_CODES:
        if code not in doc.messages:
            yield Problem(f"expected a message for reason code {code}, found none", "/messages", code="MESSAGE_MISSING")


def messages_well_formed(doc: PolicyDoc) -> Iterator[Problem]:
    """Each message is for a known reason code and uses known placeholders only."""
    known = REASON_DIMENSIONS.keys() | (FORMAT_2_REASONS.keys() if doc.schema_version == 2 else set())
    for code, text in doc.messages.items():
        if code not in known:
            yield Problem(f"expected a known reason code, found {code!r}", pointer("messages", code))
        for lang, message in text.items():
            for name in _PLACEHOLDER.findall(message):
                if name not in PLACEHOLDERS and not _extra_placeholder(code, name):
                    yield Problem(
                        f"expected placeholders among {sorted(PLACEHOLDERS)}, found {{{name}}}",
                        pointer("messages", code, lang),
                    )


def _extra_placeholder(code: str, name: str) -> bool:
    if code == "NOT_ELIGIBLE":
        return name == "reason"
    return code.startswith("AXIS_") and name in AXIS_PLACEHOLDERS


#: Facts an axis may band, by type: integer facts by ``at_least``, string and boolean ones by ``values``.
_AXIS_FACT_TYPES = {name: kind for name, (kind, _) in BUILTIN_FACTS.items()}


def axes_well_formed(doc: PolicyDoc) -> Iterator[Problem]:
    """Each axis bands one fact, in order: an integer fact by increasing ``at_least`` (the first band
    without one), a string or boolean fact by ``values`` (each value in one band); its limits name
    declared risk levels, and a band's ``confirmable_up_to`` comes with a ``suitable_up_to``."""
    yield from _unique([a.id for a in doc.axes], "axes", "axis ids")
    for i, axis in enumerate(doc.axes):
        at = pointer("axes", i)
        ids = [b.id for b in axis.bands]
        for j, band_id in enumerate(ids):
            if ids.index(band_id) != j:
                yield Problem(f"expected unique band ids, found {band_id!r} again", at + pointer("bands", j, "id"))
        kind = _AXIS_FACT_TYPES.get(axis.fact)
        by_bound = any(b.at_least is not None for b in axis.bands)
        if kind == "set":
            yield Problem(
                f"expected an axis on an integer, string or boolean fact, found {axis.fact!r} (a set fact)",
                at + "/fact",
                code="AXIS_INVALID",
            )
            continue
        integer = kind == "integer" or (kind is None and by_bound)
        seen: dict[Any, int] = {}
        for j, band in enumerate(axis.bands):
            where = at + pointer("bands", j)
            if integer:
                if band.values is not None:
                    yield Problem(
                        f"expected integer fact {axis.fact!r} banded by at_least, found values", where + "/values",
                        code="AXIS_INVALID",
                    )  # fmt: skip
                if j == 0 and band.at_least is not None:
                    yield Problem(
                        f"expected the first band of axis {axis.id} without at_least (it holds every value below "
                        f"the next band's), found at_least {band.at_least}",
                        where + "/at_least",
                        code="AXIS_INVALID",
                    )
                elif j > 0 and band.at_least is None:
                    yield Problem(f"expected at_least in band {band.id} of axis {axis.id}, found none", where,
                                  code="AXIS_INVALID")  # fmt: skip
                elif (
                    j > 1
                    and band.at_least is not None
                    and (prev := axis.bands[j - 1].at_least) is not None
                    and band.at_least <= prev
                ):
                    yield Problem(
                        f"expected at_least above the previous band's ({prev}), found {band.at_least}",
                        where + "/at_least",
                        code="AXIS_INVALID",
                    )
            else:
                if band.at_least is not None:
                    yield Problem(
                        f"expected {kind or 'a string or boolean'} fact {axis.fact!r} banded by values, found at_least",
                        where + "/at_least",
                        code="AXIS_INVALID",
                    )
                if band.values is None:
                    yield Problem(f"expected values in band {band.id} of axis {axis.id}, found none", where,
                                  code="AXIS_INVALID")  # fmt: skip
                for k, value in enumerate(band.values or ()):
                    wanted = {"boolean": bool, "string": str}.get(kind or "", type(value))
                    if type(value) is not wanted:
                        yield Problem(
                            f"expected a {kind} value of fact {axis.fact!r}, found {value!r}",
                            where + pointer("values", k),
                            code="AXIS_INVALID",
                        )
                    key = (type(value), value)
                    if key in seen:
                        yield Problem(
                            f"expected each value in one band, found {value!r} again (also in band "
                            f"{axis.bands[seen[key]].id})",
                            where + pointer("values", k),
                            code="AXIS_INVALID",
                        )
                    seen.setdefault(key, j)
            for field in ("suitable_up_to", "confirmable_up_to"):
                limit = getattr(band, field)
                if limit is None:
                    continue
                if (limit.max_risk is None) == (limit.lower_by is None):
                    yield Problem(f"expected exactly one of max_risk or lower_by, found {limit.model_dump(exclude_none=True)}",
                                  where + "/" + field, code="AXIS_INVALID")  # fmt: skip
                elif limit.max_risk is not None and limit.max_risk not in doc.risk_levels:
                    yield Problem(
                        f"expected a declared risk level, found {limit.max_risk!r}",
                        where + f"/{field}/max_risk",
                        code="UNKNOWN_LEVEL",
                    )
            if band.confirmable_up_to is not None and band.suitable_up_to is None:
                yield Problem(
                    "expected suitable_up_to beside confirmable_up_to (without it nothing is limited)",
                    where + "/confirmable_up_to",
                    code="AXIS_INVALID",
                )


def axes_monotone(doc: PolicyDoc) -> Iterator[Problem]:
    """Along each axis, toward its less permissive side, what a profile may buy (suitable) and what it
    may buy at all (not blocked) never grows; within a band both grow with the profile; and a band
    confirms no less than it finds suitable."""
    if not doc.axes or any(True for _ in axes_well_formed(doc)):
        return  # the limits cannot be computed: axes_well_formed says why
    levels = list(doc.risk_levels)
    profiles = _profiles(doc)
    for i, axis in enumerate(doc.axes):
        order = list(range(len(axis.bands)))
        if axis.permissive == "descending":
            order.reverse()  # least permissive first
        sets = {(p, j): _band_sets(doc, levels, p, axis.bands[j]) for p in profiles for j in order}
        for j, band in enumerate(axis.bands):
            for p in profiles:
                s, c = _band_limits(doc, levels, p, band)
                if c < s:
                    yield Problem(
                        f"expected band {band.id} of axis {axis.id} to confirm at least what it finds suitable, "
                        f"found for {p} confirmable up to {_level(levels, c)} below suitable up to {_level(levels, s)}",
                        pointer("axes", i, "bands", j, "confirmable_up_to"),
                        code="AXIS_NOT_MONOTONE",
                    )
                    break
        for low, high in itertools.pairwise(order):
            for p in profiles:
                for what, k in (("suitable", 0), ("not blocked", 1)):
                    grown = sorted(sets[(p, low)][k] - sets[(p, high)][k], key=levels.index)
                    if grown:
                        yield Problem(
                            f"expected axis {axis.id} to be monotone ({axis.permissive}: band {axis.bands[high].id} "
                            f"at least as permissive as band {axis.bands[low].id}), found {p} in band "
                            f"{axis.bands[low].id} {what} for {grown} that band {axis.bands[high].id} is not",
                            pointer("axes", i, "bands", low),
                            code="AXIS_NOT_MONOTONE",
                        )
        for j, band in enumerate(axis.bands):
            for lower, higher in itertools.pairwise(profiles):
                for what, k in (("suitable", 0), ("not blocked", 1)):
                    missing = sorted(sets[(lower, j)][k] - sets[(higher, j)][k], key=levels.index)
                    if missing:
                        yield Problem(
                            f"expected band {band.id} of axis {axis.id} monotone in the profile (what {lower} "
                            f"may buy, {higher} may buy), found {higher} not {what} for {missing}",
                            pointer("axes", i, "bands", j),
                            code="AXIS_NOT_MONOTONE",
                        )


def _level(levels: list[str], index: int) -> str:
    return levels[index] if index >= 0 else "-"


def _limit_index(doc: PolicyDoc, levels: list[str], profile: str, limit: AxisLimitDoc | None) -> int:
    """The highest risk index ``limit`` lets ``profile`` reach (-1: none; no limit: the top)."""
    if limit is None:
        return len(levels) - 1
    if limit.max_risk is not None:
        return levels.index(limit.max_risk)
    own = max((levels.index(r) for r in doc.matrix.get(profile, ()) if r in levels), default=-1)
    return max(own - (limit.lower_by or 0), -1)


def _band_limits(doc: PolicyDoc, levels: list[str], profile: str, band: AxisBandDoc) -> tuple[int, int]:
    """(suitable up to, confirmable up to) as risk indices for ``profile`` in ``band``."""
    suitable = _limit_index(doc, levels, profile, band.suitable_up_to)
    confirmable = _limit_index(doc, levels, profile, band.confirmable_up_to) if band.confirmable_up_to else suitable
    return suitable, confirmable


def _band_sets(doc: PolicyDoc, levels: list[str], profile: str, band: AxisBandDoc) -> tuple[set[str], set[str]]:
    """The risk levels ``profile`` in ``band`` finds suitable, and those it may buy at all (its own
    request, confirmed), under the matrix and the band's limits."""
    s, c = _band_limits(doc, levels, profile, band)
    row = set(doc.matrix.get(profile, ()))
    suitable = {r for r in row if r in levels and levels.index(r) <= s}
    reach = row if doc.on_mismatch.client == "blocked" else set(levels)
    return suitable, {r for r in reach if r in levels and levels.index(r) <= c}


#: The semantic rules of a schema_version 1 policy, run in this order into one report.
CHECKS: tuple[Check[PolicyDoc], ...] = (
    unique_entries,
    profiles_in_c_order,
    matrix_rows_present,
    matrix_rows_declared,
    matrix_monotone,
    limits_are_declared_levels,
    month_limits_declared,
    month_limits_increasing,
    message_for_every_reason,
    messages_well_formed,
    axes_well_formed,
    axes_monotone,
)


def _unique(items: list[str], where: str, what: str) -> list[Problem]:
    return [
        Problem(f"expected unique {what}, found {item!r} again", pointer(where, i))
        for i, item in enumerate(items)
        if items.index(item) != i
    ]


def _profiles(doc: PolicyDoc) -> list[str]:
    """The declared profiles in C order (format 2: in the order declared, lowest first)."""
    if doc.schema_version == 2:
        return list(doc.profiles)
    return [p for p in PROFILES if p in doc.profiles]


class Policy:
    """A validated, compiled matching policy.

    Attributes:
        document: the parsed JSON exactly as loaded (what is hashed and logged).
        model: the typed view of the document.
        hash: ``sha256:<hex>`` of its RFC 8785 canonical bytes.
    """

    def __init__(self, document: dict[str, Any], model: PolicyDoc, digest: str, source: str | None):
        self.document = document
        self.model = model
        self.hash = digest
        self.source = source
        self.ref = DocumentRef(id=model.id, version=model.version, hash=digest)
        self.format = model.schema_version
        #: the profile scale this policy accepts, lowest first
        self.profiles = tuple(_profiles(model))
        self.risk_index: dict[str, int] = {level: i for i, level in enumerate(model.risk_levels)}
        self.allowed = {p: frozenset(row) for p, row in model.matrix.items()}
        self.horizon_index = {h: i for i, h in enumerate(model.horizons)}
        self.variety_index = {v: i for i, v in enumerate(model.varieties)}
        self.lowest_limit = self.risk_index[model.lowest_category_max_risk]
        care = model.special_care
        self.care_age = care.min_age if care else None
        self.care_from = self.risk_index[care.from_risk] if care else None
        self.validity = timedelta(days=model.assessment_validity_days) if model.assessment_validity_days else None
        levels = list(model.risk_levels)
        #: (suitable up to, confirmable up to) as risk indices, by (axis, band, profile)
        self.axis_limits: dict[tuple[int, int, str], tuple[int, int]] = {
            (i, j, p): _band_limits(model, levels, p, band)
            for i, axis in enumerate(model.axes)
            for j, band in enumerate(axis.bands)
            for p in self.profiles
        }
        #: per axis, the band a client whose fact is unknown falls in (the least permissive)
        self.axis_fallback = tuple(0 if a.permissive == "ascending" else len(a.bands) - 1 for a in model.axes)
        #: decision results by their facts (see matching.decide); the policy is immutable, so they stay true.
        self.memo: dict[Any, Any] = {}
        self._horizon_of_months: dict[int, str] = {}

    def expiry(self, assessment: Assessment) -> datetime | None:
        """Return when ``assessment`` stops being usable under this policy (the earlier of its own
        ``valid_until`` and ``assessed_at`` plus ``assessment_validity_days``), or None."""
        own = assessment.valid_until
        if self.validity is None:
            return own
        limit = assessment.assessed_at + self.validity
        return limit if own is None or limit < own else own

    @property
    def id(self) -> str:
        """The document id."""
        return self.model.id

    @property
    def version(self) -> str:
        """The document version."""
        return self.model.version

    @property
    def status(self) -> str:
        """``draft``, ``active`` or ``retired``."""
        return self.model.status

    def horizon_of_months(self, months: int) -> str:
        """Return the first horizon whose month limit holds ``months`` (the last one otherwise)."""
        found = self._horizon_of_months.get(months)
        if found is None:
            found = self.model.horizons[-1]
            for horizon in self.model.horizons:
                limit = self.model.horizon_max_months.get(horizon)
                if limit is not None and months <= limit:
                    found = horizon
                    break
            self._horizon_of_months[months] = found
        return found

    def axis_bands(self, client: Client, when: date) -> tuple[tuple[int, str], ...]:
        """The band of each axis ``client`` is in on ``when``, with its basis: ``value`` (the band
        holding the fact's value), ``fact_unknown`` (the client did not give the fact) or
        ``value_unknown`` (a value no band lists): the last two fall in the least permissive band."""
        found = []
        for i, axis in enumerate(self.model.axes):
            value = fact_value(client, axis.fact, when)
            band = None if value is None else _band_of(axis, value)
            if band is not None:
                found.append((band, "value"))
            else:
                found.append((self.axis_fallback[i], "fact_unknown" if value is None else "value_unknown"))
        return tuple(found)

    def message(self, code: str, params: dict[str, str]) -> LocalizedText:
        """Return the localized message of ``code`` with its placeholders filled from ``params``."""
        return {
            lang: _PLACEHOLDER.sub(lambda m: params.get(m.group(1), m.group(0)), text)
            for lang, text in self.model.messages[code].items()
        }

    def localized_message(self, code: str, params: dict[str, LocalizedText]) -> LocalizedText:
        """The message of a format-2 reason ``code``, each placeholder filled in the message's own
        language (the policy's text, or the default of :data:`FORMAT_2_REASONS`)."""
        texts = self.model.messages.get(code) or FORMAT_2_REASONS[code][1]

        def filled(lang: str, text: str) -> str:
            return _PLACEHOLDER.sub(lambda m: params.get(m.group(1), {}).get(lang, m.group(0)), text)

        return {lang: filled(lang, text) for lang, text in texts.items()}

    def __repr__(self) -> str:
        return f"<Policy {self.id}@{self.version} {self.hash[:15]}>"


def fact_value(client: Client, fact: str, when: date) -> Any:
    """The value of ``fact`` for ``client`` on ``when`` (the age at ``when``), or None when not given."""
    if fact == "age":
        return client.age_at(when)
    if fact in ("investor_type", "full_civil_capacity", "experience_years"):
        return getattr(client, fact)
    if fact == "classes_traded":
        return None
    return (client.facts or {}).get(fact)


def _band_of(axis: AxisDoc, value: Any) -> int | None:
    """The index of the band of ``axis`` holding ``value``, or None (a value of another type, or unlisted)."""
    if axis.bands[0].values is None:  # an integer banding
        if type(value) is not int:
            return None
        found = 0
        for j, band in enumerate(axis.bands[1:], 1):
            if band.at_least is not None and value >= band.at_least:
                found = j
        return found
    for j, band in enumerate(axis.bands):
        if any(type(v) is type(value) and v == value for v in band.values or ()):
            return j
    return None


def load_policy(document: Any, source: str | None = None) -> Policy:
    """Validate ``document`` completely and compile it.

    Raises:
        DocumentError: with every schema problem, or else every semantic problem, found.
    """
    if isinstance(document, dict) and document.get("schema_version") == 2:
        model = validated(document, "policy-2", PolicyDoc, CHECKS, source)
    else:
        model = validated(document, "policy", PolicyDoc, CHECKS, source)
    return Policy(document, model, content_hash(document), source)


def check_pair(policy: Policy, questionnaire: Questionnaire) -> tuple[list[Problem], list[Problem]]:
    """Check ``policy`` against ``questionnaire``: what makes the pair unusable (errors) and what the
    pair cannot do (warnings).

    Errors: when either document is format 2, the questionnaire's profile scale must be the scale
    the policy accepts (a format-1 pair keeps its format-1 behaviour). Warnings: the questionnaire
    derives no horizon or no variety the policy needs (every product would then be a mismatch), a
    derived category the policy does not know, a level of the scale no answer set can reach, a
    product risk level no profile may buy, an axis on a fact neither built in nor declared by the
    questionnaire (every client then falls in its least permissive band), an axis band no value of
    its fact reaches.
    """
    errors: list[Problem] = []
    warnings: list[Problem] = []
    q_name, p_name = f"questionnaire {questionnaire.id}@{questionnaire.version}", f"policy {policy.id}@{policy.version}"
    if (policy.format == 2 or questionnaire.format == 2) and tuple(questionnaire.levels) != policy.profiles:
        errors.append(
            Problem(
                f"expected the profile scale of {q_name} {list(questionnaire.levels)} to be the scale {p_name} "
                f"accepts {list(policy.profiles)}",
                "/profiles",
                source=policy.source,
                code="SCALE_MISMATCH",
            )
        )
    derive = questionnaire.model.derive
    for field, known, what in (("horizon", policy.model.horizons, "HORIZON_MISMATCH"),
                               ("varieties", policy.model.varieties, "VARIETY_MISMATCH")):  # fmt: skip
        derivation = getattr(derive, field)
        if derivation is None:
            warnings.append(
                Problem(
                    f"{q_name} derives no {field}, which {p_name} matches on: every product will be {what}",
                    f"/derive/{field}",
                    source=questionnaire.source,
                    code="NOTHING_DERIVED",
                )
            )
            continue
        declared = [derivation.value, derivation.default] if questionnaire.format == 2 else []
        for given in declared:
            for category in [given] if isinstance(given, str) else given or ():
                if category not in known:
                    warnings.append(
                        Problem(
                            f"{q_name} declares {field} {category!r}, which {p_name} does not know {known}: "
                            f"every client it applies to meets {what}",
                            pointer("derive", field, "value" if given is derivation.value else "default"),
                            source=questionnaire.source,
                            code="UNKNOWN_CATEGORY",
                        )
                    )
        for option, category in derivation.map.items():
            if category not in known:
                warnings.append(
                    Problem(
                        f"{q_name} derives {field} {category!r} (option {option!r}), which {p_name} does not know "
                        f"{known}: a client choosing it meets {what}",
                        pointer("derive", field, "map", option),
                        source=questionnaire.source,
                        code="UNKNOWN_CATEGORY",
                    )
                )
    for level in questionnaire.levels:
        if level not in questionnaire.reachable_levels:
            warnings.append(
                Problem(
                    f"{q_name} gives level {level} for no answer set", "/scale", source=questionnaire.source,
                    code="LEVEL_UNREACHABLE",
                )
            )  # fmt: skip
    warnings += _axis_warnings(policy, questionnaire, q_name, p_name)
    bought = {level for p in questionnaire.levels for level in policy.allowed.get(p, ())}
    for level in policy.model.risk_levels if not errors else ():
        if level not in bought:
            warnings.append(
                Problem(
                    f"{p_name}: no profile of {q_name} may buy a product of risk level {level}",
                    "/matrix",
                    source=policy.source,
                    code="LEVEL_UNSOLD",
                )
            )
    return errors, warnings


#: The values the built-in integer facts may take (the client model's bounds).
_INTEGER_RANGE = {"age": (0, 150), "experience_years": (0, 150)}


def _axis_warnings(policy: Policy, questionnaire: Questionnaire, q_name: str, p_name: str) -> list[Problem]:
    """What the axes of ``policy`` cannot do with ``questionnaire``'s clients."""
    found: list[Problem] = []
    declared = {fact.id: fact for fact in questionnaire.model.facts}
    for i, axis in enumerate(policy.model.axes):
        fallback = axis.bands[policy.axis_fallback[i]].id
        if axis.fact not in BUILTIN_FACTS and axis.fact not in declared:
            found.append(
                Problem(
                    f"{p_name}: axis {axis.id} reads fact {axis.fact!r}, which {q_name} never records (it declares "
                    f"{sorted(declared)}): every client falls in its least permissive band {fallback}",
                    pointer("axes", i, "fact"),
                    source=policy.source,
                    code="AXIS_FACT_NOT_RECORDED",
                )
            )
            continue
        for j in _unreachable_bands(axis, declared):
            found.append(
                Problem(
                    f"{p_name}: no value of fact {axis.fact!r} puts a client in band {axis.bands[j].id} of axis "
                    f"{axis.id}"
                    + (" (only clients whose fact is unknown fall in it)" if j == policy.axis_fallback[i] else ""),
                    pointer("axes", i, "bands", j),
                    source=policy.source,
                    code="AXIS_BAND_UNREACHABLE",
                )
            )
    return found


def _unreachable_bands(axis: AxisDoc, declared: dict[str, Any]) -> list[int]:
    """The bands of ``axis`` no value of its fact falls in, given the fact's type and values."""
    if axis.fact in BUILTIN_FACTS:
        kind, allowed = BUILTIN_FACTS[axis.fact]
    else:
        fact = declared[axis.fact]
        kind, allowed = fact.type, frozenset(fact.values) if fact.values is not None else None
    integer = axis.bands[0].values is None
    if integer != (kind == "integer"):
        return list(range(len(axis.bands)))  # every value is of another type: none is placed
    if integer:
        low, high = _INTEGER_RANGE.get(axis.fact, (None, None))
        bounds = [b.at_least for b in axis.bands]
        unreachable = []
        for j, start in enumerate(bounds):
            end = bounds[j + 1] if j + 1 < len(bounds) else None  # the band holds [start, end)
            if (high is not None and start is not None and start > high) or (
                low is not None and end is not None and end <= low
            ):
                unreachable.append(j)
        return unreachable
    return [
        j
        for j, band in enumerate(axis.bands)
        if not any(
            (type(v) is bool) if kind == "boolean" else (type(v) is str and (allowed is None or v in allowed))
            for v in band.values or ()
        )
    ]
