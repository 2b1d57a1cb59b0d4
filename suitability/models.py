"""The data every surface exchanges: client facts, responses and assessments.

These are pydantic models: sales apps build them from their own data, the CLI from JSON files, and
the decision log stores them as canonical JSON. They hold no behaviour beyond validation.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from .errors import InputError, Problem, ResponseError, SuitabilityError, pointer

#: A text in several languages, keyed by BCP 47 tag; ``zh-CN`` and ``en`` are always present.
LocalizedText = dict[str, str]

Profile = Literal["C1", "C2", "C3", "C4", "C5"]
PROFILES: tuple[Profile, ...] = ("C1", "C2", "C3", "C4", "C5")
RiskLevel = Literal["R1", "R2", "R3", "R4", "R5"]
RISK_LEVELS: tuple[RiskLevel, ...] = ("R1", "R2", "R3", "R4", "R5")
InvestorType = Literal["ordinary", "professional"]
#: The id of a level on a scale: C1..C5 and R1..R5 by default, or a level a format-2 document declares.
LevelId = Annotated[str, StringConstraints(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")]
LANGUAGES = ("zh-CN", "en")

_M = TypeVar("_M", bound=BaseModel)

#: The earliest birth date a client may have: anything before is a typing error, not a person.
EARLIEST_BIRTH_DATE = date(1900, 1, 1)
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def identifier_problem(value: str) -> str | None:
    """Return what makes ``value`` unfit as an identifier a person reads, or None if it is fit.

    Client, product, recording and document ids, actors and channels are shown to reviewers and
    compared by eye, so each must look like what it is: not blank, no leading or trailing space,
    and only printable characters (:meth:`str.isprintable`: no control characters, no bidi
    overrides or other invisible format characters, no line separators, no lone surrogates,
    which is what a command-line argument that is not UTF-8 turns into). Two ids that look the
    same must be the same id.
    """
    if not value.strip():
        return f"expected an identifier, found {'nothing' if not value else 'only white space'} ({value!r})"
    if value != value.strip():
        return f"expected an identifier without leading or trailing white space, found {value!r}"
    if not value.isprintable():
        at, char = next((i, c) for i, c in enumerate(value) if not c.isprintable())
        if "\ud800" <= char <= "\udfff":
            what = "bytes that are not UTF-8"
        else:
            what = f"U+{ord(char):04X} {unicodedata.name(char, unicodedata.category(char))}"
        return (
            "expected an identifier of printable characters (no control, bidi or invisible characters), "
            f"found {what} at position {at} of {value!r}"
        )
    return None


def _readable(value: str) -> str:
    problem = identifier_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def _strict_date(value: Any) -> Any:
    """Admit a date or an ISO 8601 ``YYYY-MM-DD`` string; pydantic alone reads ``0`` as 1970-01-01."""
    if isinstance(value, datetime) or not isinstance(value, date | str | None):
        raise ValueError(f"expected a date YYYY-MM-DD, found {type(value).__name__} {value!r}")
    if isinstance(value, str) and not _ISO_DATE.fullmatch(value):
        raise ValueError(f"expected a date YYYY-MM-DD, found {value!r}")
    return value


def _plausible_birth(value: date | None) -> date | None:
    if value is not None and value < EARLIEST_BIRTH_DATE:
        raise ValueError(
            f"expected a birth date on or after {EARLIEST_BIRTH_DATE.isoformat()}, found {value.isoformat()}"
        )
    return value


#: An identifier a person reads (see :func:`identifier_problem`), of at most 200 characters.
ReadableId = Annotated[str, StringConstraints(min_length=1, max_length=200), AfterValidator(_readable)]
ClientId = ReadableId


def _is_none(value: object) -> bool:
    return value is None


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def age_on(born: date, when: date) -> int:
    """The age in whole years on ``when`` of someone born on ``born``: the one age rule."""
    return when.year - born.year - ((when.month, when.day) < (born.month, born.day))


#: The value of a declared client fact: an integer, a string, a boolean or a list of strings (a set).
FactValue = bool | int | str | list[str]


class Client(_Frozen):
    """Client facts from KYC, not from the questionnaire (design §4).

    Attributes:
        client_id: the firm's identifier of the client.
        investor_type: ``ordinary`` or ``professional`` (CSRC 办法 Art. 8).
        birth_date: used for the age at the decision's ``as_of`` date.
        age: the age in whole years at the ``as_of`` of the record holding these facts, in place of
            the birth date: what the engine records under a pseudonymization key (never both).
        full_civil_capacity: a client without it is always in the lowest category.
        experience_years: years of investment experience (format 2's ``experience_years`` fact).
        classes_traded: the product classes the client has traded (the ``classes_traded`` fact).
        facts: the values of facts a format-2 questionnaire declares, by fact id.
    """

    client_id: ClientId
    investor_type: InvestorType = "ordinary"
    birth_date: Annotated[date | None, BeforeValidator(_strict_date), AfterValidator(_plausible_birth)] = None
    # Facts added after records were first written are absent from the serialized form when unset
    # (``exclude_if``), so facts without them serialize, and replay, to the bytes they always had.
    age: int | None = Field(default=None, ge=0, le=150, exclude_if=_is_none)
    full_civil_capacity: bool = True
    experience_years: int | None = Field(default=None, ge=0, le=150, exclude_if=_is_none)
    classes_traded: tuple[Annotated[str, StringConstraints(min_length=1, max_length=64)], ...] | None = Field(
        default=None, exclude_if=_is_none
    )
    facts: dict[Annotated[str, StringConstraints(min_length=1, max_length=64)], FactValue] | None = Field(
        default=None, exclude_if=_is_none
    )

    def __hash__(self) -> int:
        # ``facts`` is a dict: hash what identifies the client's facts, the dict as sorted items
        facts = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in (self.facts or {}).items()))
        return hash(
            (self.client_id, self.investor_type, self.birth_date, self.age, self.full_civil_capacity,
             self.experience_years, self.classes_traded, facts)
        )  # fmt: skip

    @model_validator(mode="after")
    def _one_age(self) -> Client:
        if self.birth_date is not None and self.age is not None:
            raise ValueError("expected birth_date or age, not both")
        return self

    def age_at(self, when: date) -> int | None:
        """Return the client's age in whole years on ``when`` (the recorded ``age`` when there is no
        birth date: it is the age at the ``as_of`` these facts were given for), or None."""
        if self.birth_date is None:
            return self.age
        return age_on(self.birth_date, when)

    def check_at(self, when: date | datetime, source: str | None = None) -> None:
        """Check the facts that depend on the moment: a client is born on or before ``when``.

        Rules never read the clock, so "in the future" means after the ``as_of`` of the
        assessment or decision being made.

        Raises:
            ResponseError: the birth date is later than ``when``, naming ``/birth_date``.
        """
        day = when.date() if isinstance(when, datetime) else when
        if self.birth_date is not None and self.birth_date > day:
            raise ResponseError(
                f"client {self.client_id}: birth date after the as_of date",
                [
                    Problem(
                        f"expected a birth date on or before the as_of date {day.isoformat()}, "
                        f"found {self.birth_date.isoformat()} (in the future)",
                        "/birth_date",
                        source=source,
                        code="BIRTH_DATE_IN_FUTURE",
                    )
                ],
            )


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


#: A score as recorded: an integer, or (format 2 with decimals) the exact decimal text of the score
#: as the firm prints it, without trailing zeros ("2.5", "0.75", "7"): a record never holds a float.
DecimalText = Annotated[str, StringConstraints(pattern=r"^-?(0|[1-9][0-9]*)(\.[0-9]*[1-9])?$")]
Points = int | DecimalText


class SubProfile(_Frozen):
    """One part of a composed profile (format 2): its score, the band it fell in and the level
    that band gives (``level`` is None in a chart, where only the pair of bands gives a level)."""

    id: str
    score: Points
    band: str
    level: str | None = None


class Composition(_Frozen):
    """How a format-2 profile was composed from sub-profiles: ``min``, ``max`` or ``chart``."""

    method: Literal["min", "max", "chart"]
    parts: list[SubProfile]
    level: str


class Assumed(_Frozen):
    """A horizon or varieties the questionnaire declared rather than derived from an answer (format
    2): a fixed value, or the default for an unanswered question, with the source the firm gives."""

    field: Literal["horizon", "varieties"]
    value: str | list[str]
    source: LocalizedText


class Assessment(_Frozen):
    """A client's risk profile, as scored from one response to one questionnaire version.

    ``consistency_violations`` non-empty means the assessment is inconsistent: it is recorded,
    but no decision may rest on it until the client answers again.

    Format-2 questionnaires add: ``format`` (2), ``profile_scored`` (the scored level when the
    client chose a more prudent one, which is ``profile``), ``composition`` (the sub-profiles and
    how they were combined), ``not_eligible`` (a stop outcome: ``profile`` is then None) and ``assumed``
    (a horizon or varieties the questionnaire declared, not derived from an answer, with its source).
    """

    id: str
    client_id: str | None
    profile: LevelId | None
    score: Points
    dimension_scores: dict[str, Points]
    lowest_category: bool
    rules_fired: list[RuleFired]
    consistency_violations: list[ConsistencyViolation]
    horizon: str | None
    varieties: list[str]
    assessed_at: datetime
    valid_until: datetime | None
    questionnaire: DocumentRef
    # absent when unset (``exclude_if``): a format-1 assessment serializes, and replays, to its bytes
    format: Literal[2] | None = Field(default=None, exclude_if=_is_none)
    profile_scored: LevelId | None = Field(default=None, exclude_if=_is_none)
    composition: Composition | None = Field(default=None, exclude_if=_is_none)
    not_eligible: RuleFired | None = Field(default=None, exclude_if=_is_none)
    assumed: list[Assumed] | None = Field(default=None, exclude_if=_is_none)

    @model_validator(mode="after")
    def _a_profile_or_a_stop(self) -> Assessment:
        if (self.profile is None) == (self.not_eligible is None):
            raise ValueError("expected a profile or a not_eligible outcome, exactly one")
        return self

    @property
    def consistent(self) -> bool:
        """Whether a decision may rest on this assessment."""
        return not self.consistency_violations


def oldest_age_at(age: int, on: date, at: date) -> int:
    """The highest age on ``at`` of anyone aged ``age`` on ``on``: a recorded age is never taken lower.

    Under a pseudonymization key the log holds a client's age, not the birth date; a later decision
    uses this bound, so a limit set by age (special care) can come up to a year early, never late.
    """
    try:
        last_birthday_missed = on.replace(year=on.year - age - 1)
    except ValueError:  # 29 February in a common year
        last_birthday_missed = on.replace(year=on.year - age - 1, day=28)
    born = last_birthday_missed + timedelta(days=1)
    return at.year - born.year - ((at.month, at.day) < (born.month, born.day))


def youngest_age_at(age: int, on: date, at: date) -> int:
    """The lowest age on ``at`` of anyone aged ``age`` on ``on`` (born the day they turned ``age``).

    The bound an age-only client takes where a younger age limits more (a policy axis on age that
    grows more permissive with age): a recorded age is never taken higher there.
    """
    try:
        born = on.replace(year=on.year - age)
    except ValueError:  # 29 February in a common year: the latest birthday giving ``age`` on ``on``
        born = on.replace(year=on.year - age, day=28)
    return age_on(born, at)


def as_instant(value: date | datetime) -> datetime:
    """Return ``value`` as an aware UTC datetime (a date means its midnight, UTC).

    Raises:
        ValueError: ``value`` is a naive datetime, whose instant is ambiguous.
    """
    if type(value) is datetime and value.tzinfo is UTC:  # the common case, on every hot path
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"expected a timezone-aware datetime, found naive {value.isoformat()}")
        return value.astimezone(UTC)
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def parse_instant(text: str, *, naive: Literal["utc", "refuse"] = "refuse", name: str = "instant") -> datetime:
    """Parse ``text`` as an instant and return it as an aware UTC datetime.

    ``YYYY-MM-DD`` (exactly ten characters) means that day's midnight, UTC, as in :func:`as_instant`.
    Anything else must be an ISO 8601 datetime (:meth:`datetime.fromisoformat`); one with an offset
    is converted to UTC. A datetime without an offset names no instant, so by default it is refused,
    as the models refuse it; ``naive="utc"`` reads it as UTC instead (the command line's ``--as-of``
    has always done so, and keeps doing so).

    Args:
        text: the text to parse.
        naive: what a datetime without an offset means: ``"refuse"`` (an error) or ``"utc"``.
        name: what the text is, for the error message (the CLI says ``--as-of``).

    Raises:
        InputError: ``text`` is not a date or an ISO 8601 datetime between the years 1 and 9999
            (an offset that moves it out of that range included), or is naive and ``naive`` is
            ``"refuse"``.
    """
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        parsed = datetime.fromisoformat(text)
        if parsed.tzinfo is None and naive == "refuse":
            raise InputError(
                f"invalid {name}",
                [Problem(f"expected a UTC offset (such as Z or +08:00) or a date, found a naive datetime {text!r}")],
            )
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: an offset that moves it past year 1 or 9999
        raise InputError(
            f"invalid {name}",
            [Problem(f"expected YYYY-MM-DD or an ISO 8601 datetime between the years 1 and 9999, found {text!r}")],
        ) from None


def parse_model(model: type[_M], data: Any, source: str, error: type[SuitabilityError]) -> _M:
    """Validate parsed JSON ``data`` as ``model``, raising ``error`` with every field problem.

    Each problem names the field by JSON Pointer, what was expected and what was found.
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [
            Problem(field_message(e), pointer(*e["loc"]), source=source, code="FIELD_INVALID") for e in exc.errors()
        ]
        raise error(f"{source}: not a valid {model.__name__}", problems) from None


def field_message(error: Any) -> str:
    """What pydantic found wrong with a field, saying what was found exactly once."""
    if error["type"] == "missing":
        return "expected this field, found none"
    message = str(error["msg"]).removeprefix("Value error, ")
    return (
        message if error["type"] == "value_error" and "found" in message else f"{message}, found {error.get('input')!r}"
    )
