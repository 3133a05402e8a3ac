"""A run's work: import sources, build the project database and changes, export, tasks."""

from core.pipeline.execution import RunExecution
from core.pipeline.hashing import content_hash

__all__ = ["RunExecution", "content_hash"]
