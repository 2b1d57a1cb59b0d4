"""Products and catalogs (design §6).

A :class:`Product` has an R-level, a term (a horizon category, or a number of months), a variety
and two flags. A catalog is read from a JSON array, JSON Lines or CSV file; a bad row is a
:class:`~suitability.errors.ProductError` naming the row (1-based line for JSON Lines and CSV,
index for JSON) and the field. Whether a product's level and variety exist is a question for the
policy it is matched under (:func:`check_against`).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from .codec import decode_text, parse_json, read_bytes
from .errors import InputError, Problem, ProductError, pointer
from .models import RISK_LEVELS, LevelId, LocalizedText, ReadableId, field_message
from .policy import Policy

#: The longest term a product may state, in months (a century): beyond it a term is a typing error.
MAX_TERM_MONTHS = 1200


def _term(value: Any) -> Any:
    """A term is a horizon name or whole months from 0 (no lock-up) to a century; never ``true`` or ``12.0``."""
    if isinstance(value, str):
        return value
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"expected months (a whole number) or a horizon name, found {type(value).__name__} {value!r}")
    if not 0 <= value <= MAX_TERM_MONTHS:
        raise ValueError(f"expected a term of 0 to {MAX_TERM_MONTHS} months, found {value}")
    return value


CSV_COLUMNS = (
    "id",
    "name_zh-CN",
    "name_en",
    "risk_level",
    "term",
    "variety",
    "professional_only",
    "complex",
)
_TRUE = {"true", "1", "yes", "y"}
_FALSE = {"false", "0", "no", "n", ""}


_R_LEVEL = re.compile(r"R[0-9]+")


def _risk_level(value: str) -> str:
    # R<n> names the default scale R1..R5, so "R9" stays the typing error it has always been;
    # a format-2 policy's other scales use their own ids (SRI1..SRI7, P1..P6, ...).
    if _R_LEVEL.fullmatch(value) and value not in RISK_LEVELS:
        raise ValueError(f"Input should be {', '.join(map(repr, RISK_LEVELS))} or a level of another scale")
    return value


class Product(BaseModel):
    """A financial product as it is matched.

    Attributes:
        id: the firm's product code.
        name: localized name (zh-CN and en).
        risk_level: R1..R5, or a level of the risk scale a format-2 policy declares.
        term: a horizon category (``short``…) or the term/lock-up in months.
        variety: a variety category of the policy (``fixed_income``…).
        professional_only: only professional investors may buy it.
        complex: a complex product (shown to reviewers; policies may treat it specially).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: Annotated[ReadableId, Field(max_length=100)]
    name: LocalizedText
    risk_level: Annotated[LevelId, AfterValidator(_risk_level)]
    term: Annotated[str | int, BeforeValidator(_term)]
    variety: str = Field(min_length=1)
    professional_only: bool = False
    complex: bool = False


def _row_problems(exc: ValidationError, row: str, source: str) -> list[Problem]:
    return [
        Problem(
            f"{row}, field {'.'.join(map(str, e['loc'])) or '(row)'}: {field_message(e)}",
            pointer(*e["loc"]),
            source=source,
            code="PRODUCT_FIELD",
        )
        for e in exc.errors()
    ]


def parse_product(data: Any, row: str = "product", source: str = "<input>") -> Product:
    """Validate one product from parsed JSON.

    Raises:
        ProductError: naming ``row`` and every bad field.
    """
    if isinstance(data, dict) and isinstance(data.get("name"), dict):
        missing = [lang for lang in ("zh-CN", "en") if not data["name"].get(lang)]
        if missing:
            raise ProductError(
                f"{source}: invalid {row}",
                [
                    Problem(
                        f"{row}, field name: expected zh-CN and en names, missing {missing}",
                        "/name",
                        source=source,
                    )
                ],
            )
    try:
        return Product.model_validate(data)
    except ValidationError as exc:
        raise ProductError(f"{source}: invalid {row}", _row_problems(exc, row, source)) from None


def _csv_row(record: dict[str, str | None], line: int, source: str) -> Product:
    data: dict[str, Any] = {
        "id": record["id"],
        "name": {"zh-CN": record["name_zh-CN"], "en": record["name_en"]},
        "risk_level": record["risk_level"],
        "variety": record["variety"],
    }
    term = (record["term"] or "").strip()
    # ASCII digits only: isdigit() also holds for "²" (int() refuses it) and "１２" (full-width)
    data["term"] = int(term) if term.isascii() and term.isdigit() else term
    for flag in ("professional_only", "complex"):
        value = (record[flag] or "").strip().lower()
        if value not in _TRUE | _FALSE:
            raise ProductError(
                f"{source}: invalid row {line}",
                [
                    Problem(
                        f"row {line}, field {flag}: expected true or false, found {value!r}",
                        source=source,
                        line=line,
                    )
                ],
            )
        data[flag] = value in _TRUE
    return parse_product(data, f"row {line}", source)


def load_catalog(path: str | Path, encoding: str = "utf-8") -> list[Product]:
    """Load a catalog from ``.json`` (an array), ``.jsonl`` (one product a line) or ``.csv``.

    ``encoding`` is strict UTF-8 unless asked otherwise (see :func:`suitability.codec.decode_text`:
    ``utf-8-sig`` and ``gb18030`` for exports from Excel).

    Raises:
        InputError: the file cannot be read or parsed.
        ProductError: a row is invalid (naming the row and field), or two rows share an id.
    """
    source = str(path)
    raw = read_bytes(path)
    if encoding != "utf-8":  # decoded once here; the rest reads the same text as UTF-8
        raw = decode_text(raw, source, encoding).encode("utf-8")
    suffix = Path(path).suffix.lower()
    products: list[Product] = []
    if suffix == ".csv":
        text = decode_text(raw, source)
        reader = csv.DictReader(io.StringIO(text, newline=""))
        missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ProductError(
                f"{source}: the CSV header lacks columns",
                [
                    Problem(
                        f"expected columns {list(CSV_COLUMNS)}, missing {missing}",
                        source=source,
                        line=1,
                    )
                ],
            )
        try:
            for record in reader:
                products.append(_csv_row(record, reader.line_num, source))
        except csv.Error as exc:  # a field over csv.field_size_limit(), a stray quote or NUL
            raise InputError(
                f"cannot read {source}",
                [Problem(f"expected CSV, found: {exc}", source=source, line=reader.line_num + 1, code="INPUT_INVALID")],
            ) from None
    elif suffix in (".jsonl", ".ndjson"):
        for number, line in enumerate(raw.splitlines(), start=1):
            if line.strip():
                item = parse_json(line, f"{source}:{number}")
                products.append(parse_product(item, f"row {number}", source))
    else:
        items = parse_json(raw, source)
        if not isinstance(items, list):
            raise ProductError(
                f"{source}: not a catalog",
                [
                    Problem(
                        f"expected a JSON array of products, found {type(items).__name__}",
                        source=source,
                    )
                ],
            )
        products = [parse_product(item, f"row {i}", source) for i, item in enumerate(items)]
    seen: set[str] = set()
    for i, product in enumerate(products):
        if product.id in seen:
            raise ProductError(
                f"{source}: duplicate product id",
                [
                    Problem(
                        f"row {i}: expected unique product ids, found {product.id!r} again",
                        source=source,
                    )
                ],
            )
        seen.add(product.id)
    return products


def product_horizon(product: Product, policy: Policy) -> str:
    """Return the horizon category of ``product``'s term under ``policy``."""
    if isinstance(product.term, int):
        return policy.horizon_of_months(product.term)
    return product.term


def check_against(product: Product, policy: Policy) -> None:
    """Check that ``product``'s level, term and variety exist in ``policy``.

    Raises:
        ProductError: naming every field whose value the policy does not know.
    """
    problems = []
    if product.risk_level not in policy.risk_index:
        problems.append(
            Problem(
                f"expected a risk level of policy {policy.id} {list(policy.risk_index)}, found {product.risk_level!r}",
                "/risk_level",
            )
        )
    if isinstance(product.term, str) and product.term not in policy.horizon_index:
        problems.append(
            Problem(
                f"expected months or a horizon of policy {policy.id} {list(policy.horizon_index)}, "
                f"found {product.term!r}",
                "/term",
            )
        )
    if product.variety not in policy.variety_index:
        problems.append(
            Problem(
                f"expected a variety of policy {policy.id} {list(policy.variety_index)}, found {product.variety!r}",
                "/variety",
            )
        )
    if problems:
        raise ProductError(f"product {product.id} does not fit policy {policy.id}@{policy.version}", problems)


def find_product(catalog: str | Path | Iterable[Product], product_id: str) -> Product:
    """Return the product ``product_id`` of ``catalog``: a catalog file (see :func:`load_catalog`) or products.

    Raises:
        InputError: the catalog file cannot be read or parsed.
        ProductError: a row is invalid, or the catalog holds no product with that id (the error
            names the catalog file, or ``<catalog>`` for products given in memory).
    """
    source = str(catalog) if isinstance(catalog, str | Path) else "<catalog>"
    products = load_catalog(catalog) if isinstance(catalog, str | Path) else catalog
    for product in products:
        if product.id == product_id:
            return product
    raise ProductError(
        f"{source}: no product {product_id!r}",
        [Problem(f"expected a product with id {product_id!r}, found none", source=source)],
    )
