"""Every error leaves the API as JSON `{code, status, message, errors}`; never a traceback."""

from __future__ import annotations

import logging
from typing import Any

from apispec import BasePlugin
from bson.errors import InvalidDocument
from flask import Flask
from flask_smorest import Api
from flask_smorest.pagination import PaginationMetadataSchema
from pymongo.errors import ConnectionFailure, DuplicateKeyError, PyMongoError
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

from core.errors import SyncfarmError

log = logging.getLogger(__name__)


def _describe(errors: Any, path: str = "") -> list[str]:
    """Flatten marshmallow's nested messages into `field.sub: problem` lines."""
    if isinstance(errors, dict):
        lines: list[str] = []
        for key, value in errors.items():
            if key in ("json", "query", "path", "headers") and not path:
                lines += _describe(value, "")
            else:
                lines += _describe(value, f"{path}.{key}" if path else str(key))
        return lines
    if isinstance(errors, list) and all(isinstance(e, str) for e in errors):
        return [f"{path or 'body'}: {' '.join(errors)}"]
    if isinstance(errors, list):
        return [line for e in errors for line in _describe(e, path)]
    return [f"{path or 'body'}: {errors}"]


def _payload(code: int, message: str, errors: Any = None) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "code": code,
        "status": HTTP_STATUS_CODES.get(code, "Error"),
        "message": message,
    }
    if errors:
        payload["errors"] = errors
    return payload


class ErrorResponses(BasePlugin):
    """Documents, in one place, the error answers any operation can give: 401 (no or unknown
    API key; a webhook's bad signature), 503 (database or queue unavailable), 404 for an unknown
    id in the path, 413 (body too large) where a body is read and 400 where it is JSON that
    does not parse. An answer only some views give (409) is declared on them (`alt_response`);
    flask-smorest itself adds 422 where arguments are parsed."""

    def operation_helper(
        self, path: str | None = None, operations: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        for operation in (operations or {}).values():
            responses = operation.setdefault("responses", {})
            wanted = {401: "UNAUTHORIZED", 503: "SERVICE_UNAVAILABLE"}
            if path and "{" in path:
                wanted[404] = "NOT_FOUND"
            body = operation.get("requestBody")
            if body:
                wanted[413] = "REQUEST_ENTITY_TOO_LARGE"
                if "application/json" in body.get("content", {}):
                    wanted[400] = "BAD_REQUEST"
            for status, name in wanted.items():
                if status not in responses and str(status) not in responses:
                    responses[status] = name


class SyncfarmApi(Api):
    """flask-smorest's Api, with a `message` on every error that names the fields at fault,
    and error answers and the `X-Pagination` header documented as they are."""

    def _init_spec(self, *, extra_plugins: Any = None, **options: Any) -> None:
        super()._init_spec(extra_plugins=[*(extra_plugins or ()), ErrorResponses()], **options)

    def _register_pagination_header(self) -> None:
        if self.spec.openapi_version.major < 3:
            return super()._register_pagination_header()
        # The header carries JSON (`{"total": 3, ...}`), not OpenAPI's `simple` style that a
        # bare `schema` means, so it is described with `content`.
        self.spec.components.header(
            "PAGINATION",
            {
                "description": "Pagination metadata, as JSON",
                "content": {"application/json": {"schema": PaginationMetadataSchema}},
            },
            lazy=True,
        )

    def handle_http_exception(self, error: HTTPException) -> Any:
        payload, code, headers = super().handle_http_exception(error)
        if "message" not in payload:
            if payload.get("errors"):
                payload["message"] = "invalid input: " + "; ".join(_describe(payload["errors"]))
            else:
                payload["message"] = error.description or payload["status"]
        return payload, code, headers


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(SyncfarmError)
    def _domain_error(error: SyncfarmError) -> Any:
        status = error.status if 400 <= error.status < 600 else 500
        return _payload(status, error.message, error.errors), status

    @app.errorhandler(InvalidDocument)
    @app.errorhandler(OverflowError)
    def _unstorable(error: Exception) -> Any:
        return _payload(
            422,
            f"a value cannot be stored: {error}; keep integers within 64 bits and keys free "
            "of NUL characters and leading '$'",
        ), 422

    @app.errorhandler(RecursionError)
    def _too_deep(error: RecursionError) -> Any:
        return _payload(400, "the JSON body is nested too deeply"), 400

    @app.errorhandler(DuplicateKeyError)
    def _raced(error: DuplicateKeyError) -> Any:
        log.info("a concurrent request stored the same document first: %s", error)
        return _payload(
            409, "the same object was stored by another request at the same time; try again"
        ), 409

    @app.errorhandler(PyMongoError)
    def _store_down(error: PyMongoError) -> Any:
        if isinstance(error, ConnectionFailure):
            log.warning("database unavailable: %s", error)
            message = (
                "the database cannot be reached right now; try again shortly (queued runs and "
                "schedules resume by themselves when it is back)"
            )
        else:
            log.error("the database refused an operation: %r", error)
            message = "the database could not carry out the request; try again shortly"
        return _payload(503, message), 503, {"Retry-After": "5"}

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Any:
        if isinstance(error, HTTPException):
            return error
        log.exception("unexpected error")
        return _payload(500, "internal error; it has been logged"), 500
