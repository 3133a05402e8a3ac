"""Shared fixtures: in-process app on mongomock, and real services for integration tests."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import mongomock
import pymongo
import pytest
import redis
from dramatiq.brokers.stub import StubBroker

from api.app import create_app
from core.config import Settings
from core.store import Store
from core.tenants import create_tenant


def _let_mongomock_take_bulk_sort() -> None:
    """pymongo 4.11+ passes `sort` to bulk update/replace builders; mongomock 4.3 predates it.
    The store's bulk writes never sort, so the argument is dropped."""
    builder = mongomock.collection.BulkOperationBuilder
    for name in ("add_update", "add_replace"):
        original = getattr(builder, name)
        if getattr(original, "_takes_sort", False):
            continue

        def patched(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            kwargs.pop("sort", None)
            return _original(self, *args, **kwargs)

        patched._takes_sort = True  # type: ignore[attr-defined]
        setattr(builder, name, patched)


_let_mongomock_take_bulk_sort()

# Connector secrets are encrypted with this key in every test (and the farms tests start).
os.environ.setdefault("SYNCFARM_SECRET_KEY", "test-only-secret-key-of-syncfarm")
os.environ.setdefault("SYNCFARM_ALLOW_PRIVATE_URLS", "1")  # every test server is on 127.0.0.1


def _external_fixtures() -> Path:
    """Files written by other projects, used as they are: the shared copy next to the
    checkout when there is one, else the identical copy kept in tests/fixtures/external."""
    here = Path(__file__).resolve().parent
    for candidate in (
        os.environ.get("SYNCFARM_FIXTURES_DIR"),
        here.parents[1] / "shared" / "fixtures" / "external",
    ):
        if candidate and (Path(candidate) / "README.md").exists():
            return Path(candidate)
    return here / "fixtures" / "external"


FIXTURES = _external_fixtures()
TEST_REDIS_URL = os.environ.get("SYNCFARM_TEST_REDIS_URL", "redis://127.0.0.1:6379").rstrip("/")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_url(db: int) -> str:
    """A Redis database of the tests' own (the farm itself uses db 0)."""
    return f"{TEST_REDIS_URL}/{db}"


@pytest.fixture
def store() -> Store:
    return Store(mongomock.MongoClient(tz_aware=True)["syncfarm_test"])


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return replace(Settings(), data_dir=tmp_path / "data", broker_url="stub://")


@pytest.fixture
def broker() -> StubBroker:
    stub = StubBroker()
    stub.declare_queue("runs")
    return stub


@pytest.fixture
def app(store: Store, settings: Settings, broker: StubBroker) -> Any:
    return create_app(
        {
            "TESTING": True,
            "SYNCFARM_SETTINGS": settings,
            "SYNCFARM_STORE": store,
            "SYNCFARM_BROKER": broker,
            "SYNCFARM_REDIS": None,
        }
    )


class InlineWorker:
    """Runs queued runs in this process, as a worker would (the actor's own code)."""

    def __init__(self, broker: StubBroker) -> None:
        self.broker = broker

    def drain(self) -> None:
        from dramatiq import Message

        from worker.actors import execute_run

        queue = self.broker.queues["runs"]
        while queue.qsize():
            execute_run.fn(*Message.decode(queue.get_nowait()).args)


@pytest.fixture
def inline_worker(
    store: Store, settings: Settings, broker: StubBroker, monkeypatch: pytest.MonkeyPatch
) -> InlineWorker:
    """The worker's store, settings and broker are the test's, so runs execute in-process."""
    return work_in_process(monkeypatch, store, settings, broker)


def work_in_process(
    monkeypatch: pytest.MonkeyPatch, store: Store, settings: Settings, broker: StubBroker
) -> InlineWorker:
    monkeypatch.setattr("worker.runtime.store", lambda: store)
    monkeypatch.setattr("worker.runtime.settings", lambda: settings)
    monkeypatch.setattr("dramatiq.get_broker", lambda: broker)
    return InlineWorker(broker)


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


class Tenant:
    """A tenant with its key, and shortcuts for calling the API as it."""

    def __init__(self, client: Any, key: str, doc: dict[str, Any]) -> None:
        self.client = client
        self.key = key
        self.id = doc["_id"]
        self.headers = {"Authorization": f"Bearer {key}"}

    def get(self, path: str, **kw: Any) -> Any:
        return self.client.get(f"/api/v1{path}", headers=self.headers, **kw)

    def post(self, path: str, json: Any = None, **kw: Any) -> Any:
        return self.client.post(f"/api/v1{path}", json=json, headers=self.headers, **kw)

    def patch(self, path: str, json: Any = None, **kw: Any) -> Any:
        return self.client.patch(f"/api/v1{path}", json=json, headers=self.headers, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.client.delete(f"/api/v1{path}", headers=self.headers, **kw)


@pytest.fixture
def make_tenant(client: Any, store: Store) -> Any:
    def make(name: str = "acme", plan: str = "standard") -> Tenant:
        doc, key = create_tenant(store, name, plan=plan)
        return Tenant(client, key, doc)

    return make


@pytest.fixture
def tenant(make_tenant: Any) -> Tenant:
    return make_tenant()


@pytest.fixture
def csv_feed(tmp_path: Path) -> Path:
    path = tmp_path / "feed.csv"
    path.write_text("sku,title,price\nA-1,Red shirt,19.90\nA-2,Blue shirt,21.50\n")
    return path


# --- real services -----------------------------------------------------------------------


@pytest.fixture(scope="session")
def nx_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An nx-27017 MongoDB wire server of the tests' own, on a free port."""
    from bench.databases import nx_server

    with nx_server(tmp_path_factory.mktemp("nx-server")) as (url, _):
        yield url


@pytest.fixture
def nx_store(nx_url: str, request: pytest.FixtureRequest) -> Iterator[Store]:
    name = "t_" + request.node.name.replace("[", "_").replace("]", "")[:40]
    client: pymongo.MongoClient[Any] = pymongo.MongoClient(nx_url, tz_aware=True)
    for coll in client[name].list_collection_names():
        client[name].drop_collection(coll)
    store = Store(client[name])
    store.ensure_indexes()
    yield store
    client.close()


def redis_client(db: int) -> redis.Redis:
    """A flushed Redis database; fails loudly when Redis is not running."""
    client = redis.Redis.from_url(redis_url(db))
    try:
        client.ping()
    except redis.ConnectionError as exc:
        raise RuntimeError(
            f"these tests need Redis at {TEST_REDIS_URL} (set SYNCFARM_TEST_REDIS_URL): {exc}"
        ) from exc
    client.flushdb()
    return client
