"""``scrapy crawl sina_finance``: roll-API listings of the configured sections, then
one request per article page.  Parsing lives in crawler.sina and crawler.loaders."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import scrapy
from scrapy.crawler import Crawler
from scrapy.http import Response
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from crawler.config import ConfigError, Section, load_sections, select_sections
from crawler.hexo.fields import BEIJING
from crawler.items import ArticleItem
from crawler.listing import OrderedListings
from crawler.loaders import ArticleError, load_article
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


@dataclass(frozen=True, slots=True)
class SpiderArguments:
    """``-a sections=china,macro -a pages=3 -a since=2026-09-01``, validated."""

    sections: str | None = None
    pages: int = 1
    since: date | None = None

    @classmethod
    def parse(cls, sections: str | None, pages: str | int, since: str | None) -> SpiderArguments:
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
        return cls(sections=sections or None, pages=page_count, since=since_date)

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
        *args: Any,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.arguments = SpiderArguments.parse(sections, pages, since)
        self.sections: tuple[Section, ...] = ()
        self.listings: OrderedListings[RollItem] = OrderedListings(())

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> SinaFinanceSpider:
        spider: SinaFinanceSpider = super().from_crawler(crawler, *args, **kwargs)
        spider.sections = select_sections(load_sections(crawler.settings), spider.arguments.sections)
        spider.listings = OrderedListings([section.id for section in spider.sections])
        return spider

    async def start(self) -> AsyncIterator[scrapy.Request]:
        self.logger.info(
            "Sections: %s; roll pages per section: %d%s",
            ", ".join(section.id for section in self.sections),
            self.arguments.pages,
            f"; since {self.arguments.since}" if self.arguments.since else "",
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
            entries.append(entry)
        stats.inc_value("sina/roll/items", len(entries))
        stats.inc_value(f"sina/section/{section.id}/listed", len(entries))
        self.listings.add(section.id, entries)
        full_page = len(roll_page.items) >= MAX_PAGE_SIZE
        if page < self.arguments.pages and full_page and not reached_since:
            yield self._roll_request(section, page + 1)
        else:
            yield from self._complete(section)

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
    if failure.check(HttpError):
        return f"http_{failure.value.response.status}"
    return type(failure.value).__name__
