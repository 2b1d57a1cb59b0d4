"""Record models carry no float field, so their canonical bytes need no float handling."""

from __future__ import annotations

import typing
from pathlib import Path

from pydantic import BaseModel

from suitability import Assessment, Client, Confirmation, Decision, Product


def float_fields(model: type[BaseModel], seen: set[type] | None = None) -> list[str]:
    seen = seen or set()
    found = []
    for name, info in model.model_fields.items():
        stack = [info.annotation]
        while stack:
            tp = stack.pop()
            if tp is float:
                found.append(f"{model.__name__}.{name}")
            stack.extend(typing.get_args(tp))
            if isinstance(tp, type) and issubclass(tp, BaseModel) and tp not in seen:
                seen.add(tp)
                found += float_fields(tp, seen)
    return found


def test_no_record_model_has_a_float_field() -> None:
    for model in (Assessment, Client, Confirmation, Decision, Product):
        assert float_fields(model) == []


def test_the_package_ships_its_type_information() -> None:
    # PEP 561: apps type-check against the API only when the package says it is typed.
    import suitability

    assert (Path(suitability.__file__).parent / "py.typed").is_file()
