"""Connections to private, loopback or link-local addresses: refused with a 422 naming the
field when saved, and failing the run when the address turns private later."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import InlineWorker
from tests.plugins.feed_support import Answer, FeedServer, feed_server

HINT = "set SYNCFARM_ALLOW_PRIVATE_URLS to allow private networks"


@pytest.fixture
def refusing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCFARM_ALLOW_PRIVATE_URLS", "0")


@pytest.fixture
def pid(tenant: Any) -> str:
    return str(tenant.post("/projects/", {"name": "Shop"}).json["id"])


def _feed(tenant: Any, pid: str, url: str) -> Any:
    return tenant.post(
        f"/projects/{pid}/connections/",
        {"connector": "feed", "role": "source", "settings": {"url": url}},
    )


def _resolve(monkeypatch: pytest.MonkeyPatch, name: str, address: str) -> None:
    real = socket.getaddrinfo

    def fake(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != name:
            return real(host, port, *args, **kwargs)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port or 0))]

    monkeypatch.setattr(socket, "getaddrinfo", fake)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://127.0.0.1:8080/feed.csv", "127.0.0.1 is a loopback address"),
        ("http://169.254.169.254/latest", "169.254.169.254 is a link-local address"),
    ],
)
def test_a_feed_on_a_private_address_is_refused_unless_allowed(
    tenant: Any, pid: str, url: str, why: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNCFARM_ALLOW_PRIVATE_URLS", "0")
    refused = _feed(tenant, pid, url)
    assert refused.status_code == 422
    assert f"settings.url: {url} is not allowed: {why}; {HINT}" in refused.json["message"]
    assert refused.json["errors"]["settings"]["url"] == [f"{url} is not allowed: {why}; {HINT}"]

    monkeypatch.setenv("SYNCFARM_ALLOW_PRIVATE_URLS", "1")
    assert _feed(tenant, pid, url).status_code == 201


def test_an_allow_list_admits_its_networks_only(
    tenant: Any, pid: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNCFARM_ALLOW_PRIVATE_URLS", "10.20.0.0/16")
    assert _feed(tenant, pid, "http://10.21.0.5/feed.csv").status_code == 422
    assert _feed(tenant, pid, "http://10.20.0.5/feed.csv").status_code == 201


def test_a_feed_host_resolving_to_a_private_address_is_refused(
    tenant: Any, pid: str, refusing: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    _resolve(monkeypatch, "feeds.example", "192.168.0.4")
    refused = _feed(tenant, pid, "https://feeds.example/p.csv")
    assert refused.status_code == 422
    assert "feeds.example resolves to 192.168.0.4, a private address" in refused.json["message"]


def test_changing_a_connection_to_a_private_url_is_refused(
    tenant: Any, pid: str, refusing: None
) -> None:
    created = _feed(tenant, pid, "https://93.184.216.34/p.csv")
    assert created.status_code == 201, created.json
    changed = tenant.patch(
        f"/projects/{pid}/connections/{created.json['id']}",
        {"settings": {"url": "http://[::1]/p.csv"}},
    )
    assert changed.status_code == 422 and "::1 is a loopback address" in changed.json["message"]


AMAZON = {
    "seller_id": "A2SELLER",
    "marketplace_ids": ["A1PA6795UKMFR9"],
    "endpoint": "https://sellingpartnerapi-eu.amazon.com",
    "client_id": "id",
    "client_secret": "secret",
    "refresh_token": "Atzr|x",
}


@pytest.mark.parametrize(
    ("connector", "role", "connector_settings", "field"),
    [
        ("shop", "source", {"consumer_key": "ck", "consumer_secret": "cs"}, "base_url"),
        ("warehouse", "channel", {"token": "t"}, "base_url"),
        ("amazon", "channel", AMAZON, "endpoint"),
        ("amazon", "channel", AMAZON, "lwa_endpoint"),
    ],
)
def test_every_connector_url_setting_is_checked(
    tenant: Any,
    pid: str,
    refusing: None,
    connector: str,
    role: str,
    connector_settings: Any,
    field: str,
) -> None:
    url = "http://10.0.0.8/api"
    refused = tenant.post(
        f"/projects/{pid}/connections/",
        {"connector": connector, "role": role, "settings": {**connector_settings, field: url}},
    )
    assert refused.status_code == 422
    message = refused.json["message"]
    assert f"settings.{field}: {url} is not allowed: 10.0.0.8 is a private address" in message


def test_an_alert_webhook_to_the_metadata_service_is_refused(tenant: Any, refusing: None) -> None:
    alerts = [{"when": "source_failed", "notify": [{"webhook": "http://169.254.169.254/h"}]}]
    refused = tenant.post("/projects/", {"name": "Shop", "alerts": alerts})
    assert refused.status_code == 422
    message = refused.json["message"]
    assert "alerts[0].notify[0].webhook: http://169.254.169.254/h is not allowed" in message


@pytest.fixture
def worker(inline_worker: InlineWorker) -> Any:
    return inline_worker.drain


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with feed_server() as running:
        yield running


def _fetched(tenant: Any, pid: str, connection_id: str, work: Any) -> Any:
    run = tenant.post(f"/projects/{pid}/connections/{connection_id}/fetch").json
    work()
    return tenant.get(f"/runs/{run['id']}").json


def test_a_feed_whose_host_turns_private_fails_its_run_with_the_reason(
    tenant: Any, pid: str, worker: Any, refusing: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    _resolve(monkeypatch, "feeds.example", "93.184.216.34")
    created = _feed(tenant, pid, "http://feeds.example/p.csv")
    assert created.status_code == 201, created.json
    _resolve(monkeypatch, "feeds.example", "169.254.169.254")
    run = _fetched(tenant, pid, created.json["id"], worker)
    assert run["state"] == "failed"
    message = run["error"]["message"]
    assert "feeds.example resolves to 169.254.169.254, a link-local address" in message


def test_a_feed_redirecting_to_a_private_address_fails_its_run_without_following(
    tenant: Any, pid: str, worker: Any, server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNCFARM_ALLOW_PRIVATE_URLS", "127.0.0.1/32")
    url = server.script("/feed.csv", Answer(302, headers={"Location": "http://10.9.9.9/x.csv"}))
    created = _feed(tenant, pid, url)
    assert created.status_code == 201, created.json
    run = _fetched(tenant, pid, created.json["id"], worker)
    assert run["state"] == "failed"
    assert run["error"]["message"].startswith(
        f"http://10.9.9.9/x.csv is not allowed: 10.9.9.9 is a private address; {HINT}"
    )
