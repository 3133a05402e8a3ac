"""Dramatiq middleware of the worker process."""

from worker.middleware.project_mutex import ProjectMutex, ProjectMutexUnavailable

__all__ = ["ProjectMutex", "ProjectMutexUnavailable"]
