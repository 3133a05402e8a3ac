"""Fixtures of the core tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from core.config import Settings
from core.store import Store
from tests.core.shop import Shop, shop_with_fakes


@pytest.fixture
def shop(
    store: Store,
    settings: Settings,
    csv_feed: Path,
    broker: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> Shop:
    return shop_with_fakes(store, settings, csv_feed, broker, monkeypatch)
