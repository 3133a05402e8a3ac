"""XML feeds, streamed with lxml's `iterparse`: one record per item element.

Items are found by `item_path`: an element name (`product`, or `g:item` with its document
prefix) matched at any depth, or a slash path (`catalog/product`; `/catalog/product` from the
root). Without it, RSS items, Atom entries, or else the root's children are the items. Every
element is cleared as soon as it has been read, so memory holds about one item at a time.

An item becomes a dict: child elements by name with their document prefix (`g:price`), a
repeated child as a list, attributes as `@name`, a child with children or attributes as a
nested dict (its own text as `#text`), a leaf's text as a string with outer blanks stripped.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable, Iterator
from typing import Any

from lxml import etree

from core.errors import ConnectorError
from plugins.base import Record
from plugins.sources.formats.options import ReadOptions
from plugins.sources.stream import FeedStream

XML_NAMESPACE = "http://www.w3.org/XML/1998/namespace"
#: names a child element in a record
Naming = Callable[[Any], str]
AUTO_PATHS = {"rss": "/rss/channel/item", "RDF": "/RDF/item", "feed": "/feed/entry"}
#: how every feed is parsed: no comments or processing instructions in records, and no
#: entity or DTD fetched from anywhere
PARSING: dict[str, bool] = {
    "remove_comments": True,
    "remove_pis": True,
    "resolve_entities": False,
    "no_network": True,
}
POSITION_SUFFIX = re.compile(r",? line \d+, column \d+$")


def read_xml(stream: FeedStream, options: ReadOptions) -> Iterator[Record]:
    for _, element in iter_items(stream, options.item_path, options.encoding):
        yield element_record(element)


def iter_items(
    stream: FeedStream, item_path: str | None, encoding: str = "auto"
) -> Iterator[tuple[int, Any]]:
    """(number, element) of each item, in order; an element is cleared when the caller asks
    for the next one, so it must be read before that."""
    parser = etree.iterparse(
        stream, events=("start", "end"), encoding=declared_encoding(encoding), **PARSING
    )
    path: ItemPath | None = ItemPath(item_path) if item_path else None
    stack: list[tuple[str, str]] = []  # names of the open elements outside items
    seen: dict[str, None] = {}
    inside = 0  # open elements within the item being read, the item itself included
    count = 0
    try:
        for event, element in parser:
            if inside:  # within an item nothing is tracked: it is read whole at its end
                if event == "start":
                    inside += 1
                    continue
                inside -= 1
                if inside:
                    continue
                count += 1
                yield count, element
                release(element)
                stack.pop()
                continue
            if event == "start":
                stack.append(names(element))
                if path is None:
                    path = ItemPath(AUTO_PATHS.get(stack[0][1], f"/{stack[0][0]}/*"))
                if len(seen) < 12 and len(stack) > 1:
                    seen.setdefault(stack[-1][0])
                if path.matches(stack):
                    inside = 1
                continue
            release(element)
            stack.pop()
    except etree.XMLSyntaxError as exc:
        line, column = exc.position
        where = f"in item {count + 1}" if inside else f"after item {count}"
        reason = POSITION_SUFFIX.sub("", exc.msg or str(exc))
        raise ConnectorError(
            f"the XML feed is not well-formed at line {line}, column {column} ({where}): {reason}"
        ) from None
    if count == 0 and path is not None and seen:
        raise ConnectorError(
            f"the XML feed has no {path} elements (elements found: {', '.join(seen)}); set "
            "`item_path` to the element of one item, e.g. product or /catalog/product"
        )


def element_record(element: Any, naming: Naming | None = None) -> Record:
    """An element as a dict; `naming` names its children (default: `prefixed_name`)."""
    name_of = naming or prefixed_name
    record: Record = {}
    for name, attribute in element.attrib.items():
        record[f"@{_attribute_name(element, name)}"] = attribute
    for child in element:
        tag = child.tag
        if not isinstance(tag, str):
            continue
        # an element without a namespace is named by its tag (the common case, made fast)
        name = tag if naming is None and tag[0] != "{" else name_of(child)
        if len(child) == 0 and not child.attrib:
            value: Any = (child.text or "").strip()
        else:
            value = element_record(child, naming)
        if name in record:
            add_value(record, name, value)
        else:
            record[name] = value
    text = (element.text or "").strip()
    if text:
        record["#text"] = text
    return record


def element_value(element: Any, naming: Naming | None = None) -> Any:
    if len(element) == 0 and not element.attrib:
        return (element.text or "").strip()
    return element_record(element, naming)


def names(element: Any) -> tuple[str, str]:
    """(name with its document prefix, local name) of an element, e.g. ("g:price", "price")."""
    tag: str = element.tag
    local = tag.rpartition("}")[2]
    return (f"{element.prefix}:{local}" if element.prefix else local), local


def prefixed_name(element: Any) -> str:
    return names(element)[0]


def namespace(element: Any) -> str | None:
    tag: str = element.tag
    return tag[1:].partition("}")[0] if tag.startswith("{") else None


def add_value(record: Record, name: str, value: Any) -> None:
    """Set `name`, turning it into a list when it repeats."""
    if name not in record:
        record[name] = value
    elif isinstance(record[name], list):
        record[name].append(value)
    else:
        record[name] = [record[name], value]


def _attribute_name(element: Any, name: str) -> str:
    if not name.startswith("{"):
        return name
    uri, _, local = name[1:].partition("}")
    if uri == XML_NAMESPACE:
        return f"xml:{local}"
    prefix = next((p for p, u in element.nsmap.items() if u == uri and p), None)
    return f"{prefix}:{local}" if prefix else local


def declared_encoding(setting: str) -> str | None:
    """The encoding to read with: None lets the document's declaration (or BOM) decide, as
    for `auto` and UTF-8; else Python's name of the codec, which libxml2 also knows."""
    name = "auto" if setting == "auto" else codecs.lookup(setting).name
    return None if name in ("auto", "utf-8", "utf-8-sig") else name


def release(element: Any) -> None:
    element.clear(keep_tail=False)
    parent = element.getparent()
    if parent is not None:
        while element.getprevious() is not None:
            del parent[0]


class ItemPath:
    """Which elements are items: `a/b` matches a `b` inside an `a` at any depth, `/a/b` only
    from the root; a part with a prefix (`g:item`) compares the prefixed name, `*` any."""

    def __init__(self, spec: str) -> None:
        self.spec = spec
        self.absolute = spec.startswith("/")
        self.parts = [p for p in spec.strip("/").split("/") if p]

    def matches(self, stack: list[tuple[str, str]]) -> bool:
        if len(stack) < len(self.parts) or (self.absolute and len(stack) != len(self.parts)):
            return False
        tail = stack[len(stack) - len(self.parts) :]
        return all(
            part == "*" or part == (prefixed if ":" in part else local)
            for part, (prefixed, local) in zip(self.parts, tail, strict=True)
        )

    def __str__(self) -> str:
        return f"<{self.spec}>" if len(self.parts) == 1 else f"`{self.spec}`"
