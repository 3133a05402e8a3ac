"""What the ingest benchmark measures besides time: database traffic, memory and CPU.

Database traffic is counted on the wire with a pymongo `CommandListener` (nx-27017), or by
wrapping the store's collections (mongomock, which has no wire). Memory is a process's peak
resident set: `VmHWM` of a fresh process (exact), or `VmRSS` sampled every 50 ms by a thread
(when the run must share the process, and for the database server's process).
"""

from __future__ import annotations

import os
import resource
import threading
import time
from collections import Counter
from collections.abc import Iterable
from typing import Any

from pymongo import monitoring

from core.store import COLLECTIONS, Store

SAMPLE_EVERY_S = 0.05
_WRITE_FIELDS = {"insert": "documents", "update": "updates", "delete": "deletes"}
_READ_COMMANDS = frozenset({"find", "getMore", "aggregate"})


class Traffic:
    """Database commands and documents, by direction; documents written also by collection."""

    def __init__(self) -> None:
        self.write_commands = 0
        self.written: Counter[str] = Counter()
        self.read_commands = 0
        self.docs_read: int | None = 0

    def wrote(self, collection: str, documents: int) -> None:
        self.write_commands += 1
        self.written[collection] += documents

    def as_dict(self) -> dict[str, Any]:
        return {
            "write_commands": self.write_commands,
            "written": dict(self.written),
            "read_commands": self.read_commands,
            "docs_read": self.docs_read,
        }


class WireCounter(monitoring.CommandListener):
    """Counts what a pymongo client sends: a bulk write of 1,000 replacements is one command
    and 1,000 documents written."""

    def __init__(self) -> None:
        self.traffic = Traffic()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        name = event.command_name
        field = _WRITE_FIELDS.get(name)
        if field is not None:
            self.traffic.wrote(str(event.command[name]), len(event.command.get(field) or ()))
        elif name == "findAndModify":
            self.traffic.wrote(str(event.command[name]), 1)
        elif name in _READ_COMMANDS:
            self.traffic.read_commands += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        if event.command_name in _READ_COMMANDS and self.traffic.docs_read is not None:
            cursor = event.reply.get("cursor") or {}
            batch = cursor.get("firstBatch", cursor.get("nextBatch")) or ()
            self.traffic.docs_read += len(batch)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


class _CountingCollection:
    """A collection that counts its writes (for mongomock); everything else passes through."""

    def __init__(self, collection: Any, name: str, traffic: Traffic) -> None:
        self._collection = collection
        self._name = name
        self._traffic = traffic

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._collection, attribute)

    def _one(self, method: str, *args: Any, **kwargs: Any) -> Any:
        self._traffic.wrote(self._name, 1)
        return getattr(self._collection, method)(*args, **kwargs)

    def insert_one(self, *args: Any, **kwargs: Any) -> Any:
        return self._one("insert_one", *args, **kwargs)

    def update_one(self, *args: Any, **kwargs: Any) -> Any:
        return self._one("update_one", *args, **kwargs)

    def replace_one(self, *args: Any, **kwargs: Any) -> Any:
        return self._one("replace_one", *args, **kwargs)

    def delete_one(self, *args: Any, **kwargs: Any) -> Any:
        return self._one("delete_one", *args, **kwargs)

    def update_many(self, *args: Any, **kwargs: Any) -> Any:
        return self._one("update_many", *args, **kwargs)

    def delete_many(self, *args: Any, **kwargs: Any) -> Any:
        return self._one("delete_many", *args, **kwargs)

    def insert_many(self, documents: Iterable[Any], *args: Any, **kwargs: Any) -> Any:
        documents = list(documents)
        self._traffic.wrote(self._name, len(documents))
        return self._collection.insert_many(documents, *args, **kwargs)

    def bulk_write(self, requests: Iterable[Any], *args: Any, **kwargs: Any) -> Any:
        requests = list(requests)
        self._traffic.wrote(self._name, len(requests))
        return self._collection.bulk_write(requests, *args, **kwargs)


def count_writes(store: Store) -> Traffic:
    """Make `store` count its writes (statements, not matched documents); reads are not
    counted this way."""
    traffic = Traffic()
    traffic.docs_read = None
    for name in COLLECTIONS:
        setattr(store, name, _CountingCollection(getattr(store, name), name, traffic))
    return traffic


# --- memory and CPU ------------------------------------------------------------------------


def status_mb(field: str, pid: int | str = "self") -> float:
    """A `/proc/<pid>/status` memory field (VmRSS, VmHWM) in MB; 0 when the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds a process (all its threads) has used so far."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class RssSampler:
    """The highest `VmRSS` of a process seen while the sampler runs (a context manager);
    `samples` keeps (epoch ms, MB) of each reading, to tell the peak of each stage of a run."""

    def __init__(self, pid: int | str = "self") -> None:
        self.pid = pid
        self.peak_mb = 0.0
        self.samples: list[tuple[int, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while True:
            rss = status_mb("VmRSS", self.pid)
            self.samples.append((int(time.time() * 1000), rss))
            self.peak_mb = max(self.peak_mb, rss)
            if self._stop.wait(SAMPLE_EVERY_S):
                return

    def peak_between(self, start_ms: int, end_ms: int) -> float | None:
        inside = [rss for at, rss in self.samples if start_ms <= at <= end_ms]
        return max(inside) if inside else None

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, status_mb("VmRSS", self.pid))
