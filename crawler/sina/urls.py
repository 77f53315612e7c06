"""Sina article URLs (site notes §2), and the gallery and video pages listings also hold.

A listed URL is read with the WHATWG URL parser, the parse that also builds the
request (crawler.net.fetch_policy): its host, not a string match, decides whether it is
one of Sina's pages.
"""

from __future__ import annotations

import re

import ada_url

from crawler.net.fetch_policy import HostPatterns, RefusedURL, checked_url

# PC article pages: doc-i + publishid (7 lowercase letters + 7 digits) on a *.sina.com.cn host.
ARTICLE_HOSTS = HostPatterns.of(["*.sina.com.cn"])
_ARTICLE_PATH = re.compile(r"/doc-i([a-z]{7}\d{7})\.shtml$")
# Refusals that only say "not one of Sina's article pages"; the others are unsafe URLs.
_NOT_ARTICLE = frozenset({"not_article", "offsite", "not_http", "bad_url"})


class NotArticle(ValueError):
    """A listed URL that is not an article page; ``unsafe`` when it tried to look like one
    (user-info, backslash, odd port, private address)."""

    def __init__(self, reason: str, url: str) -> None:
        super().__init__(f"{reason}: {url}")
        self.reason = reason
        self.url = url

    @property
    def unsafe(self) -> bool:
        return self.reason not in _NOT_ARTICLE


ARTICLE = "article"
GALLERY = "gallery"
VIDEO = "video"
# A gallery (图集): slide.<channel>.sina.com.cn/<path>/slide_<ch>_<sid>_<id>.html[/d/8 …]
_GALLERY_PATH = re.compile(r"/(slide_\d+_\d+_\d+)\.html(?:/|$)")
# A video page: video.sina.com.cn/p/<channel>/<YYYY-MM-DD>/detail-i<publishid>.d.html
_VIDEO_PATH = re.compile(r"/detail-i([a-z]{7}\d{7})\.d\.html$")


def listed_page(url: str) -> tuple[str, str, str]:
    """(the URL as WHATWG serialises it, the page's id, its kind) of a page a post can be
    made of: a PC article (``doc-i<publishid>.shtml``), a gallery (``slide.*``) or a video
    page (``video.sina.com.cn``); NotArticle for anything else."""
    try:
        checked = checked_url(url, ARTICLE_HOSTS)
    except RefusedURL as refused:
        raise NotArticle(refused.reason, url) from None
    path = checked.pathname
    if match := _ARTICLE_PATH.search(path):
        return checked.href, match.group(1), ARTICLE
    if checked.hostname.startswith("slide.") and (match := _GALLERY_PATH.search(path)):
        return checked.href, match.group(1), GALLERY
    if checked.hostname == "video.sina.com.cn" and (match := _VIDEO_PATH.search(path)):
        return checked.href, match.group(1), VIDEO
    raise NotArticle("not_article", url)


def article_url(url: str) -> tuple[str, str]:
    """(the URL as WHATWG serialises it, publishid) of a PC article URL, or NotArticle."""
    href, publishid, kind = listed_page(url)
    if kind != ARTICLE:
        raise NotArticle("not_article", url)
    return href, publishid


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
