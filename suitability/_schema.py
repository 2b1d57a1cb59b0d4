"""Validation of documents against the published JSON Schemas shipped in ``schemas/``."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import Any, TypeVar

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError
from pydantic import BaseModel

from .errors import DocumentError, Problem, pointer

_M = TypeVar("_M", bound=BaseModel)


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


def validated(
    document: Any, kind: str, model: type[_M], semantic: Callable[[_M], list[Problem]], source: str | None
) -> _M:
    """Check ``document`` against the ``kind`` schema, then its semantic rules; return the typed model.

    Raises:
        DocumentError: with every schema problem, or else (the model needs a valid shape) every
            semantic problem, each with its JSON Pointer.
    """
    label = source or kind
    problems = schema_problems(document, kind, source)
    if problems:
        raise DocumentError(f"{label}: {len(problems)} problem(s) against the {kind} schema", problems)
    typed = model.model_validate(document)
    problems = [Problem(p.message, p.pointer, source=source, code=p.code) for p in semantic(typed)]
    if problems:
        raise DocumentError(f"{label}: {len(problems)} problem(s) in the {kind}", problems)
    return typed
