"""Sina's JSON channel lists, ``interface.sina.cn/pc_api/public_news_data.d.json?cids=…``
(site notes §3: the US-stock channel, cid 57045, is built from it): a list of the
channel's newest items, each an article, a gallery or a video page.

Envelope: ``data[]`` of ``{title, url, ctime, media}`` (RSSHub reads those four), with a
``status {code, msg}`` beside it when the API reports one (code 0: fine); some answers
wrap both in ``result``.  No recorded answer of this API was available: the fields are
those RSSHub's route reads, and what is not there is not relied on.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

from crawler.sina.roll_api import RollApiError, RollItem, load_json, roll_item

FEED_API = "https://interface.sina.cn/pc_api/public_news_data.d.json"
FEED_REFERER = "https://finance.sina.com.cn/stock/usstock/"
PAGE_SIZE = 50


def feed_api_url(cids: str, page_size: int = PAGE_SIZE, now: float | None = None) -> str:
    """The list's URL, with the parameters the channel page itself sends."""
    stamp = str(int((time.time() if now is None else now) * 1000))
    query = {
        "cids": cids,
        "pdps": "",
        "smartFlow": "",
        "editLevel": "0,1,2,3",
        "type": "std_news,std_slide,std_video",
        "pageSize": page_size,
        "cTime": "1483200000",
        "tm": stamp,
        "up": "0",
        "action": "0",
        "_": stamp,
    }
    return f"{FEED_API}?{urlencode(query)}"


def parse_feed_page(text: str) -> list[dict[str, Any]]:
    """The items of one answer; RollApiError (the roll API's reasons) otherwise."""
    envelope = load_json(text, RollApiError)
    if isinstance(envelope, dict) and isinstance(envelope.get("result"), dict):
        envelope = envelope["result"]
    if not isinstance(envelope, dict):
        raise RollApiError("bad_envelope", "not a JSON object")
    status = envelope.get("status")
    if isinstance(status, dict) and status.get("code", 0) != 0:
        raise RollApiError("status", f"status.code={status.get('code')!r} msg={status.get('msg')!r}")
    data = envelope.get("data")
    if not isinstance(data, list):
        raise RollApiError("bad_envelope", "'data' is not a list")
    return [item for item in data if isinstance(item, dict)]


def feed_item(item: dict[str, Any]) -> RollItem:
    """One item as the roll API's would be (its ctime is when it was listed and published)."""
    return roll_item(
        {
            "url": item.get("url"),
            "title": item.get("title"),
            "ctime": item.get("ctime"),
            "intime": item.get("ctime"),
            "media_name": item.get("media"),
            "docid": item.get("docid"),
        }
    )
