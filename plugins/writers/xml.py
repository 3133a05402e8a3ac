"""`xml`: `<products><product>…</product>…</products>`, streamed with lxml's incremental
`etree.xmlfile`, so only the record at hand is in memory.

A field becomes a child element of the item: a list becomes one element per value (repeated
`<image>`s), an object becomes an element with children. Field names that are not XML names
are made into ones (`my price` → `my_price`, `2nd` → `_2nd`); `g:price` keeps its prefix
when the settings declare the namespace `g`. Characters XML 1.0 cannot hold (most control
characters) become U+FFFD and are counted as unencodable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from contextlib import ExitStack
from typing import Any

from lxml import etree

from plugins.base import Record
from plugins.writers.base import Output, Writer, WriterOptions, cell_text

_START = (
    "A-Z_a-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u02ff\u0370-\u037d\u037f-\u1fff\u200c-\u200d"
    "\u2070-\u218f\u2c00-\u2fef\u3001-\ud7ff\uf900-\ufdcf\ufdf0-\ufffd\U00010000-\U000effff"
)
_CHAR = _START + "\\-.0-9\u00b7\u0300-\u036f\u203f-\u2040"
_NCNAME = re.compile("[" + _START + "][" + _CHAR + "]*")
_NOT_NAME_CHAR = re.compile("[^" + _CHAR + "]")
_NOT_XML_TEXT = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_MAX_CACHED_TAGS = 10_000


def is_ncname(name: str) -> bool:
    """Whether `name` is an XML name without a prefix (an NCName)."""
    return _NCNAME.fullmatch(name) is not None


def safe_name(name: str) -> str:
    """`name` made into an NCName: other characters (and colons) become `_`."""
    name = _NOT_NAME_CHAR.sub("_", name)
    return name if is_ncname(name) else "_" + name


def xml_tag(name: str, namespaces: Mapping[str, str]) -> str:
    """The element tag (Clark notation for a declared prefix) for a field `name`."""
    prefix, colon, local = name.partition(":")
    if colon and prefix in namespaces:
        return f"{{{namespaces[prefix]}}}{safe_name(local)}"
    return safe_name(name)


class XmlWriter(Writer):
    format = "xml"
    extension = ".xml"
    media_type = "application/xml"

    def __init__(self, out: Output, options: WriterOptions) -> None:
        super().__init__(out, options)
        self.replaced = 0
        self.tags: dict[str, str] = {}
        self.stack = ExitStack()
        self.xf = self.stack.enter_context(etree.xmlfile(self.sink, encoding="utf-8"))
        self.xf.write_declaration()
        root = self.xf.element(self._tag(options.root), nsmap=options.namespaces or None)
        self.stack.enter_context(root)
        self.xf.write("\n")
        self.item = self._tag(options.item)

    @property
    def unencodable(self) -> int:
        return self.replaced

    def write(self, record: Record) -> None:
        with self.xf.element(self.item):
            for name, value in record.items():
                self._field(str(name), value)
        self.xf.write("\n")

    def close(self) -> None:
        self.stack.close()

    def flush(self) -> None:
        self.xf.flush()

    def _field(self, name: str, value: Any) -> None:
        if isinstance(value, list | tuple):
            for each in value:
                self._field(name, each)
            return
        with self.xf.element(self._tag(name)):
            if isinstance(value, dict):
                for key, each in value.items():
                    self._field(str(key), each)
            else:
                text, replaced = _NOT_XML_TEXT.subn("\ufffd", cell_text(value))
                self.replaced += replaced
                if text:
                    self.xf.write(text)

    def _tag(self, name: str) -> str:
        tag = self.tags.get(name)
        if tag is None:
            if len(self.tags) >= _MAX_CACHED_TAGS:
                self.tags.clear()
            tag = self.tags[name] = xml_tag(name, self.options.namespaces)
        return tag
