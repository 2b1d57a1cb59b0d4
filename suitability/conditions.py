"""The condition language of questionnaires (design §3), interpreted from data.

A condition is JSON, never code::

    {"question": q, "any_of": [option, ...]}     an enabled answer to q includes one of these
    {"question": q, "all_of": [option, ...]}     ... includes all of these
    {"question": q, "answered": true|false}      q is (not) enabled and answered
    {"dimension": d, "score_at_most": n}         the sub-score of d is <= n   (also score_at_least)
    {"total_at_most": n}                          the total score is <= n     (also total_at_least)
    {"all": [c, ...]}, {"any": [c, ...]}, {"not": c}

Format 2 adds conditions on client facts (never on code: each is a comparison named by a key)::

    {"fact": f, "at_least": n}     an integer fact (age, experience_years, ...) is >= n (also at_most)
    {"fact": f, "any_of": [v, ...]} a string fact is one of these; a set fact holds one of these
    {"fact": f, "all_of": [v, ...]} a set fact (classes_traded, ...) holds all of these
    {"fact": f, "is": true|false}  a boolean fact (full_civil_capacity, ...)
    {"fact": f, "known": true|false} the fact is (not) known for this client

A fact that is not known makes every comparison on it false (so ``not`` of one is true): a document
that must treat an unknown age with care says so with ``known``. The facts a document may name are
:data:`BUILTIN_FACTS` and those it declares under ``facts``.

:func:`check` reports every malformed or dangling reference with its JSON Pointer;
:func:`compile_condition` turns a checked condition into a closure over a :class:`Facts`, so
evaluation costs a few dictionary lookups and nothing is parsed per call.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Literal

from .errors import Problem, pointer

FactType = Literal["integer", "string", "boolean", "set"]

#: The facts every format-2 document may name, computed from the client's KYC facts at ``as_of``:
#: their type and, for a string fact, its allowed values.
BUILTIN_FACTS: Mapping[str, tuple[FactType, frozenset[str] | None]] = MappingProxyType(
    {
        "age": ("integer", None),  # from birth_date at as_of (or the recorded age)
        "investor_type": ("string", frozenset({"ordinary", "professional"})),
        "full_civil_capacity": ("boolean", None),
        "experience_years": ("integer", None),
        "classes_traded": ("set", None),
    }
)

_NO_FACTS: Mapping[str, Any] = MappingProxyType({})


class Facts:
    """What a condition may look at.

    Attributes:
        answers: the chosen option ids of each enabled, answered question.
        dimension_scores: sub-score per dimension (while questions are still being enabled, the
            scores so far: format 2's ``enable_when`` names only dimensions already complete).
        total: the total score.
        client: the client facts known at ``as_of`` by fact id (format 2; an unknown fact is absent).
    """

    __slots__ = ("answers", "client", "dimension_scores", "total")

    def __init__(
        self,
        answers: Mapping[str, Collection[str]],
        dimension_scores: Mapping[str, int],
        total: int,
        client: Mapping[str, Any] = _NO_FACTS,
    ) -> None:
        # A plain class: built twice per assessment, so it avoids the cost of a frozen dataclass.
        self.answers = answers
        self.dimension_scores = dimension_scores
        self.total = total
        self.client = client


Predicate = Callable[[Facts], bool]

_QUESTION_OPS = ("any_of", "all_of", "answered")
_SCORE_OPS = ("score_at_most", "score_at_least")
_TOTAL_OPS = ("total_at_most", "total_at_least")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


#: The most decimal places a format-2 score, cap, bound, weight or score threshold may have: every
#: such number reaches Python as a float, and its shortest repr gives back the printed text exactly.
MAX_PLACES = 6


def places(value: int | float | Decimal) -> int | None:
    """The decimal places of ``value`` as printed (``2.5``: 1, ``3``: 0), None when more than
    :data:`MAX_PLACES` or not finite."""
    exact = exact_decimal(value)
    if not exact.is_finite():
        return None
    exponent = exact.normalize().as_tuple().exponent
    found = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    return found if found <= MAX_PLACES else None


def exact_decimal(value: int | float | Decimal) -> Decimal:
    """A JSON number exactly as it was printed: an int as is, a float through its shortest repr
    (``0.1`` is ``Decimal('0.1')``, not the binary float's expansion)."""
    if isinstance(value, Decimal):
        return value
    return Decimal(value) if isinstance(value, int) else Decimal(repr(value))


def _threshold_problem(value: Any, decimals: bool, where: str) -> Problem | None:
    """What is wrong with a score threshold: format 1 takes integers, format 2 also decimals."""
    if _is_int(value):
        return None
    if decimals and isinstance(value, float) and places(value) is not None:
        return None
    expected = f"a number of at most {MAX_PLACES} decimal places" if decimals else "an integer"
    return Problem(f"expected {expected}, found {value!r}", where)


def check(
    cond: Any,
    where: str,
    options: Mapping[str, frozenset[str]],
    dimensions: frozenset[str],
    *,
    visible: frozenset[str] | None = None,
    scores_allowed: bool = True,
    facts: Mapping[str, tuple[FactType, frozenset[str] | None]] | None = None,
    settled: frozenset[str] = frozenset(),
    numbers: frozenset[str] = frozenset(),
) -> list[Problem]:
    """Return every problem with the condition ``cond`` found at JSON Pointer ``where``.

    Args:
        cond: the condition as parsed JSON.
        where: its JSON Pointer in the document.
        options: the option ids of every question, by question id.
        dimensions: the dimension names declared by the document.
        visible: when given, the only questions the condition may name (``enable_when`` may
            name earlier questions only, which also rules out cycles).
        scores_allowed: whether dimension and total scores may be named (not in ``enable_when``).
        facts: the client facts the condition may name, with their types (format 2); None: no
            fact may be named (format 1).
        settled: when scores are not allowed, the dimensions whose every question is asked
            earlier, whose score the condition may name all the same (format 2).
        numbers: the questions answered with a number (format 2), compared with ``at_least`` and
            ``at_most`` in place of ``any_of`` and ``all_of``.
    """

    if not isinstance(cond, dict) or not cond:
        return [Problem(f"expected a condition object, found {type(cond).__name__}", where)]
    keys = set(cond)
    if keys <= {"all", "any"} and len(keys) == 1:
        key = next(iter(keys))
        items = cond[key]
        if not isinstance(items, list) or not items:
            return [Problem(f"expected a non-empty list of conditions under {key!r}", where)]
        found: list[Problem] = []
        for i, item in enumerate(items):
            found += check(
                item,
                where + pointer(key, i),
                options,
                dimensions,
                visible=visible,
                scores_allowed=scores_allowed,
                facts=facts,
                settled=settled,
                numbers=numbers,
            )
        return found
    if keys == {"not"}:
        return check(
            cond["not"],
            where + "/not",
            options,
            dimensions,
            visible=visible,
            scores_allowed=scores_allowed,
            facts=facts,
            settled=settled,
            numbers=numbers,
        )
    if "fact" in keys and facts is not None:
        return _check_fact(cond, where, facts)
    if "question" in keys and cond["question"] in numbers:
        ops = keys - {"question"}
        if len(ops) != 1 or not ops <= {"at_least", "at_most", "answered"}:
            return [
                Problem(
                    f"expected number question {cond['question']!r} with exactly one of at_least, at_most or "
                    f"answered, found keys {sorted(keys)}",
                    where,
                )
            ]
        op = ops.pop()
        value = cond[op]
        if visible is not None and cond["question"] not in visible:
            return [
                Problem(
                    f"expected a question asked earlier, found {cond['question']!r}",
                    where + "/question",
                    code="ENABLE_WHEN_ORDER",
                )
            ]
        if op == "answered":
            return (
                []
                if isinstance(value, bool)
                else [Problem(f"expected true or false, found {value!r}", where + "/answered")]
            )
        if isinstance(value, bool) or not isinstance(value, int | float):
            return [Problem(f"expected a number, found {value!r}", where + "/" + op)]
        return []
    if "question" in keys:
        ops = keys - {"question"}
        if len(ops) != 1 or not ops <= set(_QUESTION_OPS):
            return [
                Problem(
                    f"expected 'question' with exactly one of any_of, all_of or answered, found keys {sorted(keys)}",
                    where,
                )
            ]
        qid, op = cond["question"], ops.pop()
        if not isinstance(qid, str) or qid not in options:
            return [Problem(f"expected a known question id, found {qid!r}", where + "/question")]
        if visible is not None and qid not in visible:
            return [
                Problem(
                    f"expected a question asked earlier, found {qid!r} "
                    "(enable_when may only depend on earlier questions; later or self "
                    "references would form a cycle)",
                    where + "/question",
                    code="ENABLE_WHEN_ORDER",
                )
            ]
        value = cond[op]
        if op == "answered":
            if not isinstance(value, bool):
                return [Problem(f"expected true or false, found {value!r}", where + "/answered")]
            return []
        if not isinstance(value, list) or not value:
            return [Problem("expected a non-empty list of option ids", where + "/" + op)]
        return [
            Problem(f"expected an option of question {qid!r}, found {opt!r}", where + pointer(op, i))
            for i, opt in enumerate(value)
            if not isinstance(opt, str) or opt not in options[qid]
        ]
    if "dimension" in keys or keys & set(_TOTAL_OPS):
        if not scores_allowed and not ("dimension" in keys and cond["dimension"] in settled):
            return [
                Problem(
                    "expected a condition on earlier answers, found one on scores "
                    "(scores are known only after every question is enabled)",
                    where,
                )
            ]
        if "dimension" in keys:
            ops = keys - {"dimension"}
            if len(ops) != 1 or not ops <= set(_SCORE_OPS):
                return [
                    Problem(
                        "expected 'dimension' with exactly one of score_at_most or "
                        f"score_at_least, found keys {sorted(keys)}",
                        where,
                    )
                ]
            op = ops.pop()
            problems = []
            if not isinstance(cond["dimension"], str) or cond["dimension"] not in dimensions:
                problems.append(
                    Problem(
                        f"expected a declared dimension, found {cond['dimension']!r}",
                        where + "/dimension",
                    )
                )
            wrong = _threshold_problem(cond[op], facts is not None, where + "/" + op)
            if wrong is not None:
                problems.append(wrong)
            return problems
        if len(keys) != 1:
            return [Problem(f"expected one of {list(_TOTAL_OPS)} alone, found {sorted(keys)}", where)]
        op = keys.pop()
        wrong = _threshold_problem(cond[op], facts is not None, where + "/" + op)
        return [wrong] if wrong is not None else []
    return [
        Problem(
            "expected a condition with 'question', 'dimension', 'total_at_most', "
            f"'total_at_least', 'all', 'any' or 'not'{', ' + repr('fact') if facts is not None else ''}, "
            f"found keys {sorted(keys)}",
            where,
        )
    ]


#: The comparisons each type of fact admits, besides ``known``.
_FACT_OPS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {"integer": ("at_least", "at_most"), "string": ("any_of",), "set": ("any_of", "all_of"), "boolean": ("is",)}
)


def _check_fact(
    cond: Mapping[str, Any], where: str, facts: Mapping[str, tuple[FactType, frozenset[str] | None]]
) -> list[Problem]:
    keys = set(cond) - {"fact"}
    name = cond["fact"]
    if not isinstance(name, str) or name not in facts:
        return [
            Problem(
                f"expected a built-in or declared fact {sorted(facts)}, found {name!r}",
                where + "/fact",
                code="UNKNOWN_FACT",
            )
        ]
    kind, allowed = facts[name]
    ops = (*_FACT_OPS[kind], "known")
    if len(keys) != 1 or not keys <= set(ops):
        return [
            Problem(
                f"expected 'fact' {name!r} ({kind}) with exactly one of {list(ops)}, found keys {sorted(keys)}", where
            )
        ]
    op = keys.pop()
    value = cond[op]
    if op in ("known", "is"):
        return (
            [] if isinstance(value, bool) else [Problem(f"expected true or false, found {value!r}", where + "/" + op)]
        )
    if op in ("at_least", "at_most"):
        return [] if _is_int(value) else [Problem(f"expected an integer, found {value!r}", where + "/" + op)]
    if not isinstance(value, list) or not value:
        return [Problem("expected a non-empty list of values", where + "/" + op)]
    return [
        Problem(
            f"expected {'one of ' + str(sorted(allowed)) if allowed is not None else 'a string'}, found {v!r}",
            where + pointer(op, i),
        )
        for i, v in enumerate(value)
        if not isinstance(v, str) or (allowed is not None and v not in allowed)
    ]


def names_a_fact(cond: Any) -> bool:
    """Whether a (checked) condition names a client fact anywhere."""
    if not isinstance(cond, dict):
        return False
    if "fact" in cond:
        return True
    if "not" in cond:
        return names_a_fact(cond["not"])
    items: list[Any] = cond.get("all") or cond.get("any") or []
    return any(names_a_fact(c) for c in items)


def questions_named(cond: Any) -> set[str]:
    """Return the ids of every question a (checked) condition names."""
    if "question" in cond:
        return {cond["question"]}
    if "not" in cond:
        return questions_named(cond["not"])
    names: set[str] = set()
    for item in cond.get("all", cond.get("any", [])):
        names |= questions_named(item)
    return names


def compile_condition(cond: Mapping[str, Any], units: tuple[int, int] = (1, 1)) -> Predicate:
    """Turn a condition that passed :func:`check` into a predicate over :class:`Facts`.

    ``units``: how many integer units make one point of a dimension score and of the total (format
    2 with decimals keeps scores as integers of 10**-places points: see
    :class:`~suitability.questionnaire.Questionnaire`); a threshold is compared in those units, exactly.
    """
    if "all" in cond:
        parts = tuple(compile_condition(c, units) for c in cond["all"])
        if len(parts) == 2:  # the common pair, without a loop
            first, second = parts
            return lambda f: first(f) and second(f)

        def all_of(f: Facts) -> bool:
            for part in parts:  # noqa: SIM110 - a plain loop: no generator per call on the scoring path
                if not part(f):
                    return False
            return True

        return all_of
    if "any" in cond:
        parts = tuple(compile_condition(c, units) for c in cond["any"])
        if len(parts) == 2:
            first, second = parts
            return lambda f: first(f) or second(f)

        def any_of(f: Facts) -> bool:
            for part in parts:  # noqa: SIM110 - as above
                if part(f):
                    return True
            return False

        return any_of
    if "not" in cond:
        inner = compile_condition(cond["not"], units)
        return lambda f: not inner(f)
    if "fact" in cond:
        return _compile_fact(cond)
    if "question" in cond:
        qid: str = cond["question"]
        if "answered" in cond:
            want: bool = cond["answered"]
            return lambda f: (qid in f.answers) is want
        if "at_least" in cond or "at_most" in cond:
            return _compile_number(qid, cond)
        wanted = frozenset(cond.get("any_of") or cond["all_of"])
        if "any_of" in cond:
            return lambda f: not wanted.isdisjoint(f.answers.get(qid, ()))
        return lambda f: wanted.issubset(f.answers.get(qid, ()))
    if "dimension" in cond:
        dim: str = cond["dimension"]
        if "score_at_most" in cond:
            most = _in_units(cond["score_at_most"], units[0])
            return lambda f: f.dimension_scores.get(dim, 0) <= most
        least = _in_units(cond["score_at_least"], units[0])
        return lambda f: f.dimension_scores.get(dim, 0) >= least
    if "total_at_most" in cond:
        total_most = _in_units(cond["total_at_most"], units[1])
        return lambda f: f.total <= total_most
    total_least = _in_units(cond["total_at_least"], units[1])
    return lambda f: f.total >= total_least


def _in_units(value: int | float, unit: int) -> int:
    """``value`` points in integer units of 1/``unit`` point, exactly (a checked threshold has no
    more places than the unit holds)."""
    if unit == 1 and type(value) is int:
        return value
    scaled = exact_decimal(value) * unit
    if scaled != scaled.to_integral_value():  # pragma: no cover - the places were checked at load
        raise ValueError(f"{value} is not a whole number of 1/{unit} points")
    return int(scaled)


def _compile_fact(cond: Mapping[str, Any]) -> Predicate:
    name: str = cond["fact"]
    if "known" in cond:
        known: bool = cond["known"]
        return lambda f: (name in f.client) is known
    if "is" in cond:
        want: bool = cond["is"]
        return lambda f: f.client.get(name) is want
    if "at_least" in cond:
        least: int = cond["at_least"]
        return lambda f: (v := f.client.get(name)) is not None and v >= least
    if "at_most" in cond:
        most: int = cond["at_most"]
        return lambda f: (v := f.client.get(name)) is not None and v <= most
    if "all_of" in cond:
        every = frozenset(cond["all_of"])
        return lambda f: (v := f.client.get(name)) is not None and every.issubset(v)
    wanted = frozenset(cond["any_of"])
    # a string fact is one of them; a set fact (a frozenset) holds one of them
    return lambda f: (
        (v := f.client.get(name)) is not None and (v in wanted if isinstance(v, str) else not wanted.isdisjoint(v))
    )


def _compile_number(qid: str, cond: Mapping[str, Any]) -> Predicate:
    # a number answer is kept as the text of its exact decimal value (see scoring)
    if "at_least" in cond:
        least = Decimal(str(cond["at_least"]))
        return lambda f: (v := f.answers.get(qid)) is not None and Decimal(next(iter(v))) >= least
    most = Decimal(str(cond["at_most"]))
    return lambda f: (v := f.answers.get(qid)) is not None and Decimal(next(iter(v))) <= most
