"""``scrapy sina-check``, in this process: the check of an article page's template against
the saved pages (crawler/sina/site_check.py), the table, and the command over its spider
(crawler/commands/sina-check.py, crawler/spiders/site_check.py) answered from recorded
responses (tests/support/inprocess.py).  The same check from a shell, through the replay
proxy: tests/test_e2e_site_check.py."""

from __future__ import annotations

import argparse
import copy
import importlib
import json
from pathlib import Path
from typing import Any, cast
from unittest import mock

import pytest
from scrapy.crawler import Crawler, CrawlerProcessBase
from scrapy.exceptions import UsageError

from crawler.sina.article_page import parse_page
from crawler.sina.roll_api import roll_api_url
from crawler.sina.site_check import LISTING_BROKEN, OK, TEMPLATE_CHANGED, SectionCheck, paragraphs, template_problems
from crawler.sina.zhibo_api import zhibo_api_url
from crawler.spiders.kinds import RollListing
from crawler.spiders.site_check import SiteCheckSpider
from tests.conftest import CASES, RECORDED, corpus_case
from tests.support.inprocess import Answer, CommandProcess, project_settings
from tests.support.kinds import PAGES
from tests.support.replay_proxy import CorpusCase, RollApi
from tests.support.settings import output_settings
from tests.support.settings import project_settings as crawl_settings
from tests.support.synthetic import LID, PAGEID, synthetic_articles, without_body_container

sina_check = importlib.import_module("crawler.commands.sina-check")  # the command's name is its module's

ZHIBO = json.loads((RECORDED / "zhibo.api.zhibo.feed_zhibo_id152_page1.trimmed.json").read_text(encoding="utf-8"))


# --- an article page's template (pure) -----------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_every_saved_article_page_has_the_template(case: CorpusCase) -> None:
    tree = parse_page(case.page)
    assert template_problems(tree) == []
    assert paragraphs(tree) >= 1


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_a_saved_page_without_its_body_container_has_changed(case: CorpusCase) -> None:
    tree = parse_page(without_body_container(case.page))
    assert template_problems(tree) == ["no body container (#artibody, #article)"]
    assert paragraphs(tree) == 0


def test_each_part_of_the_template_is_named_when_missing() -> None:
    bare = parse_page('<html><head></head><body><div id="artibody"><p> </p><div>text</div></div></body></html>')
    assert template_problems(bare) == [
        "no paragraph of text in the body container",
        "no title (og:title, h1.main-title, h1#artibodyTitle)",
        "no date (article:published_time, .date-source .date, span.date)",
    ]
    dated = parse_page(
        '<html><body><h1 class="main-title">标题</h1><span class="date">2026年09月28日 23:20</span>'
        '<div id="article"><p>正文</p></div></body></html>'
    )
    assert template_problems(dated) == [] and paragraphs(dated) == 1


def test_a_row_has_one_of_three_statuses() -> None:
    assert SectionCheck("china", "国内滚动", OK, "fine").ok
    assert not SectionCheck("china", "国内滚动", TEMPLATE_CHANGED, "no body").ok
    with pytest.raises(ValueError, match="unknown status 'broken'"):
        SectionCheck("china", "国内滚动", "broken", "")


def test_the_table_aligns_chinese_names_by_their_width_on_screen() -> None:
    rows = [
        SectionCheck("china", "国内滚动", OK, "11 items"),
        SectionCheck("feed-usstock", "美股频道x", LISTING_BROKEN, "http_404"),
    ]
    assert sina_check.table(rows).splitlines() == [
        "section       name       status          reason",
        "china         国内滚动   ok              11 items",
        "feed-usstock  美股频道x  listing broken  http_404",
    ]
    assert sina_check.width("国内a") == 5


# --- the command, over its spider, in this process ------------------------------------


def _check(
    tmp_path: Path, answers: dict[str, Answer], args: list[str] | None = None, **spargs: str
) -> tuple[int, dict[str, list[str]]]:
    """``scrapy sina-check -a …``'s exit status and its rows by section id: [status, reason]."""
    command = sina_check.Command()
    process = CommandProcess(project_settings(tmp_path, RECORDED_ANSWERS=answers))
    command.crawler_process = cast(CrawlerProcessBase, process)
    try:
        with mock.patch.object(sina_check, "table", wraps=sina_check.table) as table:
            command.run(args or [], argparse.Namespace(spargs=spargs))
    finally:
        process.close()  # a usage error starts nothing
    rows: list[SectionCheck] = [row for call in table.call_args_list for row in call.args[0]]
    assert not (tmp_path / "posts").exists(), "no post, no lock, no state"
    return command.exitcode, {row.section_id: [row.status, row.reason] for row in rows}


def _roll(items: list[dict[str, Any]]) -> Answer:
    listing = RollApi({(PAGEID, LID): items}).envelope(PAGEID, LID)
    return Answer(json.dumps(listing).encode(), content_type="application/json")


ITEMS, PAGES_OF_ITEMS = synthetic_articles([corpus_case("seed-haiguan")], 2)
FIRST_URL, FIRST_PAGE = PAGES_OF_ITEMS[0]
CHINA_LISTING = roll_api_url(PAGEID, LID, 1)


def test_a_section_whose_listing_and_article_read_is_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, rows = _check(tmp_path, {CHINA_LISTING: _roll(ITEMS), FIRST_URL: Answer(FIRST_PAGE)}, sections="china")
    assert status == 0
    assert rows == {"china": [OK, f"2 items; {FIRST_URL} reads (18 paragraphs)"]}
    assert capsys.readouterr().out.splitlines()[1].split()[:3] == ["china", "国内滚动", "ok"]


def test_an_article_without_its_body_container_is_a_changed_template(tmp_path: Path) -> None:
    answers = {CHINA_LISTING: _roll(ITEMS), FIRST_URL: Answer(without_body_container(FIRST_PAGE))}
    status, rows = _check(tmp_path, answers, sections="china")
    assert status == 1
    assert rows == {"china": [TEMPLATE_CHANGED, f"{FIRST_URL}: no body container (#artibody, #article)"]}


def test_an_article_the_crawl_would_make_no_post_of_is_a_changed_template(tmp_path: Path) -> None:
    """Its template is there (a visible date), but without the listing's intime the post's
    date comes from article:published_time, which it lacks: the crawl would skip it."""
    page = b'<html><body><h1 class="main-title">T</h1><span class="date">2026-09-28</span>'
    page += b'<div id="artibody"><p>x</p></div></body></html>'
    items = [{key: value for key, value in ITEMS[0].items() if key != "intime"}]
    status, rows = _check(tmp_path, {CHINA_LISTING: _roll(items), FIRST_URL: Answer(page)}, sections="china")
    assert status == 1
    assert rows["china"] == [
        TEMPLATE_CHANGED,
        f"{FIRST_URL}: no_date: no intime in the API item, no article:published_time",
    ]
    dated = page.replace(
        b"<body>", b'<body><meta property="article:published_time" content="2026-09-28T23:20:25+08:00">'
    )
    status, rows = _check(tmp_path, {CHINA_LISTING: _roll(items), FIRST_URL: Answer(dated)}, sections="china")
    assert status == 0 and rows["china"] == [OK, f"1 item; {FIRST_URL} reads (1 paragraph)"]


@pytest.mark.parametrize(
    ("answers", "reason"),
    [
        ({CHINA_LISTING: Answer(b"<html>maintenance</html>")}, f"{CHINA_LISTING}: not_json: answer starts with"),
        ({}, f"{CHINA_LISTING}: http_404"),
        ({CHINA_LISTING: _roll([])}, f"{CHINA_LISTING}: no items"),
        (
            {CHINA_LISTING: _roll([{"title": "视频", "url": "https://video.sina.com.cn/p/1.html", "ctime": "1"}])},
            f"{CHINA_LISTING}: no items (1 unusable: not_article)",
        ),
        ({CHINA_LISTING: _roll(ITEMS)}, f"its first article {FIRST_URL}: http_404"),
    ],
    ids=["garbage", "listing_404", "empty", "nothing_usable", "article_404"],
)
def test_a_listing_that_leads_to_no_article_is_broken(tmp_path: Path, answers: dict[str, Answer], reason: str) -> None:
    status, rows = _check(tmp_path, answers, sections="china")
    assert status == 1
    assert rows["china"][0] == LISTING_BROKEN and rows["china"][1].startswith(reason)


def test_a_listing_whose_reading_raises_is_broken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(RollListing, "read", boom)
    status, rows = _check(tmp_path, {CHINA_LISTING: _roll(ITEMS)}, sections="china")
    assert status == 1 and rows["china"] == [LISTING_BROKEN, f"{CHINA_LISTING}: parse_error: RuntimeError: a bug"]


def test_the_live_feed_is_checked_by_its_first_flash(tmp_path: Path) -> None:
    url = zhibo_api_url("152", 1)
    answer = Answer(json.dumps(ZHIBO).encode(), content_type="application/json")
    status, rows = _check(tmp_path, {url: answer}, sections="zhibo")
    assert status == 0 and rows["zhibo"][0] == OK and rows["zhibo"][1].startswith("3 items; flash ")
    broken = copy.deepcopy(ZHIBO)
    broken["result"]["data"]["feed"]["list"][0]["rich_text"] = "<br/>"  # no text to make a title of
    answer = Answer(json.dumps(broken).encode(), content_type="application/json")
    status, rows = _check(tmp_path, {url: answer}, sections="zhibo")
    assert status == 1 and rows["zhibo"][0] == TEMPLATE_CHANGED and ": no_title: " in rows["zhibo"][1]


def test_a_gallery_or_a_video_is_checked_by_its_post(tmp_path: Path) -> None:
    items = [{**case.item, "intime": case.item["ctime"], "mtime": case.item["ctime"]} for case in PAGES]
    answers = {CHINA_LISTING: _roll(items)}
    for case in PAGES:
        assert case.page is not None
        answers[case.https_url] = Answer(case.page, content_type="text/html")
    status, rows = _check(tmp_path, answers, sections="china")
    assert status == 0, rows
    assert rows["china"][1] == f"2 items; {PAGES[0].https_url} reads (gallery)"


def test_mistakes_exit_2_or_are_usage_errors(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert _check(tmp_path, {}, sections="no-such-section") == (2, {})
    assert "-a sections: unknown section(s) no-such-section" in caplog.text
    assert _check(tmp_path, {}, pages="3") == (2, {})
    assert "-a pages=3: scrapy sina-check takes only -a sections=id,id" in caplog.text
    with pytest.raises(UsageError, match="takes no spider"):
        _check(tmp_path, {}, ["sina_finance"])


def test_a_section_the_check_never_finished_is_broken(tmp_path: Path) -> None:
    chromium = tmp_path / "chromium"  # a page section sets the browser up: an executable must be there
    chromium.write_text("#!/bin/sh\n", encoding="utf-8")
    chromium.chmod(0o700)
    settings = crawl_settings({**output_settings(tmp_path), "SINA_BROWSER_EXECUTABLE": str(chromium)})
    spider = SiteCheckSpider.from_crawler(Crawler(SiteCheckSpider, settings), sections="china,page-china")
    assert spider.name == "sina_check" and not hasattr(SiteCheckSpider, "name"), "scrapy list does not list it"
    assert spider.browser_meta is not None  # read through the browser, as the crawl reads a page section
    assert spider.results("shutdown") == [
        SectionCheck("china", "国内滚动", LISTING_BROKEN, "no answer (the check ended: shutdown)"),
        SectionCheck("page-china", spider.sections[1].name, LISTING_BROKEN, "no answer (the check ended: shutdown)"),
    ]


def test_scrapy_help_names_the_check() -> None:
    command = sina_check.Command()
    assert command.syntax() == "[-a sections=id,id] [options]"
    assert command.short_desc() == "Check that Sina's listings and article pages still read as the crawler expects"
    assert "Exits 0 only when every section is ok. Writes no post and takes no lock." in command.long_desc()
