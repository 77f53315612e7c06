"""How the spider says what happened: every stats counter it keeps (docs/stats.md) and
every log line about a listing or an article, with what the run remembers of it.

Invariant: an outcome is counted, logged and remembered in one call here, so a counter
and its log line never drift apart; each names the URL and the reason.
"""

from __future__ import annotations

import logging
from typing import Any

from scrapy.crawler import Crawler

from crawler.admission import SKIPPED_FOR_GOOD, Admission
from crawler.config import Section
from crawler.extensions.runstate import CrawlRun
from crawler.spiders.kinds import ListingKind

# Why an article page that was fetched gave no post (its page, not its download): with the
# parsed ones, a section's `fetched` (the run summary's "template changed?": runsummary).
PAGE_SKIPS = SKIPPED_FOR_GOOD | {"parse_error", "parse_timeout", "parser_crashed"}


class Report:
    def __init__(self, crawler: Crawler, log: logging.LoggerAdapter[Any] | logging.Logger, run: CrawlRun) -> None:
        self.crawler = crawler  # its stats are there once the crawl starts
        self.log = log
        self.run = run

    def count(self, key: str, count: int = 1) -> None:
        self.crawler.stats.inc_value(key, count)

    # --- listings -------------------------------------------------------------------

    def listing_failed(
        self,
        section: Section,
        kind: ListingKind,
        url: str,
        reason: str,
        detail: str = "",
        *,
        what: str = "Listing",
        bug: bool = False,
    ) -> None:
        """A listing gave nothing: that section alone is failed, counted and logged."""
        self.run.section(section.id).listing_gave_nothing()
        self.count(f"sina/{kind.stats}/failed/{reason}")
        self.count(f"sina/section/{section.id}/list_failed")
        self.log.log(
            logging.ERROR if bug else logging.WARNING,
            "%s failed for section %s: %s: %s%s",
            what,
            section.id,
            url,
            reason,
            f": {detail}" if detail else "",
            exc_info=bug,
        )

    def page_read(self, kind: ListingKind) -> None:
        if kind.counts_pages:
            self.count(f"sina/{kind.stats}/pages")

    def entry_skipped(self, section: Section, kind: ListingKind, reason: str, list_url: str, detail: str) -> None:
        """An item of a listing that can give no post."""
        self.count(f"sina/skipped/{reason}")
        self.count(f"sina/section/{section.id}/skipped")
        log = self.log.debug if reason == "not_article" else self.log.warning
        log("%s skipped (%s) in %s: %s", kind.label, reason, list_url, detail)

    def admitted(self, section: Section, admission: Admission[Any], *, to_fetch: bool = True) -> None:
        """A page's entries: listed (the rest were before -a since), of which known; those
        admitted are to be fetched (``to_fetch``) or are posts at once (flashes)."""
        if to_fetch:
            self.run.articles_listed += len(admission.admitted)
        self.count("sina/roll/items", admission.listed)
        self.count(f"sina/section/{section.id}/listed", admission.listed)
        if admission.older:
            self.count("sina/skipped/before_since", admission.older)
        if admission.outside:
            self.count("sina/skipped/outside_window", admission.outside)
        if admission.known:
            self.count("sina/articles/known", admission.known)
            self.count(f"sina/section/{section.id}/known", admission.known)

    def released(self, requested: int, listed_twice: int) -> None:
        """Articles released for fetching, and those another section listed first."""
        if requested:
            self.run.articles_requested += requested
            self.count("sina/articles/requested", requested)
        if listed_twice:
            self.run.articles_listed -= listed_twice
            self.count("sina/skipped/listed_twice", listed_twice)

    def reached(self) -> None:
        """An article's page answered, or failed for good: it is no longer waiting."""
        self.run.articles_reached += 1

    # --- articles -------------------------------------------------------------------

    def parsed(self, section_id: str) -> None:
        self.run.articles_parsed += 1
        self.count("sina/articles/parsed")
        self.count(f"sina/section/{section_id}/fetched")

    def redirected(self, listed_url: str, url: str) -> None:
        """On Sina's hosts (FetchPolicyMiddleware): kept, and said."""
        self.count("sina/articles/redirected")
        self.log.info("Article %s redirected to %s", listed_url, url)

    def article_skipped(self, section_id: str, reason: str, url: str, detail: str, *, page: bool = True) -> None:
        """``page``: an article's page (a flash has none, so it is not counted as fetched)."""
        self.run.section(section_id).article_skipped(reason)
        self.count(f"sina/skipped/{reason}")
        self.count(f"sina/section/{section_id}/skipped")
        if page and reason in PAGE_SKIPS:
            self.count(f"sina/section/{section_id}/fetched")
        if reason == "no_body":
            self.count(f"sina/section/{section_id}/no_body")
        self.log.warning("Article skipped (%s): %s%s", reason, url, f": {detail}" if detail else "")
