"""Leader election for tickers: a Redis lease with a token, renewed while leading."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import redis

LEADER_KEY = "syncfarm:ticker:leader"
_HERE = Path(__file__).parent


class LeaderLease:
    """A lease on `key` held by this process while it leads.

    Parameters:
      client: the Redis client.
      ttl_s: how long the lease lives without renewal; a killed leader is replaced after it.
      holder: a name for this process, shown to operators as the leader.
    """

    def __init__(self, *, client: redis.Redis, ttl_s: float, holder: str, key: str = LEADER_KEY):
        self.client = client
        self.ttl_ms = int(ttl_s * 1000)
        self.key = key
        self.token = f"{holder}:{secrets.token_hex(6)}"
        self._renew = client.register_script((_HERE / "lease_renew.lua").read_text())
        self._release = client.register_script((_HERE / "lease_release.lua").read_text())
        self.held = False

    def acquire_or_renew(self) -> bool:
        """Keep or take the lease; True while this process is the leader."""
        if self.held:
            self.held = bool(self._renew(keys=[self.key], args=[self.token, self.ttl_ms]))
        if not self.held:
            self.held = bool(self.client.set(self.key, self.token, nx=True, px=self.ttl_ms))
        return self.held

    def release(self) -> None:
        if self.held:
            self._release(keys=[self.key], args=[self.token])
            self.held = False

    def current_leader(self) -> str | None:
        value: Any = self.client.get(self.key)
        return value.decode() if isinstance(value, bytes) else value
