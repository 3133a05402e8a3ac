"""What the dashboard does with hostile or odd requests: forged logins, absurd page numbers,
and what its session cookie gives away."""

from __future__ import annotations

import base64
import json
import zlib
from typing import Any

import pytest

from core.store import Store
from core.tenants import create_tenant
from tests.dashboard.conftest import Browser


def _session_payload(browser: Browser) -> str:
    cookie = browser.client.get_cookie("session")
    assert cookie is not None, "the login set no session cookie"
    value = cookie.value
    compressed = value.startswith(".")
    data = value.lstrip(".").split(".", 1)[0]
    raw = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
    return (zlib.decompress(raw) if compressed else raw).decode()


def test_the_session_cookie_does_not_carry_the_api_key(browser: Browser) -> None:
    """The cookie is signed, not encrypted: whoever reads it must not learn a key that opens
    the REST API long after the session ended."""
    payload = _session_payload(browser)
    assert json.loads(payload)  # it is the session we think it is
    assert browser.key not in payload
    assert "acme" in browser.text("/")  # and the session still works


def test_a_login_posted_from_another_site_is_refused(client: Any, store: Store) -> None:
    """Login CSRF: a page elsewhere must not log a visitor in as the attacker's tenant."""
    _, key = create_tenant(store, "attacker")
    answer = client.post("/dashboard/login", data={"api_key": key})
    assert answer.status_code == 400
    assert "Form expired" in answer.get_data(as_text=True)
    assert client.get("/dashboard/").status_code == 302  # still not logged in


@pytest.mark.parametrize("path", ["/?page=99999999999999999999999", "/?page=-3"])
def test_an_absurd_page_number_shows_a_page_of_the_overview(browser: Browser, path: str) -> None:
    browser.post("/projects", {"name": "Shop"})
    page = browser.text(path)
    assert "Shop" in page


class TestOverTheWire:
    """The same against nx-27017, where the page number travels to the server as BSON."""

    @pytest.fixture
    def store(self, nx_store: Store) -> Store:
        return nx_store

    def test_an_absurd_page_number_on_the_overview_is_not_a_server_error(
        self, browser: Browser
    ) -> None:
        browser.post("/projects", {"name": "Shop"})
        page = browser.text("/?page=99999999999999999999999")
        assert "Shop" in page

    def test_an_absurd_page_number_of_the_records_is_not_a_server_error(
        self, browser: Browser
    ) -> None:
        pid = browser.post("/projects", {"name": "Shop"}).location.rsplit("/", 1)[1]
        answer = browser.get(f"/projects/{pid}/records?page=99999999999999999999999")
        assert answer.status_code == 200
