"""Validation of documents: the published JSON Schemas shipped in ``schemas/``, then checkers.

A document kind's semantic rules are a sequence of checkers, each ``(model) -> Iterable[Problem]``
for one concern (ids unique, references resolve, ...), run in order into one list so that every
problem is reported (the shape pypa/packaging uses to validate metadata, one function per field).
A new rule, or a new document format, adds checkers to a sequence; nothing else changes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from functools import cache
from importlib import resources
from typing import Any, TypeVar

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError
from pydantic import BaseModel

from .errors import DocumentError, Problem, pointer

_M = TypeVar("_M", bound=BaseModel)

#: One semantic rule of a document: every problem of its kind, in document order.
Check = Callable[[_M], Iterable[Problem]]


@cache
def schema(name: str) -> dict[str, Any]:
    """Return the published JSON Schema ``name`` (``questionnaire`` or ``policy``)."""
    text = resources.files("suitability").joinpath("schemas", f"{name}.schema.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@cache
def _validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(schema(name), format_checker=FormatChecker())


def _leaf_errors(error: ValidationError) -> list[ValidationError]:
    # "if/then/else" and "anyOf" wrap the useful error; report the innermost ones.
    if error.context:
        leaves: list[ValidationError] = []
        for sub in error.context:
            leaves += _leaf_errors(sub)
        return leaves
    return [error]


def schema_problems(document: Any, name: str, source: str | None = None) -> list[Problem]:
    """Return every schema violation of ``document``, each with its JSON Pointer, in order."""
    found: dict[tuple[str, str], Problem] = {}
    for error in _validator(name).iter_errors(document):
        for leaf in _leaf_errors(error):
            where = pointer(*leaf.absolute_path)
            message = leaf.message
            if leaf.validator == "additionalProperties" or leaf.validator == "required":
                message = f"{message} (schema rule {leaf.validator!s})"
            found.setdefault((where, message), Problem(message, where, source=source, code="SCHEMA"))
    return sorted(found.values(), key=lambda p: _pointer_key(p.pointer))


def _pointer_key(where: str) -> list[tuple[int, int | str]]:
    # isdigit() also holds for "²" or "１", which int() refuses or reads: only ASCII digits are an index
    return [(0, int(part)) if part.isascii() and part.isdigit() else (1, part) for part in where.split("/")]


def run_checks(checks: Sequence[Check[_M]], doc: _M) -> list[Problem]:
    """Return the problems of every check in ``checks``, in that order."""
    return [problem for check in checks for problem in check(doc)]


def item_by_item(*checks: Check[_M], sections: tuple[str, ...]) -> Check[_M]:
    """Return one check running ``checks`` over the items of the list ``sections``.

    Its problems come item by item (``/questions/0/...`` before ``/questions/1/...``; the items of
    ``sections[0]`` before those of ``sections[1]``) and, for one item, in the order of ``checks``:
    a reader fixing a document top to bottom meets each item's problems together. Every problem of
    ``checks`` must point into an item of ``sections``.
    """

    def check(doc: _M) -> list[Problem]:
        found = run_checks(checks, doc)
        return sorted(found, key=lambda p: _item_key(p.pointer, sections))  # stable: checks keep their order

    check.__name__ = check.__qualname__ = "item_by_item(" + ", ".join(c.__name__ for c in checks) + ")"
    return check


def _item_key(where: str, sections: tuple[str, ...]) -> tuple[int, int]:
    _, section, item, *_ = where.split("/")
    return sections.index(section), int(item)


def validated(document: Any, kind: str, model: type[_M], checks: Sequence[Check[_M]], source: str | None) -> _M:
    """Check ``document`` against the ``kind`` schema, then run ``checks``; return the typed model.

    Raises:
        DocumentError: with every schema problem, or else (the model needs a valid shape) every
            semantic problem, each with its JSON Pointer.
    """
    label = source or kind
    problems = schema_problems(document, kind, source)
    if problems:
        raise DocumentError(f"{label}: {len(problems)} problem(s) against the {kind} schema", problems)
    typed = model.model_validate(document)
    problems = [Problem(p.message, p.pointer, source=source, code=p.code) for p in run_checks(checks, typed)]
    if problems:
        raise DocumentError(f"{label}: {len(problems)} problem(s) in the {kind}", problems)
    return typed
