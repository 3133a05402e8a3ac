"""A file channel's rendered rows: what its last publication wrote for each record, so the
next one renders only the records that changed and copies the rest byte for byte.

The rows live in a SQLite file beside the export. Each row holds the content hash of the
record it was rendered from; the catalog's current hashes (the record index) tell which rows
are stale, so the store never has to be in step with anything else: a row whose hash still
matches is right, whatever happened in between (a crash, a failed run, another host), and
any other row is rendered again. What else decides a rendering (the format settings, the
rules, for CSV/TXT without `columns` the header) is kept in `meta`; when it moves, every
row is rendered again.

`meta` also names the generation of the records the rows reflect (`generation`), so a
publication that knows what one commit changed since that generation renders and drops just
those records, without comparing every row's hash.

Changes made while publishing stay in one transaction, committed by `commit` once the file
is in place; a publication cut short leaves the store as it was.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from operator import itemgetter
from pathlib import Path

#: bumped when what a row holds changes, so older stores are rebuilt, not misread
LAYOUT = "1"
FETCH_ROWS = 2000
#: kinds of rows (sets of field names) `columns` looks up one by one before reading every row
KINDS_BY_INDEX = 100
_SIGNED = 1 << 63
_WRAP = 1 << 64


_first = itemgetter(0)


def signed(digest: int) -> int:
    """A 64-bit content hash as SQLite's signed INTEGER."""
    return digest - _WRAP if digest >= _SIGNED else digest


class RenderedRows:
    """Use as a context manager; `commit` keeps what was changed, leaving without it drops it.

    Parameters:
      path: the SQLite file.
      fingerprint: what, besides the records, decides a rendering (settings, rules); rows
        rendered under another fingerprint are dropped.
    """

    def __init__(self, path: Path, fingerprint: str) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = self._open(fingerprint)
        except sqlite3.DatabaseError:  # a damaged store is only a cache: start again
            path.unlink(missing_ok=True)
            self._db = self._open(fingerprint)

    def _open(self, fingerprint: str) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None)
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute(
            "CREATE TABLE IF NOT EXISTS rows (key TEXT PRIMARY KEY, hash INTEGER NOT NULL,"
            " shown INTEGER NOT NULL, names TEXT, cells TEXT, rendering BLOB,"
            " unencodable INTEGER NOT NULL DEFAULT 0)"
        )
        db.execute("CREATE INDEX IF NOT EXISTS rows_by_names ON rows (names, key) WHERE shown")
        db.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT)")
        db.execute("BEGIN")
        wanted = f"{LAYOUT}:{fingerprint}"
        if self._meta(db, "fingerprint") != wanted:
            db.execute("DELETE FROM rows")
            db.execute("DELETE FROM meta")
            db.execute("INSERT INTO meta VALUES ('fingerprint', ?)", (wanted,))
        return db

    @staticmethod
    def _meta(db: sqlite3.Connection, name: str) -> str | None:
        row = db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def __enter__(self) -> RenderedRows:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")
        self._db.close()

    def commit(self) -> None:
        self._db.execute("COMMIT")
        self._db.execute("BEGIN")

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM rows").fetchone()[0])

    def clear(self) -> None:
        self._db.execute("DELETE FROM rows")
        self.set_generation(None)

    def generation(self) -> str | None:
        """The generation of the records the rows reflect; None when not known."""
        return self._meta(self._db, "generation")

    def set_generation(self, value: str | None) -> None:
        """Name the generation the rows now reflect (None: not known); kept by `commit` with
        the rows themselves."""
        if value is None:
            self._db.execute("DELETE FROM meta WHERE name = 'generation'")
        else:
            self._db.execute("INSERT OR REPLACE INTO meta VALUES ('generation', ?)", (value,))

    def stale(self, hashes: Mapping[str, int]) -> tuple[list[str], list[str]]:
        """(keys to render: new or changed, keys to drop: gone) against the current hashes."""
        changed: list[str] = []
        gone: list[str] = []
        known = 0
        for key, digest in self._db.execute("SELECT key, hash FROM rows"):
            current = hashes.get(key)
            if current is None:
                gone.append(key)
                continue
            known += 1
            if signed(current) != digest:
                changed.append(key)
        if known < len(hashes):
            stored = {key for (key,) in self._db.execute("SELECT key FROM rows")}
            changed.extend(key for key in hashes if key not in stored)
        return changed, gone

    def put(
        self,
        rows: Iterable[tuple[str, int, bool, list[str] | None, str | None, bytes | None, int]],
    ) -> None:
        """Store (key, record hash, shown, field names, cells, rendering, unencodable) rows;
        a row not shown (filtered out by the rules) has no names, cells or rendering."""
        self._db.executemany(
            "INSERT OR REPLACE INTO rows VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                (key, signed(digest), int(shown), None if names is None else json.dumps(names))
                + (cells, rendering, unencodable)
                for key, digest, shown, names, cells, rendering, unencodable in rows
            ),
        )

    def drop(self, keys: Iterable[str]) -> None:
        self._db.executemany("DELETE FROM rows WHERE key = ?", ((key,) for key in keys))

    def _hold(self, held_back: Iterable[str]) -> None:
        """Put `held_back` in the temporary table `held`, for queries to leave out."""
        self._db.execute("CREATE TEMP TABLE IF NOT EXISTS held (key TEXT PRIMARY KEY)")
        self._db.execute("DELETE FROM held")
        self._db.executemany("INSERT OR IGNORE INTO held VALUES (?)", ((k,) for k in held_back))

    def columns(self, held_back: Iterable[str] = ()) -> list[str]:
        """Every field name of the shown rows, in the order first seen (rows by key)."""
        self._hold(held_back)
        kinds = self._kinds()
        if kinds is None:  # many kinds of rows: one pass over every row costs less
            kinds = list(
                self._db.execute(
                    "SELECT MIN(key), names FROM rows WHERE shown"
                    " AND key NOT IN (SELECT key FROM held) GROUP BY names"
                )
            )
        found: dict[str, None] = {}
        for _, names in sorted(kinds):
            found.update(dict.fromkeys(json.loads(names)))
        return list(found)

    def _kinds(self) -> list[tuple[str, str]] | None:
        """(first key, field names) of each kind of shown row not held back, found a kind at
        a time through the `rows_by_names` index (a catalog has a few kinds, and rows hold
        their renderings: reading every row costs far more); None past `KINDS_BY_INDEX`."""
        kinds: list[tuple[str, str]] = []
        names = ""
        for _ in range(KINDS_BY_INDEX):
            row = self._db.execute(
                "SELECT names FROM rows WHERE shown AND names > ? ORDER BY names LIMIT 1",
                (names,),
            ).fetchone()
            if row is None:
                return kinds
            names = row[0]
            first = self._db.execute(
                "SELECT key FROM rows WHERE shown AND names = ?"
                " AND key NOT IN (SELECT key FROM held) ORDER BY key LIMIT 1",
                (names,),
            ).fetchone()
            if first is not None:
                kinds.append((first[0], names))
        return None

    def header(self) -> list[str] | None:
        """The header the stored renderings were made with."""
        value = self._meta(self._db, "header")
        return None if value is None else list(json.loads(value))

    def set_header(self, header: list[str]) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta VALUES ('header', ?)", (json.dumps(header),))

    def cells(self, after: str, limit: int, *, unrendered_only: bool) -> list[tuple[str, str]]:
        """(key, cells) of up to `limit` shown rows with keys after `after`, by key; only
        those without a rendering when asked. A page at a time, so renderings can be stored
        between pages."""
        query = "SELECT key, cells FROM rows WHERE shown AND key > ?"
        if unrendered_only:
            query += " AND rendering IS NULL"
        query += " ORDER BY key LIMIT ?"
        return list(self._db.execute(query, (after, limit)))

    def set_renderings(self, renderings: Iterable[tuple[str, bytes, int]]) -> None:
        """Store (key, rendering, unencodable) for rows already there."""
        self._db.executemany(
            "UPDATE rows SET rendering = ?, unencodable = ? WHERE key = ?",
            ((rendering, unencodable, key) for key, rendering, unencodable in renderings),
        )

    def rendering_pages(self, held_back: set[str]) -> tuple[Iterator[list[bytes]], int]:
        """The shown rows' renderings by key, leaving out `held_back`, a page at a time; and
        how many characters they replaced (`unencodable`) in all."""
        shown = "shown"  # the condition below is one of two fixed texts, never user input
        if held_back:
            self._hold(held_back)
            shown += " AND key NOT IN (SELECT key FROM held)"
        (unencodable,) = self._db.execute(
            f"SELECT COALESCE(SUM(unencodable), 0) FROM rows WHERE {shown}"
        ).fetchone()
        cursor = self._db.execute(f"SELECT rendering FROM rows WHERE {shown} ORDER BY key")

        def pages() -> Iterator[list[bytes]]:
            while batch := cursor.fetchmany(FETCH_ROWS):
                yield list(map(_first, batch))

        return pages(), int(unencodable)
