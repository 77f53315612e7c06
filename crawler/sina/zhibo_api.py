"""Sina's 7×24 live feed, ``zhibo.sina.com.cn/api/zhibo/feed`` (site notes §5): one flash
(快讯) per item, each of which becomes a post of its own (docs/post-kinds.md).

Envelope: ``result.status.code`` (0: fine), ``result.data.feed.list[]``,
``result.data.feed.page_info``.  A flash: ``id``, ``rich_text`` (its text, with a
``【…】`` lead in most), ``multimedia`` (its images: a JSON object with ``img_url`` or
HTML with ``<img>``; often empty), ``create_time`` and ``update_time`` (Beijing wall
time), ``tag [{id, name}]``, ``ext`` (a JSON string: ``stocks``, ``docurl``, ``docid``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from selectolax.lexbor import LexborHTMLParser

from crawler.sina.roll_api import LATEST_TIME, ListingApiError, SkippedItem, load_json, writable_text
from crawler.sina.times import BEIJING

ZHIBO_API = "https://zhibo.sina.com.cn/api/zhibo/feed"
ZHIBO_REFERER = "https://finance.sina.com.cn/7x24/"
PAGE_SIZE = 50  # the API takes up to 100 (site notes §5); k-spider reads 50
TITLE_LENGTH = 60  # characters of a flash without a 【…】 lead shown as its title
_LEAD = re.compile(r"^\s*【([^】]{1,200})】")
_SENTENCE_END = re.compile(r"[。！？!?；;]")
_LEAD_END = re.compile(r"[。！？!?]")  # a lead is a whole sentence: a semicolon does not end it


class ZhiboApiError(ListingApiError):
    """The live API answered something other than a page of flashes."""


@dataclass(frozen=True, slots=True)
class ZhiboPage:
    items: list[dict[str, Any]]
    total_pages: int | None


@dataclass(frozen=True, slots=True)
class Flash:
    id: int
    text: str  # rich_text, as the API gives it (HTML)
    images: tuple[str, ...]
    created: int  # unix seconds
    updated: int  # unix seconds; a flash whose update_time changed is written again
    tags: tuple[str, ...]
    stocks: tuple[dict[str, str], ...]  # {market, symbol, key}
    docurl: str | None  # the flash's own page, when Sina made one

    @property
    def mtime(self) -> int:
        return self.updated

    @property
    def ctime(self) -> int:
        return self.created

    @property
    def intime(self) -> int:
        return self.created

    @property
    def publishid(self) -> str:
        """The flash's identity in the state and in file names."""
        return f"zhibo{self.id}"

    @property
    def plain_text(self) -> str:
        return " ".join(LexborHTMLParser(f"<p>{self.text}</p>").text(deep=True).split())

    @property
    def lead(self) -> str | None:
        """What a news editor calls the flash's lead, the summary an index page shows: the
        first sentence (through its ``。！？!?``) of its text after the ``【…】`` headline,
        which is its title; all that text when no sentence ends in it; of the whole text
        when there is no headline.  None when that is empty or says only the title."""
        plain = self.plain_text
        headline = _LEAD.match(plain)
        rest = plain[headline.end() :] if headline is not None and headline.group(1).strip() else plain
        end = _LEAD_END.search(rest)
        lead = (rest[: end.end()] if end is not None else rest).strip()
        return lead if lead and lead != self.title else None

    @property
    def title(self) -> str:
        """The ``【…】`` lead; else the text's first sentence, at most TITLE_LENGTH characters."""
        plain = self.plain_text
        lead = _LEAD.match(plain)
        if lead is not None and lead.group(1).strip():
            return lead.group(1).strip()
        end = _SENTENCE_END.search(plain, 0, TITLE_LENGTH + 1)
        if end is not None:
            return plain[: end.end()]
        return plain if len(plain) <= TITLE_LENGTH else plain[:TITLE_LENGTH].rstrip() + "…"


def zhibo_api_url(zhibo_id: str, page: int, page_size: int = PAGE_SIZE) -> str:
    query = {"page": page, "page_size": page_size, "zhibo_id": zhibo_id, "tag_id": 0, "dire": "f", "dpc": 1}
    return f"{ZHIBO_API}?{urlencode(query)}"


def parse_zhibo_page(text: str) -> ZhiboPage:
    """The flashes of one answer of the live API; ZhiboApiError otherwise."""
    envelope = load_json(text, ZhiboApiError)
    result = envelope.get("result") if isinstance(envelope, dict) else None
    if not isinstance(result, dict):
        raise ZhiboApiError("bad_envelope", "no 'result' object")
    status = result.get("status")
    code = status.get("code") if isinstance(status, dict) else None
    if code != 0:
        message = status.get("msg") if isinstance(status, dict) else None
        raise ZhiboApiError("status", f"status.code={code!r} msg={message!r}")
    data = result.get("data")
    feed = data.get("feed") if isinstance(data, dict) else None
    items = feed.get("list") if isinstance(feed, dict) else None
    if not isinstance(items, list):
        raise ZhiboApiError("bad_envelope", "no 'data.feed.list'")
    page_info = feed.get("page_info") if isinstance(feed, dict) else None
    total = page_info.get("totalPage") if isinstance(page_info, dict) else None
    return ZhiboPage([item for item in items if isinstance(item, dict)], total if isinstance(total, int) else None)


def _beijing_time(item: dict[str, Any], field: str) -> int | None:
    value = item.get(field)
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.strptime(value.strip(), "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING)
    except ValueError:
        return None
    seconds = int(moment.timestamp())
    return seconds if 0 < seconds <= LATEST_TIME else None


def _images(multimedia: Any) -> tuple[str, ...]:
    """Image URLs of ``multimedia``: a JSON object (or its string) with ``img_url``, or HTML."""
    if isinstance(multimedia, str):
        text = multimedia.strip()
        if not text:
            return ()
        if text.startswith(("{", "[")):
            try:
                multimedia = json.loads(text)
            except (ValueError, RecursionError):
                return ()
        else:
            tree = LexborHTMLParser(text)
            return tuple(src for img in tree.css("img") if (src := (img.attributes.get("src") or "").strip()))
    if isinstance(multimedia, dict):
        urls = multimedia.get("img_url") or multimedia.get("img_urls") or []
        if isinstance(urls, str):
            urls = [urls]
        return tuple(url.strip() for url in urls if isinstance(url, str) and url.strip())
    return ()


def _ext(item: dict[str, Any]) -> dict[str, Any]:
    value = item.get("ext")
    if isinstance(value, str) and value.strip():
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            return {}
    return value if isinstance(value, dict) else {}


def _writable(value: str, what: str, flash_id: object) -> str:
    return writable_text(value, f"{what} of flash {flash_id!r}")


def flash(item: dict[str, Any]) -> Flash:
    """Validate one flash; SkippedItem(reason) when it cannot be a post."""
    flash_id = item.get("id")
    if isinstance(flash_id, str) and flash_id.strip().isdigit():
        flash_id = int(flash_id)
    if not isinstance(flash_id, int) or isinstance(flash_id, bool) or not 0 < flash_id < 2**63:
        raise SkippedItem("no_id", f"flash without a usable id: {str(flash_id)[:40]!r}")
    created = _beijing_time(item, "create_time")
    if created is None:
        raise SkippedItem("no_time", f"flash {flash_id} has no create_time")
    text = item.get("rich_text")
    if not isinstance(text, str) or not text.strip():
        raise SkippedItem("empty_body", f"flash {flash_id} has no text")
    ext = _ext(item)
    tags = tuple(
        _writable(tag["name"].strip(), "a tag", flash_id)
        for tag in item.get("tag") or []
        if isinstance(tag, dict) and isinstance(tag.get("name"), str) and tag["name"].strip()
    )
    stocks = tuple(
        {key: _writable(str(stock.get(key, "")), "a stock", flash_id) for key in ("market", "symbol", "key")}
        for stock in ext.get("stocks") or []
        if isinstance(stock, dict)
    )
    docurl = ext.get("docurl") if isinstance(ext.get("docurl"), str) else item.get("docurl")
    return Flash(
        id=flash_id,
        text=_writable(text, "rich_text", flash_id),
        images=tuple(_writable(url, "an image", flash_id) for url in _images(item.get("multimedia"))),
        created=created,
        updated=_beijing_time(item, "update_time") or created,
        tags=tags,
        stocks=stocks,
        docurl=_writable(docurl, "docurl", flash_id) if isinstance(docurl, str) and docurl.strip() else None,
    )
