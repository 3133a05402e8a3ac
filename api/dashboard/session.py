"""Logging in with an API key, the session cookie, CSRF tokens, and the dashboard's error pages.

The session cookie is signed with a key derived from SYNCFARM_SECRET_KEY (never the passphrase
itself), so every `web` process of a farm accepts the cookies of the others. Every request
looks the key up again: a deleted key logs its holder out at once. The cookie is signed, not
encrypted, so it keeps the key's hash (as stored in `api_keys`), never the key. Every POST form,
the login form too, carries the session's CSRF token.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from typing import Any
from urllib.parse import urlparse

from flask import Flask, current_app, g, redirect, render_template, request, session, url_for
from pymongo.errors import PyMongoError
from werkzeug.wrappers import Response

from api import services
from api.dashboard import blp
from core.errors import SyncfarmError
from core.tenants import hash_key, tenant_for_key, tenant_for_key_hash

log = logging.getLogger(__name__)

OPEN_ENDPOINTS = {"dashboard.login", "dashboard.static"}
CSRF_FIELD = "csrf_token"
SESSION_KEY = "key_hash"


def configure_secret_key(app: Flask) -> None:
    """Sign sessions with a key derived from SYNCFARM_SECRET_KEY unless the app has one."""
    secret = app.extensions["syncfarm.settings"].secret_key
    if not app.secret_key and secret:
        app.secret_key = hmac.new(
            secret.encode(), b"syncfarm dashboard session", hashlib.sha256
        ).hexdigest()
    if app.config.get("SESSION_COOKIE_SAMESITE") is None:
        app.config["SESSION_COOKIE_SAMESITE"] = "Lax"


def csrf_token() -> str:
    token = session.get(CSRF_FIELD)
    if not token:
        token = secrets.token_urlsafe(24)
        session[CSRF_FIELD] = token
    return str(token)


def _safe_next(target: str | None) -> str:
    """Only a path of the dashboard itself: a login link cannot send anyone elsewhere."""
    default = url_for("dashboard.projects")
    if not target:
        return default
    parts = urlparse(target)
    if parts.scheme or parts.netloc or not parts.path.startswith(blp.url_prefix or "/"):
        return default
    return target


def error_page(status: int, title: str, message: str) -> tuple[str, int]:
    return render_template("error.html", title=title, message=message), status


@blp.before_request
def _require_login() -> Any:
    if not current_app.secret_key:
        return error_page(
            503,
            "Dashboard not configured",
            "The dashboard signs its session cookie with a key derived from "
            "SYNCFARM_SECRET_KEY; set it (16+ characters) for every web process and restart.",
        )
    if request.method == "POST":
        sent = request.form.get(CSRF_FIELD, "")
        expected = str(session.get(CSRF_FIELD, ""))
        if not expected or not hmac.compare_digest(sent, expected):
            return error_page(
                400,
                "Form expired",
                "This form was not sent from this session's page (or the session ended). "
                "Go back, reload the page and send it again.",
            )
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    digest = session.get(SESSION_KEY)
    tenant = tenant_for_key_hash(services.store(), digest) if isinstance(digest, str) else None
    if tenant is None:
        session.pop(SESSION_KEY, None)
        return redirect(url_for("dashboard.login", next=request.full_path.rstrip("?")))
    g.tenant = tenant
    return None


@blp.app_template_global()
def dashboard_csrf_token() -> str:
    return csrf_token()


@blp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    error = None
    if request.method == "POST":
        key = request.form.get("api_key", "").strip()
        tenant = tenant_for_key(services.store(), key) if key else None
        if tenant is not None:
            session.clear()
            session[SESSION_KEY] = hash_key(key)
            csrf_token()
            return redirect(_safe_next(request.form.get("next")))
        error = (
            "Unknown API key. Use a key printed by `syncfarm tenant create NAME` "
            "(`--admin` for an operator who sees every tenant)."
            if key
            else "Enter an API key."
        )
    status = 401 if error else 200
    page = render_template("login.html", error=error, next=request.values.get("next", ""))
    return page, status


@blp.route("/logout", methods=["POST"])
def logout() -> Response:
    session.clear()
    return redirect(url_for("dashboard.login"))


@blp.errorhandler(SyncfarmError)
def _domain_error(error: SyncfarmError) -> Any:
    status = error.status if 400 <= error.status < 600 else 500
    titles = {404: "Not found", 409: "Conflict", 422: "Not accepted", 503: "Unavailable"}
    return error_page(status, titles.get(status, "Error"), error.message)


@blp.errorhandler(PyMongoError)
def _store_down(error: PyMongoError) -> Any:
    log.warning("database unavailable: %s", error)
    return error_page(503, "Unavailable", "The database is unavailable; try again shortly.")
