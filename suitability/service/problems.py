"""Errors as RFC 9457 ``application/problem+json``, carrying what the library's error carries.

Each :class:`~suitability.errors.SuitabilityError` maps to an HTTP status by its class (the CLI's
exit codes, in HTTP terms) and keeps its code, its summary and every problem with its JSON
Pointer; the title is given in zh-CN and en. Nothing else (no traceback, no internal path) is
ever sent.
"""

from __future__ import annotations

from typing import Any

import orjson

from ..errors import (
    DecisionError,
    DocumentConflictError,
    DocumentError,
    DocumentNotActiveError,
    InputError,
    IntegrityError,
    LogError,
    Problem,
    ProductError,
    RegistryError,
    ResponseError,
    SuitabilityError,
    UnknownDocumentError,
)

MEDIA_TYPE = "application/problem+json"

# (status, zh-CN title, en title), most specific class first
_STATUS: tuple[tuple[type[SuitabilityError], int, str, str], ...] = (
    (UnknownDocumentError, 404, "文档不存在", "Unknown document"),
    (DocumentConflictError, 409, "文档冲突", "Document conflict"),
    (DocumentNotActiveError, 422, "文档已停用", "Document not active"),
    (RegistryError, 404, "文档不可用", "Document not available"),
    (InputError, 400, "输入无效", "Invalid input"),
    (DocumentError, 422, "文档无效", "Invalid document"),
    (ResponseError, 422, "答案或客户信息无效", "Invalid answers or client facts"),
    (ProductError, 422, "产品无效", "Invalid product"),
    (DecisionError, 409, "不能作出该决定或确认", "Decision or confirmation not allowed"),
    (LogError, 503, "决策日志不可用，未记录任何内容", "Decision log unavailable; nothing was recorded"),
    (IntegrityError, 500, "决策日志完整性校验失败", "Decision log integrity failure"),
)

#: Titles of the service's own refusals, by status.
TITLES = {
    400: ("请求无效", "Bad request"),
    401: ("需要有效的 API 密钥", "A valid API key is required"),
    403: ("该角色无权执行此操作", "This role may not do this"),
    404: ("不存在", "Not found"),
    405: ("不允许的方法", "Method not allowed"),
    409: ("冲突", "Conflict"),
    413: ("请求体过大", "Request body too large"),
    415: ("不支持的媒体类型", "Unsupported media type"),
    422: ("请求内容无效", "Invalid request content"),
    500: ("内部错误", "Internal error"),
    503: ("服务不可用", "Service unavailable"),
}


def status_of(error: SuitabilityError) -> tuple[int, str, str]:
    """The HTTP status and the zh-CN and en titles of a library error."""
    for cls, status, zh, en in _STATUS:
        if isinstance(error, cls):
            return status, zh, en
    return 500, *TITLES[500]


def _problem_json(p: Problem) -> dict[str, Any]:
    out: dict[str, Any] = {"message": p.message, "pointer": p.pointer, "code": p.code}
    if p.line is not None:
        out["line"] = p.line
    if p.column is not None:
        out["column"] = p.column
    return out


def problem_body(
    status: int,
    code: str,
    detail: str,
    *,
    titles: tuple[str, str] | None = None,
    error: str | None = None,
    problems: list[Problem] | None = None,
    instance: str | None = None,
    language: str = "en",
) -> bytes:
    """The problem+json bytes: ``type`` names the code, ``title`` is in ``language`` (both in ``titles``)."""
    zh, en = titles or TITLES.get(status, TITLES[500])
    doc: dict[str, Any] = {
        "type": f"urn:suitability:problem:{code.lower().replace('_', '-')}",
        "title": zh if language == "zh-CN" else en,
        "status": status,
        "detail": detail,
        "code": code,
        "titles": {"zh-CN": zh, "en": en},
    }
    if error is not None:
        doc["error"] = error
    if problems:
        doc["problems"] = [_problem_json(p) for p in problems]
    if instance is not None:
        doc["instance"] = instance
    return orjson.dumps(doc)


def from_error(error: SuitabilityError, instance: str | None, language: str) -> tuple[int, bytes]:
    """The status and problem+json body of a library error (its source file, a server path, is left out)."""
    status, zh, en = status_of(error)
    body = problem_body(
        status,
        error.code,
        error.summary,
        titles=(zh, en),
        error=type(error).__name__,
        problems=error.problems,
        instance=instance,
        language=language,
    )
    return status, body
