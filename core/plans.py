"""Plans: what a tenant may do. A plan caps projects and scheduled runs a day per project."""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import Invalid


@dataclass(frozen=True)
class Plan:
    name: str
    max_projects: int | None
    max_scheduled_runs_per_day: int | None  # per project; None means no cap


PLANS: dict[str, Plan] = {
    plan.name: plan
    for plan in (
        Plan("free", max_projects=3, max_scheduled_runs_per_day=24),
        Plan("standard", max_projects=100, max_scheduled_runs_per_day=288),
        Plan("pro", max_projects=1000, max_scheduled_runs_per_day=1440),
        Plan("unlimited", max_projects=None, max_scheduled_runs_per_day=None),
    )
}
DEFAULT_PLAN = "standard"


def get_plan(name: str) -> Plan:
    try:
        return PLANS[name]
    except KeyError:
        raise Invalid(
            f"unknown plan {name!r}; choose one of {', '.join(PLANS)}",
            errors={"plan": [f"must be one of {', '.join(PLANS)}"]},
        ) from None
