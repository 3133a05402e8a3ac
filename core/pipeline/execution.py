"""What a run does, stage by stage, in DESIGN.md's order: import (primary, secondary, combined
sources), build the project database and every channel's changes, file channels, then API
channels in their order; or one connector task. Each stage records its timings and counts.

A run carrying a fencing token (core/runs.py) checks that it still holds its project before
every stage, progress report, commit and batch of acknowledgements: a worker that stalled past
its lease stops with RunFencedOut at its next write instead of overwriting a later run's work.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

from core import jobs as jobs_service
from core import runs as runs_service
from core.alerts import RunFacts, count_out_of_stock, evaluate_alerts, send_alerts, stock_fields
from core.clock import now_ms
from core.config import Settings
from core.connections import CHANNEL_ROLE, project_connections, readable_settings
from core.errors import ConnectorError, RunHeld
from core.issues import WHOLE_SOURCE, clear_issues, record_issues
from core.maintenance import run_integrity
from core.models import JobKind, Trigger
from core.pipeline.changes import ChannelChanges
from core.pipeline.exporter import Deferred, FencedExporter
from core.pipeline.importer import Importer, ImportResult
from core.pipeline.rawindex import raw_index_dir
from core.pipeline.task_run import SubmitRun, TaskRun, queue_results
from core.pipeline.tasks import TaskState
from core.store import Store
from plugins.base import (
    CatalogDelta,
    Connector,
    ConnectorContext,
    Record,
)
from plugins.registry import UnknownConnector, get_connector

PROGRESS_EVERY_S = 1.0


def _nothing() -> None:
    return None


class RunExecution:
    """Executes one run. `submit` sends a follow-up run (a task's as-needed stage)."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        run: dict[str, Any],
        *,
        submit: SubmitRun | None = None,
        project: dict[str, Any] | None = None,
        job: dict[str, Any] | None = None,
    ) -> None:
        """`project` and `job`, when given, are the run's documents as just read (by
        `core.runs.begin_run`), so they are not read again."""
        self.store = store
        self.settings = settings
        self.run = run
        self.submit = submit
        self.stages: list[dict[str, Any]] = []
        #: the record index (key → hash) this run's import committed, handed to the export
        self.index: dict[str, int] | None = None
        #: what this run's commit changed, when known, for the file channels' publications
        self.delta: CatalogDelta | None = None
        #: the records the commit wrote (key, data, hex hash), while the export may read them
        self.written: Callable[[], Iterable[tuple[str, Record, str]]] | None = None
        #: changes the commit left for the file channels this run publishes (`Deferred`)
        self.deferred: Deferred | None = None
        self._spool_close: Callable[[], None] = _nothing
        self._progress_saved_at = 0.0
        if project is None:
            project = store.projects.find_one({"_id": run["project_id"]})
        if job is None:
            job = store.jobs.find_one({"_id": run["job_id"]})
        self.project: dict[str, Any] = project or {}
        self.job: dict[str, Any] = job or {}
        self.workdir = Path(settings.data_dir) / "tmp" / run["_id"]

    def execute(self) -> None:
        if not self.project:
            raise ConnectorError("the project of this run no longer exists")
        kind = JobKind(self.run["job_kind"])
        self.all_connections = project_connections(self.store, self.project["_id"])
        connections = [c for c in self.all_connections if not c["paused"]]
        if kind == JobKind.INTEGRITY:
            pid = self.project["_id"]
            self._stage("integrity", lambda: run_integrity(self.store, project_id=pid).counts())
            return
        if kind == JobKind.TASK:
            TaskRun(
                self.store,
                self.project,
                self.job,
                self.run["_id"],
                self._key_field(self.all_connections),
                connector_for=self._connector,
                stage=self._stage,
                guard=self._guard,
                submit=self.submit,
            ).execute(connections)
            return
        try:
            if kind in (JobKind.SYNC, JobKind.FETCH):
                self._import(connections)
            if kind in (JobKind.SYNC, JobKind.SEND):
                self._export(connections)
        finally:
            self._spool_close()

    # --- stages -----------------------------------------------------------------------------

    def _stage(self, name: str, work: Callable[[], dict[str, int]]) -> dict[str, int]:
        """Run `work` as a stage recorded in the run, with its timings; returns its counts."""
        stage: dict[str, Any] = {
            "name": name,
            "started_at": now_ms(),
            "finished_at": None,
            "counts": {},
        }
        self.stages.append(stage)
        runs_service.save_stages(self.store, self.run, self.stages)
        try:
            stage["counts"] = work()
        finally:
            stage["finished_at"] = now_ms()
            runs_service.save_stages(self.store, self.run, self.stages)
        return stage["counts"]  # type: ignore[no-any-return]

    def _progress(self, done: int, total: int | None) -> None:
        """Saved at most once a second (and when a stage's total is reached): progress must
        not cost writes in proportion to the catalog."""
        now = time.monotonic()
        if now - self._progress_saved_at < PROGRESS_EVERY_S and done != total:
            return
        self._progress_saved_at = now
        runs_service.save_progress(
            self.store,
            self.run,
            {
                "stage": self.stages[-1]["name"] if self.stages else None,
                "done": done,
                "total": total,
            },
        )

    def _connector(self, connection: dict[str, Any]) -> Connector:
        cls = get_connector(connection["connector"])
        context = ConnectorContext(
            project_id=self.project["_id"],
            connection_id=connection["_id"],
            data_dir=self.settings.data_dir,
            http_timeout_s=self.settings.http_timeout_s,
            export_token=connection.get("export_token"),
            progress=self._progress,
            state=TaskState(self.store, connection["_id"]),
            redis_url=self.settings.redis_url,
        )
        return cls(readable_settings(connection), context)

    def _key_field(self, connections: list[dict[str, Any]]) -> str:
        source = next((c for c in connections if c["role"] == "source"), None)
        return str(source["settings"].get("key", "sku")) if source else "sku"

    # --- import -----------------------------------------------------------------------------

    def _import(self, connections: list[dict[str, Any]]) -> None:
        importer = Importer(
            self.store,
            self.project,
            connections,
            connector_for=self._connector,
            progress=self._progress,
            workdir=self.workdir,
            cache_dir=raw_index_dir(self.settings.data_dir, self.project["_id"]),
        )
        sources = [c for c in connections if c["role"] in ("source", "secondary", "combined")]
        result: ImportResult | None = None

        def read() -> dict[str, int]:
            nonlocal result
            try:
                result = importer.read()
            except ConnectorError as exc:
                source = next((c for c in sources if c["role"] == "source"), None)
                if source is not None:
                    record_issues(
                        self.store,
                        self.project["_id"],
                        source["_id"],
                        [(WHOLE_SOURCE, "feed_invalid", exc.message)],
                        run_id=self.run["_id"],
                    )
                self._alert(failed_sources=[(source["name"] if source else "?", exc.message)])
                raise
            except RunHeld as exc:
                self._alert(held=True, hold_reason=exc.message)
                raise
            for source in sources:
                clear_issues(self.store, source["_id"], [WHOLE_SOURCE])
            return result.counts

        self._stage("import", read)
        assert result is not None
        done = result
        self._spool_close = done.spool.close  # the export may read it (`self.deferred`)
        self._stage("database", lambda: self._commit(importer, done, connections))
        self.index = done.hashes
        if done.changed is not None:
            self.delta = CatalogDelta(
                done.generation_before, done.generation_after, done.changed, done.deleted
            )
        if self.deferred is None:
            done.spool.close()
        else:  # file channels publishing now read the changed records from it
            self.written = done.spool.__iter__
        after = done.before + done.counts["inserted"] - done.counts["deleted"]
        self._alert(records_before=done.before, records_after=after)

    def _alert(self, **facts: Any) -> None:
        """Evaluate the project's alerts on what this run found, and deliver those raised; a
        failed delivery is counted in the `alerts` stage, never fails the run."""
        alerts = self.project.get("alerts") or []
        if not alerts:
            return
        fields = stock_fields(alerts)
        out_of_stock: dict[str, int] = {}
        if fields and "records_after" in facts:
            docs = self.store.records.find({"project_id": self.project["_id"]}, {"data": 1})
            out_of_stock = count_out_of_stock((d["data"] for d in docs), fields)
        run_facts = RunFacts(
            project_id=self.project["_id"],
            project_name=self.project["name"],
            run_id=self.run["_id"],
            records_before=facts.pop("records_before", 0),
            records_after=facts.pop("records_after", 0),
            out_of_stock=out_of_stock,
            **facts,
        )

        def deliver() -> dict[str, int]:
            raised = evaluate_alerts(alerts, run_facts)
            results = send_alerts(raised, smtp_url=self.settings.smtp_url)
            delivered = sum(1 for r in results if r.ok)
            return {
                "raised": len(raised),
                "delivered": delivered,
                "failed": len(results) - delivered,
            }

        self._stage("alerts", deliver)

    def _guard(self) -> None:
        """Raise RunFencedOut when a later run holds the project (see core/runs.py)."""
        runs_service.check_fence(self.store, self.run)

    def _commit(
        self, importer: Importer, result: ImportResult, connections: list[dict[str, Any]]
    ) -> dict[str, int]:
        if self.run.get("fence") is not None:
            # The commit starts only while the run holds the project's highest fence: marking
            # the project as committing is conditional on it, in one atomic write.
            marked = self.store.projects.update_one(
                {"_id": self.project["_id"], "fence": self.run["fence"]},
                {"$set": {"commit_run_id": self.run["_id"]}},
            )
            if marked.matched_count != 1:
                self._guard()
        counts = importer.commit(result, self.run["_id"])
        key_field = self._key_field(connections)
        full = result.recovering or bool(self.project.get("full_rescan"))
        changed = result.spool.count > 0 or bool(result.deleted)
        publishing = self._file_channels_published(connections) if changed else set()
        deferred: set[str] = set()
        recomputed: set[str] = set()
        # Paused channels keep their changes up to date too, to send them once resumed.
        for channel in self._channels(self.all_connections, all_channels=True):
            self._guard()
            changes = ChannelChanges(self.store, self.project, channel, key_field)
            everything = full or changes.needs_recompute()
            if channel["_id"] in publishing and changes.can_defer():
                # written once the file is published, as done (see Exporter.export_file)
                changes.defer(self.run["_id"])
                deferred.add(channel["_id"])
                if everything:
                    recomputed.add(channel["_id"])
                continue
            if everything:
                found = changes.recompute(keys=result.hashes)
            else:
                found = changes.update(self._changed_items(result))
            for op in ("insert", "update", "delete"):
                counts[f"changes_{op}"] = counts.get(f"changes_{op}", 0) + found[op]
        if deferred:
            self.deferred = Deferred(deferred, partial(self._changed_items, result), recomputed)
        self._guard()
        importer.finish_commit(result)
        if self.project.get("full_rescan"):
            self.store.projects.update_one(
                {"_id": self.project["_id"]}, {"$set": {"full_rescan": False}}
            )
        return counts

    def _file_channels_published(self, connections: list[dict[str, Any]]) -> set[str]:
        """The file channels this run publishes right after its commit."""
        if self.run["job_kind"] != JobKind.SYNC:
            return set()
        found = set()
        for channel in self._channels(connections):
            try:
                if get_connector(channel["connector"]).channel_kind == "file":
                    found.add(channel["_id"])
            except UnknownConnector:
                continue  # left out of the export, with an issue
        return found

    @staticmethod
    def _changed_items(result: ImportResult) -> Iterator[tuple[str, Record | None]]:
        for key, data, _ in result.spool:
            yield key, data
        for key in result.deleted:
            yield key, None

    # --- export -----------------------------------------------------------------------------

    def _channels(
        self, connections: list[dict[str, Any]], *, all_channels: bool = False
    ) -> list[dict[str, Any]]:
        channels = [
            c
            for c in connections
            if c["role"] == CHANNEL_ROLE and self._kind_of(c) in ("file", "api")
        ]
        scope = self.job.get("connection_id")
        if scope and not all_channels and any(c["_id"] == scope for c in channels):
            channels = [c for c in channels if c["_id"] == scope]
        return channels

    def _kind_of(self, channel: dict[str, Any]) -> str | None:
        """The channel's kind; a channel whose connector is not installed (any more) is left
        out of the run, with an issue saying so, instead of failing the whole project."""
        try:
            return get_connector(channel["connector"]).channel_kind
        except UnknownConnector as exc:
            record_issues(
                self.store,
                self.project["_id"],
                channel["_id"],
                [(WHOLE_SOURCE, "connector_missing", exc.message)],
                run_id=self.run["_id"],
            )
            return None

    def _export(self, connections: list[dict[str, Any]]) -> None:
        exporter = FencedExporter(
            self._guard,
            self.store,
            self.project,
            connector_for=self._connector,
            key_field=self._key_field(connections),
            run_id=self.run["_id"],
            retry_every_failed=self.run["trigger"] == Trigger.CLEANUP,
            index=self.index,
            delta=self.delta,
            written=self.written,
            deferred=self.deferred,
        )
        channels = self._channels(connections)
        kinds = {c["_id"]: self._kind_of(c) for c in channels}
        files = [c for c in channels if kinds[c["_id"]] == "file"]
        try:
            for channel in files:
                self._stage(f"export:{channel['name']}", partial(exporter.export_file, channel))
        except Exception:
            exporter.write_deferred(files)  # those not published get their changes pending
            raise
        for channel in (c for c in channels if kinds[c["_id"]] == "api"):
            try:
                self._stage(f"send:{channel['name']}", partial(exporter.send, channel))
            except Exception:
                exporter.back_off(channel)
                raise
            connector = get_connector(channel["connector"])
            still_sending = self.store.changes.find_one(
                {"connection_id": channel["_id"], "state": "sending"}, {"_id": 1}
            )
            if connector.results_task and still_sending:
                job = jobs_service.results_job(
                    self.store, self.project, channel, connector.results_task
                )
                queue_results(self.store, job, connector.results_poll_s, self.submit)
