"""The run of a `task` job: a connector task as one stage, then its follow-up (a check
stage that found work) or its results run (a channel whose platform answers later)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

from core import runs as runs_service
from core.documents import ProjectDocuments
from core.errors import ConnectorError, Invalid
from core.models import Trigger
from core.pipeline.changes import ChannelChanges
from core.pipeline.exporter import FencedExporter
from core.pipeline.tasks import TaskState
from core.store import Store
from plugins.base import ChangeResult, Connector, Record, TaskContext

#: sends a run to the workers, after a delay in ms (None: now)
SubmitRun = Callable[[dict[str, Any], int | None], None]


def queue_results(
    store: Store, job: dict[str, Any], delay_s: float, submit: SubmitRun | None
) -> None:
    """Ask for a channel's deferred results later, as a run of its results job."""
    run = runs_service.claim_run(store, job, Trigger.PARENT, while_running=True)
    if run is not None and submit is not None:
        submit(run, int(delay_s * 1000))


@dataclass
class TaskRun:
    """What a task run works with: the run's documents, and from its `RunExecution` how to
    build a connector, record a stage, check the run still holds its project (`guard`) and
    send a follow-up run."""

    store: Store
    project: dict[str, Any]
    job: dict[str, Any]
    run_id: str
    key_field: str
    connector_for: Callable[[dict[str, Any]], Connector]
    stage: Callable[[str, Callable[[], dict[str, int]]], dict[str, int]]
    guard: Callable[[], None]
    submit: SubmitRun | None

    def execute(self, connections: list[dict[str, Any]]) -> None:
        """Run the job's task as one stage, then queue its follow-up or results run."""
        name = self.job.get("task") or ""
        connection = next(
            (c for c in connections if c["_id"] == self.job.get("connection_id")), None
        )
        if connection is None:
            raise ConnectorError("the task's connection is missing or paused")
        connector = self.connector_for(connection)
        task = connector.task(name)
        if task is None:
            raise Invalid(f"connector {connection['connector']!r} has no task {name!r}")

        def records() -> Iterator[Record]:
            for doc in self.store.records.find({"project_id": self.project["_id"]}, {"data": 1}):
                yield doc["data"]

        context = TaskContext(
            records=records,
            state=TaskState(self.store, connection["_id"]),
            documents=partial(
                ProjectDocuments, self.store, self.project["_id"], connection_id=connection["_id"]
            ),
        )
        if connector.results_task == name:
            self._results_context(context, connection)

        def work() -> dict[str, int]:
            result = connector.run_task(name, context)
            return {"count": result.count, **result.counts}

        count = self.stage(f"task:{name}", work).get("count", 0)
        if task.follow_up and count > 0:
            self._queue_follow_up(task.follow_up)
        if connector.results_task == name and count > 0:
            queue_results(self.store, self.job, connector.results_poll_s, self.submit)

    def _results_context(self, context: TaskContext, channel: dict[str, Any]) -> None:
        exporter = FencedExporter(
            self.guard,
            self.store,
            self.project,
            connector_for=self.connector_for,
            key_field=self.key_field,
            run_id=self.run_id,
        )
        changes = ChannelChanges(self.store, self.project, channel, self.key_field)

        def report(results: Iterable[ChangeResult]) -> None:
            given = list(results)
            sending = changes.sending(r.key for r in given)
            exporter.settle(
                channel,
                changes,
                [
                    (sending[r.key], bool(r.ok), r.code, r.message)
                    for r in given
                    if r.key in sending and r.ok is not None
                ],
            )

        context.submissions = changes.submissions
        context.report = report

    def _queue_follow_up(self, follow_up: str) -> None:
        child = self.store.jobs.find_one(
            {"project_id": self.project["_id"], "parent_job_id": self.job["_id"]}
        )
        if child is None or child.get("task") != follow_up:
            raise Invalid(f"the follow-up job {follow_up!r} of job {self.job['_id']!r} is missing")
        run = runs_service.claim_run(self.store, child, Trigger.PARENT)
        if run is not None and self.submit is not None:
            self.submit(run, None)
