"""Outgoing URLs: private, loopback, link-local and other non-public addresses are refused
unless SYNCFARM_ALLOW_PRIVATE_URLS allows them, when saved and again right before each request."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from core import netguard
from core.alerts import validate_alerts
from core.alerts.evaluate import Alert
from core.alerts.webhook import post_alert
from core.errors import ConfigError, ConnectorError, Invalid
from tests.conftest import free_port
from tests.httpserver import QuietHandler, serving

Resolver = Callable[..., Any]


@pytest.fixture
def refusing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The farm as it runs in production: no private network allowed."""
    monkeypatch.setenv("SYNCFARM_ALLOW_PRIVATE_URLS", "0")


def resolving(monkeypatch: pytest.MonkeyPatch, names: dict[str, list[str]]) -> None:
    """Make each name resolve to its addresses (none: it does not resolve); others as usual."""
    real: Resolver = socket.getaddrinfo

    def fake(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in names:
            return real(host, port, *args, **kwargs)
        if not names[host]:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (
                socket.AF_INET6 if ":" in a else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (a, port or 0),
            )
            for a in names[host]
        ]

    monkeypatch.setattr(socket, "getaddrinfo", fake)


def refusal(url: str) -> str:
    with pytest.raises(netguard.UrlNotAllowed) as raised:
        netguard.check_url(url)
    assert raised.value.status == 422 and isinstance(raised.value, Invalid)
    return raised.value.message


@pytest.mark.usefixtures("refusing")
@pytest.mark.parametrize(
    ("host", "kind"),
    [
        ("127.0.0.1", "a loopback address"),
        ("127.1", "a loopback address"),
        ("2130706433", "a loopback address"),
        ("0x7f000001", "a loopback address"),
        ("10.1.2.3", "a private address"),
        ("172.16.0.1", "a private address"),
        ("192.168.1.10", "a private address"),
        ("169.254.169.254", "a link-local address"),
        ("0.0.0.0", "an unspecified address"),
        ("224.0.0.1", "a multicast address"),
        ("240.0.0.1", "a reserved address"),
        ("100.64.0.1", "a non-public address"),
        ("[::1]", "a loopback address"),
        ("[::]", "an unspecified address"),
        ("[fd00::1]", "a private address"),
        ("[fe80::1]", "a link-local address"),
        ("[ff02::1]", "a multicast address"),
        ("[::ffff:169.254.169.254]", "a link-local address"),
        ("[64:ff9b::a00:1]", "a private address"),
    ],
)
def test_urls_naming_a_non_public_address_are_refused_with_its_kind(host: str, kind: str) -> None:
    message = refusal(f"http://{host}:8080/feed.csv")
    assert f"is not allowed: {host.strip('[]')} is {kind}" in message
    assert message.endswith("set SYNCFARM_ALLOW_PRIVATE_URLS to allow private networks")


def test_the_message_names_the_field_the_url_and_why(refusing: None) -> None:
    with pytest.raises(netguard.UrlNotAllowed) as raised:
        netguard.check_url("http://169.254.169.254/latest", field="settings.url")
    assert raised.value.message == (
        "settings.url: http://169.254.169.254/latest is not allowed: 169.254.169.254 is a "
        "link-local address; set SYNCFARM_ALLOW_PRIVATE_URLS to allow private networks"
    )
    assert raised.value.errors == {"settings.url": [raised.value.text]}


def test_messages_show_neither_the_password_nor_the_query(refusing: None) -> None:
    message = refusal("https://shop:hunter22@10.0.0.5/feed.csv?token=s3cret")
    assert "hunter22" not in message and "s3cret" not in message
    assert "https://10.0.0.5/feed.csv?… is not allowed" in message


@pytest.mark.usefixtures("refusing")
@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/f", "gopher://x", "/x"])
def test_only_http_and_https_urls_are_called(url: str) -> None:
    assert "only http(s) URLs" in refusal(url)


def test_public_addresses_are_allowed(refusing: None) -> None:
    netguard.check_url("https://93.184.216.34/feed.csv")
    netguard.check_url("https://[2606:2800:220:1:248:1893:25c8:1946]/feed.csv")


def test_a_name_resolving_to_a_private_address_is_refused(
    refusing: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    resolving(monkeypatch, {"feeds.example": ["93.184.216.34", "10.0.0.7"]})
    assert "feeds.example resolves to 10.0.0.7, a private address" in refusal(
        "https://feeds.example/p.csv"
    )
    resolving(monkeypatch, {"v6.example": ["fe80::1"]})
    assert "v6.example resolves to fe80::1, a link-local address" in refusal("http://v6.example/")


def test_a_name_resolving_only_to_public_addresses_or_not_at_all_is_allowed(
    refusing: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    resolving(monkeypatch, {"shop.example": ["93.184.216.34"], "later.example": []})
    netguard.check_url("https://shop.example/")
    netguard.check_url("https://later.example/")


@pytest.mark.parametrize("value", ["1", "true", "TRUE"])
def test_allow_all_lets_every_address_through(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCFARM_ALLOW_PRIVATE_URLS", value)
    for url in ("http://127.0.0.1:5000/", "http://169.254.169.254/latest", "http://[::1]/"):
        netguard.check_url(url)


@pytest.mark.parametrize("value", ["0", "false", "none"])
def test_zero_false_or_none_allow_no_private_address(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNCFARM_ALLOW_PRIVATE_URLS", value)
    assert "a loopback address" in refusal("http://127.0.0.1/")


def test_unset_refuses_private_addresses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SYNCFARM_ALLOW_PRIVATE_URLS", raising=False)
    assert "a loopback address" in refusal("http://127.0.0.1/")
    assert "a link-local address" in refusal("http://169.254.169.254/latest")


def test_an_allow_list_lets_only_its_networks_through(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCFARM_ALLOW_PRIVATE_URLS", " 10.20.0.0/16, 192.168.1.10/32,fd12::/16")
    netguard.check_url("http://10.20.3.4/")
    netguard.check_url("http://192.168.1.10/")
    netguard.check_url("http://[fd12::5]/")
    netguard.check_url("http://[::ffff:10.20.0.1]/")
    assert "10.21.0.1 is a private address" in refusal("http://10.21.0.1/")
    assert "192.168.1.11 is a private address" in refusal("http://192.168.1.11/")
    assert "169.254.169.254 is a link-local address" in refusal("http://169.254.169.254/")
    resolving(monkeypatch, {"wms.internal": ["10.20.9.9"], "evil.example": ["10.99.0.1"]})
    netguard.check_url("https://wms.internal/api")
    assert "resolves to 10.99.0.1" in refusal("https://evil.example/")


def test_a_malformed_allow_list_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCFARM_ALLOW_PRIVATE_URLS", "10.20.0.0/16,yes")
    with pytest.raises(ConfigError, match="'yes' is not a network"):
        netguard.check_url("http://10.20.0.1/")


def test_a_request_to_a_refused_address_fails_before_connecting(refusing: None) -> None:
    with pytest.raises(netguard.UrlRefused) as raised:
        netguard.request("GET", f"http://127.0.0.1:{free_port()}/feed.csv", timeout=2)
    assert isinstance(raised.value, ConnectorError)
    assert "127.0.0.1 is a loopback address" in raised.value.message


def test_a_name_that_resolves_privately_by_request_time_is_refused_then(
    refusing: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    resolving(monkeypatch, {"rebind.example": ["93.184.216.34"]})
    netguard.check_url("http://rebind.example/feed.csv")
    resolving(monkeypatch, {"rebind.example": ["127.0.0.1"]})
    with pytest.raises(netguard.UrlRefused, match="resolves to 127.0.0.1, a loopback"):
        netguard.request("GET", "http://rebind.example/feed.csv", timeout=2)


@pytest.fixture
def redirecting() -> Iterator[str]:
    """A server that redirects /to?<url> to <url>, and answers anything else."""

    class Handler(QuietHandler):
        def do_GET(self) -> None:  # noqa: N802
            if self.path.startswith("/to?"):
                self.send_response(302)
                self.send_header("Location", self.path.partition("?")[2])
            else:
                self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    with serving(Handler) as url:
        yield url


def test_each_redirect_is_checked_before_it_is_followed(
    redirecting: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNCFARM_ALLOW_PRIVATE_URLS", "127.0.0.1/32")
    assert netguard.request("GET", f"{redirecting}/to?{redirecting}/ok").status_code == 200
    with pytest.raises(netguard.UrlRefused) as raised:
        netguard.request("GET", f"{redirecting}/to?http://169.254.169.254/latest", timeout=2)
    assert raised.value.message.startswith(
        "http://169.254.169.254/latest is not allowed: 169.254.169.254 is a link-local address"
    )


def test_a_guarded_session_checks_every_request_and_wrapping_twice_changes_nothing(
    refusing: None,
) -> None:
    session = netguard.guard_session(requests.Session())
    adapters = dict(session.adapters)
    assert netguard.guard_session(session).adapters == adapters
    with pytest.raises(netguard.UrlRefused):
        session.post("http://10.0.0.1/wp-json/wc/v3/products/batch", json={}, timeout=2)


def test_a_webhook_to_a_private_address_is_refused_when_alerts_are_saved(refusing: None) -> None:
    with pytest.raises(Invalid) as raised:
        targets = [{"email": "a@b.example"}, {"webhook": "http://[::1]/h"}]
        validate_alerts([{"when": "run_held", "notify": targets}])
    assert "alerts[0].notify[1].webhook: http://[::1]/h is not allowed: ::1 is a loopback" in (
        raised.value.message
    )
    assert "webhook" in raised.value.errors["alerts"][0]["notify"][1]


def test_a_webhook_whose_name_turned_private_fails_its_delivery_not_the_run(
    refusing: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    resolving(monkeypatch, {"hooks.example": ["10.0.0.9"]})
    alert = Alert("run_held", "prj_1", "Shop", "run_1", subject="held", message="held")
    result = post_alert(alert, {"webhook": "https://hooks.example/t0ken"}, timeout_s=2)
    assert not result.ok
    assert result.error == (
        "https://hooks.example/… is not allowed: hooks.example resolves to 10.0.0.9, a private "
        "address; set SYNCFARM_ALLOW_PRIVATE_URLS to allow private networks"
    )
