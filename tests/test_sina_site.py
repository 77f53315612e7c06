"""Site knowledge: roll API answers, article URLs, page metadata, encodings."""

from __future__ import annotations

import json
from typing import Any

import pytest
from selectolax.lexbor import LexborHTMLParser

from crawler.sina import article_page
from crawler.sina.roll_api import (
    RollApiError,
    SkippedItem,
    item_time,
    parse_roll_page,
    roll_api_url,
    roll_item,
)
from crawler.sina.urls import article_publishid, article_request_url
from tests.conftest import CASES, CORPUS, RECORDED


def test_roll_api_url() -> None:
    assert roll_api_url("155", "1686", 2) == (
        "https://feed.mix.sina.com.cn/api/roll/get?pageid=155&lid=1686&k=&num=50&page=2"
    )


def test_recorded_roll_page_parses() -> None:
    text = (RECORDED / "feed.mix.roll.get_pageid153_lid2516_page1.trimmed.json").read_text(encoding="utf-8")
    page = parse_roll_page(text)
    assert page.total == 100350
    assert len(page.items) == 3
    listing = roll_item(page.items[0])
    assert listing.publishid == article_publishid(page.items[0]["url"])
    assert listing.intime == int(page.items[0]["intime"])


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("<html>busy</html>", "not_json"),
        ('{"result": {"status": {"code": 0}, "data": [', "not_json"),
        ('{"result": {"status": {"code": 1, "msg": "lid error"}, "data": []}}', "status"),
        ('{"result": {"status": {"code": 0}, "data": {}}}', "bad_envelope"),
        ('{"nothing": 1}', "bad_envelope"),
        ("[]", "not_json"),
    ],
)
def test_roll_api_errors_have_a_reason(text: str, reason: str) -> None:
    with pytest.raises(RollApiError) as error:
        parse_roll_page(text)
    assert error.value.reason == reason


def test_roll_api_jsonp_is_read() -> None:
    body = 'try{feedCardJsonpCallback({"result":{"status":{"code":0},"data":[{"url":"u"}]}});}catch(e){};'
    assert parse_roll_page(body).items == [{"url": "u"}]


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ({"ctime": "1"}, "no_url"),
        ({"url": "  ", "ctime": "1"}, "no_url"),
        ({"url": "https://video.sina.com.cn/p/news/2026-09-28/detail-1.d.html", "ctime": "1"}, "not_article"),
        ({"url": "https://finance.sina.com.cn/roll/2026-09-28/doc-initmeau2811260.shtml"}, "no_time"),
        (
            {"url": "https://finance.sina.com.cn/roll/2026-09-28/doc-initmeau2811260.shtml", "ctime": "x"},
            "no_time",
        ),
    ],
)
def test_roll_items_skipped_with_reason(item: dict[str, Any], reason: str) -> None:
    with pytest.raises(SkippedItem) as skipped:
        roll_item(item)
    assert skipped.value.reason == reason


def test_item_time() -> None:
    assert item_time({"intime": "1643022127"}) == 1643022127
    assert item_time({"intime": 1643022127}) == 1643022127
    assert item_time({"intime": ""}) is None
    assert item_time({"intime": "0"}) is None
    assert item_time({}) is None


@pytest.mark.parametrize(
    ("url", "publishid"),
    [
        ("https://finance.sina.com.cn/roll/2018-12-28/doc-ihqfskcn2160999.shtml", "hqfskcn2160999"),
        (
            "http://finance.sina.com.cn/money/forex/forexroll/2016-05-25/doc-ifxsktkp9337164.shtml?cre=x",
            "fxsktkp9337164",
        ),
        ("https://news.sina.com.cn/c/2019-10-23/doc-iicezuev4202091.shtml", "icezuev4202091"),
        ("https://tech.sina.com.cn/t/2019-09-11/doc-iicezzrq4972166.shtml", "icezzrq4972166"),
        ("https://finance.sina.cn/usstock/mggd/2026-09-28/detail-initmeau2811260.d.html", None),
        ("https://finance.sina.com.cn.evil.example/doc-iabcdefg1234567.shtml", None),
        ("https://finance.sina.com.cn/doc-iABCDEFG1234567.shtml", None),
        ("ftp://finance.sina.com.cn/doc-iabcdefg1234567.shtml", None),
        ("https://finance.sina.com.cn/roll/index.d.html", None),
    ],
)
def test_article_publishid(url: str, publishid: str | None) -> None:
    assert article_publishid(url) == publishid


def test_article_request_url_upgrades_and_drops_fragment() -> None:
    assert article_request_url("http://finance.sina.com.cn/a/doc-iabcdefg1234567.shtml?x=1#top") == (
        "https://finance.sina.com.cn/a/doc-iabcdefg1234567.shtml?x=1"
    )


def _tree(case: str) -> LexborHTMLParser:
    return article_page.parse_page((CORPUS / case / "page.html").read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("case", "media", "editor"),
    [
        ("nitmeau2811260", "环球市场播报", "郭明煜"),  # 2026 template C, <span class=source>
        ("hqfskcn2160999", "新京报", "霍琦"),  # 2018, <a class=source>
        ("icezzrq4972166", "新浪科技", None),  # template B, #media_name, no editor line
    ],
)
def test_page_metadata(case: str, media: str, editor: str | None) -> None:
    tree = _tree(case)
    assert article_page.media_name(tree) == media
    assert article_page.editor(tree) == editor


def test_page_title_and_time_fallbacks() -> None:
    tree = _tree("nitmeau2811260")
    assert article_page.og_title(tree) == "奥多比预测今年美国假日季线上购物将创历史新高"
    assert article_page.heading_title(tree) == "奥多比预测今年美国假日季线上购物将创历史新高"
    assert article_page.published_time(tree) == "2026-09-28T23:20:25+08:00"
    assert article_page.keywords(tree)[:3] == ("奥多比", "美国假日季线上购物", "2024美国线上销售额")
    container = article_page.body_container(tree)
    assert container is not None and container.id == "artibody"


def test_body_container_falls_back_to_article() -> None:
    container = article_page.body_container(_tree("icezuev4202091"))
    assert container is not None and container.id == "article"
    empty = article_page.parse_page("<html><body><div id=main></div></body></html>")
    assert article_page.body_container(empty) is None


def test_decode_page_gbk_and_utf8() -> None:
    html = "<html><head><title>新浪财经</title></head><body>人民币</body></html>"
    gbk = html.encode("gbk")
    assert article_page.decode_page(gbk, "text/html; charset=gbk")[0] == html
    assert article_page.decode_page(gbk, "text/html")[0] == html  # undeclared: GB18030 after UTF-8 fails
    meta = b'<meta charset="gb2312">' + "财经".encode("gb2312")
    assert article_page.decode_page(meta, "text/html")[0].endswith("财经")
    assert article_page.decode_page(html.encode(), "text/html")[0] == html
    with_bom = "\ufeff".encode() + html.encode()
    assert article_page.decode_page(with_bom, None)[0] == html


@pytest.mark.parametrize(
    ("body", "content_type", "as_bytes"),
    [
        ("<p>人民币</p>".encode(), "text/html; charset=utf-8", True),
        ("<p>人民币</p>".encode(), "text/html", True),  # undeclared, decodes as UTF-8
        ("<p>人民币</p>".encode("gbk"), "text/html; charset=gbk", False),
        (b"\xef\xbb\xbf<p>\xe4\xba\xba</p>", "text/html; charset=utf-8", False),  # BOM: dropped by decoding
        (b"<p>\xe4\xba</p><p>\xff</p>", "text/html; charset=utf-8", False),  # invalid bytes: U+FFFD
        ("<p>\ufffd</p>".encode(), "text/html; charset=utf-8", False),  # a real U+FFFD: text too
    ],
)
def test_parser_input_is_the_body_only_when_it_is_the_text_in_utf8(
    body: bytes, content_type: str, as_bytes: bool
) -> None:
    text, encoding = article_page.decode_page(body, content_type)
    chosen = article_page.parser_input(body, text, encoding)
    assert chosen == (body if as_bytes else text)
    assert article_page.parse_page(chosen).html == article_page.parse_page(text).html


@pytest.mark.parametrize("case", [case.name for case in CASES])
def test_corpus_pages_parse_the_same_from_bytes(case: str) -> None:
    body = (CORPUS / case / "page.html").read_bytes()
    text, encoding = article_page.decode_page(body, "text/html; charset=utf-8")
    assert article_page.parser_input(body, text, encoding) is body
    assert article_page.parse_page(body).html == article_page.parse_page(text).html


def test_recorded_items_match_corpus_shape() -> None:
    for case in sorted(CORPUS.iterdir()):
        item = json.loads((case / "item.json").read_text(encoding="utf-8"))
        listing = roll_item(item)
        assert listing.publishid in item["url"]
