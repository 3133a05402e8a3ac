"""Waking the ticker when a schedule changes, so the change takes effect at once."""

from __future__ import annotations

import redis

WAKE_CHANNEL = "syncfarm:ticker:wake"


def wake_ticker(client: redis.Redis) -> None:
    client.publish(WAKE_CHANNEL, b"1")
