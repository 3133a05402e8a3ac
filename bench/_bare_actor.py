"""A bare no-op Dramatiq actor on the farm's own broker set-up (`worker.broker.build_broker`,
so the same Redis and the same default middleware), without the project mutex or any run
bookkeeping: what `bench.dispatch` compares the farm's run path with.

    dramatiq bench._bare_actor --queues bare
"""

from __future__ import annotations

import dramatiq

from bench._fleet import BARE_ACTOR, BARE_QUEUE
from core.config import load_settings
from worker.broker import build_broker

broker = build_broker(load_settings())
broker.declare_queue(BARE_QUEUE)
dramatiq.set_broker(broker)


@dramatiq.actor(actor_name=BARE_ACTOR, queue_name=BARE_QUEUE, max_retries=0)
def bare_noop(n: int) -> None:
    """Does nothing with `n` (the message's number)."""
