"""HeadMetaRefreshMiddleware: Scrapy's meta-refresh decisions, from the page's head only."""

from __future__ import annotations

import pytest
from scrapy import Request
from scrapy.downloadermiddlewares.redirect import MetaRefreshMiddleware
from scrapy.http import HtmlResponse, Response
from scrapy.utils.test import get_crawler

from crawler.downloadermiddlewares.metarefresh import HeadMetaRefreshMiddleware
from tests.conftest import CASES

URL = "https://finance.sina.com.cn/roll/2026-09-28/doc-iabcdefg1234567.shtml"
FILLER = "<p>" + "新浪财经" * 3000 + "</p>"  # 36 KB of UTF-8, past HEAD_BYTES


def _page(head: str, encoding: str = "utf-8") -> bytes:
    return f"<html><head>{head}</head><body>{FILLER}</body></html>".encode(encoding)


PAGES = {
    "refresh": (_page('<meta http-equiv="refresh" content="0; url=/moved.shtml">'), "utf-8"),
    "refresh-gbk": (_page('<meta http-equiv="refresh" content="0;url=https://finance.sina.com.cn/x">', "gbk"), "gbk"),
    "slow-refresh": (_page('<meta http-equiv="refresh" content="300; url=/later.shtml">'), "utf-8"),
    "refresh-in-body-only": (_page("") + b'<meta http-equiv="refresh" content="0; url=/far.shtml">', "utf-8"),
    "none": (_page("<title>t</title>"), "utf-8"),
    # 4,000 four-byte characters (16,000 bytes) first: still within Scrapy's 4,096 characters.
    "refresh-after-wide-characters": (
        _page("<title>" + "\U0001f4c8" * 4000 + '</title><meta http-equiv="refresh" content="0;url=/e.shtml">'),
        "utf-8",
    ),
    **{case.name: (case.page, "utf-8") for case in CASES},
}


def _outcome(result: Request | Response) -> object:
    return ("request", result.url) if isinstance(result, Request) else ("response", result.url)


@pytest.mark.parametrize("name", sorted(PAGES))
def test_same_decision_as_scrapy(name: str) -> None:
    body, encoding = PAGES[name]
    crawler = get_crawler()
    ours = HeadMetaRefreshMiddleware.from_crawler(crawler)
    theirs = MetaRefreshMiddleware.from_crawler(crawler)
    request = Request(URL)

    def response() -> HtmlResponse:
        return HtmlResponse(URL, body=body, headers={"Content-Type": f"text/html; charset={encoding}"})

    page = response()
    result = ours.process_response(request, page)
    assert _outcome(result) == _outcome(theirs.process_response(request, response()))
    if isinstance(result, HtmlResponse):
        assert result is page  # the page itself goes on, not the head
    if name.startswith("refresh") and "body-only" not in name:
        assert isinstance(result, Request), "the refresh is followed"
