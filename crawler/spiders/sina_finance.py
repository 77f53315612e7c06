"""``scrapy crawl sina_finance``: the listings of the configured sections, then one request
per new or changed article.

Invariant: the spider only decides what to request.  How each kind of listing is read
is in crawler.spiders.kinds, what is fetched and how far a listing pages in
crawler.admission, the requests in crawler.spiders.sina_requests, an article's post in
crawler.spiders.articles, every count and log line in crawler.spiders.reporting; posts
are written by crawler.pipelines, and a cluster's coordinator is driven by
crawler.cluster.driver.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import scrapy
from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.http import Response
from twisted.python.failure import Failure

from crawler.admission import Admission, Listed, admit, next_page
from crawler.config import Config, PageSection, Section, select_sections
from crawler.downloadermiddlewares.network import StopRequested
from crawler.extensions.runstate import CrawlRun
from crawler.items import FlashPost, PagePost
from crawler.loaders import ArticleError, flash_url, load_flash
from crawler.parsing.workers import ParseWorkers
from crawler.scrapy_internals import process_item_detached
from crawler.sina.roll_api import RollItem, unlisted_page
from crawler.sina.urls import NotArticle
from crawler.sina.zhibo_api import Flash
from crawler.spiders.arguments import RUNNER_ARGUMENTS, SpiderArguments
from crawler.spiders.articles import Skip, article_post, download_failed
from crawler.spiders.kinds import ListingFailed, ListingKind, kind_of
from crawler.spiders.listing import OrderedListings
from crawler.spiders.reporting import Report
from crawler.spiders.sina_requests import article_request, browser_meta, listing_request

if TYPE_CHECKING:
    from crawler.cluster.driver import CoordinatorDriver

# Posts handed to the item pipelines and not yet written (each a few tens of KB): room
# for several fsync groups, so that the callbacks wait only when the disk falls behind.
POSTS_IN_PIPELINES = 32


class SinaFinanceSpider(scrapy.Spider):
    name = "sina_finance"
    writes_posts = True  # and lists sections (a coordinator too); a cluster's workers do neither
    config: Config
    run: CrawlRun
    report: Report
    parse_workers: ParseWorkers
    browser_meta: dict[str, Any] | None = None  # with a page section only
    coordinator_driver: CoordinatorDriver | None = None  # a cluster's coordinator (SINA_REDIS_URL)
    _pipeline_room: asyncio.Semaphore | None = None  # POSTS_IN_PIPELINES, made in the crawl's loop

    def __init__(self, **kwargs: Any) -> None:
        self.arguments = SpiderArguments.from_kwargs(kwargs)
        super().__init__(**{name: value for name, value in kwargs.items() if name in RUNNER_ARGUMENTS})
        self.sections: tuple[Section, ...] = ()
        self.listings: OrderedListings[RollItem] = OrderedListings(())

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> SinaFinanceSpider:
        spider: SinaFinanceSpider = super().from_crawler(crawler, *args, **kwargs)
        spider.config = config = Config.of(crawler)
        spider.sections = select_sections(config.sections, spider.arguments.sections)
        spider.listings = OrderedListings([section.id for section in spider.sections])
        spider.run = CrawlRun.of(crawler)
        spider.report = Report(crawler, spider.logger, spider.run)
        spider.parse_workers = ParseWorkers(
            config.parse_workers,
            budget=config.parse_timeout,
            count_event=lambda event: crawler.stats.inc_value(f"sina/parse_workers/{event}"),  # once crawling
        )
        crawler.signals.connect(spider.parse_workers.close, signal=signals.spider_closed)
        if spider.writes_posts and any(isinstance(section, PageSection) for section in spider.sections):
            spider.browser_meta = browser_meta(crawler, config.browser_ignore_https_errors)
        if spider.writes_posts and config.cluster is not None:
            from crawler.cluster.driver import CoordinatorDriver  # the cluster extra: Config found it

            # Kept here: Scrapy's signals hold their handlers by weak reference.
            spider.coordinator_driver = CoordinatorDriver.connect(crawler, spider.listings, spider.by_id, spider.report)
        return spider

    @property
    def by_id(self) -> dict[str, Section]:
        return {section.id: section for section in self.sections}

    async def start(self) -> AsyncIterator[scrapy.Request]:
        # Only a crawl runs this start() (shell, parse, fetch and check replace or skip it):
        # it, and nothing else, takes the posts-folder lock (crawler.extensions.runstate).
        await self.run.begin_crawl(self)
        self.run.begin([section.id for section in self.sections], self.arguments.pages)
        self.logger.info(
            "Sections: %s; roll pages per section: %d%s%s",
            ", ".join(f"{section.id} ({section.kind})" for section in self.sections),
            self.arguments.pages,
            f"; since {self.arguments.since}" if self.arguments.since else "",
            "; refresh: every article fetched again" if self.arguments.refresh else "",
        )
        for section in self.sections:
            yield self._listing_request(section, 1)

    # --- listings ----------------------------------------------------------------

    def _listing_request(self, section: Section, page: int) -> scrapy.Request:
        kind = kind_of(section)
        return listing_request(
            kind,
            section,
            page,
            callback=self.parse_listing,
            errback=self.list_failed,
            browser_meta=self.browser_meta if kind.rendered else None,
        )

    def parse_listing(
        self, response: Response, section: Section, page: int = 1
    ) -> Iterator[scrapy.Request | FlashPost]:
        """A page of any listing.  Whatever its answer makes this raise fails that section
        alone (``<kind>/failed/parse_error``, logged with the URL and the traceback); the
        other sections, which wait for it in sections.yaml order, go on."""
        kind = kind_of(section)
        try:
            outputs = list(self._read_listing(kind, response, section, page))
        except Exception as exc:
            self.report.listing_failed(section, kind, response.url, "parse_error", type(exc).__name__, bug=True)
            outputs = list(self._complete(section))
        yield from outputs

    def _read_listing(
        self, kind: ListingKind, response: Response, section: Section, page: int
    ) -> Iterator[scrapy.Request | FlashPost]:
        try:
            listing = kind.read(response, section, page)
        except ListingFailed as failed:
            url = failed.url or response.url
            self.report.listing_failed(section, kind, url, failed.reason, failed.detail, what=failed.what)
            yield from self._complete(section)
            return
        self.report.page_read(kind)
        for reason, detail in listing.skipped:
            self.report.entry_skipped(section, kind, reason, response.url, detail)
        if kind.empty_fails and not listing.entries and not listing.skipped:
            self.report.listing_failed(section, kind, response.url, "no_links", what=kind.source)
        admission = self._admit(section, listing.entries)
        if kind.posts_at_once:
            yield from self._flash_posts(section, admission.admitted)
        else:
            self.listings.add(section.id, admission.admitted)
        following = next_page(page, pages=self.arguments.pages, more=listing.more, go_on=admission.go_on)
        if following is None:
            yield from self._complete(section)
        else:
            yield self._listing_request(section, following)

    def _admit(self, section: Section, entries: Iterable[Any]) -> Admission[Any]:
        """The new or changed entries of a page (crawler.admission), the rest counted."""
        admission = admit(
            entries,
            since=self.arguments.since_timestamp,
            stop_at_known=self.run.section(section.id).stop_at_known,
            known=lambda entry: self.run.known(entry, refresh=self.arguments.refresh),
            window=self.run.window,
        )
        self.report.admitted(section, admission, to_fetch=not kind_of(section).posts_at_once)
        return admission

    def _flash_posts(self, section: Section, flashes: list[Flash]) -> Iterator[FlashPost]:
        """Each new or changed flash is a post at once (no page to fetch)."""
        for flash in flashes:
            try:
                post = load_flash(flash, section, self.run.output.body_style)
            except ArticleError as exc:
                self.report.article_skipped(section.id, exc.reason, flash_url(flash), exc.detail, page=False)
                continue
            self.report.count("sina/zhibo/flashes")
            yield post

    def list_failed(self, failure: Failure) -> Iterator[scrapy.Request]:
        if isinstance(failure.value, StopRequested):
            return  # the crawl stops: the section is left for the next run
        section = failure.request.cb_kwargs["section"]  # type: ignore[attr-defined]
        skip = download_failed(failure)
        self.report.listing_failed(section, kind_of(section), skip.url, skip.reason, skip.detail)
        yield from self._complete(section)

    def _complete(self, section: Section) -> Iterator[scrapy.Request]:
        """A section's listing is done: the articles now released, in sections.yaml order
        (crawler.spiders.listing), are requested, or pushed to a cluster's shared queue."""
        before = self.listings.duplicates
        released = self.listings.complete(section.id)
        self.report.released(len(released), self.listings.duplicates - before)
        by_id = self.by_id
        for section_id, entry in released:
            request = article_request(
                entry,
                by_id[section_id],
                self.run.output.body_style,
                callback=self.parse_article,
                errback=self.article_failed,
            )
            if self.run.cluster is None:
                yield request
            else:
                self._push(request, entry, section_id)

    def _push(self, request: scrapy.Request, entry: Listed, section_id: str) -> None:
        assert self.run.cluster is not None
        pushed = self.run.cluster.push(request, entry.publishid, section_id)
        self.report.count("sina/cluster/pushed" if pushed else "sina/cluster/already_queued")

    # --- articles ----------------------------------------------------------------

    async def parse_article(self, response: Response, listing: RollItem, section: Section) -> AsyncIterator[PagePost]:
        """The callback of an article request: its post goes to the item pipelines without
        this callback waiting for them, so that Scrapy releases the 200 KB response while the
        post waits for its fsync group (crawler.scrapy_internals.process_item_detached); at
        most POSTS_IN_PIPELINES posts at a time, else the callback waits for room."""
        self.report.reached()
        post = await self._listed_post(response, listing, section)
        if post is None:
            return
        if self._pipeline_room is None:
            self._pipeline_room = asyncio.Semaphore(POSTS_IN_PIPELINES)
        await self._pipeline_room.acquire()
        process_item_detached(self.crawler, post, self._pipeline_room.release)
        return
        yield  # an async generator, as Scrapy's callbacks are: its post goes on its own

    async def parse(self, response: Response, **kwargs: Any) -> AsyncIterator[PagePost]:
        """``scrapy parse --spider sina_finance URL`` (docs/usage.md): the post a crawl would
        make of one article, gallery or video page, as the first selected section (``-a
        sections=…``) would list it with nothing but its URL (title, date and media come from
        the page), or the line that says why there is none.  A crawl never calls it: its
        requests name their callbacks."""
        redirects = response.meta.get("redirect_urls")
        url = redirects[0] if redirects else response.url
        section = self.sections[0]
        try:
            listing = unlisted_page(url)
        except NotArticle as exc:
            self.report.article_skipped(section.id, "not_article", url, exc.reason)
            return
        self.report.reached()
        post = await self._listed_post(response, listing, section)
        if post is not None:
            yield post

    async def _listed_post(self, response: Response, listing: RollItem, section: Section) -> PagePost | None:
        """The post of a listed article, or None when it gives none (counted and logged) or
        a cluster worker answered it first."""
        outcome = await self._article_post(response, listing, section)
        if not self._answered(listing.publishid):
            return None
        if isinstance(outcome, Skip):
            self.report.article_skipped(section.id, outcome.reason, outcome.url, outcome.detail)
            return None
        return outcome

    async def _article_post(self, response: Response, listing: RollItem, section: Section) -> PagePost | Skip:
        """The post of an article page, or why it gives none; a post counted as parsed."""
        outcome = await article_post(self.parse_workers, response, listing, section, self.run.output.body_style)
        if not isinstance(outcome, Skip):
            self.report.parsed(section.id)
            redirects = response.meta.get("redirect_urls")
            if redirects:
                self.report.redirected(redirects[0], response.url)
        return outcome

    def article_failed(self, failure: Failure) -> None:
        if isinstance(failure.value, StopRequested):
            return  # the crawl stops: not reached, left for the next run
        self.report.reached()
        request = failure.request  # type: ignore[attr-defined]
        skip = download_failed(failure)
        if self._answered(request.cb_kwargs["listing"].publishid):
            self.report.article_skipped(request.cb_kwargs["section"].id, skip.reason, skip.url, skip.detail)

    def _answered(self, publishid: str) -> bool:
        """False for a coordinator whose article a worker answered first (one answer each)."""
        if self.run.cluster is None or self.run.cluster.answered(publishid):
            return True
        self.report.count("sina/cluster/late_answers")
        return False
