"""One error hierarchy, one handler, RFC 9457 ``application/problem+json`` on the wire.

Raise an :class:`AppError` subclass anywhere in a service; the handlers installed by
:func:`install_error_handlers` render it. Payload validation becomes 422 with the offending fields; a transient
failure (database connection lost or refused, another service unreachable: :mod:`retry`) a 503 with
``Retry-After``; anything else unexpected a 500 without internals, logged with the request id.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from services.common.logging import request_id_var

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://vet.gov.vn/problems/"

log = logging.getLogger("services.errors")


class AppError(Exception):
    """Base of every error a service raises on purpose. ``slug`` names the problem type."""

    status: int = 500
    title: str = "Internal server error"
    slug: str = "internal"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = errors
        self.headers = headers or {}
        self.extensions = extensions


class BadRequest(AppError):
    status, title, slug = 400, "Bad request", "bad-request"


class Unauthorized(AppError):
    status, title, slug = 401, "Authentication required", "unauthorized"

    def __init__(self, detail: str | None = None, **kw: Any) -> None:
        kw.setdefault("headers", {"WWW-Authenticate": 'Bearer realm="vet"'})
        super().__init__(detail, **kw)


class Forbidden(AppError):
    status, title, slug = 403, "Forbidden", "forbidden"


class NotFound(AppError):
    status, title, slug = 404, "Not found", "not-found"


class Conflict(AppError):
    status, title, slug = 409, "Conflict", "conflict"


class PreconditionFailed(AppError):
    status, title, slug = 412, "Precondition failed", "precondition-failed"


class PayloadTooLarge(AppError):
    status, title, slug = 413, "Payload too large", "payload-too-large"


class ValidationFailed(AppError):
    """A domain rule broken by the payload; ``errors`` lists ``{"field", "message"}``."""

    status, title, slug = 422, "Validation failed", "validation"

    @classmethod
    def of_field(cls, field: str, message: str) -> ValidationFailed:
        """One field's error: ``"<field>: <message>"``, and the field named in ``errors``."""
        return cls(f"{field}: {message}", errors=[{"field": field, "message": message}])


class TooManyRequests(AppError):
    status, title, slug = 429, "Too many requests", "rate-limited"


class ServiceUnavailable(AppError):
    status, title, slug = 503, "Service unavailable", "unavailable"


def problem_body(
    status: int,
    title: str,
    detail: str,
    *,
    slug: str,
    instance: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    **extensions: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    rid = request_id_var.get()
    if rid:
        body["request_id"] = rid
    if errors is not None:
        body["errors"] = errors
    body.update(extensions)
    return body


def problem_response(body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(
        content=json.dumps(body, ensure_ascii=False, default=str),
        status_code=body["status"],
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def _field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header", "cookie"}:
        parts = parts[1:] if len(parts) > 1 else parts
    return ".".join(parts)


def validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors():
        loc = err.get("loc", ())
        out.append(
            {
                "field": _field_path(loc),
                "in": str(loc[0]) if loc else "body",
                "message": err.get("msg", "invalid"),
                "code": err.get("type", "invalid"),
            }
        )
    return out


def internal_error_body(path: str) -> dict[str, Any]:
    return problem_body(
        500,
        "Internal server error",
        "An unexpected error occurred. Quote the request id when reporting it.",
        slug="internal",
        instance=path,
    )


DEFAULT_RETRY_AFTER = 5


def unavailable_problem(exc: BaseException, path: str, retry_after: int = DEFAULT_RETRY_AFTER) -> tuple[dict[str, Any], dict[str, str]] | None:
    """A 503 problem and its ``Retry-After`` header when ``exc`` is transient (the database connection lost or
    refused, a pool or lock timeout, another service unreachable), else None. The reason is logged, not sent: it
    names internal hosts."""
    from services.common.retry import is_database_error, transient_reason

    reason = transient_reason(exc)
    if reason is None:
        return None
    log.warning("transient failure on %s, answered 503: %s", path, reason)
    what = "The database" if is_database_error(exc) else "A service this request needs"
    body = problem_body(503, "Service unavailable", f"{what} is unavailable for a moment; try again in {retry_after} s.",
                        slug="unavailable", instance=path)
    return body, {"Retry-After": str(retry_after)}


def retry_after_of(app: Any) -> int:
    settings = getattr(getattr(app, "state", None), "settings", None)
    return int(getattr(settings, "unavailable_retry_after_seconds", DEFAULT_RETRY_AFTER))


def install_error_handlers(app: FastAPI) -> None:
    async def app_error(request: Request, exc: AppError) -> Response:
        if exc.status >= 500:
            log.error("server error: %s", exc.detail)
        body = problem_body(
            exc.status,
            exc.title,
            exc.detail,
            slug=exc.slug,
            instance=request.url.path,
            errors=exc.errors,
            **exc.extensions,
        )
        return problem_response(body, exc.headers)

    async def request_validation(request: Request, exc: RequestValidationError) -> Response:
        errors = validation_errors(exc)
        fields = ", ".join(e["field"] for e in errors)
        body = problem_body(
            422,
            "Validation failed",
            f"The request is not valid: {fields}",
            slug="validation",
            instance=request.url.path,
            errors=errors,
        )
        return problem_response(body)

    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        slug = {404: "not-found", 405: "method-not-allowed", 401: "unauthorized", 403: "forbidden"}.get(
            exc.status_code, "http-error"
        )
        from http import HTTPStatus

        try:
            title = HTTPStatus(exc.status_code).phrase
        except ValueError:
            title = "Error"
        body = problem_body(
            exc.status_code, title, str(exc.detail), slug=slug, instance=request.url.path
        )
        return problem_response(body, dict(exc.headers or {}))

    async def database_error(request: Request, exc: Exception) -> Response:
        found = unavailable_problem(exc, request.url.path, retry_after_of(request.app))
        if found is None:
            log.error("unhandled database error on %s %s", request.method, request.url.path, exc_info=exc)
            return problem_response(internal_error_body(request.url.path))
        return problem_response(*found)

    from sqlalchemy import exc as sa_exc

    app.add_exception_handler(AppError, app_error)  # type: ignore[arg-type]
    # a lost or refused database connection is a 503 with Retry-After, not a 500 (errors raised outside the routes,
    # in middleware, get the same answer from RequestContextMiddleware)
    app.add_exception_handler(sa_exc.DBAPIError, database_error)
    app.add_exception_handler(sa_exc.TimeoutError, database_error)
    app.add_exception_handler(OSError, database_error)
    app.add_exception_handler(RequestValidationError, request_validation)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, http_error)  # type: ignore[arg-type]
