"""The requests the spider sends: a page of a listing (a JSON API, a column page, a list
page the browser renders) and an article's page; and the browser the page kind needs.

Invariant: every request says what it fetches (``sina_fetch``: crawler.net.fetch_policy)
and is never dropped as a duplicate: listings are deduplicated by publishid already, and
two articles redirected to one page must each reach a callback.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import scrapy
from scrapy.crawler import Crawler
from scrapy_playwright.page import PageMethod

from crawler.browser import browser_settings, executable_problem, page_request_meta
from crawler.config import ConfigError, Section
from crawler.hexo.body import BodyStyle
from crawler.net.fetch_policy import ARTICLE, LISTING
from crawler.sina.roll_api import RollItem
from crawler.sina.urls import article_request_url
from crawler.spiders.kinds import ListingKind

JSON_ACCEPT = "application/json, */*;q=0.1"
# What the browser waits for on a list page: its links (section.wait_for, a CSS selector),
# or nothing at all on an error page (4xx/5xx), whose status then reaches the errback as
# http_<code> instead of a timeout 30 s later.
_LINKS_OR_ERROR_PAGE = (
    "selector => document.querySelector(selector) !== null"
    " || (performance.getEntriesByType('navigation')[0] || {}).responseStatus >= 400"
)

Callback = Callable[..., Any]


def listing_request(
    kind: ListingKind,
    section: Section,
    page: int,
    *,
    callback: Callback,
    errback: Callback,
    browser_meta: dict[str, Any] | None = None,
) -> scrapy.Request:
    """Page ``page`` of the section's listing; ``browser_meta``: the page kind's rendering."""
    meta: dict[str, Any] = {"sina_fetch": LISTING}
    headers = {"Referer": kind.referer, "Accept": JSON_ACCEPT} if kind.referer else None
    if browser_meta is not None:
        wait_for = getattr(section, "wait_for", None)
        meta["playwright_page_methods"] = [PageMethod("wait_for_function", _LINKS_OR_ERROR_PAGE, arg=wait_for)]
        meta.update(browser_meta)
    return scrapy.Request(
        kind.url(section, page),
        headers=headers,
        callback=callback,
        errback=errback,
        cb_kwargs={"section": section, "page": page},
        meta=meta,
        dont_filter=True,
    )


def article_request(
    entry: RollItem, section: Section, body_style: BodyStyle, *, callback: Callback, errback: Callback
) -> scrapy.Request:
    """The page of a listed article, gallery or video.  The body style travels with the
    request: a cluster's worker parses it as the writer is configured, not as its own
    settings say."""
    return scrapy.Request(
        article_request_url(entry.url),
        callback=callback,
        errback=errback,
        cb_kwargs={"listing": entry, "section": section},
        meta={"sina_fetch": ARTICLE, "sina_body_style": body_style},
        dont_filter=True,
    )


def browser_meta(crawler: Crawler, ignore_https_errors: bool) -> dict[str, Any]:
    """Set the crawl up for the browser (a page section's list pages) and return the meta
    of a request it renders.  Settings can still change here (from_crawler), and only now
    is a browser known to be needed at all.  ConfigError when it cannot run."""
    settings, guard = browser_settings(crawler.settings, lambda key: crawler.stats.inc_value(key))  # once crawling
    for name, value in settings.items():
        # Made from the given ones (-s included), they must win over them: the browser's
        # confinement is in its launch options.
        crawler.settings.set(name, value, priority="cmdline")
    problem = executable_problem(crawler.settings)
    if problem:
        raise ConfigError(problem)
    return page_request_meta(guard, ignore_https_errors)
