"""Every error leaves the API as JSON `{code, status, message, errors}`; never a traceback."""

from __future__ import annotations

import logging
from typing import Any

from bson.errors import InvalidDocument
from flask import Flask
from flask_smorest import Api
from pymongo.errors import PyMongoError
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


class SyncfarmApi(Api):
    """flask-smorest's Api, with a `message` on every error that names the fields at fault."""

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

    @app.errorhandler(PyMongoError)
    def _store_down(error: PyMongoError) -> Any:
        log.warning("database unavailable: %s", error)
        return _payload(503, "the database is unavailable; try again shortly"), 503

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Any:
        if isinstance(error, HTTPException):
            return error
        log.exception("unexpected error")
        return _payload(500, "internal error; it has been logged"), 500
