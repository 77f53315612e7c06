"""The crawl state: one SQLite file (WAL) with one row per article written.

It is the only state.  A row is added only after the post's file has been renamed
into place, so a crash never leaves a row for a post that is not there; a post
without a row (crash between rename and commit) is simply fetched again.  A row is
deleted (retention) only once its post is gone and its manifest line written, or once
its file is no longer ours to touch.

The file is input like any other: a path read back from it is checked as a new one is
(crawler.storage.files.checked_post_path) before anything is written or trusted there."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

SCHEMA_VERSION = 2
_SCHEMA = """
CREATE TABLE IF NOT EXISTS articles (
    publishid    TEXT PRIMARY KEY,
    docid        TEXT,
    url          TEXT NOT NULL,
    section      TEXT NOT NULL,
    path         TEXT NOT NULL UNIQUE,  -- relative to the posts folder; owned forever
    sha256       TEXT NOT NULL,         -- of the post's bytes
    mtime        INTEGER,               -- roll API mtime when last fetched
    first_seen   TEXT NOT NULL,         -- ISO 8601 UTC
    last_written TEXT NOT NULL,         -- ISO 8601 UTC: last time the bytes changed
    post_format  TEXT,                  -- post format and body style it was written in
    date         INTEGER                -- the post's date, Unix seconds (retention); NULL: not known yet
);
-- A section whose last run finished with every listed article written (or skipped for
-- good): that run's -a pages.  0 while a run is on it, so a killed run leaves 0.
CREATE TABLE IF NOT EXISTS listings (
    section      TEXT PRIMARY KEY,
    pages_done   INTEGER NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class ArticleState:
    publishid: str
    docid: str | None
    url: str
    section: str
    path: str
    sha256: str
    mtime: int | None
    first_seen: str
    last_written: str
    post_format: str | None
    date: int | None = None  # Unix seconds; None: written by a crawler before retention


_COLUMNS = "SELECT publishid, docid, url, section, path, sha256, mtime, first_seen, last_written, post_format, date"


class StateError(Exception):
    pass


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class CrawlState:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(path, timeout=30, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL: a commit survives a killed process; only a power cut can
            # lose the last commits, and those posts are then fetched again.
            self._db.execute("PRAGMA synchronous=NORMAL")
            # Lookups are by key, a few pages each: a small page cache, so the crawl's
            # memory does not grow with the state (SQLite's default grows to 2 MB).
            self._db.execute("PRAGMA cache_size=-512")
            self._db.executescript(_SCHEMA)
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version == 1:  # before post_format: its posts are written again once
                self._db.execute("ALTER TABLE articles ADD COLUMN post_format TEXT")
            if "date" not in {row[1] for row in self._db.execute("PRAGMA table_info(articles)")}:
                # Added in place (a NULL column changes nothing older crawlers read or write);
                # the dates of rows written before are read back from their posts (retention).
                self._db.execute("ALTER TABLE articles ADD COLUMN date INTEGER")
            if version in (0, 1):
                self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            elif version != SCHEMA_VERSION:
                raise StateError(f"{path}: state schema version {version}, this crawler knows {SCHEMA_VERSION}")
        except sqlite3.Error as exc:
            raise StateError(f"{path}: cannot open the state database: {exc}") from exc

    def close(self) -> None:
        self._db.close()

    # Not cached: a lookup by key costs microseconds, and a cache would grow with the run.
    def get(self, publishid: str) -> ArticleState | None:
        row = self._db.execute(
            _COLUMNS + " FROM articles WHERE publishid = ?",
            (publishid,),
        ).fetchone()
        return ArticleState(*row) if row else None

    def owner_of(self, path: str) -> str | None:
        row = self._db.execute("SELECT publishid FROM articles WHERE path = ?", (path,)).fetchone()
        return row[0] if row else None

    def count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM articles").fetchone()[0])

    def all(self) -> list[ArticleState]:
        rows = self._db.execute(_COLUMNS + " FROM articles ORDER BY publishid").fetchall()
        return [ArticleState(*row) for row in rows]

    def pages_done(self, section: str) -> int:
        row = self._db.execute("SELECT pages_done FROM listings WHERE section = ?", (section,)).fetchone()
        return int(row[0]) if row else 0

    def set_pages_done(self, section: str, pages: int) -> None:
        self._db.execute(
            "INSERT INTO listings (section, pages_done) VALUES (?, ?)"
            " ON CONFLICT(section) DO UPDATE SET pages_done=excluded.pages_done",
            (section, pages),
        )

    def record(
        self,
        *,
        publishid: str,
        docid: str | None,
        url: str,
        section: str,
        path: str,
        sha256: str,
        mtime: int | None,
        post_format: str,
        changed: bool,
        date: int | None = None,
    ) -> None:
        """Upsert after the post is in place; ``changed``: its bytes were (re)written.  The
        path is kept but for a row whose path was unsafe (post_paths), which this replaces."""
        now = _now()
        self._db.execute(  # autocommit: the row is durable once the call returns
            "INSERT INTO articles"
            " (publishid, docid, url, section, path, sha256, mtime, first_seen, last_written, post_format, date)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(publishid) DO UPDATE SET docid=excluded.docid, url=excluded.url, path=excluded.path,"
            " sha256=excluded.sha256, mtime=excluded.mtime, post_format=excluded.post_format,"
            " date=coalesce(excluded.date, articles.date),"
            " last_written=CASE WHEN ? THEN excluded.last_written ELSE articles.last_written END",
            (publishid, docid, url, section, path, sha256, mtime, now, now, post_format, date, changed),
        )

    def set_date(self, publishid: str, date: int) -> None:
        """A row written before retention gets its post's date (read back from the post)."""
        self._db.execute("UPDATE articles SET date = ? WHERE publishid = ?", (date, publishid))

    def forget(self, publishids: list[str]) -> None:
        """Delete these rows, all or none (one transaction): their posts are gone, or are
        no longer ours to touch (retention)."""
        with self._db:  # isolation_level=None: an explicit transaction
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("DELETE FROM articles WHERE publishid = ?", [(pid,) for pid in publishids])
