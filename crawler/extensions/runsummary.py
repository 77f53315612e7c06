"""Run summary: one log line per section and one for the run at the end of every crawl
(what a scheduler's log shows), and optionally the final stats as JSON (SINA_STATS_FILE).
The run's line says every post, skip and failure by reason, and, with HEXO_IMAGES=local,
every image not stored by reason: nothing that went wrong reads as ``none``.
A stopped run gets a line saying it was interrupted and how many listed articles it did
not reach."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scrapy import signals

from crawler.config import Config
from crawler.extensions.runstate import CrawlRun
from crawler.storage.files import write_atomically

if TYPE_CHECKING:
    from scrapy import Spider
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

INTERRUPTED = "shutdown"  # Scrapy's finish reason of a run stopped by a signal


def _under(stats: dict[str, Any], prefix: str) -> dict[str, Any]:
    """The counters below prefix, by the rest of their key."""
    return {key[len(prefix) :]: value for key, value in stats.items() if key.startswith(prefix)}


def summarise(stats: dict[str, Any]) -> str:
    posts = {key: value for key, value in _under(stats, "sina/posts/").items() if "/" not in key}
    skipped = _under(stats, "sina/skipped/")
    failed = _under(stats, "sina/posts/failed/")
    roll_failed = _under(stats, "sina/roll/failed/")

    def listing(values: dict[str, Any]) -> str:
        return ", ".join(f"{key}={values[key]}" for key in sorted(values)) or "none"

    known = int(stats.get("sina/articles/known", 0))
    unchanged = int(posts.get("unchanged", 0)) + known
    deleted = f" deleted={stats['sina/retention/deleted']}" if "sina/retention/deleted" in stats else ""  # retention on
    return (
        f"new={posts.get('new', 0)} updated={posts.get('updated', 0)} "
        f"unchanged={unchanged} (not fetched: {known}){deleted}; skipped: {listing(skipped)}; "
        f"failed: {listing(failed)}; roll API failures: {listing(roll_failed)}"
    ) + images_part(stats)


def images_part(stats: dict[str, Any]) -> str:
    """HEXO_IMAGES=local (its pipeline counts ``sina/images/stored``, 0 included): how many
    images were stored and how many kept their remote URL, and why; else nothing."""
    if "sina/images/stored" not in stats:
        return ""
    part = f"; images: stored={stats['sina/images/stored']}"
    for outcome in ("failed", "refused", "capped"):
        reasons = {key: int(value) for key, value in _under(stats, f"sina/images/{outcome}/").items()}
        if reasons:
            why = ", ".join(f"{key}={reasons[key]}" for key in sorted(reasons))
            part += f" {outcome}={sum(reasons.values())} ({why})"
    return part


SECTION_COUNTERS = ("listed", "known", "new", "updated", "unchanged", "skipped", "failed", "list_failed")
# A section whose fetched article pages mostly have no body container: Sina changed its
# template?  The run then exits 1 (crawler/commands/crawl.py); at least this many pages,
# so that one odd article fails no run.
TEMPLATE_CHANGED_STAT = "sina/run/template_changed"  # how many sections
TEMPLATE_CHANGED_MIN_FETCHED = 4


def _sections(stats: dict[str, Any]) -> dict[str, dict[str, int]]:
    """sina/section/<id>/<counter>, by section id, then counter."""
    sections: dict[str, dict[str, int]] = {}
    for key, value in stats.items():
        parts = key.split("/")
        if len(parts) == 4 and parts[:2] == ["sina", "section"]:
            sections.setdefault(parts[2], {})[parts[3]] = int(value)
    return sections


def template_changed(counts: dict[str, int]) -> bool:
    """More than half of the section's fetched article pages (at least
    TEMPLATE_CHANGED_MIN_FETCHED) had no body container (no_body)."""
    fetched = counts.get("fetched", 0)
    return fetched >= TEMPLATE_CHANGED_MIN_FETCHED and 2 * counts.get("no_body", 0) > fetched


def section_lines(stats: dict[str, Any]) -> list[str]:
    """One line per section: listed, known (not fetched), new, updated, ...; "template
    changed?" at the end of a section's line when template_changed says so."""
    return [
        f"section {section_id}: "
        + " ".join(f"{name}={counts.get(name, 0)}" for name in SECTION_COUNTERS)
        + (" template changed?" if template_changed(counts) else "")
        for section_id, counts in sorted(_sections(stats).items())
    ]


def template_changes(stats: dict[str, Any]) -> list[str]:
    """The ids of the sections whose template changed (template_changed), each said in
    one ERROR line."""
    changed = {section_id: counts for section_id, counts in _sections(stats).items() if template_changed(counts)}
    for section_id, counts in sorted(changed.items()):
        logger.error(
            "Section %s: %d of %d fetched article pages have no body container (no_body): Sina's article "
            "template changed? `scrapy sina-check -a sections=%s` checks it",
            section_id,
            counts.get("no_body", 0),
            counts.get("fetched", 0),
            section_id,
        )
    return sorted(changed)


class RunSummary:
    def __init__(self, crawler: Crawler, stats_file: Path | None) -> None:
        self.crawler = crawler
        self.stats_file = stats_file

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RunSummary:
        extension = cls(crawler, Config.of(crawler).stats_file)
        crawler.signals.connect(extension.spider_closed, signal=signals.spider_closed)
        return extension

    def spider_closed(self, spider: Spider, reason: str) -> None:
        assert self.crawler.stats is not None
        if reason == INTERRUPTED:
            self._interrupted()
        stats = self.crawler.stats.get_stats()
        changed = template_changes(stats)
        if changed:  # the crawl exits 1 (crawler/commands/crawl.py); the finish reason stays
            self.crawler.stats.set_value(TEMPLATE_CHANGED_STAT, len(changed))
            stats = self.crawler.stats.get_stats()
        for line in section_lines(stats):
            logger.info("Run summary, %s", line)
        logger.info("Run summary (%s): %s", reason, summarise(stats))
        if self.stats_file is not None:
            self._write_stats({**stats, "finish_reason": reason})

    def _interrupted(self) -> None:
        """A stopped run (SIGINT, SIGTERM) says so, and how many listed articles it left."""
        run = CrawlRun.of(self.crawler)
        if run.cluster is not None:  # a coordinator's workers answer: it cannot tell
            logger.info("Run summary: interrupted")
            return
        self.crawler.stats.set_value("sina/articles/not_reached", run.not_reached)
        logger.info(
            "Run summary: interrupted, %d listed article(s) not reached (the next run fetches them)", run.not_reached
        )

    def _write_stats(self, stats: dict[str, Any]) -> None:
        def default(value: Any) -> str:
            return value.isoformat() if isinstance(value, datetime) else str(value)

        assert self.stats_file is not None
        text = json.dumps(stats, ensure_ascii=False, indent=1, sort_keys=True, default=default)
        write_atomically(self.stats_file, text.encode("utf-8"), fsync=False)
