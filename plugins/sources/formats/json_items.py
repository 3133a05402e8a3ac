"""JSON feeds, streamed with ijson: an array of objects, a list of objects inside a top-level
object (`items_path`, or the first list of objects found), or JSON Lines.

Numbers come out as `int` or `float`; nested objects and lists stay as they are.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import ijson

from core.errors import ConnectorError
from plugins.base import Record
from plugins.sources.detect import encoding_label, resolve_encoding, strip_bom
from plugins.sources.formats.keys import check_key
from plugins.sources.formats.options import ReadOptions
from plugins.sources.stream import SNIFF_BYTES, ByteSource, FeedStream, Utf8Recoder


def read_json(stream: FeedStream, options: ReadOptions) -> Iterator[Record]:
    source, head, complete = utf8_json(stream, options.encoding)
    start = head.lstrip()[:1]
    if start == b"[":
        path = None
        prefix = "item"
    elif start == b"{":
        path = options.items_path or find_list_of_objects(head, complete)
        prefix = f"{path}.item"
    else:
        raise ConnectorError(f"the feed is not JSON: it starts with {head[:20]!r}")
    count = 0
    for count, item in enumerate(json_items(source, prefix, use_float=True), start=1):
        if not isinstance(item, dict):
            raise ConnectorError(f"item {count} of the JSON feed is {_kind(item)}, not an object")
        yield item
    if count == 0 and path is not None and not _has_list(head, path, complete):
        raise ConnectorError(
            f"the JSON feed has no list of items at {path!r}; set `items_path` to the dotted "
            "path of its list of items, e.g. data.products"
        )


def read_json_lines(stream: FeedStream, options: ReadOptions) -> Iterator[Record]:
    head = stream.head()
    encoding = resolve_encoding(options.encoding, head, complete=len(head) < SNIFF_BYTES)
    for number, raw in enumerate(io.BufferedReader(stream, SNIFF_BYTES), start=1):
        try:
            line = raw.decode(encoding)
        except UnicodeDecodeError as exc:
            shown = encoding_label(encoding)
            raise ConnectorError(
                f"line {number} is not valid {shown} (byte {exc.start + 1} of the line); set "
                "`encoding`"
            ) from None
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConnectorError(
                f"line {number} is not valid JSON: {exc.msg} (column {exc.colno})"
            ) from None
        if not isinstance(value, dict):
            raise ConnectorError(f"line {number} is {_kind(value)}, not a JSON object")
        yield check_key(value, options.key, f"line {number}")


def utf8_json(stream: FeedStream, encoding: str) -> tuple[ByteSource, bytes, bool]:
    """The feed as UTF-8 bytes without a BOM (what ijson reads), its head, and whether the head
    is the whole feed."""
    head = stream.head()
    complete = len(head) < SNIFF_BYTES
    resolved = resolve_encoding(encoding, head, complete=complete)
    if resolved == "utf-8-sig":
        if strip_bom(head) != head:
            stream.skip(3)
        return stream, strip_bom(head), complete
    recoded = io.BufferedReader(Utf8Recoder(stream, resolved), SNIFF_BYTES)
    return recoded, recoded.peek(SNIFF_BYTES)[:SNIFF_BYTES], complete


def json_items(source: ByteSource, prefix: str, *, use_float: bool) -> Iterator[object]:
    """The values under `prefix` (ijson's notation: `products.item`); invalid JSON is a
    `ConnectorError` naming the item it broke in."""
    count = 0
    try:
        for item in ijson.items(source, prefix, use_float=use_float):
            count += 1
            yield item
    except ijson.JSONError as exc:
        raise ConnectorError(
            f"the feed is not valid JSON in item {count + 1}: {_describe(exc)}"
        ) from None


def find_list_of_objects(head: bytes, complete: bool) -> str:
    """The dotted path of the shallowest list of objects that starts in `head`."""
    found: list[tuple[int, str]] = []
    keys: list[str] = []
    previous: tuple[str, str] | None = None
    for prefix, event, value in head_events(head):
        if prefix == "" and event == "map_key":
            keys.append(str(value))
        if (
            previous
            and previous[1] == "start_array"
            and event == "start_map"
            and prefix == f"{previous[0]}.item"
            and "item" not in previous[0].split(".")
        ):
            found.append((previous[0].count("."), previous[0]))
        previous = (prefix, event)
    if found:
        return min(found)[1]
    where = "" if complete else " in its first 64 KiB"
    shown = ", ".join(keys[:12]) or "none"
    raise ConnectorError(
        f"the JSON feed is an object with no list of objects{where} (top-level keys: {shown}); "
        "set `items_path` to the dotted path of its list of items, e.g. data.products"
    )


def _has_list(head: bytes, path: str, complete: bool) -> bool:
    return complete and any(p == path and e == "start_array" for p, e, _ in head_events(head))


def head_events(head: bytes) -> Iterator[tuple[str, str, object]]:
    """ijson's events of `head`, stopping quietly where it is cut or broken."""
    try:
        yield from ijson.parse(io.BytesIO(head))
    except ijson.JSONError:
        return


def _describe(exc: Exception) -> str:
    message = exc.args[0] if exc.args else str(exc)
    if isinstance(message, bytes):
        message = message.decode("utf-8", "replace")
    lines = [line.strip() for line in str(message).splitlines() if line.strip()]
    if len(lines) >= 2 and "(right here)" in lines[-1]:
        return f"{lines[0]} near {lines[1]!r}"
    return lines[0] if lines else type(exc).__name__


def _kind(value: object) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    return f"a {type(value).__name__}"
