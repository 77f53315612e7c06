"""Sina's roll API, ``feed.mix.sina.com.cn/api/roll/get`` (site notes §4)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from crawler.sina.urls import article_publishid

ROLL_API = "https://feed.mix.sina.com.cn/api/roll/get"
MAX_PAGE_SIZE = 50  # larger values are clamped by the server
API_REFERER = "https://finance.sina.com.cn/"

# try{feedCardJsonpCallback({...});}catch(e){};  or  cb({...});
_JSONP = re.compile(r"^(?:try\s*\{\s*)?[\w$.]+\s*\((\{.*\})\)\s*;?", re.S)


class RollApiError(Exception):
    """The roll API answered something other than a page of items."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason  # short, used in stats keys
        self.detail = detail


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
    try:
        envelope = json.loads(stripped)
    except json.JSONDecodeError as exc:
        raise RollApiError("not_json", str(exc)) from exc
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


def item_time(item: dict[str, Any], field: str = "intime") -> int | None:
    """An item's unix time (the API sends seconds as strings)."""
    value = item.get(field)
    try:
        seconds = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return seconds if seconds > 0 else None


@dataclass(frozen=True, slots=True)
class RollItem:
    """What the spider needs of one roll-API item that lists an article."""

    publishid: str
    url: str  # as listed
    docid: str | None
    title: str | None
    intime: int | None
    ctime: int | None
    mtime: int | None
    media_name: str | None
    intro: str | None
    keywords: str | None


class SkippedItem(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def roll_item(item: dict[str, Any]) -> RollItem:
    """Validate one API item; SkippedItem(reason) when it lists no usable article."""
    url = item.get("url")
    if not isinstance(url, str) or not url.strip():
        raise SkippedItem("no_url", f"item {item.get('docid')!r} has no url")
    publishid = article_publishid(url)
    if publishid is None:
        raise SkippedItem("not_article", url)
    ctime = item_time(item, "ctime")
    intime = item_time(item, "intime")
    if ctime is None and intime is None:
        raise SkippedItem("no_time", url)

    def text(key: str) -> str | None:
        value = item.get(key)
        return value if isinstance(value, str) and value.strip() else None

    return RollItem(
        publishid=publishid,
        url=url.strip(),
        docid=text("docid"),
        title=text("title"),
        intime=intime,
        ctime=ctime,
        mtime=item_time(item, "mtime"),
        media_name=text("media_name"),
        intro=text("intro"),
        keywords=text("keywords"),
    )
