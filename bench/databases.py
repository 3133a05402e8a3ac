"""The databases the ingest benchmark runs against: an nx-27017 of its own, or mongomock."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pymongo


def mongomock_client() -> Any:
    """An in-process mongomock client (imported only when asked for: a dev dependency)."""
    import mongomock
    from mongomock.collection import BulkOperationBuilder

    for name in ("add_update", "add_replace"):  # pymongo 4.11+ passes `sort`; mongomock 4.3 not
        original = getattr(BulkOperationBuilder, name)

        def without_sort(self: Any, *args: Any, _original: Any = original, **kw: Any) -> Any:
            kw.pop("sort", None)
            return _original(self, *args, **kw)

        setattr(BulkOperationBuilder, name, without_sort)
    return mongomock.MongoClient(tz_aware=True)


@contextmanager
def work_folder(name: str, *, keep: bool = False) -> Iterator[Path]:
    """A benchmark's temporary folder (its database, feeds, workers' logs), removed on the way
    out unless `keep`, in which case its path is printed to be looked at."""
    folder = Path(tempfile.mkdtemp(prefix=f"syncfarm-bench-{name}-"))
    try:
        yield folder
    finally:
        if keep:
            print(f"kept {folder}", file=sys.stderr)
        else:
            shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def nx_server(workdir: Path) -> Iterator[tuple[str, int]]:
    """An nx-27017 of the benchmark's own, on a free port, stopped on the way out."""
    exe = shutil.which("nx-27017") or str(Path(sys.executable).with_name("nx-27017"))
    data = workdir / "nx"
    data.mkdir()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    command = [exe, "--data-dir", str(data), "--host", "127.0.0.1", "-p", str(port)]
    command += ["--log-file", str(data / "nx.log"), "--pid-file", str(data / "nx.pid")]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"mongodb://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                pymongo.MongoClient(url, serverSelectionTimeoutMS=300).admin.command("ping")
                break
            except pymongo.errors.PyMongoError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"nx-27017 did not start on port {port}") from None
                time.sleep(0.2)
        yield url, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
