"""The catalog a file channel publishes: the project's records through the channel's rules.

Record hashes come from the record index (a few hundred documents), so a channel that keeps
its renderings reads from the records only those whose hash moved. When the run's commit says
what it changed (`CatalogDelta`), a channel whose renderings reflect the generation that commit
started from needs not even the hashes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from core.pipeline.changes import ChannelChanges
from core.pipeline.channel_view import rules_fingerprint
from core.pipeline.index import RecordIndex
from core.store import Store
from plugins.base import CatalogDelta, Record

READ_BATCH = 1000


class ChannelCatalog:
    """`plugins.base.Catalog` over the project's records for one channel."""

    def __init__(
        self,
        store: Store,
        project: dict[str, Any],
        channel: dict[str, Any],
        changes: ChannelChanges,
        held_back: set[str],
        index: dict[str, int] | None = None,
        delta: CatalogDelta | None = None,
        written: Callable[[], Iterable[tuple[str, Record, str]]] | None = None,
    ) -> None:
        """`written`: the records the commit of `delta` wrote (key, data, hex hash), read
        instead of the database for views of those records."""
        self.store = store
        self.index = index
        self._delta = delta
        self._written = written
        self._state: tuple[bool, str | None] | None = None
        self.project_id: str = project["_id"]
        self.changes = changes
        self.held_back = held_back
        self.rules_fingerprint = rules_fingerprint(project, channel)

    def hashes(self) -> dict[str, int] | None:
        """None while a commit is cut short: the index may not match the records then. The
        index this run's import just committed (`index`) is used as it is, not loaded again."""
        if self._commit_state()[0]:
            return None
        if self.index is not None:
            return self.index
        return RecordIndex(self.store, self.project_id).load()

    def generation(self) -> str | None:
        """The project's `index_generation`; None while a commit is cut short (the records
        may then be partly those of a generation not named yet) or on a project that has
        none yet."""
        cut_short, generation = self._commit_state()
        return None if cut_short else generation

    def _commit_state(self) -> tuple[bool, str | None]:
        """(a commit is cut short or the project is gone, its generation), read once: the
        project's commit does not move while its channels publish."""
        if self._state is None:
            project = self.store.projects.find_one(
                {"_id": self.project_id}, {"commit_run_id": 1, "index_generation": 1}
            )
            if project is None or project.get("commit_run_id"):
                self._state = (True, None)
            else:
                generation = project.get("index_generation")
                self._state = (False, None if generation is None else str(generation))
        return self._state

    def _from_written(self, keys: Sequence[str]) -> bool:
        """Whether every one of `keys` is a record this run's commit wrote."""
        if self._written is None or self._delta is None:
            return False
        changed = self._delta.changed
        return all(key in changed for key in keys)

    def delta(self) -> CatalogDelta | None:
        """What this run's commit changed, as the run handed it over."""
        return self._delta

    def views(self, keys: Sequence[str] | None = None) -> Iterator[tuple[str, int, Record | None]]:
        if keys is not None and self._from_written(keys):
            assert self._written is not None
            wanted = set(keys)
            for key, data, digest in self._written():
                if key in wanted:
                    yield key, int(digest, 16), self.changes.view(data)
            return
        if keys is None:
            cursor = self.store.records.find(
                {"project_id": self.project_id}, {"key": 1, "data": 1, "hash": 1}
            ).sort("_id", 1)
            for doc in cursor:
                yield doc["key"], int(doc["hash"], 16), self.changes.view(doc["data"])
            return
        for start in range(0, len(keys), READ_BATCH):
            ids = [f"{self.project_id}:{key}" for key in keys[start : start + READ_BATCH]]
            for doc in self.store.records.find(
                {"_id": {"$in": ids}}, {"key": 1, "data": 1, "hash": 1}
            ):
                yield doc["key"], int(doc["hash"], 16), self.changes.view(doc["data"])
