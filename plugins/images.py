"""`images`: a two-stage task connector. `images.check` asks each image URL of the catalog for
its validators (ETag, Last-Modified, size) and counts the images that changed; only when there
are some does `images.download` run, fetching and hashing just those.

Image URLs come from records, so they are checked only when called (`core.netguard`, each
redirect too): a refused one is counted as `refused` and left alone, the others go on."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests
from marshmallow import Schema, fields, validate

from core import netguard
from plugins.base import Connector, Record, Task, TaskContext, TaskResult

PENDING = "__pending__"


class ImagesSettings(Schema):
    field = fields.String(
        load_default="image_link",
        metadata={"description": "record field holding an image URL or a list of them"},
    )
    timeout_s = fields.Float(load_default=20.0, validate=validate.Range(min=0.1, max=300))


class ImagesConnector(Connector):
    name = "images"
    settings_schema = ImagesSettings
    roles = frozenset({"channel"})
    tasks = (
        Task(
            "images.check",
            follow_up="images.download",
            description="count images whose URL answers with new validators",
        ),
        Task("images.download", description="download and hash the changed images"),
    )

    @classmethod
    def example_settings(cls, workdir: Path) -> dict[str, Any]:
        return {"field": "image_link"}

    def run_task(self, name: str, ctx: TaskContext) -> TaskResult:
        if name == "images.check":
            return self._check(ctx)
        if name == "images.download":
            return self._download(ctx)
        return super().run_task(name, ctx)

    def _urls(self, records: Iterator[Record]) -> Iterator[str]:
        seen: set[str] = set()
        for record in records:
            value = record.get(self.settings["field"])
            for url in value if isinstance(value, list) else [value]:
                if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                    continue
                if url not in seen:
                    seen.add(url)
                    yield url

    def _signature(self, url: str) -> str | None:
        try:
            answer = netguard.request(
                "HEAD", url, timeout=self.settings["timeout_s"], allow_redirects=True
            )
        except requests.RequestException:
            return None
        if answer.status_code >= 400:
            return None
        parts = [answer.headers.get(h, "") for h in ("ETag", "Last-Modified", "Content-Length")]
        return "|".join(parts) if any(parts) else None

    def _check(self, ctx: TaskContext) -> TaskResult:
        pending: list[str] = []
        checked = refused = 0
        for url in self._urls(ctx.records()):
            checked += 1
            known = ctx.state.get(url)
            try:
                signature = self._signature(url)
            except netguard.UrlRefused:
                refused += 1
                continue
            if known is None or signature is None or known.get("signature") != signature:
                pending.append(url)
        ctx.state[PENDING] = pending
        counts = {"checked": checked, "changed": len(pending), "refused": refused}
        return TaskResult(count=len(pending), counts=counts)

    def _download(self, ctx: TaskContext) -> TaskResult:
        downloaded = failed = 0
        for url in ctx.state.get(PENDING, []):
            try:
                with netguard.request(
                    "GET", url, stream=True, timeout=self.settings["timeout_s"]
                ) as answer:
                    answer.raise_for_status()
                    digest = hashlib.sha256()
                    size = 0
                    for chunk in answer.iter_content(64 * 1024):
                        digest.update(chunk)
                        size += len(chunk)
                    signature = "|".join(
                        [
                            answer.headers.get("ETag", ""),
                            answer.headers.get("Last-Modified", ""),
                            answer.headers.get("Content-Length", str(size)),
                        ]
                    )
            except (requests.RequestException, netguard.UrlRefused):
                failed += 1
                continue
            ctx.state[url] = {"signature": signature, "sha256": digest.hexdigest(), "bytes": size}
            downloaded += 1
        ctx.state[PENDING] = []
        return TaskResult(count=downloaded, counts={"downloaded": downloaded, "failed": failed})
