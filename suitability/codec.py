"""Strict JSON in, canonical JSON out.

Every JSON input (documents, answers, client facts, products, decisions) goes through
:func:`parse_json`, which refuses what would make its meaning ambiguous: a byte order mark,
bytes that are not UTF-8, duplicate object keys, ``NaN``/``Infinity`` and numbers that overflow
to infinity (``1e400``), strings holding a lone surrogate (``"\\ud800"``: not a character), nesting
deeper than :data:`MAX_DEPTH` and inputs larger than :data:`MAX_INPUT_BYTES`. Each refusal is an
:class:`~suitability.errors.InputError` naming the file, line and column. Files are read only when
they are regular files (:func:`read_bytes`): a device or a FIFO would never end.

Output that is hashed or stored is RFC 8785 (JCS) canonical bytes from :func:`canonical_bytes`;
:func:`content_hash` is ``sha256:<hex>`` over those bytes. ``rfc8785`` is the reference
implementation; orjson produces the same bytes, fifty times faster, for every value without a
float and without a key outside the Basic Multilingual Plane, so it is used when the output shows
neither and the reference is used otherwise (a property test holds the two equal). A value no
JSON text can carry (a non-finite float, a lone surrogate) is refused, never written as ``null``:
two different values must never share canonical bytes, and so a content hash.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import rfc8785

from .errors import InputError, Problem, pointer

#: The largest JSON or CSV input accepted, in bytes (documents, answers, catalogs).
MAX_INPUT_BYTES = 8 * 1024 * 1024
#: The deepest nesting of arrays and objects accepted in a JSON input.
MAX_DEPTH = 64

_BOM = b"\xef\xbb\xbf"


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


class _NotFinite(Exception):
    def __init__(self, token: str) -> None:
        self.token = token


def _reject_constant(name: str) -> Any:
    raise _NotFinite(name)


def _finite_float(token: str) -> float:
    value = float(token)
    if not math.isfinite(value):
        raise _NotFinite(token)
    return value


# Any surrogate in a parsed string came from a \uD800-\uDFFF escape (the text itself is strict
# UTF-8), so inputs without one skip the search for lone surrogates.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_LONE_SURROGATE_ESCAPE = re.compile(
    r"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F])|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}"
)


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _not_json_safe(value: Any) -> tuple[str, str] | None:
    """Return the JSON Pointer and description of the first value no JSON text can carry.

    That is a float that is not finite (NaN, ±Infinity) or a string (key or value) holding a
    lone surrogate, which is not a Unicode character and has no UTF-8 form.
    """
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        item, where = stack.pop()
        if isinstance(item, float):
            if not math.isfinite(item):
                return where, f"expected a finite number, found {item!r}"
        elif isinstance(item, str):
            if _has_surrogate(item):
                return where, f"expected Unicode text, found a lone surrogate in {item!r}"
        elif isinstance(item, dict):
            for key, child in item.items():
                if isinstance(key, str) and _has_surrogate(key):
                    shown = key.encode("utf-8", "backslashreplace").decode("ascii", "replace")
                    return where + pointer(shown), f"expected Unicode text, found a lone surrogate in the key {key!r}"
                here = where + pointer(str(key))
                stack.append((child, here))
        elif isinstance(item, list | tuple):
            stack.extend((child, where + pointer(i)) for i, child in enumerate(item))
    return None


def _line_col(text: str, index: int) -> tuple[int, int]:
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return line, column


def _depth_exceeds(value: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            if depth > limit:
                return True
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            if depth > limit:
                return True
            stack.extend((v, depth + 1) for v in item)
    return False


def _fail(source: str, message: str, line: int | None = None, column: int | None = None) -> InputError:
    return InputError(
        f"cannot read {source}",
        [Problem(message, source=source, line=line, column=column, code="INPUT_INVALID")],
    )


#: The encodings an input may be declared in (``--encoding``): strict UTF-8, the default; UTF-8
#: after a byte order mark, as Excel writes "CSV UTF-8"; and GB18030, as Excel writes CSV on a
#: Chinese system. Each is named explicitly: nothing is guessed.
ENCODINGS = ("utf-8", "utf-8-sig", "gb18030")


def decode_text(data: bytes, source: str = "<input>", encoding: str = "utf-8") -> str:
    """Decode ``data`` as UTF-8 without a byte order mark: the one rule for every text input
    (JSON documents and answers, catalogs, keys, checkpoints).

    Another ``encoding`` is taken only when asked for (exports from Excel): ``utf-8-sig`` strips
    one leading byte order mark (and requires none), ``gb18030`` decodes the Chinese national
    standard. Text decoded from either is held to the same rules as UTF-8 text.

    Raises:
        InputError: a BOM (under ``utf-8``), bytes that are not in ``encoding`` (the line and
            column of the first are named), or an encoding not in :data:`ENCODINGS`.
    """
    encoding = encoding.lower().replace("_", "-")
    if encoding not in ENCODINGS:
        raise _fail(source, f"expected an encoding among {', '.join(ENCODINGS)}, found {encoding!r}")
    if encoding == "utf-8-sig":
        data = data.removeprefix(_BOM)
        encoding = "utf-8"
    if encoding == "gb18030":
        try:
            return data.decode("gb18030")
        except UnicodeDecodeError as exc:
            good = data[: exc.start].decode("gb18030", errors="replace")
            line, column = _line_col(good, len(good))
            raise _fail(
                source, f"expected GB18030 text, found the byte 0x{data[exc.start]:02x}", line, column
            ) from None
    if data.startswith(_BOM):
        raise _fail(source, "expected UTF-8 without a byte order mark, found a BOM", 1, 1)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        good = data[: exc.start].decode("utf-8")
        line, column = _line_col(good, len(good))
        raise _fail(source, f"expected UTF-8 text, found the byte 0x{data[exc.start]:02x}", line, column) from None


def parse_json(data: bytes, source: str = "<input>", encoding: str = "utf-8") -> Any:
    """Parse ``data`` as strict JSON.

    Args:
        data: the raw bytes.
        source: a name for the input used in error messages (a file path, ``<stdin>``).

    Returns:
        The parsed value (dicts, lists, str, int, float, bool, None).

    Raises:
        InputError: the bytes are not one strict JSON value; the error says where and why.
    """
    if len(data) > MAX_INPUT_BYTES:
        raise _fail(
            source,
            f"expected at most {MAX_INPUT_BYTES} bytes, found {len(data)} bytes (input too large)",
        )
    text = decode_text(data, source, encoding)
    try:
        value = json.loads(
            text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant, parse_float=_finite_float
        )
    except json.JSONDecodeError as exc:
        raise _fail(source, f"invalid JSON: {exc.msg}", exc.lineno, exc.colno) from None
    except _DuplicateKey as exc:
        needle = re.compile(re.escape(json.dumps(exc.key, ensure_ascii=False)) + r"\s*:")
        hits = [m.start() for m in needle.finditer(text)]
        where = _line_col(text, hits[1]) if len(hits) > 1 else (None, None)
        raise _fail(
            source,
            f"expected each key once per object, found the key {exc.key!r} twice",
            *where,
        ) from None
    except _NotFinite as exc:
        hit = re.search(r"(?:^|[\[:,])\s*(" + re.escape(exc.token) + ")", text)
        where = _line_col(text, hit.start(1)) if hit else (None, None)
        what = exc.token if exc.token in ("NaN", "Infinity", "-Infinity") else f"{exc.token} (it overflows to infinity)"
        raise _fail(source, f"expected a finite JSON number, found {what}", *where) from None
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        raise _fail(source, f"expected a JSON number, found {exc}") from None
    except RecursionError:
        raise _fail(source, f"expected nesting at most {MAX_DEPTH} deep, found deeper") from None
    if _depth_exceeds(value, MAX_DEPTH):
        raise _fail(source, f"expected nesting at most {MAX_DEPTH} deep, found deeper")
    if _SURROGATE_ESCAPE.search(text):
        bad = _not_json_safe(value)
        if bad is not None:
            lone = _LONE_SURROGATE_ESCAPE.search(text)
            at: tuple[int | None, int | None] = _line_col(text, lone.start()) if lone else (None, None)
            raise InputError(
                f"cannot read {source}",
                [Problem(bad[1], bad[0], source=source, line=at[0], column=at[1], code="INPUT_INVALID")],
            )
    return value


_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)


def read_bytes(path: str | Path) -> bytes:
    """Read a whole input file, refusing one over :data:`MAX_INPUT_BYTES` or one that is not regular.

    The file is opened without blocking (a FIFO with no writer would otherwise wait forever) and
    judged by ``fstat`` of the opened descriptor, so what is checked is what is read: a device
    (``/dev/zero`` never ends), a FIFO, a socket or a folder is refused. At most one byte more
    than the limit is read, so a file that grows after the check still cannot exhaust memory.

    Raises:
        InputError: the file is missing, unreadable, not a regular file, or too large.
    """
    p = Path(path)
    too_large = "expected at most {} bytes, found {} bytes (input too large)"
    with _regular_file(p) as (fd, size):
        if size > MAX_INPUT_BYTES:
            raise _fail(str(p), too_large.format(MAX_INPUT_BYTES, size))
        chunks: list[bytes] = []
        left = MAX_INPUT_BYTES + 1
        while left > 0 and (chunk := os.read(fd, min(left, 1 << 20))):
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
    if len(data) > MAX_INPUT_BYTES:
        raise _fail(str(p), too_large.format(MAX_INPUT_BYTES, f"more than {MAX_INPUT_BYTES}"))
    return data


@contextlib.contextmanager
def _regular_file(p: Path) -> Iterator[tuple[int, int]]:
    """Open ``p`` for reading and yield its descriptor and size, once ``fstat`` of the opened descriptor
    shows a regular file (opened non-blocking, so a FIFO cannot hang the open; blocking again to read).
    An ``OSError`` while reading inside the block is the same clear error; the descriptor is closed.

    Raises:
        InputError: the file is missing, unreadable, or a folder, device, FIFO or socket.
    """
    try:
        fd = os.open(p, _OPEN_FLAGS)
    except FileNotFoundError:
        raise _fail(str(p), "expected a file, found nothing at this path") from None
    except IsADirectoryError:
        raise _fail(str(p), "expected a file, found a folder") from None
    except OSError as exc:
        raise _fail(str(p), f"cannot read the file: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise _fail(str(p), "expected a file, found a folder")
        if not stat.S_ISREG(info.st_mode):
            raise _fail(str(p), f"expected a regular file, found {_file_kind(info.st_mode)}")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        yield fd, info.st_size
    except OSError as exc:
        raise _fail(str(p), f"cannot read the file: {exc.strerror}") from None
    finally:
        os.close(fd)


def read_text(path: str | Path, encoding: str = "utf-8") -> str:
    """Read a whole text file (:func:`read_bytes`, then :func:`decode_text` in ``encoding``).

    Raises:
        InputError: the file cannot be read, or is not text in ``encoding`` (UTF-8 without a BOM by default).
    """
    return decode_text(read_bytes(path), str(path), encoding)


def sha256_file(path: str | Path) -> str:
    """The SHA-256 (hex) of a regular file of any size, read in chunks (a 双录 recording may be gigabytes).

    The file is judged as :func:`read_bytes` judges it, by ``fstat`` of the opened descriptor: a
    device, a FIFO, a socket or a folder is refused, never read forever.

    Raises:
        InputError: the file is missing, unreadable or not a regular file.
    """
    p = Path(path)
    digest = hashlib.sha256()
    with _regular_file(p) as (fd, _):
        while chunk := os.read(fd, 1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _file_kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "a special file"


def read_json(path: str | Path, encoding: str = "utf-8") -> Any:
    """Read and strictly parse a JSON file (see :func:`parse_json`), in ``encoding`` (strict UTF-8 by default)."""
    return parse_json(read_bytes(path), str(path), encoding)


_ORJSON_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER
# In orjson's compact output a number starts right after `":` (a member's value), `,` or `[` (an
# element), or at the very start, and a float always shows a fraction or an exponent. The same
# bytes may occur inside a string; that false alarm only sends the value to the reference
# serializer. Patterns with a literal first byte search several times faster than one alternation.
_FLOAT_TOKENS = tuple(re.compile(lead + rb"-?[0-9]+[.eE]") for lead in (rb"\A", rb'":', rb",", rb"\["))


def _fast_form_is_canonical(data: bytes, floats_possible: bool = True) -> bool:
    """Whether orjson's compact, sorted output ``data`` is certainly the RFC 8785 form.

    It is unless a number has a fraction or exponent (a float: RFC 8785 formats those its own
    way), or a character lies beyond U+FFFF (RFC 8785 sorts keys by UTF-16 code units). Both are
    looked for with C-speed byte searches; either sends the value to the reference serializer.
    """
    if not data.isascii() and (
        b"\xf0" in data or b"\xf1" in data or b"\xf2" in data or b"\xf3" in data or b"\xf4" in data
    ):  # a lead byte of a 4-byte UTF-8 sequence, spelled out: a generator here cost a microsecond
        return False
    return not floats_possible or not any(token.search(data) for token in _FLOAT_TOKENS)


def canonical_bytes(value: Any, *, floats_possible: bool = True) -> bytes:
    """Return the RFC 8785 canonical serialization of ``value`` (a JSON value: no NaN or Infinity).

    Args:
        value: the JSON value.
        floats_possible: False when the caller's types rule floats out (the decision-log records,
            built from models without a float field), which skips looking for them.

    Raises:
        InputError: the value cannot be represented canonically: an integer beyond 2**53, a float
            that is not finite (orjson would write ``null``, so NaN would hash as None does), or a
            string or key holding a lone surrogate. The problem names it by JSON Pointer.
    """
    try:
        fast = orjson.dumps(value, option=_ORJSON_OPTIONS)
    except (orjson.JSONEncodeError, TypeError):
        fast = b""
    if fast and _fast_form_is_canonical(fast, floats_possible):
        # orjson writes a non-finite float as null: look for one only where a null was written.
        if floats_possible and b"null" in fast and (bad := _not_json_safe(value)) is not None:
            raise InputError("cannot canonicalize value", [Problem(bad[1], bad[0], code="NOT_JSON_SAFE")])
        return fast
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, UnicodeError) as exc:
        bad = _not_json_safe(value)
        problem = (
            Problem(bad[1], bad[0], code="NOT_JSON_SAFE")
            if bad is not None
            else Problem(f"expected JSON-safe values, found: {exc}", code="NOT_JSON_SAFE")
        )
        raise InputError("cannot canonicalize value", [problem]) from None


_UNPARSED = object()


def is_canonical(data: bytes, value: Any = _UNPARSED) -> bool:
    """Return whether ``data`` is exactly the RFC 8785 serialization of the JSON value it holds.

    ``value``, when given, is ``data`` already parsed (by orjson), to save parsing it twice.
    """
    if value is _UNPARSED:
        try:
            value = orjson.loads(data)
        except orjson.JSONDecodeError:
            return False
    try:
        fast = orjson.dumps(value, option=_ORJSON_OPTIONS)
    except orjson.JSONEncodeError:
        fast = b""  # an integer beyond 2**53 - 1: judged as the double it is, below
    if fast == data and _fast_form_is_canonical(fast):
        return True
    try:
        # RFC 8785 numbers are IEEE doubles: read every number as one.
        return rfc8785.dumps(json.loads(data, parse_int=float)) == data
    except (rfc8785.CanonicalizationError, ValueError):
        return False


def sha256_hex(data: bytes) -> str:
    """Return the hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def content_hash(value: Any) -> str:
    """Return ``sha256:<hex>`` of the RFC 8785 canonical bytes of ``value``."""
    return "sha256:" + sha256_hex(canonical_bytes(value))
