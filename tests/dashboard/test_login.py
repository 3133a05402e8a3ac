"""Logging in with an API key, logging out, and the CSRF token every form carries."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from api.app import create_app
from core.store import Store
from core.tenants import create_tenant
from tests.dashboard.conftest import Browser, csrf_of


def test_every_page_sends_an_anonymous_visitor_to_the_login_form(client: Any) -> None:
    answer = client.get("/dashboard/queues")
    assert answer.status_code == 302
    assert answer.location.startswith("/dashboard/login?next=/dashboard/queues")


def test_logging_in_with_a_key_leads_back_to_the_page_asked_for(client: Any, store: Store) -> None:
    _, key = create_tenant(store, "acme")
    page = client.get("/dashboard/login?next=/dashboard/").get_data(as_text=True)
    answer = client.post(
        "/dashboard/login",
        data={"api_key": key, "csrf_token": csrf_of(page), "next": "/dashboard/"},
    )
    assert answer.status_code == 302 and answer.location == "/dashboard/"
    assert "acme" in client.get("/dashboard/").get_data(as_text=True)


def test_an_unknown_key_is_refused_with_a_hint_where_keys_come_from(client: Any) -> None:
    page = client.get("/dashboard/login").get_data(as_text=True)
    answer = client.post(
        "/dashboard/login", data={"api_key": "sfk_nope", "csrf_token": csrf_of(page)}
    )
    assert answer.status_code == 401
    assert "Unknown API key" in answer.get_data(as_text=True)
    assert "syncfarm tenant create" in answer.get_data(as_text=True)


def test_login_never_redirects_to_another_site(client: Any, store: Store) -> None:
    _, key = create_tenant(store, "acme")
    page = client.get("/dashboard/login").get_data(as_text=True)
    answer = client.post(
        "/dashboard/login",
        data={"api_key": key, "csrf_token": csrf_of(page), "next": "https://evil.example/"},
    )
    assert answer.location == "/dashboard/"


def test_a_form_without_the_session_token_is_refused(browser: Browser) -> None:
    answer = browser.client.post("/dashboard/projects", data={"name": "Forged"})
    assert answer.status_code == 400
    assert "Form expired" in answer.get_data(as_text=True)
    assert "Forged" not in browser.text("/")


def test_logging_out_ends_the_session(browser: Browser) -> None:
    assert browser.post("/logout").status_code == 302
    assert browser.get("/").status_code == 302


def test_a_deleted_key_logs_its_holder_out(browser: Browser, store: Store) -> None:
    store.api_keys.delete_many({"tenant_id": browser.tenant["_id"]})
    answer = browser.get("/")
    assert answer.status_code == 302 and "/dashboard/login" in answer.location


def test_without_a_secret_key_the_dashboard_says_what_to_set(
    store: Store, settings: Any, broker: Any
) -> None:
    app = create_app(
        {
            "TESTING": True,
            "SYNCFARM_SETTINGS": replace(settings, secret_key=None),
            "SYNCFARM_STORE": store,
            "SYNCFARM_BROKER": broker,
            "SYNCFARM_REDIS": None,
        }
    )
    answer = app.test_client().get("/dashboard/login")
    assert answer.status_code == 503
    assert "SYNCFARM_SECRET_KEY" in answer.get_data(as_text=True)
