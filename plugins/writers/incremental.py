"""Publishing a catalog by rendering only what changed since the last publication.

Every record's rendering is kept in `RenderedRows`; a publication renders the records whose
content hash moved (read from the database by key), drops those gone, and writes the file
from the stored renderings. The bytes are those a full `Writer` pass over the same views
would write. When the store reflects the generation this run's commit started from
(`Catalog.delta`), the records that commit changed are all that is read; otherwise every stored
hash is compared with the catalog's. It falls back to rendering everything when the hashes
are not known for sure, the store is empty or was made under other settings or rules, or most
of the catalog changed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from plugins.base import Catalog, Record
from plugins.writers.base import Output, Writer, WriterOptions, cell_text
from plugins.writers.rendered import RenderedRows

PUT_BATCH = 1000
#: past this share of the stored rows changed, rendering everything costs less than by key
FULL_SHARE = 0.25


class Discard:
    """An output that drops what it gets (the renderer's own header and frame)."""

    def write(self, data: bytes, /) -> int:
        return len(data)


@dataclass(frozen=True)
class Layout:
    """How records become rows of the file: the writer, its options, the projection."""

    writer: type[Writer]
    options: WriterOptions
    #: (source field, output name) per column; None exports every field as it is
    pairs: list[tuple[str, str]] | None
    #: csv/txt without columns: the header is every field, `first` leading
    first: str

    @property
    def header_from_rows(self) -> bool:
        return self.writer.needs_header and self.pairs is None

    def row(self, view: Record) -> Record:
        if self.pairs is None:
            return view
        return {target: view.get(source) for source, target in self.pairs}


def refresh(rows: RenderedRows, catalog: Catalog, layout: Layout) -> tuple[list[str], int]:
    """Bring the stored renderings up to date with the catalog; returns the header to write
    (flat formats) and how many records were rendered."""
    generation = catalog.generation()
    changed = _changed(rows, catalog, generation)
    if changed is None:
        rows.clear()
        views = catalog.views()
    else:
        views = catalog.views(changed)
    header = list(layout.options.header)
    previous = rows.header()
    put: list[str] | None = None if changed is None else []
    if layout.header_from_rows:
        # Rows put by key are rendered at once under the last publication's header; only
        # when the header moves is every row rendered again.
        early = None if put is None or previous is None else _renderer(layout, previous)
        render = None if early is None else early.render
        rendered = _put(rows, views, layout, render, put, with_cells=True)
        header = _key_first(rows.columns(catalog.held_back), layout.first)
        renderer = _renderer(layout, header)
        if early is not None:
            early.close()
        if early is None or header != previous:
            _render_cells(rows, renderer, unrendered_only=header == previous)
    else:  # its header is in the settings, so in the fingerprint
        renderer = _renderer(layout, header)
        rendered = _put(rows, views, layout, renderer.render, put)
    if changed and put is not None and len(put) < len(changed):
        # a changed record the catalog no longer has (none, when the delta is right) is gone
        rows.drop(set(changed).difference(put))
    renderer.close()
    rows.set_header(header)
    rows.set_generation(generation)
    return header, rendered


def _changed(rows: RenderedRows, catalog: Catalog, generation: str | None) -> list[str] | None:
    """The keys of the records to render again, the rows of those gone dropped; None to
    render everything.

    When the rows reflect the generation this run's commit started from, what it changed is
    all that is stale; otherwise every row's hash is compared with the catalog's."""
    delta = catalog.delta()
    stored_at = rows.generation()
    if (
        delta is not None
        and generation is not None
        and generation == delta.after
        and stored_at is not None
        and stored_at == delta.before
    ):
        if delta.before == delta.after:
            return []
        changed = list(delta.changed)
        if _too_many(rows, len(changed)):
            return None
        rows.drop(delta.deleted)
        return changed
    hashes = catalog.hashes()
    if hashes is None or rows.count() == 0:
        return None
    changed, gone = rows.stale(hashes)
    if _too_many(rows, len(changed)):
        return None
    rows.drop(gone)
    return changed


def _too_many(rows: RenderedRows, changed: int) -> bool:
    """Whether rendering everything in key order costs less than rendering these by key."""
    return changed > PUT_BATCH and changed > rows.count() * FULL_SHARE


def _renderer(layout: Layout, header: list[str]) -> Writer:
    return layout.writer(Discard(), replace(layout.options, header=header))


def _key_first(columns: list[str], first: str) -> list[str]:
    if first in columns:
        columns.remove(first)
        columns.insert(0, first)
    return columns


def _put(
    rows: RenderedRows,
    views: Iterable[tuple[str, int, Record | None]],
    layout: Layout,
    render: Callable[[Record], tuple[bytes, int]] | None,
    keys: list[str] | None = None,
    *,
    with_cells: bool = False,
) -> int:
    """Store the views' rows, rendered by `render` when given; `with_cells` (header from
    rows): with their cells too, to gather the header from and render (again) once it is
    known. Their keys are added to `keys` when given."""
    batch: list[Any] = []
    count = 0
    for key, digest, view in views:
        count += 1
        if keys is not None:
            keys.append(key)
        rendering, unencodable = None, 0
        if view is None:
            batch.append((key, digest, False, None, None, None, 0))
        elif not with_cells:
            assert render is not None
            rendering, unencodable = render(layout.row(view))
            batch.append((key, digest, True, None, None, rendering, unencodable))
        else:
            cells = {str(name): cell_text(value) for name, value in layout.row(view).items()}
            if render is not None:
                rendering, unencodable = render(cells)
            # ASCII-escaped, so even a lone surrogate survives the round trip
            batch.append(
                (key, digest, True, list(cells), json.dumps(cells)) + (rendering, unencodable)
            )
        if len(batch) >= PUT_BATCH:
            rows.put(batch)
            batch.clear()
    rows.put(batch)
    return count


def _render_cells(rows: RenderedRows, renderer: Writer, *, unrendered_only: bool) -> None:
    """Render stored cells with the header now known: those not rendered yet, or (the
    header moved) every row."""
    after = ""
    while page := rows.cells(after, PUT_BATCH, unrendered_only=unrendered_only):
        rows.set_renderings((key, *renderer.render(json.loads(cells))) for key, cells in page)
        after = page[-1][0]


def write_file(
    rows: RenderedRows,
    out: Output,
    layout: Layout,
    header: list[str],
    held_back: set[str],
    progress: Callable[[int, int | None], None],
) -> dict[str, int]:
    """The document from the stored renderings, in key order; counts `written` and
    `unencodable`."""
    writer = layout.writer(out, replace(layout.options, header=header))
    pages, unencodable = rows.rendering_pages(held_back)

    def reported(pages: Iterator[list[bytes]]) -> Iterator[list[bytes]]:
        done = 0
        for page in pages:
            yield page
            done += len(page)
            progress(done, None)

    written = writer.place_pages(reported(pages))
    writer.close()
    progress(written, written)
    return {"written": written, "unencodable": writer.unencodable + unencodable}
