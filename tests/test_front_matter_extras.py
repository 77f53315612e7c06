"""HEXO_FRONT_MATTER_EXTRAS on the goldens: each extra alone, in pairs and all together
add their lines after the sample's, in a fixed order, leaving the sample's lines byte for
byte; the default adds nothing; a wrong value stops the crawl at start.  (Hexo reads the
lines back in tests/test_e2e_front_matter_extras.py.)"""

from __future__ import annotations

import html
import re
from email.utils import formatdate
from typing import Any

import pytest
import yaml

from crawler.config import ConfigError, load_output, parse_output
from crawler.hexo.fields import html_text
from crawler.hexo.post import PostContent, post_format, render_post
from crawler.sina.keywords import split_keywords
from crawler.sina.roll_api import without_site_suffix
from crawler.sina.zhibo_api import flash
from tests.conftest import CASES
from tests.support.extras import EXTRA_SETS, Golden, golden_posts, split_front_matter, without_extras
from tests.support.settings import project_settings

GOLDENS = golden_posts()
BY_NAME = {golden.name: golden for golden in GOLDENS}
_META_KEYWORDS = re.compile(r'<meta name="keywords" content="([^"]*)"')


def expected_extras(golden: Golden) -> dict[str, object]:
    """What each extra says of a golden article, from its item.json and page.html, by
    the rules of docs/settings.md (not by the crawler's code)."""
    item = golden.item
    intro = " ".join(html.unescape(str(item.get("intro") or "")).split())
    intro = intro.removesuffix("_新浪网").rstrip()
    match = _META_KEYWORDS.search(BY_PAGE[golden.name])
    words: list[str] = []
    for word in re.split("[,，]", match.group(1) if match else ""):
        if word.strip() and word.strip() not in words and word.strip() not in ("新闻", "sina.cn"):
            words.append(word.strip())
    mtime, intime = int(str(item["mtime"])), int(str(item["intime"]))
    return {
        "excerpt": intro or None,
        "tags": words,
        "updated": formatdate(mtime, usegmt=True) if mtime > intime else None,
    }


BY_PAGE = {case.name: case.page.decode("utf-8", "replace") for case in CASES}


def _read(lines: list[str]) -> dict[str, Any]:
    """The extras' lines as YAML reads them (the braces rule undone: it is HTML text)."""
    if not lines:
        return {}
    read = yaml.safe_load("\n".join(lines))
    assert isinstance(read, dict)
    return read


@pytest.mark.parametrize("golden", GOLDENS, ids=[golden.name for golden in GOLDENS])
def test_the_default_adds_nothing(golden: Golden) -> None:
    assert golden.render(()) == golden.expected


@pytest.mark.parametrize("extras", EXTRA_SETS, ids=["+".join(extras) for extras in EXTRA_SETS])
@pytest.mark.parametrize("golden", GOLDENS, ids=[golden.name for golden in GOLDENS])
def test_extras_follow_the_samples_lines_which_stay_byte_for_byte(golden: Golden, extras: tuple[str, ...]) -> None:
    text = golden.render(extras).decode("utf-8")
    assert without_extras(text) == golden.expected.decode("utf-8")
    _, added, _ = split_front_matter(text)
    keys = [line.split(":", 1)[0] for line in added if not line.startswith(" - ")]
    assert keys == [extra for extra in ("excerpt", "tags", "updated") if extra in keys], "fixed order"
    assert set(keys) <= set(extras)
    read = _read(added)
    if golden.name in BY_PAGE:
        want = expected_extras(golden)
        for extra in extras:
            value = want[extra]
            if extra == "excerpt" and value is not None:
                value = html_text(str(value)).replace("{", "&#123;").replace("}", "&#125;")
            assert read.get(extra, [] if extra == "tags" else None) == value, extra


def test_what_the_goldens_give() -> None:
    """The golden corpus has each case: an excerpt with &nbsp; decoded, one with Sina's
    _新浪网 left out, an edited article (updated) and unedited ones (none), tags."""
    every = ("excerpt", "tags", "updated")
    read = {golden.name: _read(split_front_matter(golden.render(every).decode())[1]) for golden in GOLDENS}
    assert read["icezzrq4076655"]["excerpt"].startswith("原标题：最强“中国芯”本月商用 华为抢跑5G")
    assert read["nausehc2630922"]["excerpt"].endswith("也是膈...")
    assert read["hqfskcn2160999"]["updated"] == "Fri, 28 Dec 2018 12:19:44 GMT"
    assert read["hqfskcn2160999"]["tags"] == ["辟谣", "外泄", "账号"]
    assert "updated" not in read["seed-haiguan"] and "updated" not in read["nausehc2630922"]  # mtime not later
    flash_5103046 = read["flash-5103046"]
    assert flash_5103046 == {
        "excerpt": "近日，东软集团股份有限公司与中国民航大学空中交通管理学院举行合作签约暨"
        "“民航智慧化运行联合实验室”揭牌仪式。",
        "tags": ["公司"],
    }


def test_a_flash_lead() -> None:
    base = {"id": 1, "create_time": "2026-09-19 11:03:13", "rich_text": ""}
    leads = {
        "【标题】第一句。第二句。": "第一句。",
        "【标题】没有句号的一段": "没有句号的一段",
        "没有标题的快讯。第二句。": None,  # its first sentence is its title
        "没有标题的快讯；分句。第二句。": "没有标题的快讯；分句。",
        "【标题】": None,
    }
    for text, lead in leads.items():
        assert flash({**base, "rich_text": text}).lead == lead, text


def test_keywords_and_site_suffix() -> None:
    assert split_keywords(["a，b, a ,,新闻", None, "b,c d,sina.cn"]) == ("a", "b", "c d")
    assert without_site_suffix("文章..._新浪网") == "文章..."
    assert without_site_suffix("新浪网") == "新浪网"


def test_hostile_text_is_written_inert() -> None:
    hostile = "'\"<script>alert(1)</script> --- {% raw %} <!-- more --> ```x``` &amp;"
    content = PostContent(
        "t", ("a", "b", "c"), "x", "Mon, 24 Jan 2022 11:02:07 GMT", None, "<p>b</p>", hostile, (hostile, "---")
    )
    text = render_post(content)
    _, added, _ = split_front_matter(text)
    escaped = (
        "&#39;&quot;&lt;script&gt;alert(1)&lt;/script&gt; --- &#123;% raw %&#125; &lt;!-- more --&gt; "
        "&#96;&#96;&#96;x&#96;&#96;&#96; &amp;amp;"
    )
    assert _read(added) == {"excerpt": escaped, "tags": [escaped, "---"]}
    assert added[0] == f"excerpt: '{escaped}'"
    assert not re.search(r"[<>\"`{}]", "\n".join(added))


def test_what_yaml_cannot_hold_is_left_out() -> None:
    """Hexo's YAML refuses a file holding a control character: they go, as from a title,
    and a tag left empty goes with them."""
    assert html_text("a\x01\x7f\x85b\uffff") == "a b\uffff"
    content = PostContent(
        "t", ("a", "b", "c"), "x", "Mon, 24 Jan 2022 11:02:07 GMT", None, "", "\x02", ("\x01", "t", "t")
    )
    assert split_front_matter(render_post(content))[1] == ["tags:", " - 't'"]


def test_the_state_records_the_extras_with_the_post_format() -> None:
    assert post_format("clean") == "3/clean"
    assert post_format("sample", ("updated", "excerpt")) == "3/sample+excerpt,updated"


@pytest.mark.parametrize(
    ("value", "extras"),
    [
        ([], ()),
        ("", ()),
        ("updated,excerpt", ("excerpt", "updated")),
        (["tags", " tags "], ("tags",)),
        ("excerpt, tags, updated", ("excerpt", "tags", "updated")),
    ],
)
def test_the_setting(value: object, extras: tuple[str, ...]) -> None:
    output = load_output(project_settings({"HEXO_FRONT_MATTER_EXTRAS": value}))
    assert output.front_matter_extras == extras
    assert output.post_format == post_format("clean", extras)


@pytest.mark.parametrize("value", ["summary", "excerpt,Tags", ["excerpt", "keywords"], 3])
def test_a_wrong_value_stops_the_crawl(value: object) -> None:
    with pytest.raises(ConfigError, match=r"HEXO_FRONT_MATTER_EXTRAS: .*expected some of excerpt, tags, updated"):
        load_output(project_settings({"HEXO_FRONT_MATTER_EXTRAS": value}))


def test_an_output_file_sets_them_as_a_list() -> None:
    assert parse_output("front_matter_extras: [excerpt, tags]\n", "o.yaml") == {"front_matter_extras": "excerpt,tags"}
