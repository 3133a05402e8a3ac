"""`python -m cron` (or `syncfarm cron`): run a ticker until SIGTERM/SIGINT."""

from __future__ import annotations

import logging
import os
import signal
import socket
import time

from pymongo.errors import PyMongoError

from core.config import load_settings
from core.retention import RetentionPolicy
from core.store import Store
from cron.ticker import Ticker
from worker.broker import build_broker, redis_client


def _ensure_indexes(store: Store) -> None:
    """Wait for the database at start-up instead of crashing the whole Procfile."""
    delay_s = 0.5
    while True:
        try:
            store.ensure_indexes()
            return
        except PyMongoError as exc:
            logging.warning("database not reachable yet (%s); retrying in %.1f s", exc, delay_s)
            time.sleep(delay_s)
            delay_s = min(delay_s * 2, 10.0)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s cron %(levelname)s %(message)s")
    settings = load_settings()
    store = Store.connect(settings.mongo_url, settings.mongo_db_name)
    _ensure_indexes(store)
    ticker = Ticker(
        store=store,
        client=redis_client(settings),
        broker=build_broker(settings),
        lease_s=settings.ticker_lease_s,
        poll_s=settings.ticker_poll_s,
        resend_after_s=settings.resend_after_s,
        run_time_limit_s=settings.run_time_limit_s,
        holder=f"{socket.gethostname()}:{os.getpid()}",
        retention=RetentionPolicy(
            event_days=settings.event_retention_days,
            run_days=settings.run_retention_days,
            data_dir=settings.data_dir,
        ),
        sending_expiry_s=settings.sending_expiry_s,
        hygiene_every_s=settings.retention_interval_s,
    )
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: ticker.stop())
    ticker.run_forever()


if __name__ == "__main__":
    main()
