"""Unit tests of the new kinds' site knowledge and post shapes (docs/post-kinds.md): the
7×24 live API, the JSON channel list, gallery and video pages, and their bodies."""

from __future__ import annotations

import json
from typing import Any

import pytest
from selectolax.lexbor import LexborHTMLParser

from crawler.config import ConfigError, FeedSection, ZhiboSection, load_sections, parse_sections
from crawler.hexo.body import process_body
from crawler.hexo.shapes import flash_html, gallery_html, video_html
from crawler.parsing.page_facts import page_facts
from crawler.sina import gallery_page, video_page
from crawler.sina.article_page import decode_page, parse_page, parser_input
from crawler.sina.feed_api import feed_api_url, feed_item, parse_feed_page
from crawler.sina.roll_api import RollApiError, SkippedItem, roll_item
from crawler.sina.urls import ARTICLE, GALLERY, VIDEO, listed_page
from crawler.sina.zhibo_api import ZhiboApiError, flash, parse_zhibo_page, zhibo_api_url
from tests.conftest import RECORDED
from tests.support.settings import project_settings

ZHIBO_TEXT = (RECORDED / "zhibo.api.zhibo.feed_zhibo_id152_page1.trimmed.json").read_text(encoding="utf-8")
SLIDE = (RECORDED / "slide.news.sina.com.cn_slide_1_86523_402095.gb2312.html").read_bytes()
VIDEO_PAGE = (RECORDED / "video.sina.com.cn_p_news_2019-10-05_detail-iicezzrr0285941.html").read_bytes()


def _tree(page: bytes) -> tuple[LexborHTMLParser, str]:
    text, encoding = decode_page(page, None)
    return parse_page(parser_input(page, text, encoding)), text


# --- the live API ---------------------------------------------------------------------


def test_recorded_live_page() -> None:
    page = parse_zhibo_page(ZHIBO_TEXT)
    assert page.total_pages == 45
    flashes = [flash(item) for item in page.items]
    assert [f.id for f in flashes] == [5103048, 5103047, 5103046]
    saudi = flashes[1]
    assert saudi.publishid == "zhibo5103047"
    assert saudi.title == "沙特多地传出爆炸声，中国驻沙特大使馆提醒在沙中资机构和中国公民进一步加强安全防范"
    assert saudi.created == 1789787016  # 2026-09-19 11:03:36 Beijing
    assert saudi.tags == ("其他",)
    assert saudi.stocks[0] == {"market": "sb", "symbol": "430542", "key": "利雅得"}
    assert saudi.docurl == "https://finance.sina.com.cn/7x24/2026-09-19/doc-inisinhh9981846.shtml"
    assert flashes[0].docurl is None  # no docurl in ext, and an empty one beside it


def test_live_url() -> None:
    assert zhibo_api_url("152", 2) == (
        "https://zhibo.sina.com.cn/api/zhibo/feed?page=2&page_size=50&zhibo_id=152&tag_id=0&dire=f&dpc=1"
    )


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("<html>", "not_json"),
        ("[" * 100_000, "not_json"),
        ('{"result": {"status": {"code": 3, "msg": "x"}}}', "status"),
        ('{"result": {"status": {"code": 0}, "data": {"feed": {}}}}', "bad_envelope"),
        ('{"nothing": 1}', "bad_envelope"),
    ],
)
def test_bad_live_answers(text: str, reason: str) -> None:
    with pytest.raises(ZhiboApiError) as error:
        parse_zhibo_page(text)
    assert error.value.reason == reason


BASE = {"id": 1, "rich_text": "text", "create_time": "2026-09-19 11:03:36"}


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"id": None}, "no_id"),
        ({"id": "abc"}, "no_id"),
        ({"id": 2**70}, "no_id"),
        ({"create_time": None}, "no_time"),
        ({"create_time": "9999-12-31 23:59:59x"}, "no_time"),
        ({"rich_text": "  "}, "empty_body"),
        ({"rich_text": "a\ud800b"}, "bad_field"),
    ],
)
def test_unusable_flashes(change: dict[str, Any], reason: str) -> None:
    with pytest.raises(SkippedItem) as skipped:
        flash({**BASE, **change})
    assert skipped.value.reason == reason


@pytest.mark.parametrize(
    ("text", "title"),
    [
        ("【标题在此】正文。", "标题在此"),
        ("  【 带空格 】正文", "带空格"),
        ("没有方括号的快讯。第二句。", "没有方括号的快讯。"),
        ("一" * 80, "一" * 60 + "…"),
        ("<b>加粗</b>的快讯！后面", "加粗的快讯！"),
        ("short", "short"),
    ],
)
def test_flash_titles(text: str, title: str) -> None:
    assert flash({**BASE, "rich_text": text}).title == title


@pytest.mark.parametrize(
    ("multimedia", "images"),
    [
        ("", ()),
        (
            '{"img_url": ["http://n.sinaimg.cn/a.jpg", "https://n.sinaimg.cn/b.jpg"]}',
            ("http://n.sinaimg.cn/a.jpg", "https://n.sinaimg.cn/b.jpg"),
        ),
        ({"img_url": "https://n.sinaimg.cn/c.jpg"}, ("https://n.sinaimg.cn/c.jpg",)),
        ('<img src="https://n.sinaimg.cn/d.jpg"><img src="">', ("https://n.sinaimg.cn/d.jpg",)),
        ("{broken", ()),
    ],
)
def test_flash_images(multimedia: object, images: tuple[str, ...]) -> None:
    assert flash({**BASE, "multimedia": multimedia}).images == images


def test_flash_body_goes_through_the_body_rules() -> None:
    html = flash_html(
        '【题】第一行<script>alert(1)</script>\n\n<a href="javascript:x" onclick="y">链接</a>',
        ["http://n.sinaimg.cn/a.jpg"],
    )
    body = process_body(html, "https://finance.sina.com.cn/7x24/")
    assert body.html == (
        "<p>【题】第一行</p>\n<p><a>链接</a></p>\n"
        '<p><img src="https://n.sinaimg.cn/a.jpg" alt referrerpolicy="no-referrer"></p>'
    )
    assert body.first_image == "https://n.sinaimg.cn/a.jpg"


# --- the JSON channel list ----------------------------------------------------------


def test_feed_answers() -> None:
    items = parse_feed_page(json.dumps({"status": {"code": 0}, "data": [{"title": "t", "url": "u"}, 3]}))
    assert items == [{"title": "t", "url": "u"}]
    assert parse_feed_page('{"result": {"data": []}}') == []
    for text, reason in [("x", "not_json"), ('{"status": {"code": 1}, "data": []}', "status"), ("[]", "bad_envelope")]:
        with pytest.raises(RollApiError) as error:
            parse_feed_page(text)
        assert error.value.reason == reason
    assert "cids=57045" in feed_api_url("57045", now=1) and "tm=1000" in feed_api_url("57045", now=1)


def test_feed_items_are_listed_pages() -> None:
    entry = feed_item(
        {"title": "图集", "url": "http://slide.news.sina.com.cn/c/slide_1_86523_402095.html", "ctime": "1570520420"}
    )
    assert (entry.publishid, entry.kind, entry.intime, entry.title) == (
        "slide_1_86523_402095",
        GALLERY,
        1570520420,
        "图集",
    )


# --- kinds of listed pages ----------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "publishid", "kind"),
    [
        ("https://finance.sina.com.cn/a/doc-iabcdefg1234567.shtml", "abcdefg1234567", ARTICLE),
        ("http://slide.news.sina.com.cn/c/slide_1_86523_402095.html", "slide_1_86523_402095", GALLERY),
        ("https://slide.finance.sina.com.cn/x/slide_4_1_2.html/d/8#p=1", "slide_4_1_2", GALLERY),
        ("http://video.sina.com.cn/p/news/2019-10-05/detail-iicezzrr0285941.d.html", "icezzrr0285941", VIDEO),
    ],
)
def test_listed_pages(url: str, publishid: str, kind: str) -> None:
    assert listed_page(url)[1:] == (publishid, kind)


@pytest.mark.parametrize(
    "url",
    [
        "https://video.sina.com.cn/p/1.html",
        "https://finance.sina.com.cn/c/slide_1_2_3.html",  # a slide name off a slide.* host
        "https://slide.evil.example/c/slide_1_2_3.html",
        "https://video.sina.com.cn.evil.example/p/detail-iabcdefg1234567.d.html",
    ],
)
def test_other_pages_are_not_articles(url: str) -> None:
    with pytest.raises(SkippedItem, match="not_article"):
        roll_item({"url": url, "ctime": "1"})


# --- gallery and video pages ---------------------------------------------------------


def test_recorded_gallery() -> None:
    tree, _ = _tree(SLIDE)
    found = gallery_page.gallery(tree)
    assert found is not None and len(found.images) == 9
    assert found.images[0].url.startswith("http://n.sinaimg.cn/default/1_img/upload/3933d981/200/w1080h720/")
    assert found.images[0].caption.startswith("最近，一所高校的校庆")
    # Without slide_data, the hidden #eData list gives the same images and captions.
    without_script = SLIDE.replace(b"var slide_data", b"var other_data")
    listed = gallery_page.gallery(_tree(without_script)[0])
    assert listed is not None and [i.url for i in listed.images] == [i.url for i in found.images]
    assert listed.images[0].caption == found.images[0].caption


def test_gallery_body_shows_each_caption_once() -> None:
    html = gallery_html(
        "导语",
        [
            ("http://n.sinaimg.cn/1.jpg", "说明"),
            ("http://n.sinaimg.cn/2.jpg", "说明"),
            ("http://n.sinaimg.cn/3.jpg", "另一个"),
        ],
    )
    assert html.count("说明") == 1 and "<p>导语</p>" in html and html.count("<img") == 3
    assert "http://" not in html


def test_recorded_video() -> None:
    tree, text = _tree(VIDEO_PAGE)
    clip = video_page.video(tree, text)
    assert clip is not None
    assert clip.poster == "http://n.sinaimg.cn/sinacn20191005ac/496/w720h576/20191005/7bd0-ifmectm5459739.jpg"
    assert clip.title == "《新闻联播》视频：香港法律界支持订立《禁止蒙面规例》"
    assert clip.published == "2019-10-05 20:07:50"
    assert video_html("https://video.sina.com.cn/p/x.d.html", None, "说明<b>") == (
        '<p>说明&lt;b&gt;</p>\n<p><a href="https://video.sina.com.cn/p/x.d.html">观看视频</a></p>'
    )


def test_page_facts_of_each_kind() -> None:
    gallery = page_facts(SLIDE, "text/html", "https://slide.news.sina.com.cn/c/slide_1_86523_402095.html", kind=GALLERY)
    assert gallery.body is not None and len(gallery.body.image_urls) == 9
    assert gallery.og_title == "酸了！央行为这所高校发行校庆纪念币"
    video = page_facts(
        VIDEO_PAGE, None, "https://video.sina.com.cn/p/news/2019-10-05/detail-iicezzrr0285941.d.html", kind=VIDEO
    )
    assert video.body is not None and "观看视频" in video.body.html
    assert video.published_time == "2019-10-05 20:07:50"
    assert (
        page_facts(b"<html><body><p>x</p></body></html>", None, "https://slide.news.sina.com.cn/x", kind=GALLERY).body
        is None
    )


# --- sections of the new kinds ---------------------------------------------------------


def test_packaged_new_sections() -> None:
    by_id = {section.id: section for section in load_sections(project_settings())}
    zhibo, feed = by_id["zhibo"], by_id["feed-usstock"]
    assert isinstance(zhibo, ZhiboSection) and zhibo.zhibo_id == "152" and not zhibo.enabled
    assert zhibo.categories == ("金融", "新浪财经", "新浪财经－7x24")
    assert isinstance(feed, FeedSection) and feed.cids == "57045" and not feed.enabled


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ("    kind: zhibo\n    zhibo_id: abc\n", "key 'zhibo_id': expected digits"),
        ("    kind: zhibo\n", "misses key(s): zhibo_id"),
        ("    kind: feed\n    cids: 1;2\n", "key 'cids': expected digits, comma-separated"),
        ("    kind: feed\n    cids: '1'\n    lid: '2'\n", "key 'lid' does not belong to a section of kind feed"),
    ],
)
def test_new_section_errors(keys: str, message: str) -> None:
    text = "sections:\n  - id: x\n    name: x\n" + keys + "    categories: [a, b, c]\n    author: x\n"
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_sections(text, "s.yaml")
