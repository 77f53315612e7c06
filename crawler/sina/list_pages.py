"""List pages (site notes §6, §9): server-rendered column pages and JS-built lists.

Both give article links only; the article's date then comes from its page
(``article:published_time``), as the post format says for articles found this way."""

from __future__ import annotations

import re
from datetime import datetime

from selectolax.lexbor import LexborHTMLParser

from crawler.net.urls import resolve_url
from crawler.sina.roll_api import RollItem
from crawler.sina.times import BEIJING
from crawler.sina.urls import article_publishid

COLUMN_URL = "https://finance.sina.com.cn/roll/c/{cid}.shtml"
# The list is hidden by CSS but fully present in the served HTML.
COLUMN_LINKS = "ul#listcontent li"
_DATED_PATH = re.compile(r"/(\d{4})-(\d{2})-(\d{2})/doc-i")
_LIST_TIME = re.compile(r"(\d{1,2})月(\d{1,2})日\s*(\d{1,2}):(\d{2})")


def column_url(cid: str) -> str:
    return COLUMN_URL.format(cid=cid)


def _listed(url: str, listed_at: int | None) -> RollItem | None:
    publishid = article_publishid(url)
    if publishid is None:
        return None
    return RollItem(
        publishid=publishid,
        url=url,
        docid=None,
        title=None,  # from the page: og:title, then <h1>
        intime=None,  # from the page: article:published_time
        ctime=listed_at,
        mtime=None,
        media_name=None,
        intro=None,
        keywords=None,
    )


def column_listed_time(url: str, shown: str) -> int | None:
    """Listing time: the year (and date) from the URL, the time from ``(09月28日 23:54)``."""
    dated = _DATED_PATH.search(url)
    if dated is None:
        return None
    year, month, day = (int(part) for part in dated.groups())
    hour = minute = 0
    shown_time = _LIST_TIME.search(shown)
    if shown_time is not None:
        hour, minute = int(shown_time.group(3)), int(shown_time.group(4))
    try:
        return int(datetime(year, month, day, hour, minute, tzinfo=BEIJING).timestamp())
    except ValueError:
        return None


def column_entries(tree: LexborHTMLParser, page_url: str) -> tuple[list[RollItem], list[str]]:
    """(articles, skipped URLs): links without a dated /doc-i path are skipped."""
    articles: list[RollItem] = []
    skipped: list[str] = []
    for entry in tree.css(COLUMN_LINKS):
        link = entry.css_first("a[href]")
        if link is None:
            continue
        url = resolve_url((link.attributes.get("href") or "").strip(), page_url)
        shown = entry.css_first("span")
        listed_at = column_listed_time(url, shown.text() if shown is not None else "")
        listed = _listed(url, listed_at) if listed_at is not None else None
        if listed is None:
            skipped.append(url)
        else:
            articles.append(listed)
    return articles, skipped


def page_article_links(tree: LexborHTMLParser, page_url: str) -> list[RollItem]:
    """Every ``/doc-i…shtml`` link of a (rendered) list page, once, in page order."""
    seen: set[str] = set()
    articles = []
    for link in tree.css("a[href]"):
        url = resolve_url((link.attributes.get("href") or "").strip(), page_url)
        dated = _DATED_PATH.search(url)
        listed = _listed(url, column_listed_time(url, "") if dated else None)
        if listed is not None and listed.publishid not in seen:
            seen.add(listed.publishid)
            articles.append(listed)
    return articles
