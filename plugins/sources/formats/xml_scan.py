"""`ItemScanner`: cuts an XML feed into its items' bytes and the bytes outside them.

Items are found with `bytes.find` (the start tag, then the end tag), trusting that no comment,
CDATA section, processing instruction or element of the item's name within an item could fool
it, and then made sure of by counting those with one regular expression; a chunk where there
are some is cut again item by item, with a tokenizer for the items that hold some. What lies
outside the items is handed on for lxml, each run of items (only blanks between them) as one
empty placeholder element padded to the same lines and columns, so lxml's messages about the
outside name the feed's own lines. Whatever the scanner cannot vouch for is handed on whole.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from plugins.sources.stream import FeedStream

CHUNK_BYTES = 1 << 20
#: an item (or a stretch without items) larger than this is left to lxml whole
MAX_CARRY_BYTES = 64 << 20
#: the attribute (Clark notation) that tells a placeholder apart
PLACEHOLDER_ATTRIBUTE = "{urn:syncfarm:raw}run"
QUOTED = rb"\"[^\"]*\"|'[^']*'"
_PLACEHOLDER_MARK = b' xmlns:sfraw="urn:syncfarm:raw" sfraw:run=""/>'
_OPENER = re.compile(rb"<!--|<!\[CDATA\[|<\?|<!")
_TERMINATORS = {b"<!--": b"-->", b"<![CDATA[": b"]]>", b"<?": b"?>"}
_CONTINUATION_BYTES = bytes(range(0x80, 0xC0))
_XML_BLANKS = b" \t\r\n"


class ItemScanner:
    """Cuts the feed into items and the bytes outside them, chunk by chunk."""

    def __init__(self, stream: FeedStream, name: bytes, encoding: str) -> None:
        self._stream = stream
        self._start = b"<" + name
        self._end = b"</" + name + b">"
        self._unprefixed = b":" not in name
        self._utf8 = encoding == "utf-8"
        escaped = re.escape(name)
        self._tokens = re.compile(
            rb"<!--.*?-->|<!\[CDATA\[.*?]]>|<\?.*?\?>|(?P<open><!--|<!\[CDATA\[|<\?)|<"
            + escaped
            + rb"(?=[\s/>])(?:[^>\"']|"
            + QUOTED
            + rb")*?(?P<empty>/?)>|(?P<end></"
            + escaped
            + rb"\s*>)",
            re.S,
        )
        #: what a trusting cut does not look for, and the start tags of the items
        self._markup = re.compile(rb"<(?:[!?]|" + escaped + rb"[\s/>])")
        #: an element of the item's name under another prefix, which the path also matches
        self._other_prefix = re.compile(rb":" + escaped + rb"[\s/>]")
        self._start_tag = re.compile(
            rb"<" + escaped + rb"(?:[^>\"']|" + QUOTED + rb")*?(?P<empty>/?)>"
        )

    def regions(self, content_at: int) -> Iterator[tuple[bytes, list[list[bytes]]]]:
        """(bytes for lxml, with placeholders; the runs they stand for) until an empty end."""
        buf = self._stream.read(content_at) or b""
        while len(buf) < content_at:
            more = self._stream.read(content_at - len(buf))
            if not more:
                break
            buf += more
        yield buf, []
        buf, eof, whole, last = b"", False, False, b""
        while not eof:
            data = self._stream.read(CHUNK_BYTES) or b""
            eof = not data
            buf += data
            if not whole and self._unprefixed:
                whole = self._other_prefix.search(last[-64:] + data) is not None
                last = data
            if whole or len(buf) > MAX_CARRY_BYTES:
                whole = True
                yield buf, []
                buf = b""
                continue
            synthetic, runs, done = self._cut(buf, eof, trusting=True)
            yield synthetic, runs
            buf = buf[done:]
        if buf:
            yield buf, []
        yield b"", []

    def _cut(
        self, buf: bytes, eof: bool, *, trusting: bool
    ) -> tuple[bytes, list[list[bytes]], int]:
        """Items and outside bytes of `buf` up to where more bytes are needed (everything at
        the end of the feed); returns the bytes for lxml, the runs, and how far it went.

        `trusting` cuts as if no comment, CDATA section, processing instruction or item
        within an item were there, then makes sure of it by counting them with one regular
        expression (which is cheaper than looking for them item by item), cutting again
        without trust when there were some."""
        start, end, find = self._start, self._end, buf.find
        after, end_size = len(start), len(end)
        special = not trusting and (find(b"<!") >= 0 or find(b"<?") >= 0)
        out: list[bytes] = []
        runs: list[list[bytes]] = []
        items: list[bytes] = []
        seg = sound = look = 0  # outside bytes from seg; no markup open at sound
        run_start = run_end = 0
        size = len(buf)
        while True:
            at = find(start, look)
            if at < 0 or at + after >= size:
                break
            delimiter = buf[at + after]
            if delimiter != 62 and delimiter not in b" \t\r\n/":  # 62: ">"
                look = at + 1
                continue
            if special:
                opener = _OPENER.search(buf, sound, at)
                if opener is not None:
                    terminator = _TERMINATORS.get(opener.group())
                    closed = find(terminator, opener.end()) if terminator else -1
                    if closed < 0:
                        break
                    sound = look = closed + len(terminator or b"")
                    continue
            if delimiter == 62:
                tag_end, empty = at + after + 1, False
            else:
                tag = self._start_tag.match(buf, at)
                if tag is None:
                    break
                tag_end, empty = tag.end(), bool(tag.group("empty"))
            stop = tag_end if empty else find(end, tag_end) + end_size
            if stop < end_size or (
                not trusting
                and (
                    find(start, tag_end, stop) >= 0
                    or (
                        special
                        and (find(b"<!", tag_end, stop) >= 0 or find(b"<?", tag_end, stop) >= 0)
                    )
                )
            ):
                stop = self._careful_end(buf, tag_end) if not empty else stop
                if stop < 0:
                    break
            if items and (at == run_end or not buf[run_end:at].strip(_XML_BLANKS)):
                items.append(buf[at:stop])
            else:
                if items:
                    self._close_run(buf, run_start, run_end, items, out, runs)
                out.append(buf[seg:at])
                items = [buf[at:stop]]
                run_start = at
            seg = sound = look = run_end = stop
        hold = at if at >= 0 else size - after + 1
        if items:
            self._close_run(buf, run_start, run_end, items, out, runs)
        done = len(buf) if eof else seg if special else max(seg, hold)
        # a token cut at `done` is counted (whole) with the bytes after it: more than items
        # only means cutting again without trust
        if trusting and len(self._markup.findall(buf, 0, min(size, done + after))) != sum(
            map(len, runs)
        ):
            return self._cut(buf, eof, trusting=False)
        out.append(buf[seg:done])
        return b"".join(out), runs, done

    def _careful_end(self, buf: bytes, tag_end: int) -> int:
        """Where the item whose start tag ends at `tag_end` ends, reading every comment,
        CDATA section and processing instruction; -1 when `buf` does not hold its end."""
        depth = 1
        for token in self._tokens.finditer(buf, tag_end):
            if token.group("open"):
                return -1
            if token.group("end"):
                depth -= 1
                if depth == 0:
                    return token.end()
            elif token.group("empty") == b"" and token.group(0).startswith(self._start):
                depth += 1
        return -1

    def _close_run(
        self,
        buf: bytes,
        run_start: int,
        run_end: int,
        items: list[bytes],
        out: list[bytes],
        runs: list[list[bytes]],
    ) -> None:
        """Append the placeholder of a run, padded to the run's lines and last column."""
        first = items[0]
        tag = first[: self._start_tag.match(first).end()]  # type: ignore[union-attr]
        placeholder = tag[:-1].rstrip(b"/") + _PLACEHOLDER_MARK
        lines = buf.count(b"\n", run_start, run_end) - placeholder.count(b"\n")
        if lines > 0:
            tail = buf[buf.rfind(b"\n", run_start, run_end) + 1 : run_end]
            padding = b"\n" * lines + b" " * self._characters(tail)
        else:
            extra = self._characters(buf[run_start:run_end]) - self._characters(placeholder)
            padding = b" " * max(extra, 0)
        out.append(placeholder + padding)
        runs.append(items)

    def _characters(self, data: bytes) -> int:
        """How many characters lxml counts in `data` (its columns)."""
        return len(data.translate(None, _CONTINUATION_BYTES)) if self._utf8 else len(data)
