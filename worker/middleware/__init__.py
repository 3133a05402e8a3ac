"""Dramatiq middleware of the worker process."""

from worker.middleware.project_mutex import (
    Lease,
    ProjectMutex,
    ProjectMutexUnavailable,
    current_lease,
)

__all__ = ["Lease", "ProjectMutex", "ProjectMutexUnavailable", "current_lease"]
