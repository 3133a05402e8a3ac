"""Which configured alerts a run's facts raise, and what each one says."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from core.alerts.facts import RunFacts


@dataclass(frozen=True)
class Alert:
    """A raised alert: a one-line `subject`, a plain-text `message`, the numbers behind it in
    `details`, and the `notify` targets of the config that raised it."""

    when: str
    project_id: str
    project_name: str
    run_id: str
    subject: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)
    notify: list[dict[str, Any]] = field(default_factory=list)

    def payload(self) -> dict[str, Any]:
        """The JSON body a webhook receives."""
        return {
            "alert": self.when,
            "project": {"id": self.project_id, "name": self.project_name},
            "run_id": self.run_id,
            "subject": self.subject,
            "message": self.message,
            "details": self.details,
        }


# what a condition says when it holds: (subject, message, details), or None
_Finding = tuple[str, str, dict[str, Any]] | None


def evaluate_alerts(alerts: list[dict[str, Any]], facts: RunFacts) -> list[Alert]:
    """The alerts (validated configs) that `facts` raise, in their configured order."""
    raised = []
    for config in alerts:
        finding = _CHECKS[config["when"]](config, facts)
        if finding is None:
            continue
        subject, message, details = finding
        raised.append(
            Alert(
                when=config["when"],
                project_id=facts.project_id,
                project_name=facts.project_name,
                run_id=facts.run_id,
                subject=f"[syncfarm] {_one_line(facts.project_name)}: {subject}",
                message=f"{message}\n\nProject: {facts.project_name} ({facts.project_id})\n"
                f"Run: {facts.run_id}\n",
                details=details,
                notify=list(config["notify"]),
            )
        )
    return raised


def _count_drop(config: dict[str, Any], facts: RunFacts) -> _Finding:
    before, after = facts.records_before, facts.records_after
    if before <= 0 or after >= before:
        return None
    drop_pct = (before - after) * 100 / before
    if drop_pct <= config["threshold"]:
        return None
    return (
        f"catalog dropped {drop_pct:.0f} % ({before} → {after} records)",
        f"The catalog has {after} records after this run's import, {before - after} fewer than "
        f"the {before} before: a drop of {drop_pct:.1f} %, more than the alert's "
        f"{config['threshold']} %. Check the source feed.",
        {"records_before": before, "records_after": after, "drop_pct": round(drop_pct, 2)},
    )


def _out_of_stock(config: dict[str, Any], facts: RunFacts) -> _Finding:
    field_name = config["stock_field"]
    count = facts.out_of_stock.get(field_name)
    if count is None or count <= config["threshold"]:
        return None
    return (
        f"{count} records out of stock",
        f"{count} of {facts.records_after} records have {field_name!r} at 0 or below, more "
        f"than the alert's {config['threshold']}.",
        {"out_of_stock": count, "stock_field": field_name, "records": facts.records_after},
    )


def _source_failed(config: dict[str, Any], facts: RunFacts) -> _Finding:
    if not facts.failed_sources:
        return None
    names = ", ".join(name for name, _ in facts.failed_sources)
    lines = "\n".join(f"- {name}: {error}" for name, error in facts.failed_sources)
    return (
        f"source failed: {_one_line(names)}",
        f"These sources could not be imported:\n{lines}",
        {"failed_sources": [{"name": n, "error": e} for n, e in facts.failed_sources]},
    )


def _run_held(config: dict[str, Any], facts: RunFacts) -> _Finding:
    if not facts.held:
        return None
    reason = facts.hold_reason or "no reason was given"
    return (
        "run held",
        f"The run was held (a safety stop): nothing was changed or exported.\n{reason}",
        {"hold_reason": facts.hold_reason},
    )


def _one_line(text: str) -> str:
    """Text fit for a subject line: header injection needs a line break."""
    return " ".join(text.split())


_CHECKS: dict[str, Callable[[dict[str, Any], RunFacts], _Finding]] = {
    "count_drop_pct": _count_drop,
    "out_of_stock_over": _out_of_stock,
    "source_failed": _source_failed,
    "run_held": _run_held,
}
