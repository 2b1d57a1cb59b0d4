"""RFC 6962 trees and RFC 9162 proofs, against the transparency-dev conformance vectors."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from suitability.log import merkle

from .conftest import ROOT

VECTORS = ROOT / "tests" / "data" / "merkle"  # copied from transparency-dev/merkle, see its README and LICENSE
INCLUSION = sorted((VECTORS / "inclusion").rglob("*.json"))
CONSISTENCY = sorted((VECTORS / "consistency").rglob("*.json"))


def b64(value: str | None) -> bytes:
    return base64.b64decode(value or "")


def case_id(path: Path) -> str:
    return str(path.relative_to(VECTORS))


def test_the_vectors_are_there() -> None:
    assert len(INCLUSION) > 80
    assert len(CONSISTENCY) > 90


def test_the_vectors_ship_with_the_tests_and_their_licence() -> None:
    # A fresh clone with nothing beside it must pass: the vectors live in the repository.
    assert VECTORS.is_relative_to(ROOT / "tests")
    assert "Apache License" in (VECTORS / "LICENSE").read_text()
    assert "transparency-dev/merkle" in (VECTORS / "README.md").read_text()


@pytest.mark.parametrize("path", INCLUSION, ids=case_id)
def test_inclusion_vectors(path: Path) -> None:
    case = json.loads(path.read_text())
    ok = merkle.verify_inclusion(
        b64(case["leafHash"]),
        case["leafIdx"],
        case["treeSize"],
        [b64(p) for p in case["proof"] or []],
        b64(case["root"]),
    )
    assert ok is not case["wantErr"], case["desc"]


@pytest.mark.parametrize("path", CONSISTENCY, ids=case_id)
def test_consistency_vectors(path: Path) -> None:
    case = json.loads(path.read_text())
    ok = merkle.verify_consistency(
        case["size1"], case["size2"], b64(case["root1"]), b64(case["root2"]), [b64(p) for p in case["proof"] or []]
    )
    assert ok is not case["wantErr"], case["desc"]


def leaves(n: int) -> list[bytes]:
    return [merkle.leaf_hash(str(i).encode()) for i in range(n)]


def test_known_roots() -> None:
    assert merkle.root([]) == merkle.EMPTY_ROOT
    # RFC 6962 test vector: the empty leaf
    assert merkle.leaf_hash(b"").hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    one, two, three = leaves(3)
    assert merkle.root([one, two, three]) == merkle.node_hash(merkle.node_hash(one, two), three)


@given(n=st.integers(1, 70), data=st.data())
def test_generated_proofs_verify(n: int, data: st.DataObject) -> None:
    """Every inclusion and consistency proof the tree produces verifies, and a wrong root does not."""
    ls = leaves(n)
    r = merkle.root(ls)
    builder = merkle.RootBuilder()
    for leaf in ls:
        builder.push(leaf)
    assert builder.root() == r
    index = data.draw(st.integers(0, n - 1))
    proof = merkle.inclusion_proof(ls, index)
    assert merkle.verify_inclusion(ls[index], index, n, proof, r)
    assert not merkle.verify_inclusion(ls[index], index, n, proof, merkle.leaf_hash(b"x"))
    old = data.draw(st.integers(1, n))
    cproof = merkle.consistency_proof(ls, old)
    assert merkle.verify_consistency(old, n, merkle.root(ls[:old]), r, cproof)
    if old < n:
        assert not merkle.verify_consistency(old, n, merkle.root(ls[1 : old + 1]), r, cproof)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="outside"):
        merkle.inclusion_proof(leaves(3), 3)
    with pytest.raises(ValueError, match="old size"):
        merkle.consistency_proof(leaves(3), 0)


@given(n=st.integers(1, 150), data=st.data())
def test_streamed_consistency_proofs_equal_the_in_memory_ones(n: int, data: st.DataObject) -> None:
    """RFC 6962 §2.1.2: the proof's subtree hashes, computed in one pass over the leaves from
    disjoint ranges, are exactly PROOF(m, D[n]), and they verify by RFC 9162 §2.1.4.2."""
    ls = leaves(n)
    old = data.draw(st.integers(1, n))
    ranges = merkle.consistency_ranges(old, n)
    assert all(a[1] <= b[0] or b[1] <= a[0] for a in ranges for b in ranges if a is not b)
    streamed = merkle.range_hashes(iter(ls), ranges)
    assert streamed == merkle.consistency_proof(ls, old)
    assert merkle.verify_consistency(old, n, merkle.root(ls[:old]), merkle.root(ls), streamed)


def test_range_hashes_refuse_short_leaves_and_overlaps() -> None:
    with pytest.raises(ValueError, match="end before"):
        merkle.range_hashes(iter(leaves(3)), [(0, 4)])
    with pytest.raises(ValueError, match="overlap"):
        merkle.range_hashes(iter(leaves(4)), [(0, 2), (1, 3)])
    with pytest.raises(ValueError, match="old size"):
        merkle.consistency_ranges(0, 3)
