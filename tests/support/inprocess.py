"""One crawl in this process, as zyte-spider-templates' tests/utils.py runs one: the real
spider with the project's settings, pipelines, extensions and downloader middlewares,
answered from recorded responses instead of a network, so a fast test sees the posts,
the stats and the log lines of a whole run without a subprocess.

Scrapy runs without a Twisted reactor here (``TWISTED_REACTOR_ENABLED=False``, Scrapy
2.15+), inside ``asyncio.run``, so a test may crawl as often as it likes.  The answers
come from RecordedSite, a downloader middleware placed where the network would be
(after the fetch policy and the proxy settings, before the public-address check that
resolves names): every other middleware sees requests and responses as in a real run.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from scrapy import Request, Spider
from scrapy.crawler import AsyncCrawlerRunner, Crawler
from scrapy.http import HtmlResponse, Response, TextResponse
from scrapy.settings import Settings

from tests.support.settings import output_settings
from tests.support.settings import project_settings as crawl_settings


@dataclass(frozen=True)
class Answer:
    """A recorded answer: its status, its body, its Content-Type."""

    body: bytes
    status: int = 200
    content_type: str = "text/html; charset=utf-8"


class RecordedSite:
    """Answers every request from the ``RECORDED_ANSWERS`` setting (URL -> Answer), and
    404 for any other URL (robots.txt included)."""

    of: ClassVar[weakref.WeakKeyDictionary[Crawler, RecordedSite]] = weakref.WeakKeyDictionary()

    def __init__(self, answers: Mapping[str, Answer]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RecordedSite:
        site = cls.of[crawler] = cls(crawler.settings.get("RECORDED_ANSWERS") or {})
        return site

    def process_request(self, request: Request) -> Response:
        self.asked.append(request.url)
        answer = self.answers.get(request.url, Answer(b"not here", 404, "text/plain"))
        cls = HtmlResponse if answer.content_type.startswith("text/html") else TextResponse
        headers = {"Content-Type": answer.content_type}
        return cls(request.url, status=answer.status, headers=headers, body=answer.body, request=request)


@dataclass
class Crawled:
    """What an in-process crawl left: its final stats, its log lines, the URLs it asked for."""

    stats: dict[str, Any]
    log: list[str]
    asked: list[str] = field(default_factory=list)

    def stat(self, key: str) -> int:
        return int(self.stats.get(key, 0))


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def project_settings(work: Path, **overrides: Any) -> Settings:
    """The project's settings (crawler.settings), its output under ``work``, no waiting
    between requests, parsing in this process."""
    settings = crawl_settings(
        {
            **output_settings(work),
            "SINA_PARSE_WORKERS": 0,
            "DOWNLOAD_DELAY": 0,
            "AUTOTHROTTLE_ENABLED": False,
            "HEXO_FSYNC": False,
            "TWISTED_REACTOR_ENABLED": False,
            "TWISTED_DNS_RESOLVER": "scrapy.resolver.CachingThreadedResolver",
            "TELNETCONSOLE_ENABLED": False,
            "REMOTE_CONTROL_ENABLED": False,
            "MEMUSAGE_ENABLED": False,
            "LOG_LEVEL": "DEBUG",
            **overrides,
        }
    )
    settings["DOWNLOADER_MIDDLEWARES"] = {**settings.getdict("DOWNLOADER_MIDDLEWARES"), RecordedSite: 755}
    return settings


def crawl(
    spidercls: type[Spider],
    work: Path,
    answers: Mapping[str, Answer],
    *,
    settings: dict[str, Any] | None = None,
    **spider_args: str,
) -> Crawled:
    """Run ``spidercls`` to its end in this process, answered from ``answers``."""
    config = project_settings(work, RECORDED_ANSWERS=dict(answers), **(settings or {}))
    lines = _Lines()
    root = logging.getLogger()
    root.addHandler(lines)

    async def run() -> Crawler:
        runner = AsyncCrawlerRunner(config)
        crawler = runner.create_crawler(spidercls)
        await crawler.crawl_async(**spider_args)
        return crawler

    try:
        crawler = asyncio.run(run())
    finally:
        root.removeHandler(lines)
    assert crawler.stats is not None
    site = RecordedSite.of.get(crawler)
    return Crawled(crawler.stats.get_stats(), lines.lines, site.asked if site is not None else [])


class CommandProcess(AsyncCrawlerRunner):
    """What a project command asks of Scrapy's crawler process (create_crawler, crawl,
    start, bootstrap_failed), on an event loop of its own, as Scrapy's AsyncCrawlerProcess
    has one, but installing no logging and no signal handlers in the test process."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)

    def start(self) -> None:
        try:
            self.loop.run_until_complete(self.join())
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        finally:
            self.close()

    def close(self) -> None:
        if not self.loop.is_closed():
            asyncio.set_event_loop(None)
            self.loop.close()
