"""The queues page against the real Redis (DB 4): depths, dead letters with requeue and
delete, heartbeats, project locks and the ticker's leader."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
from dramatiq.brokers.redis import RedisBroker

from api.app import create_app
from core.config import Settings
from core.queues import LEADER_KEY
from core.store import Store
from tests.conftest import redis_client, redis_url
from tests.core.test_deadletters import dead_letter
from tests.dashboard.conftest import Browser

pytestmark = pytest.mark.integration
REDIS_DB = 4


@pytest.fixture
def redis_db() -> Iterator[redis.Redis]:
    client = redis_client(REDIS_DB)
    yield client
    client.flushdb()


@pytest.fixture
def redis_broker(redis_db: redis.Redis) -> RedisBroker:
    broker = RedisBroker(url=redis_url(REDIS_DB))
    broker.declare_queue("runs")
    broker.declare_queue("probe")
    return broker


@pytest.fixture
def app(store: Store, settings: Settings, redis_broker: RedisBroker, redis_db: redis.Redis) -> Any:
    return create_app(
        {
            "TESTING": True,
            "SYNCFARM_SETTINGS": settings,
            "SYNCFARM_STORE": store,
            "SYNCFARM_BROKER": redis_broker,
            "SYNCFARM_REDIS": redis_db,
        }
    )


def _depth_row(page: str, queue: str) -> str:
    start = page.index(f'<tr data-queue="{queue}">')
    return page[start : page.index("</tr>", start)]


def test_only_operators_see_the_queues(browser: Browser) -> None:
    answer = browser.get("/queues")
    assert answer.status_code == 403
    assert "--admin" in answer.get_data(as_text=True)


def test_a_dead_letter_is_requeued_from_the_page(
    operator: Browser, redis_broker: RedisBroker
) -> None:
    message_id = dead_letter(redis_broker)
    page = operator.text("/queues")
    assert '<td class="num dead">1</td>' in _depth_row(page, "probe")
    assert "probe_actor(&#34;run_1&#34;)" in page or 'probe_actor("run_1")' in page
    assert "ValueError: no such product" in page
    answer = operator.post(f"/queues/probe/dead/{message_id}/requeue")
    assert answer.status_code == 302
    page = operator.text("/queues")
    assert f"Message {message_id} sent back to queue probe." in page
    row = _depth_row(page, "probe")
    assert '<td class="num ready">1</td>' in row and '<td class="num dead">0</td>' in row


def test_a_dead_letter_is_deleted_from_the_page(
    operator: Browser, redis_broker: RedisBroker
) -> None:
    message_id = dead_letter(redis_broker)
    operator.post(f"/queues/probe/dead/{message_id}/delete")
    page = operator.text("/queues")
    assert f"Message {message_id} deleted from queue probe." in page
    assert "Dead letters of probe" not in page and message_id not in page.split("</p>", 1)[1]
    again = operator.post(f"/queues/probe/dead/{message_id}/delete")
    assert "no longer among the dead letters" in operator.text("/queues")
    assert again.status_code == 302


def test_workers_locks_and_the_ticker_leader_are_shown(
    operator: Browser, redis_broker: RedisBroker, redis_db: redis.Redis
) -> None:
    client = redis_db
    redis_broker.consume("runs", prefetch=1, timeout=10).__next__()  # a heartbeat
    client.set("syncfarm:lock:prj_busy", "token", px=20_000)
    client.zadd("syncfarm:waiting:prj_busy", {"msg_1": 1})
    client.hset(
        "syncfarm:waiting:prj_busy.msgs", "msg_1", '{"args": ["run_waiting"], "kwargs": {}}'
    )
    client.sadd("syncfarm:lock:waiting-projects", "prj_busy")
    client.set(LEADER_KEY, "cron-host:abc123")
    page = operator.text("/queues")
    assert redis_broker.broker_id in page and '<span class="state ok">alive</span>' in page
    assert "prj_busy" in page and "run_waiting" in page and "ms left" in page
    assert "cron-host:abc123" in page


def test_without_a_redis_broker_the_page_says_so(store: Store, settings: Settings) -> None:
    from dramatiq.brokers.stub import StubBroker

    from core.tenants import create_tenant
    from tests.dashboard.conftest import Browser as Visitor

    app = create_app(
        {
            "TESTING": True,
            "SYNCFARM_SETTINGS": settings,
            "SYNCFARM_STORE": store,
            "SYNCFARM_BROKER": StubBroker(),
            "SYNCFARM_REDIS": None,
        }
    )
    tenant, key = create_tenant(store, "ops", admin=True)
    visitor = Visitor(app.test_client(), key, tenant)
    visitor.login()
    page = visitor.text("/queues")
    assert "Queue depths are read from a Redis broker" in page
    assert "Redis is not configured" in page
