"""Ids as digests: every result is named by a digest of what it was computed from.

An id is a prefix (``asm_``, ``dec_``, ``cnf_``) and the first 32 hex digits of a SHA-256 over
the result's inputs, so equal inputs give equal ids and replay finds every result under its own id
(docs/adr/0001-record-format.md). The bytes hashed are frozen by every log ever written: a change
here changes ids, which is a new record format, never a refactoring.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Any, Literal

import orjson

from .models import Client


def digest_id(prefix: str, material: bytes | Any) -> str:
    """``prefix`` and the first 32 hex digits of the SHA-256 of ``material``.

    ``material`` is the bytes hashed, or a ``hashlib`` SHA-256 object already fed with them (a
    catalog screen hashes the client's part once and copies it for each product).
    """
    digest = hashlib.sha256(material) if isinstance(material, bytes) else material
    return prefix + digest.hexdigest()[:32]


def parts_id(prefix: str, parts: list[object]) -> str:
    """The id of a list of values (a confirmation's): their JSON with sorted keys, digested."""
    return digest_id(prefix, orjson.dumps(parts, default=str, option=orjson.OPT_SORT_KEYS))


@lru_cache(maxsize=4096)  # bounded: a long replay meets each client once, in a run of its records
def client_key(client: Client | None, form: Literal["assessment", "decision"] = "assessment") -> str:
    """The client facts an id is computed from, as one string.

    The facts are the same in both forms (id, investor type, birth date, civil capacity and, only
    when given, the age); how they are written differs because assessment and decision ids were
    first defined apart, and both are frozen by recorded ids. Facts without an age keep the key,
    and so the ids, they had before the age existed.
    """
    if client is None:
        return "null"
    if form == "assessment":
        facts: list[object] = [client.client_id, client.investor_type, str(client.birth_date)]
        facts.append(client.full_civil_capacity)
        if client.age is not None:
            facts.append(client.age)
        if _has_more(client):
            facts.append(_more(client))
        return orjson.dumps(facts).decode()
    key = f"{client.client_id}\x1f{client.birth_date}\x1f{client.investor_type}\x1f{client.full_civil_capacity}"
    key = key if client.age is None else f"{key}\x1fage={client.age}"
    return f"{key}\x1fmore={_more(client)}" if _has_more(client) else key


def _has_more(client: Client) -> bool:
    return client.experience_years is not None or client.classes_traded is not None or client.facts is not None


def _more(client: Client) -> str:
    """The facts format 2 added (experience, classes traded, declared facts), only when one is given,
    so facts without them keep the key they always had."""
    more = {"experience_years": client.experience_years, "classes_traded": client.classes_traded, "facts": client.facts}
    return orjson.dumps(more, option=orjson.OPT_SORT_KEYS).decode()
