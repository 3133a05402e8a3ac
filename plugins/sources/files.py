"""Local feed files: paths and file:// URLs, limited to `SYNCFARM_FILE_ROOTS` when set."""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlparse

from marshmallow import ValidationError

from core.errors import ConnectorError


def local_path(url: str) -> Path:
    parsed = urlparse(url)
    return Path(unquote(parsed.path) if parsed.scheme == "file" else url)


def check_file_allowed(path: Path) -> None:
    """Refuse feed files outside `SYNCFARM_FILE_ROOTS` (colon-separated folders) when set."""
    raw = os.environ.get("SYNCFARM_FILE_ROOTS", "").strip()
    if not raw:
        return
    resolved = path.resolve()
    roots = [Path(r).resolve() for r in raw.split(":") if r]
    if not any(resolved.is_relative_to(root) for root in roots):
        raise ValidationError(
            f"feed files must be under {', '.join(map(str, roots))} (SYNCFARM_FILE_ROOTS); "
            f"{path} is not"
        )


def open_local(url: str) -> tuple[Path, BinaryIO]:
    """The feed file's path and an open binary handle on it."""
    path = local_path(url)
    try:
        check_file_allowed(path)
    except ValidationError as exc:
        raise ConnectorError(" ".join(map(str, exc.messages))) from None
    try:
        return path, path.open("rb")
    except OSError as exc:
        raise ConnectorError(f"could not open the feed file {path}: {exc.strerror}") from exc
