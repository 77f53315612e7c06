"""The coordinator at work (crawler.cluster.coordinator), driven by Scrapy's signals as
scrapy-redis's RedisMixin drives its spiders: each time the crawl goes idle
(``spider_idle``), the workers' answers go to the item pipelines or are counted as
skipped, requests are taken back from the shared queue into this crawl
(``engine.crawl``) while it has room for them, and articles lost with a dead worker are
pushed again, once, then left for the next run.

Invariant: the crawl stays open (DontCloseSpider) while a listing is not done, an
article pushed is unanswered, or an answer's post is still in the pipelines; it closes
with ``cluster_locked`` when the lease is lost, ``cluster_unavailable`` when Redis fails.

Between idle signals Scrapy looks at an idle crawl every 5 s (its engine's heartbeat):
answers that arrive while this process has nothing to fetch wait at most that long.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from redis import RedisError
from scrapy import signals
from scrapy.exceptions import DontCloseSpider
from scrapy.utils.defer import deferred_from_coro

from crawler.scrapy_internals import engine_is_full, send_to_pipelines

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

    from crawler.cluster.coordinator import Coordinator
    from crawler.config import Section


class _Run(Protocol):
    """What the driver needs of the crawl's run (crawler.extensions.runstate.CrawlRun)."""

    cluster: Coordinator | None


class _Listings(Protocol):
    """What it needs of the spider's listings (crawler.spiders.listing.OrderedListings)."""

    @property
    def finished(self) -> bool: ...


class _Report(Protocol):
    """What it needs of the spider's report (crawler.spiders.reporting.Report): they sit
    above this package, so only their shape is named here (tests/test_layers.py)."""

    run: Any

    def count(self, key: str, count: int = 1) -> None: ...

    def parsed(self, section_id: str) -> None: ...

    def article_skipped(self, section_id: str, reason: str, url: str, detail: str) -> None: ...


logger = logging.getLogger(__name__)


class CoordinatorDriver:
    def __init__(
        self,
        crawler: Crawler,
        listings: _Listings,
        sections: Mapping[str, Section],
        report: _Report,
    ) -> None:
        self.crawler = crawler
        self.run: _Run = report.run
        self.listings = listings
        self.sections = sections
        self.report = report
        self.room = crawler.settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN", 4)

    @classmethod
    def connect(
        cls, crawler: Crawler, listings: _Listings, sections: Mapping[str, Section], report: _Report
    ) -> CoordinatorDriver:
        driver = cls(crawler, listings, sections, report)
        crawler.signals.connect(driver.spider_idle, signal=signals.spider_idle)
        return driver

    @property
    def engine(self) -> Any:  # Scrapy's ExecutionEngine: only its public crawl and close are used
        assert self.crawler.engine is not None, "the crawl is running"
        return self.crawler.engine

    def spider_idle(self) -> None:
        cluster = self.run.cluster
        if cluster is None:
            return  # not opened (RunState closes the spider) or a crawl on its own
        try:
            busy = self.drive(cluster)
        except RedisError as exc:
            # What is unanswered has no state row: the next run fetches it.
            logger.error("Cluster Redis failed mid-run, %d articles unanswered: %s", len(cluster.unanswered), exc)
            self._close("cluster_unavailable")
            raise DontCloseSpider from exc
        if busy or not (self.listings.finished and cluster.finished):
            raise DontCloseSpider

    def drive(self, cluster: Coordinator) -> bool:
        """One round of the coordinator's work; True when it gave the crawl something to do."""
        if cluster.lease_lost:
            self._close("cluster_locked")
            return True
        sent = self._answers(cluster)
        taken = self._take(cluster)
        self._recover(cluster)
        return sent or taken

    def _answers(self, cluster: Coordinator) -> bool:
        """Every answer waiting: its post to the pipelines, or its skip counted."""
        sent = False
        while answers := cluster.answers():
            for answer in answers:
                section = self.sections.get(answer.section)
                if not cluster.answered(answer.publishid) or section is None:
                    self.report.count("sina/cluster/late_answers")
                    continue  # answered already, or for an earlier coordinator
                self.report.count("sina/cluster/answers")
                if answer.item is not None:
                    self.report.parsed(section.id)
                    send_to_pipelines(self.crawler, answer.item)
                    sent = True
                else:
                    self.report.article_skipped(section.id, answer.reason, answer.url, answer.detail)
        return sent

    def _take(self, cluster: Coordinator) -> bool:
        """Articles from the shared queue, fetched here while this process has room."""
        taken = False
        while len(cluster.fetching_here) < self.room and not engine_is_full(self.crawler):
            request = cluster.take()
            if request is None:
                break
            self.report.count("sina/cluster/taken")
            self.engine.crawl(request)
            taken = True
        return taken

    def _recover(self, cluster: Coordinator) -> None:
        pushed_again, given_up = cluster.recover()
        if pushed_again:
            self.report.count("sina/cluster/pushed_again", pushed_again)
        for pushed in given_up:
            self.report.count("sina/cluster/lost")
            self.report.article_skipped(pushed.section_id, "lost", pushed.request.url, "lost with a worker twice")

    def _close(self, reason: str) -> None:
        deferred_from_coro(self.engine.close_spider_async(reason=reason))
