"""Alerts: the config grammar, each condition, and delivery to a real local webhook receiver
and a real local SMTP server."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import threading
import time
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from core.alerts import (
    SIGNATURE_HEADER,
    RunFacts,
    count_out_of_stock,
    evaluate_alerts,
    send_alerts,
    stock_fields,
    validate_alerts,
)
from core.errors import Invalid
from tests.conftest import free_port

HOOK = {"webhook": "https://hooks.example.com/x"}


def _facts(**changes: Any) -> RunFacts:
    values: dict[str, Any] = {
        "project_id": "prj_1",
        "project_name": "Acme shop",
        "run_id": "run_1",
        "records_before": 1000,
        "records_after": 1000,
    }
    return RunFacts(**{**values, **changes})


def _raised(config: dict[str, Any], **facts: Any) -> list[str]:
    alerts = validate_alerts([{**config, "notify": [HOOK]}])
    return [alert.subject for alert in evaluate_alerts(alerts, _facts(**facts))]


def _refusal(data: object) -> Invalid:
    with pytest.raises(Invalid) as refused:
        validate_alerts(data)
    return refused.value


# --- validation -------------------------------------------------------------------------------


def test_alerts_are_normalized_with_their_defaults() -> None:
    alerts = validate_alerts(
        [
            {"when": "count_drop_pct", "threshold": 20, "notify": [{"email": "ops@example.com"}]},
            {"when": "out_of_stock_over", "threshold": 50, "notify": [HOOK]},
            {"when": "run_held", "notify": [{**HOOK, "secret": "s3cret"}]},
        ]
    )
    assert alerts == [
        {"when": "count_drop_pct", "threshold": 20, "notify": [{"email": "ops@example.com"}]},
        {
            "when": "out_of_stock_over",
            "threshold": 50,
            "stock_field": "stock",
            "notify": [{**HOOK, "secret": None}],
        },
        {"when": "run_held", "notify": [{**HOOK, "secret": "s3cret"}]},
    ]
    assert validate_alerts(None) == []


def test_every_problem_is_named_by_its_index_and_field() -> None:
    refused = _refusal(
        [
            {"when": "run_held", "notify": [HOOK]},
            {"when": "count_drop_pct", "threshold": 120, "notify": [{"email": "not-an-address"}]},
            {"when": "stock_low", "notify": [HOOK]},
            {"when": "source_failed", "notify": []},
            {"when": "out_of_stock_over", "notify": [{"webhook": "ftp://x"}], "treshold": 5},
        ]
    )
    assert "alerts[1].threshold: must be a percentage" in refused.message
    assert "alerts[1].notify[0].email: 'not-an-address' is not an email address" in (
        refused.message
    )
    assert "alerts[2].when: must be one of count_drop_pct" in refused.message
    assert "alerts[3].notify: must list at least one" in refused.message
    assert "alerts[4].treshold: unknown" in refused.message
    assert "alerts[4].threshold: is required" in refused.message
    assert "alerts[4].notify[0].webhook: 'ftp://x' is not an http(s) URL" in refused.message
    assert set(refused.errors["alerts"]) == {1, 2, 3, 4}
    assert refused.errors["alerts"][1]["notify"][0]["email"]


def test_alerts_that_are_not_a_list_of_objects_are_refused() -> None:
    assert "must be a list" in _refusal({"when": "run_held"}).message
    assert "alerts[0]._schema" in _refusal(["run_held"]).message
    both = _refusal([{"when": "run_held", "notify": [{**HOOK, "email": "a@b.co"}]}])
    assert "alerts[0].notify[0]._schema" in both.message
    assert "threshold" in _refusal([{"when": "out_of_stock_over", "threshold": True}]).message


# --- evaluation -------------------------------------------------------------------------------


def test_a_count_drop_past_the_threshold_raises_an_alert() -> None:
    config = {"when": "count_drop_pct", "threshold": 20}
    assert _raised(config, records_after=750) == [
        "[syncfarm] Acme shop: catalog dropped 25 % (1000 → 750 records)"
    ]
    assert _raised(config, records_after=800) == []  # exactly 20 % is not more than 20 %
    assert _raised(config, records_after=1200) == []
    assert _raised(config, records_before=0, records_after=0) == []


def test_out_of_stock_over_the_threshold_raises_an_alert_for_its_stock_field() -> None:
    config = {"when": "out_of_stock_over", "threshold": 50, "stock_field": "qty"}
    assert _raised(config, out_of_stock={"qty": 51}) == [
        "[syncfarm] Acme shop: 51 records out of stock"
    ]
    assert _raised(config, out_of_stock={"qty": 50}) == []
    assert _raised(config, out_of_stock={"stock": 900}) == []


def test_a_failed_source_raises_an_alert_naming_it_and_its_error() -> None:
    alerts = validate_alerts([{"when": "source_failed", "notify": [HOOK]}])
    facts = _facts(failed_sources=[("ERP stock", "HTTP 503 from erp.example.com")])
    [alert] = evaluate_alerts(alerts, facts)
    assert alert.subject == "[syncfarm] Acme shop: source failed: ERP stock"
    assert "- ERP stock: HTTP 503 from erp.example.com" in alert.message
    assert evaluate_alerts(alerts, _facts()) == []


def test_a_held_run_raises_an_alert_with_its_reason() -> None:
    alerts = validate_alerts([{"when": "run_held", "notify": [HOOK]}])
    [alert] = evaluate_alerts(alerts, _facts(held=True, hold_reason="the feed is empty"))
    assert alert.when == "run_held" and "the feed is empty" in alert.message
    assert alert.payload()["project"] == {"id": "prj_1", "name": "Acme shop"}
    assert evaluate_alerts(alerts, _facts()) == []


def test_out_of_stock_counts_numbers_and_numeric_text_at_or_below_zero() -> None:
    records: list[dict[str, Any]] = [
        {"stock": 0},
        {"stock": "-1"},
        {"stock": "0,0"},
        {"stock": 4},
        {"stock": "n/a"},
        {},
    ]
    alerts = validate_alerts([{"when": "out_of_stock_over", "threshold": 1, "notify": [HOOK]}])
    assert count_out_of_stock(records, stock_fields(alerts)) == {"stock": 3}


# --- webhooks ---------------------------------------------------------------------------------


@pytest.fixture
def receiver() -> Iterator[dict[str, Any]]:
    """A local webhook receiver: keeps what it was sent; answers `status` after `delay_s`."""
    state: dict[str, Any] = {"received": [], "status": 204, "delay_s": 0.0}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state["received"].append((self.path, dict(self.headers), body))
            time.sleep(state["delay_s"])
            self.send_response(state["status"])
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state["url"] = f"http://127.0.0.1:{server.server_address[1]}/hooks/abc"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def _held_alert(*targets: dict[str, Any]) -> Any:
    alerts = validate_alerts([{"when": "run_held", "notify": list(targets)}])
    return evaluate_alerts(alerts, _facts(held=True, hold_reason="the feed is empty"))


def test_a_webhook_receives_the_alert_as_json_signed_with_its_secret(
    receiver: dict[str, Any],
) -> None:
    results = send_alerts(
        _held_alert({"webhook": receiver["url"], "secret": "s3cret"}), smtp_url=None
    )
    assert [(r.ok, r.status) for r in results] == [(True, 204)]
    [(path, headers, body)] = receiver["received"]
    assert path == "/hooks/abc" and headers["Content-Type"] == "application/json"
    expected = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert headers[SIGNATURE_HEADER] == f"sha256={expected}"
    payload = json.loads(body)
    assert payload["alert"] == "run_held" and payload["run_id"] == "run_1"
    assert payload["details"] == {"hold_reason": "the feed is empty"}


def test_a_webhook_without_a_secret_is_sent_unsigned(receiver: dict[str, Any]) -> None:
    send_alerts(_held_alert({"webhook": receiver["url"]}), smtp_url=None)
    [(_, headers, _)] = receiver["received"]
    assert SIGNATURE_HEADER not in headers


def test_slow_failing_and_unreachable_webhooks_come_back_as_results_not_errors(
    receiver: dict[str, Any],
) -> None:
    receiver["delay_s"] = 1.0
    dead = f"http://127.0.0.1:{free_port()}/hook"
    started = time.monotonic()
    results = send_alerts(
        _held_alert({"webhook": receiver["url"]}, {"webhook": dead}), smtp_url=None, timeout_s=0.3
    )
    assert time.monotonic() - started < 1.0
    assert [r.ok for r in results] == [False, False]
    assert "did not answer within 0.3 s" in (results[0].error or "")
    assert "could not reach http://127.0.0.1:" in (results[1].error or "")
    assert "/hook" not in (results[1].error or "")  # paths often hold tokens

    receiver["delay_s"] = 0.0
    receiver["status"] = 500
    [failed] = send_alerts(_held_alert({"webhook": receiver["url"]}), smtp_url=None)
    assert not failed.ok and failed.status == 500 and "HTTP 500" in (failed.error or "")


# --- email ------------------------------------------------------------------------------------


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], Message]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(
            (envelope.mail_from, list(envelope.rcpt_tos), message_from_bytes(envelope.content))
        )
        return "250 OK"


def _check_login(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"ops", b"p@ss")
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535


@pytest.fixture
def smtp_server() -> Iterator[tuple[str, _Inbox]]:
    inbox = _Inbox()
    port = free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=_check_login,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield f"smtp://127.0.0.1:{port}", inbox
    finally:
        controller.stop()


def test_an_email_alert_reaches_its_recipients_with_subject_and_body(
    smtp_server: tuple[str, _Inbox],
) -> None:
    url, inbox = smtp_server
    alerts = _held_alert({"email": "ops@example.com"}, {"email": "boss@example.com"})
    results = send_alerts(alerts, smtp_url=f"{url}?from=alerts@syncfarm.example")
    assert [(r.kind, r.target, r.ok) for r in results] == [
        ("email", "ops@example.com", True),
        ("email", "boss@example.com", True),
    ]
    assert [(sender, rcpt) for sender, rcpt, _ in inbox.messages] == [
        ("alerts@syncfarm.example", ["ops@example.com"]),
        ("alerts@syncfarm.example", ["boss@example.com"]),
    ]
    message = inbox.messages[0][2]
    assert message["Subject"] == "[syncfarm] Acme shop: run held"
    assert message["To"] == "ops@example.com"
    body = message.get_payload(decode=True)
    assert isinstance(body, bytes) and b"the feed is empty" in body


def test_an_email_alert_logs_in_with_the_credentials_of_the_smtp_url(
    smtp_server: tuple[str, _Inbox],
) -> None:
    url, inbox = smtp_server
    with_login = url.replace("smtp://", "smtp://ops:p%40ss@")
    [sent] = send_alerts(_held_alert({"email": "ops@example.com"}), smtp_url=with_login)
    assert sent.ok and len(inbox.messages) == 1
    wrong = url.replace("smtp://", "smtp://ops:wrong@")
    [refused] = send_alerts(_held_alert({"email": "ops@example.com"}), smtp_url=wrong)
    assert not refused.ok and "could not use the SMTP server" in (refused.error or "")
    assert "535" in (refused.error or "")


def test_email_without_an_smtp_server_is_a_clear_result_not_an_error() -> None:
    [result] = send_alerts(_held_alert({"email": "ops@example.com"}), smtp_url=None)
    assert not result.ok and "no SMTP server is configured" in (result.error or "")
    [bad] = send_alerts(_held_alert({"email": "ops@example.com"}), smtp_url="mailto:x")
    assert not bad.ok and "invalid SMTP URL" in (bad.error or "")


def test_an_unreachable_smtp_server_fails_every_email_once_without_raising() -> None:
    alerts = _held_alert({"email": "a@example.com"}, {"email": "b@example.com"})
    results = send_alerts(alerts, smtp_url=f"smtp://127.0.0.1:{free_port()}", timeout_s=1)
    assert [r.ok for r in results] == [False, False]
    assert all("could not use the SMTP server 127.0.0.1" in (r.error or "") for r in results)
