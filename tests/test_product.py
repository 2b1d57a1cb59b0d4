"""Products and catalogs in JSON, JSON Lines and CSV; bad rows are named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from suitability import InputError, Policy, ProductError, find_product, load_catalog, parse_product
from suitability.product import check_against, product_horizon

from .conftest import DATA, EXAMPLES, load


def test_csv_catalog() -> None:
    catalog = load_catalog(EXAMPLES / "catalog.csv")
    assert [p.id for p in catalog][:2] == ["MMF-01", "BOND-03"]
    bond = catalog[1]
    assert bond.term == 12
    assert bond.name == {"zh-CN": "中短债基金", "en": "Short-term bond fund"}
    assert catalog[-1].professional_only
    assert catalog[-1].complex


def test_json_and_jsonl_catalogs_match_csv(tmp_path: Path) -> None:
    catalog = load_catalog(EXAMPLES / "catalog.csv")
    rows = [p.model_dump(mode="json") for p in catalog]
    (tmp_path / "c.json").write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    (tmp_path / "c.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n\n", encoding="utf-8")
    assert load_catalog(tmp_path / "c.json") == catalog
    assert load_catalog(tmp_path / "c.jsonl") == catalog


def test_csv_missing_column() -> None:
    with pytest.raises(ProductError) as exc:
        load_catalog(DATA / "catalog-missing-column.csv")
    assert "missing ['variety']" in exc.value.render()


def test_csv_bad_row_names_row_and_field() -> None:
    with pytest.raises(ProductError) as exc:
        load_catalog(DATA / "catalog-bad-row.csv")
    (problem,) = exc.value.problems
    assert problem.message.startswith("row 3, field risk_level")
    assert "'R7'" in problem.message


def test_jsonl_bad_row_names_row_and_field() -> None:
    with pytest.raises(ProductError) as exc:
        load_catalog(DATA / "catalog-bad-row.jsonl")
    assert all(p.message.startswith("row 2, field term") for p in exc.value.problems)


def test_bad_flag_and_duplicate_ids(tmp_path: Path) -> None:
    header = "id,name_zh-CN,name_en,risk_level,term,variety,professional_only,complex\n"
    (tmp_path / "f.csv").write_text(header + "A,甲,A,R1,short,equity,maybe,false\n", encoding="utf-8")
    with pytest.raises(ProductError, match="professional_only: expected true or false, found 'maybe'"):
        load_catalog(tmp_path / "f.csv")
    (tmp_path / "d.csv").write_text(header + "A,甲,A,R1,short,equity,,\nA,甲,A,R1,short,equity,,\n", encoding="utf-8")
    with pytest.raises(ProductError, match="unique product ids"):
        load_catalog(tmp_path / "d.csv")


def test_csv_encoding_problems(tmp_path: Path) -> None:
    (tmp_path / "bom.csv").write_bytes(b"\xef\xbb\xbfid\n")
    with pytest.raises(InputError, match="byte order mark"):
        load_catalog(tmp_path / "bom.csv")
    (tmp_path / "latin.csv").write_bytes(b"id\nA\xe9\n")
    with pytest.raises(InputError, match="0xe9"):
        load_catalog(tmp_path / "latin.csv")


def test_json_catalog_must_be_an_array(tmp_path: Path) -> None:
    (tmp_path / "c.json").write_text('{"id": "A"}', encoding="utf-8")
    with pytest.raises(ProductError, match="JSON array"):
        load_catalog(tmp_path / "c.json")


def test_product_names_need_both_languages() -> None:
    with pytest.raises(ProductError, match=r"missing \['en'\]"):
        parse_product({"id": "A", "name": {"zh-CN": "甲"}, "risk_level": "R1", "term": "short", "variety": "equity"})


def test_product_checked_against_policy(csrc: Policy) -> None:
    with pytest.raises(ProductError) as exc:
        check_against(parse_product(load(DATA / "product-unknown-variety.json")), csrc)
    assert [p.pointer for p in exc.value.problems] == ["/variety"]
    with pytest.raises(ProductError) as exc:
        parse_product(load(DATA / "product-bad-level.json"))
    assert exc.value.problems[0].pointer == "/risk_level"


def test_product_horizon(csrc: Policy) -> None:
    catalog = {p.id: p for p in load_catalog(EXAMPLES / "catalog.csv")}
    assert product_horizon(catalog["BOND-03"], csrc) == "short"
    assert product_horizon(catalog["PE-09"], csrc) == "long"
    assert product_horizon(catalog["FUND-EQ-01"], csrc) == "medium"


# --- issue 10: terms and ids a person would misread, CSV fields that crashed --------------------


@pytest.mark.parametrize("name", ["catalog-superscript-term.csv", "catalog-fullwidth-term.csv"])
def test_only_ascii_digits_are_months(name: str, csrc: Policy) -> None:
    """ "²" crashed int(); "１２" (full-width) was read as 12 months. Both are now an unknown horizon."""
    (product,) = load_catalog(DATA / name)
    assert isinstance(product.term, str)
    with pytest.raises(ProductError) as exc:
        check_against(product, csrc)
    assert [p.pointer for p in exc.value.problems] == ["/term"]


def test_a_csv_field_over_the_csv_limit_is_an_input_error() -> None:
    with pytest.raises(InputError) as exc:
        load_catalog(DATA / "catalog-long-field.csv")
    (problem,) = exc.value.problems
    assert "field larger than field limit (131072)" in problem.message
    assert problem.line == 2


def test_a_negative_term_is_refused() -> None:
    with pytest.raises(ProductError) as exc:
        load_catalog(DATA / "catalog-negative-term.json")
    (problem,) = exc.value.problems
    assert problem.pointer == "/term"
    assert "expected a term of 0 to 1200 months, found -6" in problem.message


@pytest.mark.parametrize("term", [True, 12.0, 1201, None], ids=["bool", "float", "too-long", "null"])
def test_a_term_is_a_horizon_or_whole_months(term: object) -> None:
    with pytest.raises(ProductError) as exc:
        parse_product({"id": "A", "name": {"zh-CN": "甲", "en": "A"}, "risk_level": "R1", "term": term, "variety": "x"})
    assert {p.pointer for p in exc.value.problems} == {"/term"}


def test_a_product_id_with_a_bidi_override_is_refused() -> None:
    with pytest.raises(ProductError) as exc:
        parse_product(load(DATA / "product-id-bidi.json"))
    (problem,) = exc.value.problems
    assert problem.pointer == "/id"
    assert "U+202E RIGHT-TO-LEFT OVERRIDE" in problem.message


def test_a_product_is_found_by_id_in_a_catalog_file_or_in_products() -> None:
    catalog = EXAMPLES / "catalog.csv"
    found = find_product(catalog, "BOND-03")
    assert found == load_catalog(catalog)[1]
    assert find_product(str(catalog), "BOND-03") == found
    assert find_product(load_catalog(catalog), "BOND-03") == found
    with pytest.raises(ProductError) as caught:
        find_product(str(catalog), "bond-03")  # ids are matched exactly
    assert caught.value.exit_code == 7
    assert str(caught.value).startswith(f"{catalog}: no product 'bond-03'")
    assert caught.value.problems[0].message == "expected a product with id 'bond-03', found none"
    assert caught.value.problems[0].source == str(catalog)
    with pytest.raises(ProductError, match="<catalog>: no product 'X'"):
        find_product([], "X")
    with pytest.raises(ProductError, match="row 3"):  # the whole catalog is checked, not only up to the id
        find_product(DATA / "catalog-bad-row.csv", "A")  # row 2 holds A, row 3 is bad
