"""A shop snapshot: a directory of saved WooCommerce API answers, read instead of a shop.

`GET /wp-json/wc/v3/products` answers the list in `<dir>/products.json`,
`GET …/products/12/variations` the one in `<dir>/products/12/variations.json`, and so on; a
missing file is an empty list. The whole list is the first and only page, unfiltered. Writes
are refused: a snapshot lets a project be tried offline (and the connector suite run), it
never pretends a stock upload happened.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any

from core.errors import ConnectorError
from plugins.shop.errors import SnapshotReadOnly
from plugins.shop.http import Answer
from plugins.sources.files import local_path

API_PREFIX = "/wp-json/wc/v3/"


class SnapshotApi:
    def __init__(self, base_url: str) -> None:
        self.root = local_path(base_url)
        self.label = f"the shop snapshot {self.root}"

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        accept: Collection[int] = (),
    ) -> Answer:
        if method != "GET":
            raise SnapshotReadOnly(
                f"{self.label} is read-only: {method} {path} was not sent; point `base_url` "
                "at the shop to write to it",
                code="snapshot_read_only",
            )
        if not self.root.is_dir():
            raise ConnectorError(f"{self.label} is not a directory; check `base_url`")
        page = int((params or {}).get("page", 1))
        items = self._load(path) if page == 1 else []
        return Answer(200, items, {"X-WP-Total": str(len(items)), "X-WP-TotalPages": "1"})

    def _load(self, path: str) -> list[Any]:
        name = path.removeprefix(API_PREFIX).strip("/")
        file = (self.root / f"{name}.json").resolve()
        if not file.is_relative_to(self.root.resolve()) or not file.is_file():
            return []
        try:
            items = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConnectorError(f"{file} is not a readable JSON list: {exc}") from None
        if not isinstance(items, list):
            raise ConnectorError(f"{file} must hold a JSON list, as the API answers it")
        return items
