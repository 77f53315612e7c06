"""The spider of ``scrapy sina-check`` (crawler/commands/sina-check.py): per selected
section, its first listing page and one article of it, read as a crawl reads them, then
judged (crawler.sina.site_check): ``ok``, ``listing broken`` or ``template changed``.

Invariant: a read-only run.  No item pipeline and none of the project's extensions run
(no post, no lock, no state, no manifest, no run summary); requests go through the normal
downloader and its middlewares (the proxy, the fetch policy: Sina's hosts only), made as
the crawl makes them (crawler.spiders.sina_requests).  The class has no ``name``, so
``scrapy list`` and scrapyd list only the crawling spiders: the command runs it by class.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import scrapy
from scrapy.crawler import Crawler
from scrapy.http import Response
from twisted.python.failure import Failure

from crawler.config import Config, ConfigError, PageSection, Section, select_sections
from crawler.hexo.body import DEFAULT_BODY_STYLE, BodyStyle
from crawler.loaders import ArticleError, load_article, load_flash
from crawler.parsing.page_facts import page_facts
from crawler.sina.article_page import parse_page
from crawler.sina.roll_api import RollItem
from crawler.sina.site_check import LISTING_BROKEN, OK, TEMPLATE_CHANGED, SectionCheck, paragraphs, template_problems
from crawler.sina.urls import ARTICLE
from crawler.spiders.arguments import RUNNER_ARGUMENTS
from crawler.spiders.articles import download_failed
from crawler.spiders.kinds import ListingFailed, kind_of
from crawler.spiders.responses import content_type, page_of
from crawler.spiders.sina_requests import article_request, browser_meta, listing_request

CHECK_SPIDER = "sina_check"
ARGUMENTS = ("sections",)


class SiteCheckSpider(scrapy.Spider):
    # Read-only: no pipeline writes a post; no RunState (lock, state), RunSummary, RunHealth.
    # Quiet: the table is the output (-s LOG_LEVEL=INFO shows the run).  Scrapy reads this
    # class attribute, so it stays one.
    custom_settings = {"ITEM_PIPELINES": {}, "EXTENSIONS": {}, "LOG_LEVEL": "WARNING"}  # noqa: RUF012
    writes_posts = False  # and were RunState enabled with -s EXTENSIONS=…: still no lock, no state
    sections: tuple[Section, ...]
    body_style: BodyStyle = DEFAULT_BODY_STYLE  # HEXO_BODY: the body rules a post would go through
    browser_meta: dict[str, Any] | None = None

    def __init__(self, **kwargs: Any) -> None:
        unknown = sorted(set(kwargs) - set(ARGUMENTS) - RUNNER_ARGUMENTS)
        if unknown:
            given = ", ".join(f"-a {name}={kwargs[name]}" for name in unknown)
            raise ConfigError(f"{given}: scrapy sina-check takes only -a sections=id,id")
        super().__init__(name=CHECK_SPIDER)
        self.wanted: str | None = kwargs.get("sections") or None
        self.checks: dict[str, SectionCheck] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> SiteCheckSpider:
        spider: SiteCheckSpider = super().from_crawler(crawler, *args, **kwargs)
        config = Config.of(crawler)
        spider.sections = select_sections(config.sections, spider.wanted)
        spider.body_style = config.output.body_style
        if any(isinstance(section, PageSection) for section in spider.sections):
            spider.browser_meta = browser_meta(crawler, config.browser_ignore_https_errors)
        return spider

    async def start(self) -> AsyncIterator[scrapy.Request]:
        self.logger.info("Checking sections: %s", ", ".join(section.id for section in self.sections))
        for section in self.sections:
            kind = kind_of(section)
            yield listing_request(
                kind,
                section,
                1,
                callback=self.parse_listing,
                errback=self.listing_failed,
                browser_meta=self.browser_meta if kind.rendered else None,
            )

    def results(self, finish_reason: str) -> list[SectionCheck]:
        """One row per selected section, in sections.yaml order; a section the check never
        finished (the run stopped first) is a broken listing."""
        return [
            self.checks.get(section.id)
            or SectionCheck(section.id, section.name, LISTING_BROKEN, f"no answer (the check ended: {finish_reason})")
            for section in self.sections
        ]

    def _judge(self, section: Section, status: str, reason: str) -> None:
        self.checks[section.id] = SectionCheck(section.id, section.name, status, reason)
        self.crawler.stats.inc_value(f"sina/check/{status.replace(' ', '_')}")
        log = self.logger.info if status == OK else self.logger.error
        log("Section %s: %s: %s", section.id, status, reason)

    # --- the listing ------------------------------------------------------------------

    def parse_listing(self, response: Response, section: Section, page: int = 1) -> Iterator[scrapy.Request]:
        kind = kind_of(section)
        try:
            listing = kind.read(response, section, page)
        except ListingFailed as failed:
            detail = f": {failed.detail}" if failed.detail else ""
            self._judge(section, LISTING_BROKEN, f"{failed.url or response.url}: {failed.reason}{detail}")
            return
        except Exception as exc:  # what the crawl counts as parse_error
            self._judge(section, LISTING_BROKEN, f"{response.url}: parse_error: {type(exc).__name__}: {exc}")
            return
        if not listing.entries:
            skipped = f" ({len(listing.skipped)} unusable: {listing.skipped[0][0]})" if listing.skipped else ""
            self._judge(section, LISTING_BROKEN, f"{response.url}: no items{skipped}")
            return
        listed = f"{len(listing.entries)} item{'s' if len(listing.entries) != 1 else ''}"
        if kind.posts_at_once:  # a flash is its own post: no page to fetch
            flash = listing.entries[0]
            try:
                load_flash(flash, section, self.body_style)
            except ArticleError as exc:
                self._judge(section, TEMPLATE_CHANGED, f"flash {flash.id}: {exc.reason}: {exc.detail}")
            else:
                self._judge(section, OK, f"{listed}; flash {flash.id} makes a post")
            return
        entries: list[RollItem] = listing.entries
        entry = next((entry for entry in entries if entry.kind == ARTICLE), entries[0])
        request = article_request(
            entry, section, self.body_style, callback=self.parse_article, errback=self.article_failed
        )
        request.cb_kwargs["listed"] = listed
        yield request

    def listing_failed(self, failure: Failure) -> None:
        section = failure.request.cb_kwargs["section"]  # type: ignore[attr-defined]
        skip = download_failed(failure)
        self._judge(section, LISTING_BROKEN, f"{skip.url}: {skip.reason}")

    # --- the article ------------------------------------------------------------------

    def parse_article(self, response: Response, listing: RollItem, section: Section, listed: str) -> None:
        tree = parse_page(page_of(response))
        problems = template_problems(tree) if listing.kind == ARTICLE else []
        if not problems:  # it comes out of the body rules as a post, as the crawl makes it
            facts = page_facts(
                response.body, content_type(response) or None, response.url, self.body_style, listing.kind
            )
            try:
                load_article(listing, section, response.url, facts)
            except ArticleError as exc:
                problems.append(f"{exc.reason}: {exc.detail}")
        if problems:
            self._judge(section, TEMPLATE_CHANGED, f"{response.url}: {'; '.join(problems)}")
        else:
            count = paragraphs(tree)
            what = f"{count} paragraph{'s' if count != 1 else ''}" if listing.kind == ARTICLE else listing.kind
            self._judge(section, OK, f"{listed}; {response.url} reads ({what})")

    def article_failed(self, failure: Failure) -> None:
        section = failure.request.cb_kwargs["section"]  # type: ignore[attr-defined]
        skip = download_failed(failure)
        self._judge(section, LISTING_BROKEN, f"its first article {skip.url}: {skip.reason}")
