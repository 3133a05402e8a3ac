"""The dashboard in a real headless Chromium (Debian's `chromium`, driven by Playwright) against
a running farm (web, cron and a worker from the Procfile, Redis DB 4, nx-27017): log in, create
a project through the UI, run it, watch the progress bar reach 100 %, open the run, requeue a
dead-lettered message. Screenshots go to var/screenshots/ and are named in the output."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from dramatiq.brokers.redis import RedisBroker

from tests.conftest import free_port, redis_client, redis_url
from tests.core.test_deadletters import dead_letter
from tests.e2e.farm import ROOT, Farm, farm_env, running_farm

pytestmark = pytest.mark.e2e
REDIS_DB = 4
CHROMIUM = "/usr/bin/chromium"  # Debian's; ops/test installs it
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SCREENSHOTS = ROOT / "var" / "screenshots"


def _need(what: str) -> None:
    """Skip without the browser on a developer's machine; in CI, fail loudly instead."""
    message = f"the dashboard's browser test needs {what}"
    if os.environ.get("CI"):
        pytest.fail(f"{message} (ops/test installs it)")
    pytest.skip(f"{message}; install it (ops/test does) to run this test")


@pytest.fixture(scope="module")
def playwright_browser() -> Iterator[Any]:
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        _need(f"Debian's chromium at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _need("the playwright package (pip install -e '.[dev]')")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def farm(nx_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    redis_client(REDIS_DB)  # flushed; fails loudly without Redis
    work = tmp_path_factory.mktemp("dashboard-farm")
    port = free_port()
    env = farm_env(work, port, f"{nx_url}/dashboard_farm", redis_url(REDIS_DB))
    try:
        with running_farm(
            env, work, port, tenant=["ops", "--plan", "unlimited", "--admin"], workers=1
        ) as farm:
            yield farm
    finally:
        redis_client(REDIS_DB)


class Shots:
    """Numbered screenshots of one test, printed as they are taken."""

    def __init__(self, page: Any, name: str) -> None:
        self.page = page
        self.name = name
        self.count = 0
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(self, what: str) -> Path:
        self.count += 1
        path = SCREENSHOTS / f"{self.name}-{self.count:02d}-{what}.png"
        self.page.screenshot(path=str(path), full_page=True)
        print(f"screenshot: {path}")
        return path


def test_an_operator_creates_runs_and_watches_a_project_then_requeues_a_dead_letter(
    farm: Farm, playwright_browser: Any, tmp_path: Path
) -> None:
    feed = tmp_path / "feed.csv"
    feed.write_text("sku,title,price\n" + "".join(f"B-{i},Shirt {i},{i}.50\n" for i in range(200)))
    page = playwright_browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(30_000)
    shots = Shots(page, "dashboard")

    page.goto(f"{farm.url}/dashboard/")
    assert "/dashboard/login" in page.url
    page.fill("input[name=api_key]", farm.key)
    shots.take("login")
    page.click("button:has-text('Log in')")
    page.wait_for_selector("h1:has-text('Projects')")

    page.fill("#new-project input[name=name]", "Browser shop")
    page.fill("#new-project input[name=timezone]", "Europe/Berlin")
    page.click("button:has-text('Create project')")
    page.wait_for_selector("h1:has-text('Browser shop')")
    assert page.is_visible("text=will not produce any import/export")

    for connector, role, settings in (
        ("feed", "source", {"url": str(feed)}),
        ("file", "channel", {"filename": "products.csv"}),
    ):
        page.click("summary:has-text('Add a connection')")
        form = page.locator("form[action$='/connections']")
        form.locator("select[name=connector]").select_option(connector)
        form.locator("select[name=role]").select_option(role)
        form.locator("textarea[name=settings]").fill(json.dumps(settings))
        form.locator("button:has-text('Add connection')").click()
        page.wait_for_selector(f"td:has-text('{connector}')")

    page.click("summary:has-text('Add a job')")
    job_form = page.locator("form[action$='/jobs']")
    job_form.locator("select[name=kind]").select_option("sync")
    job_form.locator("select[name=mode]").select_option("daily")
    job_form.locator("input[name=times]").fill("06:00, 18:00")
    job_form.locator("button:has-text('Add job')").click()
    page.wait_for_selector(".tile:has-text('daily at 06:00, 18:00')")
    assert not page.is_visible("text=will not produce any import/export")
    shots.take("project")

    page.click(".tile button:has-text('Run now')")
    page.wait_for_url("**/dashboard/runs/run_*")
    run_url = page.url
    page.wait_for_selector("#progress[aria-valuenow='100']", timeout=60_000)
    page.wait_for_selector(".state.ok:has-text('succeeded')")
    shots.take("run-finished")

    page.click("text=Browser shop")
    page.click(f"a[href='{run_url.removeprefix(farm.url)}']")
    page.wait_for_selector("td:has-text('import')")
    assert page.is_visible(".pill:has-text('inserted 200')")
    assert page.locator("#progress").get_attribute("aria-valuenow") == "100"
    shots.take("run-detail")

    page.click("text=Browser shop")
    page.click("nav.tabs >> text=Records")
    page.wait_for_selector("td:has-text('B-0')")
    assert page.locator("td.cell.in_sync").count() == 50  # the first page, every record sent
    shots.take("records")
    page.click("header >> text=Projects")
    page.wait_for_selector("td:has-text('Browser shop')")
    shots.take("overview")

    broker = RedisBroker(url=redis_url(REDIS_DB))
    broker.declare_queue("probe")
    message_id = dead_letter(broker)
    page.click("nav >> text=Queues")
    row = page.locator(f"tr.dead-letter[data-message='{message_id}']")
    row.wait_for()
    assert page.locator("tr[data-queue=probe] td.dead").inner_text() == "1"
    shots.take("queues-dead-letter")
    row.locator("button:has-text('Requeue')").click()
    page.wait_for_selector(f"text=Message {message_id} sent back to queue probe.")
    assert page.locator("tr[data-queue=probe] td.ready").inner_text() == "1"
    assert page.locator("tr[data-queue=probe] td.dead").inner_text() == "0"
    shots.take("queues-requeued")
    client: redis.Redis = redis.Redis.from_url(redis_url(REDIS_DB))
    assert client.lrange("dramatiq:probe", 0, -1) == [message_id.encode()]
    page.close()
