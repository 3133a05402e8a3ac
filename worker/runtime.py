"""Per-process resources of a worker, created after the process forked (never at import)."""

from __future__ import annotations

import os
from functools import cache

import redis as redis_lib

from core.config import Settings, load_settings
from core.store import Store
from worker.broker import redis_client


@cache
def settings() -> Settings:
    return load_settings()


@cache
def _store_for(pid: int) -> Store:
    s = settings()
    return Store.connect(s.mongo_url, s.mongo_db_name)


def store() -> Store:
    """This process's Store (a pymongo client must not cross a fork)."""
    return _store_for(os.getpid())


@cache
def _redis_for(pid: int) -> redis_lib.Redis:
    return redis_client(settings())


def redis() -> redis_lib.Redis:
    """This process's Redis client (to wake the ticker)."""
    return _redis_for(os.getpid())
