"""``scrapy crawl sina_finance``: the listings of the configured sections (roll API,
column pages, JS-built list pages), then one request per new or changed article.
Parsing lives in crawler.sina and crawler.loaders; writing in crawler.pipelines."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import scrapy
from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import CloseSpider
from scrapy.http import Response, TextResponse
from scrapy_playwright.page import PageMethod
from twisted.python.failure import Failure

from crawler.browser import browser_settings, executable_problem, page_request_meta
from crawler.browser_guard import BrowserGuard
from crawler.config import (
    ColumnSection,
    Config,
    ConfigError,
    FeedSection,
    PageSection,
    RollSection,
    Section,
    ZhiboSection,
    select_sections,
)
from crawler.extensions.runstate import CrawlRun
from crawler.failures import failure_reason
from crawler.items import ArticleItem
from crawler.loaders import ArticleError, load_article, load_flash
from crawler.net.fetch_policy import ARTICLE, LISTING, FetchPolicy, RefusedURL
from crawler.parsing.workers import PageCrashedParser, PageFactsError, PageTimedOut, ParseWorkers
from crawler.sina.article_page import decode_page, parse_page, parser_input
from crawler.sina.feed_api import FEED_REFERER, feed_api_url, feed_item, parse_feed_page
from crawler.sina.list_pages import column_entries, column_url, page_article_links
from crawler.sina.roll_api import (
    API_REFERER,
    MAX_PAGE_SIZE,
    RollApiError,
    RollItem,
    SkippedItem,
    parse_roll_page,
    roll_api_url,
    roll_item,
)
from crawler.sina.urls import article_request_url
from crawler.sina.zhibo_api import PAGE_SIZE, ZHIBO_REFERER, ZhiboApiError, flash, parse_zhibo_page, zhibo_api_url
from crawler.spiders.arguments import RUNNER_ARGUMENTS, SpiderArguments
from crawler.spiders.listing import Listed, OrderedListings
from crawler.storage.files import UnsafePath, checked_post_path

if TYPE_CHECKING:
    from crawler.cluster.coordinator import Coordinator

# What the browser waits for on a list page: its links (section.wait_for, a CSS selector),
# or nothing at all on an error page (4xx/5xx), whose status then reaches list_failed as
# http_<code> instead of a timeout 30 s later.
_LINKS_OR_ERROR_PAGE = (
    "selector => document.querySelector(selector) !== null"
    " || (performance.getEntriesByType('navigation')[0] || {}).responseStatus >= 400"
)


ListingCallback = Callable[..., Iterator[Any]]
T = TypeVar("T")


def one_section_only(callback: ListingCallback) -> ListingCallback:
    """Whatever a listing's answer makes its callback raise fails that section alone
    (``<kind>/failed/parse_error``, logged with the URL and the traceback); the other
    sections, which wait for it in sections.yaml order, go on."""

    @functools.wraps(callback)
    def guarded(self: SinaFinanceSpider, response: Response, section: Section, **kwargs: Any) -> Iterator[Any]:
        try:
            requests = list(callback(self, response, section, **kwargs))
        except Exception as exc:
            self._list_failed(section, response.url, "parse_error", f"{type(exc).__name__}", bug=True)
            requests = list(self._complete(section))
        yield from requests

    return guarded


class SinaFinanceSpider(scrapy.Spider):
    name = "sina_finance"
    writes_posts = True  # and lists sections (a coordinator too); a cluster's workers do neither
    config: Config
    run: CrawlRun
    parse_workers: ParseWorkers
    browser_guard: BrowserGuard  # with a page section only

    def __init__(self, **kwargs: Any) -> None:
        self.arguments = SpiderArguments.from_kwargs(kwargs)
        super().__init__(**{name: value for name, value in kwargs.items() if name in RUNNER_ARGUMENTS})
        self.sections: tuple[Section, ...] = ()
        self.listings: OrderedListings[RollItem] = OrderedListings(())

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> SinaFinanceSpider:
        spider: SinaFinanceSpider = super().from_crawler(crawler, *args, **kwargs)
        config = Config.of(crawler)
        spider.config = config
        spider.sections = select_sections(config.sections, spider.arguments.sections)
        spider.listings = OrderedListings([section.id for section in spider.sections])
        spider.run = CrawlRun.of(crawler)
        spider.parse_workers = ParseWorkers(
            config.parse_workers,
            budget=config.parse_timeout,
            count_event=lambda event: crawler.stats.inc_value(f"sina/parse_workers/{event}"),  # once crawling
        )
        crawler.signals.connect(spider.parse_workers.close, signal=signals.spider_closed)
        if spider.writes_posts and any(isinstance(section, PageSection) for section in spider.sections):
            # Settings can still change here; only now is a browser needed at all.
            settings, spider.browser_guard = browser_settings(
                crawler.settings,
                lambda key: crawler.stats.inc_value(key),  # once crawling
            )
            for name, value in settings.items():
                # They are made from the given ones (-s included), and must win over them:
                # the browser's confinement is in its launch options.
                crawler.settings.set(name, value, priority="cmdline")
            problem = executable_problem(crawler.settings)
            if problem:
                raise ConfigError(problem)
        return spider

    async def start(self) -> AsyncIterator[scrapy.Request | ArticleItem]:
        self.run.begin([section.id for section in self.sections], self.arguments.pages)
        self.logger.info(
            "Sections: %s; roll pages per section: %d%s%s",
            ", ".join(f"{section.id} ({section.kind})" for section in self.sections),
            self.arguments.pages,
            f"; since {self.arguments.since}" if self.arguments.since else "",
            "; refresh: every article fetched again" if self.arguments.refresh else "",
        )
        for section in self.sections:
            match section:
                case RollSection():
                    yield self._roll_request(section, 1)
                case ColumnSection():
                    yield self._list_request(section, column_url(section.cid), self.parse_column)
                case PageSection():
                    yield self._browser_request(section)
                case ZhiboSection():
                    yield self._zhibo_request(section, 1)
                case FeedSection():
                    yield self._feed_request(section)
        if self.run.cluster is not None:
            async for item_or_request in self._coordinate(self.run.cluster):
                yield item_or_request

    # --- listings ----------------------------------------------------------------

    def _list_request(self, section: Section, url: str, callback: Any, **meta: Any) -> scrapy.Request:
        return scrapy.Request(
            url,
            callback=callback,
            errback=self.list_failed,
            cb_kwargs={"section": section},
            meta={"sina_fetch": LISTING, **meta},
            dont_filter=True,
        )

    def _browser_request(self, section: PageSection) -> scrapy.Request:
        wait = PageMethod("wait_for_function", _LINKS_OR_ERROR_PAGE, arg=section.wait_for)
        return self._list_request(
            section,
            section.url,
            self.parse_list_page,
            playwright_page_methods=[wait],
            **page_request_meta(self.browser_guard, self.config.browser_ignore_https_errors),
        )

    def _api_request(self, section: Section, url: str, referer: str, callback: Any, **cb_kwargs: Any) -> scrapy.Request:
        """A request to one of Sina's JSON listing APIs (roll, live feed, channel list)."""
        return scrapy.Request(
            url,
            headers={"Referer": referer, "Accept": "application/json, */*;q=0.1"},
            callback=callback,
            errback=self.list_failed,
            cb_kwargs={"section": section, **cb_kwargs},
            meta={"sina_fetch": LISTING},
            dont_filter=True,
        )

    def _roll_request(self, section: RollSection, page: int) -> scrapy.Request:
        url = roll_api_url(section.pageid, section.lid, page, MAX_PAGE_SIZE)
        return self._api_request(section, url, API_REFERER, self.parse_roll, page=page)

    @one_section_only
    def parse_roll(self, response: Response, section: RollSection, page: int) -> Iterator[scrapy.Request]:
        stats = self.crawler.stats
        try:
            roll_page = parse_roll_page(_text_of(response))
        except RollApiError as exc:
            self._list_failed(section, response.url, exc.reason, exc.detail, what="Roll API")
            yield from self._complete(section)
            return
        stats.inc_value("sina/roll/pages")
        go_on = self._admit(section, self._usable(section, response.url, roll_page.items, roll_item))
        full_page = len(roll_page.items) >= MAX_PAGE_SIZE
        if page < self.arguments.pages and full_page and go_on:
            yield self._roll_request(section, page + 1)
        else:
            yield from self._complete(section)

    @one_section_only
    def parse_column(self, response: Response, section: ColumnSection) -> Iterator[scrapy.Request]:
        tree = parse_page(_page_of(response))
        entries, skipped = column_entries(tree, response.url)
        for url in skipped:
            self._skip_listed(section, "not_article", response.url, url)
        if not entries and not skipped:
            self._list_failed(section, response.url, "no_links", what="Column page")
        self._admit(section, entries)
        yield from self._complete(section)

    @one_section_only
    def parse_list_page(self, response: Response, section: PageSection) -> Iterator[scrapy.Request]:
        try:  # the browser follows redirects itself, past FetchPolicyMiddleware
            FetchPolicy().check(response.url, LISTING)
        except RefusedURL as refused:
            self._list_failed(
                section,
                response.request.url if response.request else section.url,
                "offsite_redirect",
                f"the browser was sent to {refused.url}",
            )
            yield from self._complete(section)
            return
        entries = page_article_links(parse_page(_page_of(response)), response.url)
        if not entries:
            self._list_failed(section, response.url, "no_links", what="List page")
        self._admit(section, entries)
        yield from self._complete(section)

    def _zhibo_request(self, section: ZhiboSection, page: int) -> scrapy.Request:
        url = zhibo_api_url(section.zhibo_id, page)
        return self._api_request(section, url, ZHIBO_REFERER, self.parse_zhibo, page=page)

    def _feed_request(self, section: FeedSection) -> scrapy.Request:
        return self._api_request(section, feed_api_url(section.cids), FEED_REFERER, self.parse_feed)

    @one_section_only
    def parse_zhibo(
        self, response: Response, section: ZhiboSection, page: int
    ) -> Iterator[scrapy.Request | ArticleItem]:
        """A page of the live feed: each new or changed flash is a post at once (no page to
        fetch); paging goes on as for the roll API."""
        try:
            zhibo_page = parse_zhibo_page(_text_of(response))
        except ZhiboApiError as exc:
            self._list_failed(section, response.url, exc.reason, exc.detail, what="Live API")
            yield from self._complete(section)
            return
        self.crawler.stats.inc_value("sina/zhibo/pages")
        flashes = self._usable(section, response.url, zhibo_page.items, flash)
        admitted, go_on = self._sort_listed(section, flashes)
        for listed in admitted:
            self.crawler.stats.inc_value("sina/zhibo/flashes")
            yield load_flash(listed, section, self.run.output.body_style)
        more = zhibo_page.total_pages is None or page < zhibo_page.total_pages
        if page < self.arguments.pages and len(zhibo_page.items) >= PAGE_SIZE and more and go_on:
            yield self._zhibo_request(section, page + 1)
        else:
            yield from self._complete(section)

    @one_section_only
    def parse_feed(self, response: Response, section: FeedSection) -> Iterator[scrapy.Request]:
        """A JSON channel list: its articles, galleries and videos, as a roll page's."""
        try:
            items = parse_feed_page(_text_of(response))
        except RollApiError as exc:
            self._list_failed(section, response.url, exc.reason, exc.detail, what="Feed API")
            yield from self._complete(section)
            return
        self.crawler.stats.inc_value("sina/feed/pages")
        self._admit(section, self._usable(section, response.url, items, feed_item))
        yield from self._complete(section)

    def _usable(
        self, section: Section, list_url: str, raws: Iterable[dict[str, Any]], read: Callable[[dict[str, Any]], T]
    ) -> list[T]:
        """The entries of a listing's items that ``read`` accepts; the others skipped and counted."""
        entries = []
        for raw in raws:
            try:
                entries.append(read(raw))
            except SkippedItem as exc:
                self._skip_listed(section, exc.reason, list_url, exc.detail)
        return entries

    def _skip_listed(self, section: Section, reason: str, list_url: str, detail: str) -> None:
        self.crawler.stats.inc_value(f"sina/skipped/{reason}")
        self.crawler.stats.inc_value(f"sina/section/{section.id}/skipped")
        log = self.logger.debug if reason == "not_article" else self.logger.warning
        what = {"roll": "Roll item", "column": "Column item", "zhibo": "Flash", "feed": "Feed item"}.get(
            section.kind, "Listed link"
        )
        log("%s skipped (%s) in %s: %s", what, reason, list_url, detail)

    def _admit(self, section: Section, entries: list[RollItem]) -> bool:
        """Queue a listing's new or changed articles, count the rest; True: paging may go on."""
        admitted, go_on = self._sort_listed(section, entries)
        self.listings.add(section.id, admitted)
        return go_on

    def _sort_listed(self, section: Section, entries: Sequence[Listed]) -> tuple[list[Any], bool]:
        """(the new or changed entries, whether paging may go on); the rest counted."""
        stats = self.crawler.stats
        since = self.arguments.since_timestamp
        admitted: list[Any] = []
        known = older = 0
        for entry in entries:
            listed_at = entry.ctime or entry.intime
            if since is not None and listed_at is not None and listed_at < since:
                older += 1
            elif self._is_known(entry):
                known += 1
            else:
                admitted.append(entry)
        stats.inc_value("sina/roll/items", len(admitted) + known)
        stats.inc_value(f"sina/section/{section.id}/listed", len(admitted) + known)
        if older:
            stats.inc_value("sina/skipped/before_since", older)
        if known:
            stats.inc_value("sina/articles/known", known)
            stats.inc_value(f"sina/section/{section.id}/known", known)
        # Paging goes on unless the page reached `since` or held only known articles (and
        # the last run finished what it listed below: it may have been killed, or failed).
        all_known = known > 0 and not admitted and self.run.section(section.id).stop_at_known
        return admitted, not older and not all_known

    def _is_known(self, entry: Listed) -> bool:
        """Written before in this post format, API mtime unchanged and the post still there
        (at a path that passes the check of a new one): no request."""
        if self.arguments.refresh or self.run.state is None:
            return False
        known = self.run.state.get(entry.publishid)
        output = self.run.output
        if known is None or known.mtime != entry.mtime or known.post_format != output.post_format:
            return False
        try:
            return checked_post_path(output.posts_dir, known.path).is_file()
        except UnsafePath:  # fetched, and its row replaced (crawler.pipelines.post_paths)
            return False

    def list_failed(self, failure: Failure) -> Iterator[scrapy.Request]:
        section = failure.request.cb_kwargs["section"]  # type: ignore[attr-defined]
        skip = download_failed(failure)
        self._list_failed(section, skip.url, skip.reason, skip.detail)
        yield from self._complete(section)

    def _list_failed(
        self, section: Section, url: str, reason: str, detail: str = "", *, what: str = "Listing", bug: bool = False
    ) -> None:
        """A listing gave nothing: that section alone is failed, counted and logged."""
        progress = self.run.section(section.id)
        progress.listing_failed = progress.left_behind = True
        kind = section.kind if section.kind in ("roll", "zhibo", "feed") else "list"
        self.crawler.stats.inc_value(f"sina/{kind}/failed/{reason}")
        self.crawler.stats.inc_value(f"sina/section/{section.id}/list_failed")
        self.logger.log(
            logging.ERROR if bug else logging.WARNING,
            "%s failed for section %s: %s: %s%s",
            what,
            section.id,
            url,
            reason,
            f": {detail}" if detail else "",
            exc_info=bug,
        )

    def _complete(self, section: Section) -> Iterator[scrapy.Request]:
        before = self.listings.duplicates
        released = self.listings.complete(section.id)
        if released:
            self.run.articles_requested += len(released)
            self.crawler.stats.inc_value("sina/articles/requested", len(released))
        by_id = {s.id: s for s in self.sections}
        for section_id, entry in released:
            request = scrapy.Request(
                article_request_url(entry.url),
                callback=self.parse_article,
                errback=self.article_failed,
                cb_kwargs={"listing": entry, "section": by_id[section_id]},
                # The body style travels with the request: a cluster's worker parses it as
                # this run (the writer) was configured, not as the worker's own settings say.
                meta={"sina_fetch": ARTICLE, "sina_body_style": self.run.output.body_style},
                # Listings are deduplicated by publishid already; two articles redirected
                # to one page must each reach a callback, not be dropped as duplicates.
                dont_filter=True,
            )
            if self.run.cluster is None:
                yield request
            elif self.run.cluster.push(request, entry.publishid, section_id):
                self.crawler.stats.inc_value("sina/cluster/pushed")
            else:
                self.crawler.stats.inc_value("sina/cluster/already_queued")
        duplicates = self.listings.duplicates - before
        if duplicates:
            self.crawler.stats.inc_value("sina/skipped/listed_twice", duplicates)

    # --- articles ----------------------------------------------------------------

    async def parse_article(
        self, response: Response, listing: RollItem, section: Section
    ) -> AsyncIterator[ArticleItem]:
        outcome = await self._article_item(response, listing, section)
        if not self._answered(listing.publishid):
            return
        if isinstance(outcome, Skip):
            self._article_skipped(section, outcome.reason, outcome.url, outcome.detail)
        else:
            yield outcome

    async def _article_item(self, response: Response, listing: RollItem, section: Section) -> ArticleItem | Skip:
        """The item of an article page, or why it gives none."""
        try:
            facts = await self.parse_workers.page_facts(
                response.body,
                _content_type(response) or None,
                response.url,
                response.meta.get("sina_body_style", self.run.output.body_style),
                listing.kind,
            )
            item = load_article(listing, section, response.url, facts)
        except ArticleError as exc:
            return Skip(exc.reason, response.url, exc.detail)
        except PageCrashedParser as exc:
            return Skip("parser_crashed", response.url, str(exc))
        except PageFactsError as exc:
            return Skip("parse_error", response.url, str(exc))
        except PageTimedOut as exc:
            return Skip("parse_timeout", response.url, str(exc))
        self._parsed()
        redirects = response.meta.get("redirect_urls")
        if redirects:  # on Sina's hosts (FetchPolicyMiddleware): kept, and said
            self.crawler.stats.inc_value("sina/articles/redirected")
            self.logger.info("Article %s redirected to %s", redirects[0], response.url)
        return item

    def _parsed(self) -> None:
        self.run.articles_parsed += 1
        self.crawler.stats.inc_value("sina/articles/parsed")

    def article_failed(self, failure: Failure) -> None:
        request = failure.request  # type: ignore[attr-defined]
        skip = download_failed(failure)
        if self._answered(request.cb_kwargs["listing"].publishid):
            self._article_skipped(request.cb_kwargs["section"], skip.reason, skip.url, skip.detail)

    def _answered(self, publishid: str) -> bool:
        """False for a coordinator whose article a worker answered first (one answer each)."""
        if self.run.cluster is None or self.run.cluster.answered(publishid):
            return True
        self.crawler.stats.inc_value("sina/cluster/late_answers")
        return False

    # --- a cluster's coordinator (SINA_REDIS_URL) ---------------------------------------

    async def _coordinate(self, cluster: Coordinator) -> AsyncIterator[scrapy.Request | ArticleItem]:
        """Until every listing is done and every pushed article answered: the workers'
        items go to the pipelines here, as this process's own do; this process takes
        articles back from the shared queue while it has room for them; articles lost with
        a dead worker are pushed again once, then left for the next run."""
        from redis import RedisError  # the `cluster` extra, installed when one is configured

        by_id = {section.id: section for section in self.sections}
        room = self.crawler.settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN", 4)
        stats = self.crawler.stats
        assert self.crawler.engine is not None and stats is not None
        try:
            while not (self.listings.finished and cluster.finished):
                if cluster.lease_lost:
                    raise CloseSpider("cluster_locked")
                for answer in cluster.answers():
                    section = by_id.get(answer.section)
                    if not cluster.answered(answer.publishid) or section is None:
                        stats.inc_value("sina/cluster/late_answers")
                        continue  # answered already, or for an earlier coordinator
                    stats.inc_value("sina/cluster/answers")
                    if answer.item is not None:
                        self._parsed()
                        yield answer.item
                    else:
                        self._article_skipped(section, answer.reason, answer.url, answer.detail)
                if len(cluster.fetching_here) < room and not self.crawler.engine.needs_backout():
                    request = cluster.take()
                    if request is not None:
                        stats.inc_value("sina/cluster/taken")
                        yield request
                        continue
                pushed_again, given_up = cluster.recover()
                if pushed_again:
                    stats.inc_value("sina/cluster/pushed_again", pushed_again)
                for pushed in given_up:
                    stats.inc_value("sina/cluster/lost")
                    section = by_id[pushed.section_id]
                    self._article_skipped(section, "lost", pushed.request.url, "lost with a worker twice")
                await asyncio.sleep(0.05)
        except RedisError as exc:
            # What is unanswered has no state row: the next run fetches it.
            self.logger.error("Cluster Redis failed mid-run, %d articles unanswered: %s", len(cluster.unanswered), exc)
            raise CloseSpider("cluster_unavailable") from exc

    def _article_skipped(self, section: Section, reason: str, url: str, detail: str) -> None:
        if reason not in _SKIPPED_FOR_GOOD:
            self.run.section(section.id).left_behind = True
        self.crawler.stats.inc_value(f"sina/skipped/{reason}")
        self.crawler.stats.inc_value(f"sina/section/{section.id}/skipped")
        self.logger.warning("Article skipped (%s): %s%s", reason, url, f": {detail}" if detail else "")


@dataclass(frozen=True, slots=True)
class Skip:
    """Why an article gives no post: a stats and log reason, the URL, a detail."""

    reason: str
    url: str
    detail: str = ""


def download_failed(failure: Failure) -> Skip:
    """Why a request failed, named by the URL it started at (when it was redirected)."""
    request = failure.request  # type: ignore[attr-defined]
    redirects = request.meta.get("redirect_urls") or []
    url = redirects[0] if redirects else request.url
    return Skip(failure_reason(failure), url, f"redirected to {request.url}" if redirects else "")


# Article pages that no later fetch will turn into a post.
_SKIPPED_FOR_GOOD = frozenset({"no_body", "empty_body", "no_title", "no_date"})


def _content_type(response: Response) -> str:
    return (response.headers.get("Content-Type") or b"").decode("latin-1")


def _decoded(response: Response) -> tuple[str, str]:
    """(text, encoding).  With a charset in Content-Type, Scrapy's decoding gives the same
    text as decode_page (the header's charset first, after a BOM)."""
    content_type = _content_type(response)
    if isinstance(response, TextResponse) and "charset=" in content_type.lower():
        return response.text, response.encoding
    return decode_page(response.body, content_type)


def _text_of(response: Response) -> str:
    return _decoded(response)[0]


def _page_of(response: Response) -> str | bytes:
    """An HTML page as the parser takes it."""
    text, encoding = _decoded(response)
    return parser_input(response.body, text, encoding)
