"""Alerts: conditions a project watches after each run's import, and their delivery.

    alerts = validate_alerts(project["alerts"])          # when a project is saved
    raised = evaluate_alerts(alerts, RunFacts(...))       # pure
    results = send_alerts(raised, smtp_url=..., timeout_s=10)   # never raises

`config` holds the grammar of an alert, `evaluate` the conditions, `webhook` and `smtp` the
two ways an alert is delivered.
"""

from __future__ import annotations

from core.alerts.config import CONDITIONS, validate_alerts
from core.alerts.delivery import DeliveryResult
from core.alerts.evaluate import Alert, evaluate_alerts
from core.alerts.facts import RunFacts, count_out_of_stock, stock_fields
from core.alerts.send import send_alerts
from core.alerts.webhook import SIGNATURE_HEADER, signature

__all__ = [
    "CONDITIONS",
    "SIGNATURE_HEADER",
    "Alert",
    "DeliveryResult",
    "RunFacts",
    "count_out_of_stock",
    "evaluate_alerts",
    "send_alerts",
    "signature",
    "stock_fields",
    "validate_alerts",
]
