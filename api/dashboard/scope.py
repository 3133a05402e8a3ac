"""What the logged-in tenant may see: its own projects, or every project for an operator.

Another tenant's project or run is answered exactly like an unknown one (404), as in the API.
"""

from __future__ import annotations

from typing import Any

from flask import g

from api import services
from core.errors import NotFound
from core.projects import get_project
from core.runs import get_run


def tenant() -> dict[str, Any]:
    value: dict[str, Any] = g.tenant
    return value


def is_operator() -> bool:
    return bool(tenant().get("admin"))


def projects_query() -> dict[str, Any]:
    return {} if is_operator() else {"tenant_id": tenant()["_id"]}


def project(project_id: str) -> dict[str, Any]:
    if not is_operator():
        return get_project(services.store(), tenant()["_id"], project_id)
    found: dict[str, Any] | None = services.store().projects.find_one({"_id": project_id})
    if found is None:
        raise NotFound(f"project {project_id!r} not found")
    return found


def owner(project: dict[str, Any]) -> dict[str, Any]:
    """The tenant owning `project`: its plan sets the limits, whoever makes the change."""
    if project["tenant_id"] == tenant()["_id"]:
        return tenant()
    found: dict[str, Any] | None = services.store().tenants.find_one({"_id": project["tenant_id"]})
    if found is None:
        raise NotFound(f"the tenant of project {project['_id']!r} no longer exists")
    return found


def run(run_id: str) -> dict[str, Any]:
    if not is_operator():
        return get_run(services.store(), tenant()["_id"], run_id)
    found: dict[str, Any] | None = services.store().runs.find_one({"_id": run_id})
    if found is None:
        raise NotFound(f"run {run_id!r} not found")
    return found
