"""Spec §1, §2 and §4: front-matter fields, the post's bytes, the file's name and path.

Expected values are written out by hand from `docs/hexo-post.md`; the last
tests rebuild every golden post from its `item.json` + `page.html` and compare bytes.
"""

from __future__ import annotations

import json
import sys
import unicodedata
from datetime import UTC, datetime

import pytest

from crawler.config import RollSection
from crawler.hexo import fields
from crawler.hexo.body import BodyStyle
from crawler.hexo.fields import (
    clean_title,
    iso_utc,
    rfc1123,
    utc_from_timestamp,
    yaml_quote,
)
from crawler.hexo.paths import post_file_name, post_relative_path, sanitise_file_stem
from crawler.hexo.post import PostContent, render_post, render_post_bytes
from crawler.items import PlacedPost
from crawler.loaders import load_article
from crawler.parsing.page_facts import page_facts
from crawler.pipelines.hexo_posts import post_content
from crawler.sina.roll_api import roll_item
from crawler.sina.times import parse_published_time
from crawler.sina.urls import article_request_url
from tests.conftest import CASES, CORPUS

CORPUS_CASES = [case.name for case in CASES]
CATEGORIES = ("金融", "新浪财经", "新浪财经－国內")
AUTHOR = "新浪财经"
SECTION = RollSection(
    id="guonei",
    name="国内滚动",
    pageid="155",
    lid="1686",
    categories=CATEGORIES,
    author=AUTHOR,
    enabled=True,
)

# ---------------------------------------------------------------------------
# §2 TITLE: cleaning
# ---------------------------------------------------------------------------

TITLES = {
    "plain": ("2022年全国海关工作会议在北京召开", "2022年全国海关工作会议在北京召开"),
    "entities-decoded": (
        "A&amp;B &lt;C&gt; &quot;D&quot; &#39;E&#39; &#x4e2d;&#22269;",
        "A&B <C> \"D\" 'E' 中国",
    ),
    "entity-nbsp-collapsed": ("苹果&nbsp;&nbsp;发布", "苹果 发布"),
    "double-encoded-decoded-once": ("&amp;lt;b&amp;gt;", "&lt;b&gt;"),
    "controls-deleted": ("a\x00b\x07c\x7fd\x9fe\x1bf", "abcdef"),
    "control-from-entity-deleted": ("a&#7;b", "ab"),
    # HTML5's numeric-reference table: &#x85; is "…", not a control.
    "c1-reference-mapped": ("a&#x85;b", "a…b"),
    "whitespace-collapsed-and-trimmed": (" \t a\u3000\u3000b\u00a0c\n\r\nd\u2003e  \n", "a b c d e"),
    # U+0085 and U+001C are control characters that str.isspace() calls whitespace.
    "whitespace-controls-collapsed": ("a\x85b\x1cc\x0bd", "a b c d"),
}


@pytest.mark.parametrize(("raw", "expected"), TITLES.values(), ids=TITLES.keys())
def test_clean_title(raw: str, expected: str) -> None:
    assert clean_title(raw) == expected


def test_control_class_is_category_cc_less_whitespace() -> None:
    """fields._CONTROLS (one regex pass) deletes exactly the characters the rule names: those
    of Unicode category Cc that str.isspace() does not call whitespace, over every code point."""
    wanted = {chr(code) for code in range(sys.maxunicode + 1) if unicodedata.category(chr(code)) == "Cc"}
    wanted = {ch for ch in wanted if not ch.isspace()}
    every = "".join(chr(code) for code in range(sys.maxunicode + 1))
    assert set(every) - set(fields._CONTROLS.sub("", every)) == wanted


@pytest.mark.parametrize("raw", [None, "", " \u3000\n ", "\x00\x07"])
def test_clean_title_nothing_left(raw: str | None) -> None:
    assert clean_title(raw) is None


# ---------------------------------------------------------------------------
# §2 quoting (title and IMG)
# ---------------------------------------------------------------------------

QUOTING = {
    "plain-single-quoted": ("2022年海关", "'2022年海关'"),
    "yaml-specials-single-quoted": ("#1: [a] {b} & c | > - @ `d`", "'#1: [a] {b} & c | > - @ `d`'"),
    "double-only-single-quoted": ('60万"12306账号"外泄?', "'60万\"12306账号\"外泄?'"),
    "apostrophe-only-double-quoted": ("It's Sina's 5.26亿", "\"It's Sina's 5.26亿\""),
    "apostrophe-and-double-doubled": ("He said \"it's\" 'OK'", "'He said \"it''s\" ''OK'''"),
    "apostrophe-and-backslash-doubled": ("C:\\path 'x'", "'C:\\path ''x'''"),
    "backslash-only-single-quoted": ("a\\b", "'a\\b'"),
}


@pytest.mark.parametrize(("value", "expected"), QUOTING.values(), ids=QUOTING.keys())
def test_yaml_quote(value: str, expected: str) -> None:
    assert yaml_quote(value) == expected


# ---------------------------------------------------------------------------
# §2 DATE
# ---------------------------------------------------------------------------


def test_rfc1123_sample_date() -> None:
    assert rfc1123(utc_from_timestamp(1643022127)) == "Mon, 24 Jan 2022 11:02:07 GMT"
    assert rfc1123(utc_from_timestamp("1643022127")) == "Mon, 24 Jan 2022 11:02:07 GMT"


def test_rfc1123_two_digit_day_and_gmt_conversion() -> None:
    assert rfc1123(utc_from_timestamp(1644019507)) == "Sat, 05 Feb 2022 00:05:07 GMT"
    beijing = parse_published_time("2022-02-05 08:05:07")
    assert beijing is not None
    assert rfc1123(beijing) == "Sat, 05 Feb 2022 00:05:07 GMT"


PUBLISHED = {
    "iso-with-offset": ("2019-11-25T18:57:38+08:00", datetime(2019, 11, 25, 10, 57, 38, tzinfo=UTC)),
    "beijing-wall-time": ("2005-08-26 05:39:00", datetime(2005, 8, 25, 21, 39, 0, tzinfo=UTC)),
    "beijing-wall-time-padded": (" 2005-08-26 05:39:00\n", datetime(2005, 8, 25, 21, 39, 0, tzinfo=UTC)),
    "iso-utc": ("2019-11-25T10:57:38Z", datetime(2019, 11, 25, 10, 57, 38, tzinfo=UTC)),
}


@pytest.mark.parametrize(("value", "expected"), PUBLISHED.values(), ids=PUBLISHED.keys())
def test_parse_published_time(value: str, expected: datetime) -> None:
    parsed = parse_published_time(value)
    assert parsed == expected
    assert parsed is not None and parsed.utcoffset() is not None
    assert parsed.utcoffset().total_seconds() == 0  # type: ignore[union-attr]


@pytest.mark.parametrize("value", [None, "", "garbage", "2019-13-45 99:00:00", "昨天 18:57"])
def test_parse_published_time_garbage(value: str | None) -> None:
    assert parse_published_time(value) is None


def test_iso_utc() -> None:
    assert iso_utc(datetime(2019, 11, 25, 10, 57, 38, tzinfo=UTC)) == "2019-11-25T10:57:38Z"
    beijing = parse_published_time("2019-11-25T18:57:38+08:00")
    assert beijing is not None
    assert iso_utc(beijing) == "2019-11-25T10:57:38Z"


# ---------------------------------------------------------------------------
# §1 layout
# ---------------------------------------------------------------------------

DATE = "Mon, 24 Jan 2022 11:02:07 GMT"
IMG = "https://n.sinaimg.cn/finance/a.jpg"


def post(**changes: object) -> PostContent:
    fields: dict[str, object] = {
        "title": "2022年全国海关工作会议在北京召开",
        "categories": CATEGORIES,
        "author": AUTHOR,
        "date": DATE,
        "headimg": IMG,
        "body": '<p>正文</p>\n<img src="https://n.sinaimg.cn/finance/a.jpg" referrerpolicy="no-referrer">',
    }
    fields.update(changes)
    return PostContent(**fields)  # type: ignore[arg-type]


def test_render_post_with_image() -> None:
    assert render_post(post()) == (
        "\n"
        "---\n"
        "title: '2022年全国海关工作会议在北京召开'\n"
        "categories: \n"
        " - 金融\n"
        " - 新浪财经\n"
        " - 新浪财经－国內\n"
        "headimg: 'https://n.sinaimg.cn/finance/a.jpg'\n"
        "author: 新浪财经\n"
        "comments: false\n"
        "date: Mon, 24 Jan 2022 11:02:07 GMT\n"
        "thumbnail: 'https://n.sinaimg.cn/finance/a.jpg'\n"
        "---\n"
        "\n"
        "<div>   \n"
        '<p>正文</p>\n<img src="https://n.sinaimg.cn/finance/a.jpg" referrerpolicy="no-referrer">  \n'
        "</div>\n"
        "            "
    )


def test_render_post_without_image_leaves_out_both_lines() -> None:
    assert render_post(post(headimg=None, body="<p>正文</p>")) == (
        "\n---\ntitle: '2022年全国海关工作会议在北京召开'\ncategories: \n"
        " - 金融\n - 新浪财经\n - 新浪财经－国內\n"
        "author: 新浪财经\ncomments: false\ndate: Mon, 24 Jan 2022 11:02:07 GMT\n"
        "---\n\n<div>   \n<p>正文</p>  \n</div>\n            "
    )


def test_render_post_trailer_and_encoding() -> None:
    data = render_post_bytes(post())
    assert data.endswith(b"  \n</div>\n" + b" " * 12)
    assert not data.endswith(b"\n")
    assert not data.startswith(b"\xef\xbb\xbf")
    assert data.startswith(b"\n---\n")
    assert b"\r" not in data
    assert data == render_post(post()).encode("utf-8")


def test_render_post_escapes_braces_everywhere() -> None:
    text = render_post(
        post(
            title="It's {{ x }}",
            headimg="https://n.sinaimg.cn/{a}.jpg",
            body="<p>{% raw %}{{ y }}</p><style>a{b:c}</style>",
            categories=("金融{", "}新浪财经", "新浪财经－国內"),
        )
    )
    assert "{" not in text and "}" not in text
    assert text == (
        "\n---\n"
        'title: "It\'s &#123;&#123; x &#125;&#125;"\n'
        # "&#125;…" would start a YAML anchor: quoted (YAML-safe categories, issue 9).
        "categories: \n - 金融&#123;\n - '&#125;新浪财经'\n - 新浪财经－国內\n"
        "headimg: 'https://n.sinaimg.cn/&#123;a&#125;.jpg'\n"
        "author: 新浪财经\ncomments: false\ndate: Mon, 24 Jan 2022 11:02:07 GMT\n"
        "thumbnail: 'https://n.sinaimg.cn/&#123;a&#125;.jpg'\n"
        "---\n\n<div>   \n"
        "<p>&#123;% raw %&#125;&#123;&#123; y &#125;&#125;</p><style>a&#123;b:c&#125;</style>  \n"
        "</div>\n            "
    )


def test_render_post_quotes_title_and_image() -> None:
    text = render_post(post(title='60万"12306账号"外泄? It\'s', headimg="https://x.cn/it's.jpg"))
    assert "\ntitle: '60万\"12306账号\"外泄? It''s'\n" in text
    assert '\nheadimg: "https://x.cn/it\'s.jpg"\n' in text
    assert '\nthumbnail: "https://x.cn/it\'s.jpg"\n' in text


# ---------------------------------------------------------------------------
# §4 file name and path
# ---------------------------------------------------------------------------

PUBLISHID = "zzkpeid5261109"


@pytest.mark.parametrize(
    ("title", "name"),
    [
        ("1.03亿户家庭用上5G", "103亿户家庭用上5G.md"),
        ("被控受贿超5.26亿 山东省", "被控受贿超526亿 山东省.md"),
        ("#话题# 正文...", "话题 正文.md"),
        ("第一行\n第二行\r\n第三行", "第一行第二行第三行.md"),
        ('60万"12306账号"外泄? 中铁总', '60万"12306账号"外泄_ 中铁总.md'),
        ("最强“中国芯”本月商用", "最强_中国芯_本月商用.md"),
        ("债券市场是否存在泡沫？世界", "债券市场是否存在泡沫？世界.md"),
        ("苹果：64GB售5499元", "苹果：64GB售5499元.md"),
    ],
)
def test_post_file_name(title: str, name: str) -> None:
    assert post_file_name(title, PUBLISHID) == name


@pytest.mark.parametrize("char", list(":/\\?*“”<>|[]"))
def test_each_unsafe_character_becomes_underscore(char: str) -> None:
    assert sanitise_file_stem(f"a{char}b{char}") == "a_b_"
    assert post_file_name(f"a{char}b", PUBLISHID) == "a_b.md"


def test_sanitise_keeps_other_characters() -> None:
    title = "A-b_c (d) 'e' \"f\" ！？：，、「」【】《》 &%$@~+=,;"
    assert sanitise_file_stem(title) == title


HAN = "".join(chr(0x4E00 + i) for i in range(100))  # 100 distinct 3-byte characters


def test_long_title_shortened_at_character_boundary() -> None:
    assert len(HAN.encode("utf-8")) == 300
    name = post_file_name(HAN, PUBLISHID)
    tail = f"_{PUBLISHID}.md"
    # 255 - len("_zzkpeid5261109.md") = 237 bytes = exactly 79 characters
    assert name == HAN[:79] + tail
    assert len(name.encode("utf-8")) == 255


def test_long_title_cut_leaves_no_partial_character() -> None:
    name = post_file_name("a" + HAN, PUBLISHID)
    # 1 + 3k <= 237 -> k = 78; a 79th character would need 3 more bytes (256)
    assert name == "a" + HAN[:78] + f"_{PUBLISHID}.md"
    assert len(name.encode("utf-8")) == 253
    name.encode("utf-8").decode("utf-8")  # no cut inside a character


def test_name_that_just_fits_is_not_shortened() -> None:
    title = HAN[:84]  # 252 bytes + ".md" = 255
    assert post_file_name(title, PUBLISHID) == title + ".md"
    title = HAN[:85]  # 255 bytes + ".md" = 258: too long
    assert post_file_name(title, PUBLISHID) == HAN[:79] + f"_{PUBLISHID}.md"


def test_length_counted_after_sanitising() -> None:
    title = "." * 10 + HAN[:84]  # the dots are removed: 252 bytes remain
    assert post_file_name(title, PUBLISHID) == HAN[:84] + ".md"


def test_disambiguate_adds_publishid() -> None:
    assert post_file_name("人民币中间价", PUBLISHID, disambiguate=True) == f"人民币中间价_{PUBLISHID}.md"
    assert post_file_name("1.03亿: 户", PUBLISHID, disambiguate=True) == f"103亿_ 户_{PUBLISHID}.md"
    long_name = post_file_name(HAN, PUBLISHID, disambiguate=True)
    assert long_name == HAN[:79] + f"_{PUBLISHID}.md"


def test_post_relative_path() -> None:
    assert post_relative_path(CATEGORIES, "103亿户.md") == "金融/新浪财经/新浪财经－国內/103亿户.md"
    assert post_relative_path(["A", "B", "C－股市"], "x.md") == "A/B/C－股市/x.md"


# ---------------------------------------------------------------------------
# The golden corpus: item.json + page.html -> expected.md (expected_sample.md) at expected_path
# ---------------------------------------------------------------------------


def test_corpus_present() -> None:
    assert "seed-haiguan" in CORPUS_CASES, f"no seed-haiguan case under {CORPUS}"


@pytest.mark.parametrize("case", CORPUS_CASES)
@pytest.mark.parametrize(("style", "golden"), [("clean", "expected.md"), ("sample", "expected_sample.md")])
def test_corpus_post_bytes_and_path(case: str, style: BodyStyle, golden: str) -> None:
    folder = CORPUS / case
    item_dict = json.loads((folder / "item.json").read_text(encoding="utf-8"))
    listing = roll_item(item_dict)
    url = article_request_url(listing.url)
    post = load_article(listing, SECTION, url, page_facts((folder / "page.html").read_bytes(), None, url, style))

    data = render_post_bytes(post_content(PlacedPost(post, "unused.md")))
    expected = (folder / golden).read_bytes()
    assert data.decode("utf-8") == expected.decode("utf-8")
    assert data == expected

    path = post_relative_path(post.categories, post_file_name(post.title, post.publishid))
    assert path == (folder / "expected_path.txt").read_text(encoding="utf-8").rstrip("\r\n")


def test_local_images_replace_each_img_src_at_its_place_only() -> None:
    """HEXO_IMAGES=local: the src of each <img> points at the local copy; the same text
    elsewhere (article text quoting markup, an alt, a comment) is left as it is."""
    from crawler.hexo.body import process_body
    from crawler.hexo.post import with_local_images

    url = "https://n.sinaimg.cn/finance/a.jpg?x=1&y=2"
    html = (
        f'<p>写法: &lt;img src="{url}"></p><!-- <img src="{url}"> -->\n\n'
        f'<p><img alt=\'src="{url}"\' src="{url}"></p><template><img src="{url}"></template>'
    )
    # The sample style, which keeps comments (the clean style removes them: rule 8b).
    body = process_body(html, "https://finance.sina.com.cn/a/doc-iabcdefg1234567.shtml", "sample")
    assert body.first_image == url
    local = {url: "0123456789abcdef0123.jpg"}
    rewritten, headimg = with_local_images(body.html, body.image_spans, (body.first_image, url), local)
    assert headimg == "0123456789abcdef0123.jpg"
    assert rewritten.count('src="0123456789abcdef0123.jpg"') == 2  # the <img> and the template's <img>
    assert 'alt="src=&quot;https://n.sinaimg.cn/finance/a.jpg?x=1&y=2&quot;"' in rewritten
    assert rewritten.replace("0123456789abcdef0123.jpg", url) == body.html
    assert f'&lt;img src="{url}"' in rewritten and f'<!-- <img src="{url}"> -->' in rewritten
    assert with_local_images(body.html, body.image_spans, (body.first_image, url), {}) == (body.html, url)


@pytest.mark.parametrize(
    ("title", "name"),
    [
        ("“一带一路”经贸合作", "一带一路_经贸合作.md"),  # §4: Hexo never publishes _x.md
        ("[快讯]_a_", "快讯__a_.md"),
        ("“”", "abcdefg1234567.md"),  # nothing left: the article id
        ("__", "abcdefg1234567.md"),
    ],
)
def test_post_file_name_never_starts_with_underscore(title: str, name: str) -> None:
    assert post_file_name(title, "abcdefg1234567") == name
