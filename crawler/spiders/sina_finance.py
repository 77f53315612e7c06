"""``scrapy crawl sina_finance``: roll-API listings of the configured sections, then
one request per article page.  Parsing lives in crawler.sina and crawler.loaders."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import scrapy
from scrapy.crawler import Crawler
from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadTimeoutError,
    ResponseDataLossError,
)
from scrapy.http import Response
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet.defer import CancelledError
from twisted.internet.error import ConnectionRefusedError, DNSLookupError, TCPTimedOutError
from twisted.internet.error import TimeoutError as TwistedTimeoutError
from twisted.python.failure import Failure

from crawler.config import ConfigError, Section, load_sections, select_sections
from crawler.hexo.fields import BEIJING
from crawler.items import ArticleItem
from crawler.listing import OrderedListings
from crawler.loaders import ArticleError, load_article
from crawler.run import CrawlRun
from crawler.sina.article_page import decode_page
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

# Download failures by the name they get in stats and logs (sina/skipped/<name>).
_FAILURE_REASONS: tuple[tuple[str, tuple[type[BaseException], ...]], ...] = (
    ("timeout", (DownloadTimeoutError, TwistedTimeoutError, TCPTimedOutError)),
    ("truncated", (ResponseDataLossError,)),
    ("too_large", (DownloadCancelledError, CancelledError)),  # over DOWNLOAD_MAXSIZE
    ("dns_error", (CannotResolveHostError, DNSLookupError)),
    ("connection_refused", (DownloadConnectionRefusedError, ConnectionRefusedError)),
)


@dataclass(frozen=True, slots=True)
class SpiderArguments:
    """``-a sections=china,macro -a pages=3 -a since=2026-09-01 -a refresh=1``, validated."""

    sections: str | None = None
    pages: int = 1
    since: date | None = None
    refresh: bool = False

    @classmethod
    def parse(
        cls, sections: str | None, pages: str | int, since: str | None, refresh: str | int | bool = False
    ) -> SpiderArguments:
        try:
            page_count = int(pages)
        except (TypeError, ValueError):
            raise ConfigError(f"-a pages={pages!r}: expected a whole number ≥ 1") from None
        if page_count < 1:
            raise ConfigError(f"-a pages={pages!r}: expected a whole number ≥ 1")
        since_date = None
        if since:
            try:
                since_date = date.fromisoformat(since)
            except ValueError:
                raise ConfigError(f"-a since={since!r}: expected YYYY-MM-DD") from None
        refresh_text = str(refresh).strip().lower()
        if refresh_text not in ("", "0", "1", "false", "true", "no", "yes"):
            raise ConfigError(f"-a refresh={refresh!r}: expected 1 or 0")
        return cls(
            sections=sections or None,
            pages=page_count,
            since=since_date,
            refresh=refresh_text in ("1", "true", "yes"),
        )

    @property
    def since_timestamp(self) -> int | None:
        """Start of the ``since`` day, Beijing time (Sina's dates are Beijing dates)."""
        if self.since is None:
            return None
        return int(datetime(self.since.year, self.since.month, self.since.day, tzinfo=BEIJING).timestamp())


class SinaFinanceSpider(scrapy.Spider):
    name = "sina_finance"

    def __init__(
        self,
        sections: str | None = None,
        pages: str | int = 1,
        since: str | None = None,
        refresh: str | int = 0,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.arguments = SpiderArguments.parse(sections, pages, since, refresh)
        self.sections: tuple[Section, ...] = ()
        self.listings: OrderedListings[RollItem] = OrderedListings(())

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> SinaFinanceSpider:
        spider: SinaFinanceSpider = super().from_crawler(crawler, *args, **kwargs)
        spider.sections = select_sections(load_sections(crawler.settings), spider.arguments.sections)
        spider.listings = OrderedListings([section.id for section in spider.sections])
        spider.run = CrawlRun.of(crawler)
        return spider

    async def start(self) -> AsyncIterator[scrapy.Request]:
        self.run.open()  # normally opened already by the first pipeline
        self.logger.info(
            "Sections: %s; roll pages per section: %d%s%s",
            ", ".join(section.id for section in self.sections),
            self.arguments.pages,
            f"; since {self.arguments.since}" if self.arguments.since else "",
            "; refresh: every article fetched again" if self.arguments.refresh else "",
        )
        for section in self.sections:
            yield self._roll_request(section, 1)

    # --- roll API --------------------------------------------------------------

    def _roll_request(self, section: Section, page: int) -> scrapy.Request:
        return scrapy.Request(
            roll_api_url(section.pageid, section.lid, page, MAX_PAGE_SIZE),
            headers={"Referer": API_REFERER, "Accept": "application/json, */*;q=0.1"},
            callback=self.parse_roll,
            errback=self.roll_failed,
            cb_kwargs={"section": section, "page": page},
            dont_filter=True,
        )

    def parse_roll(self, response: Response, section: Section, page: int) -> Iterator[scrapy.Request]:
        stats = self.crawler.stats
        try:
            text, _ = decode_page(response.body, response.headers.get("Content-Type", b"").decode("latin-1"))
            roll_page = parse_roll_page(text)
        except RollApiError as exc:
            stats.inc_value(f"sina/roll/failed/{exc.reason}")
            self.logger.warning("Roll API failed for section %s: %s: %s", section.id, response.url, exc)
            yield from self._complete(section)
            return
        stats.inc_value("sina/roll/pages")
        since = self.arguments.since_timestamp
        reached_since = False
        entries = []
        known = 0
        for raw in roll_page.items:
            try:
                entry = roll_item(raw)
            except SkippedItem as exc:
                stats.inc_value(f"sina/skipped/{exc.reason}")
                log = self.logger.debug if exc.reason == "not_article" else self.logger.warning
                log("Roll item skipped (%s) in %s: %s", exc.reason, response.url, exc.detail)
                continue
            listed_at = entry.ctime or entry.intime or 0
            if since is not None and listed_at < since:
                reached_since = True
                stats.inc_value("sina/skipped/before_since")
                continue
            if self._is_known(entry):
                known += 1
                continue
            entries.append(entry)
        stats.inc_value("sina/roll/items", len(entries) + known)
        stats.inc_value(f"sina/section/{section.id}/listed", len(entries) + known)
        if known:
            stats.inc_value("sina/articles/known", known)
            stats.inc_value(f"sina/section/{section.id}/known", known)
        self.listings.add(section.id, entries)
        full_page = len(roll_page.items) >= MAX_PAGE_SIZE
        all_known = known > 0 and not entries  # a page of known articles: the rest is older
        if page < self.arguments.pages and full_page and not reached_since and not all_known:
            yield self._roll_request(section, page + 1)
        else:
            yield from self._complete(section)

    def _is_known(self, entry: RollItem) -> bool:
        """Written before, API mtime unchanged and the post still there: no request."""
        if self.arguments.refresh or self.run.state is None:
            return False
        known = self.run.state.get(entry.publishid)
        return known is not None and known.mtime == entry.mtime and (self.run.output.posts_dir / known.path).is_file()

    def roll_failed(self, failure: Failure) -> Iterator[scrapy.Request]:
        request = failure.request  # type: ignore[attr-defined]
        section: Section = request.cb_kwargs["section"]
        reason = _failure_reason(failure)
        self.crawler.stats.inc_value(f"sina/roll/failed/{reason}")
        self.logger.warning("Roll API failed for section %s: %s: %s", section.id, request.url, reason)
        yield from self._complete(section)

    def _complete(self, section: Section) -> Iterator[scrapy.Request]:
        before = self.listings.duplicates
        for section_id, entry in self.listings.complete(section.id):
            owner = next(s for s in self.sections if s.id == section_id)
            yield scrapy.Request(
                article_request_url(entry.url),
                callback=self.parse_article,
                errback=self.article_failed,
                cb_kwargs={"listing": entry, "section": owner},
            )
        duplicates = self.listings.duplicates - before
        if duplicates:
            self.crawler.stats.inc_value("sina/skipped/listed_twice", duplicates)

    # --- articles ----------------------------------------------------------------

    def parse_article(self, response: Response, listing: RollItem, section: Section) -> Iterator[ArticleItem]:
        content_type = response.headers.get("Content-Type", b"").decode("latin-1")
        text, _ = decode_page(response.body, content_type)
        try:
            item = load_article(listing, section, response.url, text)
        except ArticleError as exc:
            self.crawler.stats.inc_value(f"sina/skipped/{exc.reason}")
            self.logger.warning("Article skipped (%s): %s: %s", exc.reason, response.url, exc.detail)
            return
        self.crawler.stats.inc_value("sina/articles/parsed")
        yield item

    def article_failed(self, failure: Failure) -> None:
        request = failure.request  # type: ignore[attr-defined]
        reason = _failure_reason(failure)
        self.crawler.stats.inc_value(f"sina/skipped/{reason}")
        self.logger.warning("Article skipped (%s): %s", reason, request.url)


def _failure_reason(failure: Failure) -> str:
    """A short, stable name for why a download failed (used in stats keys)."""
    if failure.check(HttpError):
        return f"http_{failure.value.response.status}"
    for reason, errors in _FAILURE_REASONS:
        if failure.check(*errors):
            return reason
    return type(failure.value).__name__
