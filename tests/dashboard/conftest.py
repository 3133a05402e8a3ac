"""Fixtures of the dashboard's tests: an app whose sessions are signed, and logged-in users."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from core.config import Settings
from core.store import Store
from core.tenants import create_tenant


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return replace(
        Settings(),
        data_dir=tmp_path / "data",
        broker_url="stub://",
        secret_key="dashboard-test-secret-key",
    )


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


class Browser:
    """A test client logged in with one tenant's key, posting forms with the page's token."""

    def __init__(self, client: Any, key: str, tenant: dict[str, Any]) -> None:
        self.client = client
        self.key = key
        self.tenant = tenant
        self.token = ""

    def login(self) -> Any:
        page = self.client.get("/dashboard/login").get_data(as_text=True)
        answer = self.client.post(
            "/dashboard/login", data={"api_key": self.key, "csrf_token": csrf_of(page)}
        )
        self.token = csrf_of(self.client.get("/dashboard/").get_data(as_text=True))
        return answer

    def get(self, path: str, **kw: Any) -> Any:
        return self.client.get(f"/dashboard{path}", **kw)

    def post(self, path: str, data: dict[str, Any] | None = None, **kw: Any) -> Any:
        return self.client.post(
            f"/dashboard{path}", data={**(data or {}), "csrf_token": self.token}, **kw
        )

    def text(self, path: str) -> str:
        answer = self.get(path)
        assert answer.status_code == 200, answer.get_data(as_text=True)[:2000]
        return str(answer.get_data(as_text=True))


@pytest.fixture
def make_browser(app: Any, store: Store) -> Any:
    def make(name: str = "acme", *, admin: bool = False, plan: str = "standard") -> Browser:
        tenant, key = create_tenant(store, name, plan=plan, admin=admin)
        browser = Browser(app.test_client(), key, tenant)
        browser.login()
        return browser

    return make


@pytest.fixture
def browser(make_browser: Any) -> Browser:
    return make_browser()


@pytest.fixture
def operator(make_browser: Any) -> Browser:
    return make_browser("ops", admin=True)
