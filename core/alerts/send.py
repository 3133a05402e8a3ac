"""Sending raised alerts to their targets. Delivery never fails the run: every failure comes
back as a `DeliveryResult` (and is logged), never as an exception.

Webhooks are posted in parallel and all emails go through one SMTP session, so a run waits
for alerts about one `timeout_s` however many targets are slow, not the sum of them.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from core.alerts.delivery import DeliveryResult
from core.alerts.evaluate import Alert
from core.alerts.smtp import Mailer, SmtpServer
from core.alerts.webhook import post_alert, redacted

log = logging.getLogger(__name__)
MAX_PARALLEL_WEBHOOKS = 8
NO_SMTP = (
    "no SMTP server is configured, so email alerts cannot be sent; set SYNCFARM_SMTP_URL "
    "(smtp://user:password@host:port?from=alerts@example.com)"
)


def send_alerts(
    alerts: list[Alert], *, smtp_url: str | None, timeout_s: float = 10
) -> list[DeliveryResult]:
    """Deliver each alert to each of its targets; one result per (alert, target), in order."""
    jobs = [(alert, target) for alert in alerts for target in alert.notify]
    results: list[DeliveryResult | None] = [None] * len(jobs)
    webhooks = [i for i, (_, target) in enumerate(jobs) if "webhook" in target]
    emails = [i for i, (_, target) in enumerate(jobs) if "email" in target]
    with ThreadPoolExecutor(max_workers=MAX_PARALLEL_WEBHOOKS) as pool:
        futures = {i: pool.submit(post_alert, *jobs[i], timeout_s=timeout_s) for i in webhooks}
        sent = _send_emails([jobs[i] for i in emails], smtp_url, timeout_s)
        for i, result in zip(emails, sent, strict=True):
            results[i] = result
        for i, future in futures.items():
            try:
                results[i] = future.result()
            except Exception as exc:  # a bug must not fail the run either
                log.exception("webhook delivery crashed")
                alert, target = jobs[i]
                results[i] = DeliveryResult(
                    alert.when, "webhook", target["webhook"], False, repr(exc)
                )
    delivered = [r for r in results if r is not None]
    for result in delivered:
        if not result.ok:
            where = redacted(result.target) if result.kind == "webhook" else result.target
            log.warning(
                "alert %s to %s %s failed: %s", result.alert, result.kind, where, result.error
            )
    return delivered


def _send_emails(
    jobs: list[tuple[Alert, dict[str, object]]], smtp_url: str | None, timeout_s: float
) -> list[DeliveryResult]:
    def failed(alert: Alert, target: dict[str, object], error: str) -> DeliveryResult:
        return DeliveryResult(alert.when, "email", str(target["email"]), False, error)

    if not jobs:
        return []
    if not smtp_url:
        return [failed(alert, target, NO_SMTP) for alert, target in jobs]
    try:
        server = SmtpServer.from_url(smtp_url)
    except ValueError as exc:
        return [failed(alert, target, f"invalid SMTP URL: {exc}") for alert, target in jobs]
    mailer = Mailer(server, timeout_s=timeout_s)
    results = []
    try:
        for alert, target in jobs:
            try:
                results.append(mailer.send(alert, target))
            except Exception as exc:  # a bug must not fail the run either
                log.exception("email delivery crashed")
                results.append(failed(alert, target, repr(exc)))
    finally:
        mailer.close()
    return results
