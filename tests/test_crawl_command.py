"""``scrapy crawl``'s exit status (crawler.commands.crawl), in this process: the project's
command runs a whole crawl answered from recorded responses (tests/support/inprocess.py)
on a crawler process that owns an event loop, as Scrapy's AsyncCrawlerProcess does, but
installs no logging and no signal handlers in the test process (CommandProcess).  The same
statuses seen from a shell (a real ``scrapy crawl``) are in tests/test_e2e_operations.py."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any, cast

import pytest
from scrapy.crawler import CrawlerProcessBase
from scrapy.exceptions import UsageError

from crawler.commands.crawl import Command
from crawler.extensions.runstate import RunState
from crawler.extensions.runsummary import TEMPLATE_CHANGED_STAT
from crawler.sina.roll_api import roll_api_url
from crawler.sina.zhibo_api import zhibo_api_url
from tests.conftest import RECORDED, corpus_case
from tests.support.inprocess import Answer, CommandProcess, project_settings
from tests.support.replay_proxy import RollApi
from tests.support.synthetic import LID, PAGEID, synthetic_articles, without_body_container

ZHIBO = Answer(
    (RECORDED / "zhibo.api.zhibo.feed_zhibo_id152_page1.trimmed.json").read_bytes(), content_type="application/json"
)


def _crawl(
    tmp_path: Path,
    answers: dict[str, Answer],
    args: list[str] | None = None,
    settings: dict[str, str] | None = None,
    **spargs: str,
) -> int:
    """``scrapy crawl sina_finance -a …``'s exit status."""
    command = Command()
    process = CommandProcess(project_settings(tmp_path, RECORDED_ANSWERS=answers, **(settings or {})))
    command.crawler_process = cast(CrawlerProcessBase, process)
    try:
        command.run(["sina_finance"] if args is None else args, argparse.Namespace(spargs=spargs))
    finally:
        process.close()  # a usage error starts nothing
    return command.exitcode


def test_a_run_that_wrote_its_posts_exits_0(tmp_path: Path) -> None:
    assert _crawl(tmp_path, {zhibo_api_url("152", 1): ZHIBO}, sections="zhibo") == 0
    assert len(list((tmp_path / "posts").rglob("*.md"))) == 3


def test_a_run_whose_every_listing_failed_exits_1(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert _crawl(tmp_path, {}, sections="china") == 1
    assert "Run failed: all_listings_failed" in caplog.text


def test_a_wrong_spider_argument_exits_2_with_one_plain_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert _crawl(tmp_path, {}, sections="no-such-section") == 2
    (line,) = [record for record in caplog.records if record.getMessage().startswith("Not crawling: ")]
    assert "no-such-section" in line.getMessage() and line.exc_info is None
    assert not (tmp_path / "posts").exists()  # stopped before anything was opened


def test_a_crawl_that_cannot_start_for_another_reason_is_logged_with_its_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(crawler: Any) -> RunState:
        raise RuntimeError("a bug in a component")

    monkeypatch.setattr(RunState, "from_crawler", broken)  # an extension: built before anything opens
    assert _crawl(tmp_path, {}, sections="china") == 1
    (line,) = [record for record in caplog.records if record.getMessage() == "The crawl could not start"]
    assert line.levelno == logging.ERROR and line.exc_info is not None
    assert str(line.exc_info[1]) == "a bug in a component"


@pytest.mark.parametrize("args", [[], ["sina_finance", "sina_finance_worker"]])
def test_a_crawl_runs_one_spider(tmp_path: Path, args: list[str]) -> None:
    with pytest.raises(UsageError, match=r"run one spider: scrapy crawl <spider>"):
        _crawl(tmp_path, {}, args)


@pytest.mark.parametrize(("without_body", "status"), [(4, 1), (2, 0)])
def test_a_finished_run_whose_section_mostly_lost_its_body_container_exits_1(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, without_body: int, status: int
) -> None:
    """Of 5 fetched article pages, 4 without a body container: "template changed?", exit 1,
    the finish reason still finished; 2 of 5 is not most of them."""
    items, pages = synthetic_articles([corpus_case("seed-haiguan")], 5)
    answers = {
        url: Answer(without_body_container(page) if number < without_body else page)
        for number, (url, page) in enumerate(pages)
    }
    listing = RollApi({(PAGEID, LID): items}).envelope(PAGEID, LID)
    answers[roll_api_url(PAGEID, LID, 1)] = Answer(json.dumps(listing).encode(), content_type="application/json")
    stats = tmp_path / "stats.json"
    assert _crawl(tmp_path, answers, settings={"SINA_STATS_FILE": str(stats)}, sections="china") == status
    final = json.loads(stats.read_text(encoding="utf-8"))
    assert final["finish_reason"] == "finished"
    assert final["sina/section/china/fetched"] == 5 and final["sina/section/china/no_body"] == without_body
    assert final.get(TEMPLATE_CHANGED_STAT) == (1 if status else None)
    assert ("template changed?" in caplog.text) is bool(status)


def test_a_flash_that_makes_no_post_is_no_fetched_page(tmp_path: Path) -> None:
    """A flash has no page: its skips count in no section's ``fetched`` (nor ``no_body``)."""
    answer = json.loads(ZHIBO.body)
    answer["result"]["data"]["feed"]["list"][0]["rich_text"] = "<br/>"  # no text to make a title of
    zhibo = Answer(json.dumps(answer).encode(), content_type="application/json")
    stats = tmp_path / "stats.json"
    settings = {"SINA_STATS_FILE": str(stats)}
    assert _crawl(tmp_path, {zhibo_api_url("152", 1): zhibo}, settings=settings, sections="zhibo") == 0
    final = json.loads(stats.read_text(encoding="utf-8"))
    assert final["sina/skipped/no_title"] == 1 and final["sina/section/zhibo/skipped"] == 1
    assert "sina/section/zhibo/fetched" not in final
