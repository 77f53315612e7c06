"""Sina's roll API, ``feed.mix.sina.com.cn/api/roll/get`` (site notes §4)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from crawler.sina.urls import ARTICLE, NotArticle, listed_page

ROLL_API = "https://feed.mix.sina.com.cn/api/roll/get"
MAX_PAGE_SIZE = 50  # larger values are clamped by the server
API_REFERER = "https://finance.sina.com.cn/"

# try{feedCardJsonpCallback({...});}catch(e){};  or  cb({...});
_JSONP = re.compile(r"^(?:try\s*\{\s*)?[\w$.]+\s*\((\{.*\})\)\s*;?", re.S)


class ListingApiError(Exception):
    """A listing API (the roll API, the live feed, a channel list) answered something
    other than a page of items."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason  # short, used in stats keys
        self.detail = detail


class RollApiError(ListingApiError):
    """The roll API (or a channel list, which has its reasons) answered something other
    than a page of items."""


def load_json(text: str, error: type[ListingApiError]) -> Any:
    """An answer's JSON; ``error("not_json")`` for anything json cannot read, nesting too
    deep for it (RecursionError) or a number of 5,000 digits (ValueError) included."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise error("not_json", f"{type(exc).__name__}: {str(exc)[:200]}") from exc


@dataclass(frozen=True, slots=True)
class RollPage:
    items: list[dict[str, Any]]
    total: int | None


def roll_api_url(pageid: str, lid: str, page: int, num: int = MAX_PAGE_SIZE) -> str:
    query = {"pageid": pageid, "lid": lid, "k": "", "num": num, "page": page}
    return f"{ROLL_API}?{urlencode(query)}"


def parse_roll_page(text: str) -> RollPage:
    """Items of one roll-API answer (JSON or JSONP); RollApiError otherwise."""
    stripped = text.strip()
    if not stripped.startswith("{"):
        match = _JSONP.match(stripped)
        if not match:
            raise RollApiError("not_json", f"answer starts with {stripped[:40]!r}")
        stripped = match.group(1)
    envelope = load_json(stripped, RollApiError)
    result = envelope.get("result") if isinstance(envelope, dict) else None
    if not isinstance(result, dict):
        raise RollApiError("bad_envelope", "no 'result' object")
    status = result.get("status") or {}
    code = status.get("code") if isinstance(status, dict) else None
    if code != 0:
        message = status.get("msg") if isinstance(status, dict) else None
        raise RollApiError("status", f"status.code={code!r} msg={message!r}")
    data = result.get("data")
    if not isinstance(data, list):
        raise RollApiError("bad_envelope", "'data' is not a list")
    total = result.get("total")
    return RollPage(
        items=[item for item in data if isinstance(item, dict)],
        total=int(total) if isinstance(total, int | str) and str(total).isdigit() else None,
    )


# The roll API ends some intros with the site's name (``…被控受贿..._新浪网``): it is
# Sina's, not the article's.
SITE_SUFFIXES = ("_新浪网",)


def without_site_suffix(intro: str) -> str:
    """An item's intro (as text) without the site's name at its end."""
    for suffix in SITE_SUFFIXES:
        if intro.endswith(suffix):
            return intro[: -len(suffix)].rstrip()
    return intro


class SkippedItem(Exception):
    """A listed item that gives no article; ``reason`` names it in stats and logs."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


# 9999-12-31T23:59:59Z: a post's DATE has a four-digit year (and SQLite an int64).
LATEST_TIME = 253402300799


def item_time(item: dict[str, Any], field: str = "intime") -> int | None:
    """An item's unix time (the API sends seconds as strings); None when missing or not
    a positive number; SkippedItem ``bad_field`` when past the year 9999."""
    value = item.get(field)
    try:
        seconds = int(str(value).strip())
    except (TypeError, ValueError):  # ValueError: not a number, or past 4,300 digits
        return None
    if seconds > LATEST_TIME:
        raise SkippedItem("bad_field", f"{field}={str(value)[:24]}… is past the year 9999")
    return seconds if seconds > 0 else None


def writable_text(value: str, where: str) -> str:
    """Text that can be written (UTF-8): a lone surrogate from a JSON escape cannot, and
    skips the item (``where``: which field of which item, for the log)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise SkippedItem("bad_field", f"{where} holds a lone surrogate") from None
    return value


def _writable(item: dict[str, Any], value: str, key: str) -> str:
    return writable_text(value, f"{key} of item {item.get('docid')!r}")


@dataclass(frozen=True, slots=True)
class RollItem:
    """What the spider needs of one roll-API item that lists an article."""

    publishid: str  # the page's id (an article's or a video's publishid, a gallery's slide_… name)
    url: str  # as listed, WHATWG-serialised
    docid: str | None
    title: str | None
    intime: int | None
    ctime: int | None
    mtime: int | None
    media_name: str | None
    intro: str | None
    keywords: str | None
    kind: str = ARTICLE  # article, gallery or video (crawler.sina.urls)


def roll_item(item: dict[str, Any]) -> RollItem:
    """Validate one API item; SkippedItem(reason) when it lists no usable article."""
    url = item.get("url")
    if not isinstance(url, str) or not url.strip():
        raise SkippedItem("no_url", f"item {item.get('docid')!r} has no url")
    _writable(item, url, "url")
    try:
        url, publishid, kind = listed_page(url)
    except NotArticle as exc:
        raise SkippedItem("unsafe_url" if exc.unsafe else "not_article", str(exc)) from None
    ctime = item_time(item, "ctime")
    intime = item_time(item, "intime")
    if ctime is None and intime is None:
        raise SkippedItem("no_time", url)

    def text(key: str) -> str | None:
        value = item.get(key)
        return _writable(item, value, key) if isinstance(value, str) and value.strip() else None

    return RollItem(
        publishid=publishid,
        url=url,
        docid=text("docid"),
        title=text("title"),
        intime=intime,
        ctime=ctime,
        mtime=item_time(item, "mtime"),
        media_name=text("media_name"),
        intro=text("intro"),
        keywords=text("keywords"),
        kind=kind,
    )


def unlisted_page(url: str) -> RollItem:
    """A page no listing gave (``scrapy parse URL``): its id and kind from its URL alone,
    its title, date and media left to the page; NotArticle when no post is made of it."""
    href, publishid, kind = listed_page(url)
    return RollItem(
        publishid=publishid,
        url=href,
        docid=None,
        title=None,
        intime=None,
        ctime=None,
        mtime=None,
        media_name=None,
        intro=None,
        keywords=None,
        kind=kind,
    )
