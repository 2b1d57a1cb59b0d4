"""The data every surface exchanges: client facts, responses and assessments.

These are pydantic models: sales apps build them from their own data, the CLI from JSON files, and
the decision log stores them as canonical JSON. They hold no behaviour beyond validation.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StringConstraints,
    ValidationError,
    model_serializer,
    model_validator,
)

from .errors import Problem, SuitabilityError, pointer

#: A text in several languages, keyed by BCP 47 tag; ``zh-CN`` and ``en`` are always present.
LocalizedText = dict[str, str]

Profile = Literal["C1", "C2", "C3", "C4", "C5"]
PROFILES: tuple[Profile, ...] = ("C1", "C2", "C3", "C4", "C5")
RiskLevel = Literal["R1", "R2", "R3", "R4", "R5"]
RISK_LEVELS: tuple[RiskLevel, ...] = ("R1", "R2", "R3", "R4", "R5")
InvestorType = Literal["ordinary", "professional"]
LANGUAGES = ("zh-CN", "en")

_M = TypeVar("_M", bound=BaseModel)
ClientId = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Client(_Frozen):
    """Client facts from KYC, not from the questionnaire (design §4).

    Attributes:
        client_id: the firm's identifier of the client.
        investor_type: ``ordinary`` or ``professional`` (CSRC 办法 Art. 8).
        birth_date: used for the age at the decision's ``as_of`` date.
        age: the age in whole years at the ``as_of`` of the record holding these facts, in place of
            the birth date: what the engine records under a pseudonymization key (never both).
        full_civil_capacity: a client without it is always in the lowest category.
    """

    client_id: ClientId
    investor_type: InvestorType = "ordinary"
    birth_date: date | None = None
    age: int | None = Field(default=None, ge=0, le=150)
    full_civil_capacity: bool = True

    @model_validator(mode="after")
    def _one_age(self) -> Client:
        if self.birth_date is not None and self.age is not None:
            raise ValueError("expected birth_date or age, not both")
        return self

    @model_serializer(mode="wrap")
    def _without_absent_age(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Facts without an age serialize as they always have, so records written before the
        # field existed replay to the same bytes.
        data: dict[str, Any] = handler(self)
        if data.get("age", 0) is None:
            del data["age"]
        return data

    def age_at(self, when: date) -> int | None:
        """Return the client's age in whole years on ``when`` (the recorded ``age`` when there is no
        birth date: it is the age at the ``as_of`` these facts were given for), or None."""
        if self.birth_date is None:
            return self.age
        born = self.birth_date
        return when.year - born.year - ((when.month, when.day) < (born.month, born.day))


AnswerValue = str | list[str]


class Response(_Frozen):
    """A client's answers: question id → option id (single) or list of option ids (multi).

    Values are kept as given and checked against the questionnaire by ``assess``, which knows
    each question's type and can say exactly what was expected.
    """

    answers: dict[str, Any] = Field(default_factory=dict)


class DocumentRef(_Frozen):
    """Which exact document a result rests on."""

    id: str
    version: str
    hash: str


class RuleFired(_Frozen):
    """A rule, knockout or client fact that changed the profile, with its reason."""

    id: str
    reason: LocalizedText


class ConsistencyViolation(_Frozen):
    """A consistency rule that fired: the answers contradict each other."""

    id: str
    message: LocalizedText


class Assessment(_Frozen):
    """A client's risk profile, as scored from one response to one questionnaire version.

    ``consistency_violations`` non-empty means the assessment is inconsistent: it is recorded,
    but no decision may rest on it until the client answers again.
    """

    id: str
    client_id: str | None
    profile: Profile
    score: int
    dimension_scores: dict[str, int]
    lowest_category: bool
    rules_fired: list[RuleFired]
    consistency_violations: list[ConsistencyViolation]
    horizon: str | None
    varieties: list[str]
    assessed_at: datetime
    valid_until: datetime | None
    questionnaire: DocumentRef

    @property
    def consistent(self) -> bool:
        """Whether a decision may rest on this assessment."""
        return not self.consistency_violations


def as_instant(value: date | datetime) -> datetime:
    """Return ``value`` as an aware UTC datetime (a date means its midnight, UTC).

    Raises:
        ValueError: ``value`` is a naive datetime, whose instant is ambiguous.
    """
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"expected a timezone-aware datetime, found naive {value.isoformat()}")
        return value.astimezone(UTC)
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def parse_model(model: type[_M], data: Any, source: str, error: type[SuitabilityError]) -> _M:
    """Validate parsed JSON ``data`` as ``model``, raising ``error`` with every field problem.

    Each problem names the field by JSON Pointer, what was expected and what was found.
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [
            Problem(
                f"{e['msg']}, found {e.get('input')!r}"
                if e["type"] != "missing"
                else "expected this field, found none",
                pointer(*e["loc"]),
                source=source,
                code="FIELD_INVALID",
            )
            for e in exc.errors()
        ]
        raise error(f"{source}: not a valid {model.__name__}", problems) from None
