"""The one exception tree of `suitability`.

Every error the library raises on purpose derives from :class:`SuitabilityError`. Errors carry
structure (a list of :class:`Problem`, each with a source file, a line and a JSON Pointer) and a
message that says what was expected and what was found. The CLI maps each class to a stable exit
code and prints :meth:`SuitabilityError.render` instead of a traceback::

    SuitabilityError                 exit 1   (base; never raised bare)
    ├── InputError                   exit 3   unreadable, oversized, non-UTF-8 or malformed JSON input
    ├── DocumentError                exit 4   a questionnaire or policy fails its schema or semantic checks
    ├── RegistryError                exit 5   a document cannot be found or is ambiguous
    │   ├── UnknownDocumentError              no document with that id (and version)
    │   ├── DocumentConflictError             same id@version, different content hash
    │   └── DocumentNotActiveError            a retired document asked to do new work
    ├── ResponseError                exit 6   answers or client facts that do not fit the questionnaire
    ├── ProductError                 exit 7   a product or catalog row that is invalid
    ├── DecisionError                exit 8   a decision or confirmation that may not be made
    ├── LogError                     exit 9   the decision log cannot be opened, read or appended to
    └── IntegrityError               exit 10  verification or replay found the log altered

Warnings (what works, but not as a reader may expect) derive from :class:`SuitabilityWarning`::

    SuitabilityWarning (UserWarning)
    └── PairWarning                           a questionnaire and a policy that cannot do everything together
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


def pointer(*parts: str | int) -> str:
    """Return the RFC 6901 JSON Pointer made of ``parts`` (``~`` and ``/`` escaped)."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: where it is and what is wrong.

    Attributes:
        message: what was expected and what was found.
        pointer: JSON Pointer (RFC 6901) into the input, ``""`` for the whole document.
        source: the file (or other origin) the input came from, if known.
        line: 1-based line in ``source``, if known.
        column: 1-based column in ``source``, if known.
        code: a stable UPPER_SNAKE identifier of the kind of problem.
    """

    message: str
    pointer: str = ""
    source: str | None = None
    line: int | None = None
    column: int | None = None
    code: str = "INVALID"

    def render(self) -> str:
        """Return ``file:line:col: /pointer: message`` with the parts that are known."""
        where = []
        if self.source:
            loc = self.source
            if self.line is not None:
                loc += f":{self.line}"
                if self.column is not None:
                    loc += f":{self.column}"
            where.append(loc)
        if self.pointer or not where:
            where.append(self.pointer or "/")
        return f"{': '.join(where)}: {self.message}"


class SuitabilityError(Exception):
    """Root of every error raised by `suitability` on purpose.

    Attributes:
        problems: every problem found (validation reports all of them at once).
        exit_code: the CLI's stable exit status for this class of error.
    """

    exit_code = 1
    code = "SUITABILITY_ERROR"

    def __init__(self, summary: str, problems: Iterable[Problem] = ()) -> None:
        self.summary = summary
        self.problems = list(problems)
        super().__init__(self.render())

    def render(self) -> str:
        """Return the summary followed by one indented line per problem."""
        lines = [self.summary]
        lines.extend("  " + p.render() for p in self.problems)
        return "\n".join(lines)


class InputError(SuitabilityError):
    """An input could not be read as the JSON (or CSV) it should be."""

    exit_code = 3
    code = "INPUT_ERROR"


class DocumentError(SuitabilityError):
    """A questionnaire or policy document fails its schema or semantic checks."""

    exit_code = 4
    code = "DOCUMENT_INVALID"


class RegistryError(SuitabilityError):
    """A document cannot be found, or two documents claim the same identity."""

    exit_code = 5
    code = "REGISTRY_ERROR"


class UnknownDocumentError(RegistryError):
    """No document has the requested id (and version)."""

    code = "UNKNOWN_DOCUMENT"


class DocumentConflictError(RegistryError):
    """Two documents have the same kind, id and version but different content hashes."""

    code = "DOCUMENT_CONFLICT"


class DocumentNotActiveError(RegistryError):
    """A retired document was asked to do new work."""

    code = "DOCUMENT_NOT_ACTIVE"


class ResponseError(SuitabilityError):
    """Answers or client facts that do not fit the questionnaire."""

    exit_code = 6
    code = "RESPONSE_INVALID"


class ProductError(SuitabilityError):
    """A product, or a row of a catalog, is invalid."""

    exit_code = 7
    code = "PRODUCT_INVALID"


class DecisionError(SuitabilityError):
    """A decision or a confirmation that may not be made (for example confirming a blocked one)."""

    exit_code = 8
    code = "DECISION_ERROR"


class LogError(SuitabilityError):
    """The decision log cannot be opened, read or appended to; nothing was recorded."""

    exit_code = 9
    code = "LOG_ERROR"


class IntegrityError(SuitabilityError):
    """Verification, a proof or replay found that the log is not what it claims to be.

    Attributes:
        seq: the first record found bad, when one is to blame.
    """

    exit_code = 10
    code = "INTEGRITY_ERROR"

    def __init__(self, summary: str, problems: Iterable[Problem] = (), seq: int | None = None) -> None:
        self.seq = seq
        super().__init__(summary, problems)


class SuitabilityWarning(UserWarning):
    """Root of every warning `suitability` issues: something works, but not as a reader may expect."""


class PairWarning(SuitabilityWarning):
    """A questionnaire and a policy used together cannot do everything (issue 12 item 8).

    Issued once per pair when they first meet (see :meth:`suitability.registry.Registry.check_pair`):
    a questionnaire that derives no horizon or variety the policy matches on (every product would be
    a mismatch), a derived category the policy does not know, a level no answer set reaches, a product
    risk level no profile may buy.

    Attributes:
        questionnaire: ``id@version`` of the questionnaire.
        policy: ``id@version`` of the policy.
        problems: what the pair cannot do, each with its stable code.
    """

    def __init__(self, questionnaire: str, policy: str, problems: Iterable[Problem]) -> None:
        self.questionnaire = questionnaire
        self.policy = policy
        self.problems = list(problems)
        lines = [f"policy {policy} used with questionnaire {questionnaire} cannot do everything"]
        lines.extend(f"  {p.code}: {p.render()}" for p in self.problems)
        super().__init__("\n".join(lines))
