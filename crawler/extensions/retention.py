"""Retention (``-a keep_days`` / ``-a keep_posts``, HEXO_KEEP_DAYS / HEXO_KEEP_POSTS): at the
start of a run, holding the posts-folder lock and before any request, our posts that fall
out of the window go: their images, the post, a ``deleted`` manifest line, the state row.

Invariant: only a post the state recorded, at a path that passes the check of a new one,
whose bytes are still the ones we wrote, is removed (crawler.storage.retention).  A post
edited since (or replaced by something that is not a regular file) stays: one warning
and ``sina/retention/kept_edited``, and its row is forgotten, so it is the user's from
then on and never warned about again; a row whose path is unsafe is forgotten likewise
(``sina/state/unsafe_path``).  Files the state never recorded are never looked at.

Crash safety: per batch, files first (made durable), then the manifest lines, then the
rows in one transaction.  A run killed anywhere leaves rows whose posts are either still
there (removed by the next run) or gone (the next run writes their line and forgets
them); a line may then be written twice, never missed."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crawler.admission import Window, fall_out
from crawler.storage.retention import (
    EDITED,
    GONE,
    OURS,
    UNREADABLE,
    UNSAFE,
    PostCheck,
    check_post,
    front_matter_date,
    fsync_folders,
)
from crawler.storage.retention import remove_post as remove_post_files

if TYPE_CHECKING:
    from scrapy.statscollectors import StatsCollector

    from crawler.storage.manifest import Manifest
    from crawler.storage.state import ArticleState, CrawlState

logger = logging.getLogger(__name__)

BATCH = 100  # posts removed between two commits of the state


def deleted_entry(row: ArticleState, reason: str, run_id: str) -> dict[str, Any]:
    """The manifest line of a post retention removed: the keys of a written post's line
    that the state knows, in that order, ``status: "deleted"`` and why (``reason``)."""
    date = None if row.date is None else datetime.fromtimestamp(row.date, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "docid": row.docid,
        "publishid": row.publishid,
        "url": row.url,
        "section": row.section,
        "path": row.path,
        "date": date,
        "sha256": row.sha256,
        "status": "deleted",
        "run_id": run_id,
        "reason": reason,
    }


class Retention:
    """One run's retention over the posts folder ``root``, its state and manifest."""

    def __init__(
        self,
        root: Path,
        state: CrawlState,
        manifest: Manifest,
        stats: StatsCollector,
        *,
        run_id: str,
        fsync: bool,
    ) -> None:
        self.root = root
        self.state = state
        self.manifest = manifest
        self.stats = stats
        self.run_id = run_id
        self.fsync = fsync

    def apply(self, window: Window) -> Window:
        """Remove what falls out of ``window``; the window admission then uses (its
        keep_posts floor set from the posts kept)."""
        rows = [self._dated(row) for row in self.state.all()]
        out = fall_out(rows, window)
        gone: set[str] = set()
        deleted = 0
        for start in range(0, len(out), BATCH):
            removed, forgotten = self._remove(out[start : start + BATCH])
            deleted, gone = deleted + removed, gone | forgotten
        logger.info(
            "Retention (keep_days=%s, keep_posts=%s): %d post(s) out of the window, %d removed, %d kept",
            window.keep_days,
            window.keep_posts,
            len(out),
            deleted,
            len(rows) - len(gone),
        )
        return window.kept(row for row in rows if row.publishid not in gone)

    def _dated(self, row: ArticleState) -> ArticleState:
        """A row written before the state kept dates gets its post's date, read from the
        post while it holds our bytes (else it stays undated: never removed)."""
        if row.date is not None:
            return row
        check = check_post(self.root, row.path, row.sha256)
        date = front_matter_date(check.data) if check.status == OURS else None
        if date is None:
            self.stats.inc_value("sina/retention/undated")
            return row
        self.state.set_date(row.publishid, date)
        return replace(row, date=date)

    def _remove(self, batch: list[tuple[ArticleState, str]]) -> tuple[int, set[str]]:
        """One batch: files, then (durable) manifest lines, then the rows; how many posts
        were removed, and the publishids forgotten."""
        removed: list[tuple[ArticleState, str]] = []
        released: list[str] = []
        folders: list[Path] = []
        for row, reason in batch:
            check = check_post(self.root, row.path, row.sha256)
            if check.status == OURS:
                try:
                    folders += remove_post_files(self.root, row.path)
                except OSError as exc:
                    check = PostCheck(UNREADABLE, detail=exc.strerror or str(exc))
                else:
                    removed.append((row, reason))
                    continue
            if check.status == UNREADABLE:  # kept, row and all: the next run tries again
                self.stats.inc_value("sina/retention/failed")
                logger.warning("Retention: could not remove %s (%s): %s", row.path, row.url, check.detail)
            elif check.status == GONE:
                removed.append((row, reason))
            elif check.status == EDITED:
                self.stats.inc_value("sina/retention/kept_edited")
                logger.warning(
                    "Retention: kept %s (%s): %s; it is yours now, the crawler forgets it",
                    row.path,
                    row.url,
                    check.detail,
                )
                released.append(row.publishid)
            else:
                assert check.status == UNSAFE
                self.stats.inc_value("sina/state/unsafe_path")
                logger.warning("Retention: state row of %s has an unsafe path (%s): forgotten", row.url, check.detail)
                released.append(row.publishid)
        if self.fsync and folders:
            fsync_folders(folders)
        for row, reason in removed:
            self.manifest.append(deleted_entry(row, reason, self.run_id))
            logger.info("Retention: removed %s (%s, %s)", row.path, row.url, reason)
        forgotten = [row.publishid for row, _ in removed] + released
        if forgotten:
            self.state.forget(forgotten)
        self.stats.inc_value("sina/retention/deleted", len(removed))
        return len(removed), set(forgotten)
