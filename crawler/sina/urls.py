"""Sina article URLs (site notes §2).

A listed URL is read with the WHATWG URL parser, the parse that also builds the
request (crawler.net.fetch_policy): its host, not a string match, decides whether it is
one of Sina's PC article pages.
"""

from __future__ import annotations

import re

import ada_url

from crawler.net.fetch_policy import HostPatterns, RefusedURL, checked_url

# PC article pages: doc-i + publishid (7 lowercase letters + 7 digits) on a *.sina.com.cn host.
ARTICLE_HOSTS = HostPatterns.of(["*.sina.com.cn"])
_ARTICLE_PATH = re.compile(r"/doc-i([a-z]{7}\d{7})\.shtml$")
# Refusals that only say "not one of Sina's article pages"; the others are unsafe URLs.
_NOT_ARTICLE = frozenset({"offsite", "not_http", "bad_url"})


class NotArticle(ValueError):
    """A listed URL that is not an article page; ``unsafe`` when it tried to look like one
    (user-info, backslash, odd port, private address)."""

    def __init__(self, reason: str, url: str) -> None:
        super().__init__(f"{reason}: {url}")
        self.reason = reason
        self.url = url

    @property
    def unsafe(self) -> bool:
        return self.reason not in _NOT_ARTICLE and self.reason != "not_article"


def article_url(url: str) -> tuple[str, str]:
    """(the URL as WHATWG serialises it, publishid) of a PC article URL, or NotArticle."""
    try:
        href = checked_url(url, ARTICLE_HOSTS).href
    except RefusedURL as refused:
        raise NotArticle(refused.reason, url) from None
    match = _ARTICLE_PATH.search(ada_url.parse_url(href)["pathname"])
    if match is None:
        raise NotArticle("not_article", url)
    return href, match.group(1)


def article_publishid(url: str) -> str | None:
    """The publishid of a PC article URL, or None when the URL is not (safely) an article."""
    try:
        return article_url(url)[1]
    except NotArticle:
        return None


def article_request_url(url: str) -> str:
    """The URL the article is fetched from (and resolved against): https, no fragment."""
    parsed = ada_url.URL(url.strip())
    parsed.protocol = "https:"
    parsed.hash = ""
    return parsed.href
