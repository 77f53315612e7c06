"""List pages in-process (crawler/sina/list_pages.py), read from a recorded column page
(tests/recorded/) and from rendered list pages: which links are articles, their listing
time in Beijing time, resolution against the page's URL, and what is skipped."""

from __future__ import annotations

from datetime import datetime

from selectolax.lexbor import LexborHTMLParser

from crawler.sina.list_pages import column_entries, column_listed_time, column_url, page_article_links
from crawler.sina.times import BEIJING
from tests.conftest import RECORDED

COLUMN = RECORDED / "finance.sina.com.cn_roll_c_56592.EXCERPT.html"
PAGE_URL = "https://finance.sina.com.cn/roll/c/56592.shtml"


def _beijing(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    return int(datetime(year, month, day, hour, minute, tzinfo=BEIJING).timestamp())


def test_the_column_url() -> None:
    assert column_url("56592") == PAGE_URL


def test_a_recorded_column_page() -> None:
    tree = LexborHTMLParser(COLUMN.read_bytes().decode("utf-8"))
    articles, skipped = column_entries(tree, PAGE_URL)
    assert len(articles) == 14 and len(skipped) == 2
    first = articles[0]
    assert first.publishid == "nitmear8308661"
    assert first.url == "https://finance.sina.com.cn/stock/s/2026-09-28/doc-initmear8308661.shtml"
    assert first.ctime == _beijing(2026, 9, 28, 23, 54), "the date from the URL, the time from the list"
    assert (first.title, first.intime, first.docid, first.mtime) == (None, None, None, None), "from the page"
    assert articles[-1].ctime == _beijing(2026, 9, 28, 17, 4)
    assert skipped == [
        "https://finance.sina.cn/stock/ssgs/2026-09-28/detail-initkpex8566217.d.html",
        "https://finance.sina.cn/stock/ssgs/2026-09-28/detail-initkpff3702907.d.html",
    ], "not a dated /doc-i page of the PC site"


def test_column_entries_resolve_links_and_skip_what_is_not_an_article() -> None:
    html = (
        '<ul id="listcontent">'
        '<li><a href="/stock/s/2026-09-28/doc-irelativ0000001.shtml">相对</a><span>(09月28日 08:05)</span></li>'
        "<li><span>no link</span></li>"
        '<li><a href="https://finance.sina.com.cn/stock/doc-iundated0000001.shtml">x</a></li>'
        '<li><a href="https://finance.sina.com.cn/s/2026-02-30/doc-ibaddate0000001.shtml">x</a></li>'
        '<li><a href="https://finance.sina.com.cn/s/2026-09-28/doc-inotimes0000001.shtml">x</a></li>'
        "</ul>"
    )
    articles, skipped = column_entries(LexborHTMLParser(html), PAGE_URL)
    assert [(item.url, item.ctime) for item in articles] == [
        ("https://finance.sina.com.cn/stock/s/2026-09-28/doc-irelativ0000001.shtml", _beijing(2026, 9, 28, 8, 5)),
        ("https://finance.sina.com.cn/s/2026-09-28/doc-inotimes0000001.shtml", _beijing(2026, 9, 28)),
    ]
    assert skipped == [
        "https://finance.sina.com.cn/stock/doc-iundated0000001.shtml",
        "https://finance.sina.com.cn/s/2026-02-30/doc-ibaddate0000001.shtml",
    ]


def test_a_listing_time_needs_a_real_date_in_the_url() -> None:
    url = "https://finance.sina.com.cn/s/2026-09-28/doc-ia0000000000001.shtml"
    assert column_listed_time(url, "(09月28日 23:54)") == _beijing(2026, 9, 28, 23, 54)
    assert column_listed_time(url, "today") == _beijing(2026, 9, 28)
    assert column_listed_time(url, "(09月28日 25:99)") is None, "no such time"
    assert column_listed_time("https://finance.sina.com.cn/doc-ia0000000000001.shtml", "(09月28日 23:54)") is None


def test_a_rendered_list_page_gives_each_article_once_in_page_order() -> None:
    html = (
        '<a href="https://finance.sina.com.cn/stock/s/2026-09-28/doc-initmear8308661.shtml">a</a>'
        '<a href="//finance.sina.com.cn/china/doc-iundated0000001.shtml">undated, kept</a>'
        '<a href="/stock/s/2026-09-28/doc-initmear8308661.shtml#comments">the first again</a>'
        '<a href="https://finance.sina.com.cn/china/">a column, not an article</a>'
        "<a>no href</a>"
    )
    articles = page_article_links(LexborHTMLParser(html), "https://finance.sina.com.cn/china/")
    assert [(item.publishid, item.ctime) for item in articles] == [
        ("nitmear8308661", _beijing(2026, 9, 28)),
        ("undated0000001", None),
    ]
    assert articles[1].url == "https://finance.sina.com.cn/china/doc-iundated0000001.shtml", (
        "resolved as a browser does"
    )
