"""Run summary: one log line per section and one for the run at the end of every crawl
(what a scheduler's log shows), a line saying a stopped run was interrupted and how many
listed articles it did not reach, and optionally the final stats as JSON (SINA_STATS_FILE)."""

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
    return (
        f"new={posts.get('new', 0)} updated={posts.get('updated', 0)} "
        f"unchanged={unchanged} (not fetched: {known}); skipped: {listing(skipped)}; "
        f"failed: {listing(failed)}; roll API failures: {listing(roll_failed)}"
    )


SECTION_COUNTERS = ("listed", "known", "new", "updated", "unchanged", "skipped", "failed", "list_failed")


def section_lines(stats: dict[str, Any]) -> list[str]:
    """One line per section: listed, known (not fetched), new, updated, ..."""
    sections: dict[str, dict[str, int]] = {}
    for key, value in stats.items():
        parts = key.split("/")
        if len(parts) == 4 and parts[:2] == ["sina", "section"]:
            sections.setdefault(parts[2], {})[parts[3]] = int(value)
    return [
        f"section {section_id}: " + " ".join(f"{name}={counts.get(name, 0)}" for name in SECTION_COUNTERS)
        for section_id, counts in sorted(sections.items())
    ]


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
