"""The five kinds of listing a section can be (settings/sections.yaml ``kind``), one class
each: where its pages are, how an answer is read, and how it is named in stats and logs.

Invariant: everything that differs between kinds is a class attribute or a method here;
the spider (crawler.spiders.sina_finance) treats every listing the same way, through
``kind_of(section)``.  Reading an answer gives a Listing (its usable entries, why the
others were skipped, whether a next page may hold more) or raises ListingFailed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from scrapy.http import Response

from crawler.admission import Listed
from crawler.config import ColumnSection, FeedSection, PageSection, RollSection, Section, ZhiboSection
from crawler.net.fetch_policy import LISTING, FetchPolicy, RefusedURL
from crawler.sina.article_page import parse_page
from crawler.sina.feed_api import FEED_REFERER, feed_api_url, feed_item, parse_feed_page
from crawler.sina.list_pages import column_entries, column_url, page_article_links
from crawler.sina.roll_api import (
    API_REFERER,
    MAX_PAGE_SIZE,
    ListingApiError,
    SkippedItem,
    parse_roll_page,
    roll_api_url,
    roll_item,
)
from crawler.sina.zhibo_api import PAGE_SIZE, ZHIBO_REFERER, flash, parse_zhibo_page, zhibo_api_url
from crawler.spiders.responses import page_of, text_of

T = TypeVar("T", bound=Listed)


@dataclass(frozen=True, slots=True)
class Listing(Generic[T]):
    """One answer of a listing, read."""

    entries: list[T]  # what may become posts, in listing order
    skipped: list[tuple[str, str]]  # (reason, detail) of each item that cannot
    more: bool = False  # a next page may hold more (the page was full)


class ListingFailed(Exception):
    """An answer that is not a listing; ``what`` names the listing in the log line, and
    ``url``, when given, the URL to name instead of the response's."""

    def __init__(self, reason: str, detail: str = "", *, what: str, url: str | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail, self.what, self.url = reason, detail, what, url


def _usable(
    raws: Iterable[dict[str, Any]], read: Callable[[dict[str, Any]], T]
) -> tuple[list[T], list[tuple[str, str]]]:
    """The items ``read`` accepts, and (reason, detail) of those it skips."""
    entries: list[T] = []
    skipped: list[tuple[str, str]] = []
    for raw in raws:
        try:
            entries.append(read(raw))
        except SkippedItem as exc:
            skipped.append((exc.reason, exc.detail))
    return entries, skipped


class ListingKind:
    section_type: ClassVar[type[Section]]
    label: ClassVar[str]  # what a skipped entry is called in a log line
    stats: ClassVar[str]  # sina/<stats>/failed/<reason>, sina/<stats>/pages
    source: ClassVar[str]  # what answered something that is not a listing, in a log line
    referer: ClassVar[str | None] = None  # a JSON API, asked with this Referer
    counts_pages: ClassVar[bool] = True  # sina/<stats>/pages counts its answers
    empty_fails: ClassVar[bool] = False  # an answer without a single link fails as no_links
    posts_at_once: ClassVar[bool] = False  # each entry is a post itself: no page to fetch
    rendered: ClassVar[bool] = False  # read through the browser (scrapy-playwright)

    def url(self, section: Any, page: int) -> str:
        raise NotImplementedError

    def read(self, response: Response, section: Any, page: int) -> Listing[Any]:
        raise NotImplementedError

    def _api_error(self, exc: ListingApiError) -> ListingFailed:
        return ListingFailed(exc.reason, exc.detail, what=self.source)


class RollListing(ListingKind):
    """Sina's roll API: pages of 50 items, newest first."""

    section_type = RollSection
    label, stats, source, referer = "Roll item", "roll", "Roll API", API_REFERER

    def url(self, section: RollSection, page: int) -> str:
        return roll_api_url(section.pageid, section.lid, page, MAX_PAGE_SIZE)

    def read(self, response: Response, section: RollSection, page: int) -> Listing[Any]:
        try:
            answer = parse_roll_page(text_of(response))
        except ListingApiError as exc:
            raise self._api_error(exc) from exc
        entries, skipped = _usable(answer.items, roll_item)
        return Listing(entries, skipped, more=len(answer.items) >= MAX_PAGE_SIZE)


class ZhiboListing(ListingKind):
    """Sina's 7×24 live feed: each flash is a post (docs/post-kinds.md §1)."""

    section_type = ZhiboSection
    label, stats, source, referer = "Flash", "zhibo", "Live API", ZHIBO_REFERER
    posts_at_once = True

    def url(self, section: ZhiboSection, page: int) -> str:
        return zhibo_api_url(section.zhibo_id, page)

    def read(self, response: Response, section: ZhiboSection, page: int) -> Listing[Any]:
        try:
            answer = parse_zhibo_page(text_of(response))
        except ListingApiError as exc:
            raise self._api_error(exc) from exc
        entries, skipped = _usable(answer.items, flash)
        more = len(answer.items) >= PAGE_SIZE and (answer.total_pages is None or page < answer.total_pages)
        return Listing(entries, skipped, more=more)


class FeedListing(ListingKind):
    """A JSON channel list: its articles, galleries and videos, read as roll items; one page."""

    section_type = FeedSection
    label, stats, source, referer = "Feed item", "feed", "Feed API", FEED_REFERER

    def url(self, section: FeedSection, page: int) -> str:
        return feed_api_url(section.cids)

    def read(self, response: Response, section: FeedSection, page: int) -> Listing[Any]:
        try:
            items = parse_feed_page(text_of(response))
        except ListingApiError as exc:
            raise self._api_error(exc) from exc
        return Listing(*_usable(items, feed_item))


class ColumnListing(ListingKind):
    """A server-rendered column page; one page."""

    section_type = ColumnSection
    label, stats, source = "Column item", "list", "Column page"
    counts_pages, empty_fails = False, True

    def url(self, section: ColumnSection, page: int) -> str:
        return column_url(section.cid)

    def read(self, response: Response, section: ColumnSection, page: int) -> Listing[Any]:
        entries, skipped = column_entries(parse_page(page_of(response)), response.url)
        return Listing(entries, [("not_article", url) for url in skipped])


class PageListing(ListingKind):
    """A list page whose links JavaScript builds, read through the browser; one page."""

    section_type = PageSection
    label, stats, source = "Listed link", "list", "List page"
    counts_pages, empty_fails, rendered = False, True, True

    def url(self, section: PageSection, page: int) -> str:
        return section.url

    def read(self, response: Response, section: PageSection, page: int) -> Listing[Any]:
        try:  # the browser follows redirects itself, past FetchPolicyMiddleware
            FetchPolicy().check(response.url, LISTING)
        except RefusedURL as refused:
            asked = response.request.url if response.request else section.url
            raise ListingFailed(
                "offsite_redirect", f"the browser was sent to {refused.url}", what="Listing", url=asked
            ) from None
        return Listing(page_article_links(parse_page(page_of(response)), response.url), [])


_KINDS: dict[type[Section], ListingKind] = {
    kind.section_type: kind() for kind in (RollListing, ColumnListing, PageListing, ZhiboListing, FeedListing)
}


def kind_of(section: Section) -> ListingKind:
    return _KINDS[type(section)]
