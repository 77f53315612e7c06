"""The run summary in-process (crawler/extensions/runsummary.py): built from a crawler as
Scrapy builds extensions, closed by the ``spider_closed`` signal, it logs one line per
section and one for the run, and writes the final stats as JSON (SINA_STATS_FILE)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
from scrapy import signals
from scrapy.utils.misc import build_from_crawler

from crawler.extensions.runsummary import (
    TEMPLATE_CHANGED_MIN_FETCHED,
    TEMPLATE_CHANGED_STAT,
    RunSummary,
    section_lines,
    summarise,
    template_changed,
)
from tests.support.components import make_crawler

STATS = {
    "sina/posts/new": 3,
    "sina/posts/updated": 1,
    "sina/posts/unchanged": 2,
    "sina/posts/failed/os_error": 1,  # under posts/ but not a post count of its own
    "sina/articles/known": 5,
    "sina/skipped/timeout": 2,
    "sina/skipped/http_404": 1,
    "sina/roll/failed/dns_error": 1,
    "sina/section/china/listed": 9,
    "sina/section/china/new": 3,
    "sina/section/china/known": 5,
    "sina/section/live/listed": 2,
    "sina/section/live/failed": 1,
    "sina/section/odd": 7,  # not a per-section counter
}


def test_the_run_line_counts_posts_skips_and_failures() -> None:
    assert summarise(STATS) == (
        "new=3 updated=1 unchanged=7 (not fetched: 5); skipped: http_404=1, timeout=2; "
        "failed: os_error=1; roll API failures: dns_error=1"
    )
    assert summarise({}) == (
        "new=0 updated=0 unchanged=0 (not fetched: 0); skipped: none; failed: none; roll API failures: none"
    )


def test_images_have_their_own_part_with_each_reason() -> None:
    images = {
        "sina/images/stored": 4,
        "sina/images/failed": 3,
        "sina/images/failed/http_404": 2,
        "sina/images/failed/too_large": 1,
        "sina/images/refused": 1,
        "sina/images/refused/not_raster": 1,
        "sina/images/capped/per_post": 5,
    }
    assert summarise(images).endswith(
        "failed: none; roll API failures: none; images: stored=4 failed=3 (http_404=2, too_large=1) "
        "refused=1 (not_raster=1) capped=5 (per_post=5)"
    )
    assert summarise({"sina/images/stored": 0}).endswith("; images: stored=0"), "the pipeline ran, all fine"
    assert "images" not in summarise(STATS), "HEXO_IMAGES=remote: no images part"


def test_one_line_per_section_in_order() -> None:
    assert section_lines(STATS) == [
        "section china: listed=9 known=5 new=3 updated=0 unchanged=0 skipped=0 failed=0 list_failed=0",
        "section live: listed=2 known=0 new=0 updated=0 unchanged=0 skipped=0 failed=1 list_failed=0",
    ]


@pytest.mark.parametrize(
    ("fetched", "no_body", "changed"),
    [
        (4, 3, True),  # more than half of the minimum sample
        (10, 6, True),
        (10, 5, False),  # half is not more than half
        (4, 2, False),
        (3, 3, False),  # under the minimum sample: one odd article fails no run
        (0, 0, False),
    ],
)
def test_template_changed_when_most_fetched_pages_have_no_body(fetched: int, no_body: int, changed: bool) -> None:
    assert TEMPLATE_CHANGED_MIN_FETCHED == 4
    assert template_changed({"fetched": fetched, "no_body": no_body}) is changed


def test_a_section_whose_template_changed_says_so_and_is_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    changed = {"sina/section/china/fetched": 5, "sina/section/china/no_body": 4, "sina/section/china/new": 1}
    assert section_lines(changed) == [
        "section china: listed=0 known=0 new=1 updated=0 unchanged=0 skipped=0 failed=0 list_failed=0 template changed?"
    ]
    extension = _closed(tmp_path, caplog, stats=changed, SINA_STATS_FILE=str(tmp_path / "stats.json"))
    assert extension.crawler.stats.get_value(TEMPLATE_CHANGED_STAT) == 1
    errors = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert [record.getMessage() for record in errors] == [
        "Section china: 4 of 5 fetched article pages have no body container (no_body): Sina's article template "
        "changed? `scrapy sina-check -a sections=china` checks it"
    ]
    assert "Run summary, section china: listed=0 known=0 new=1" in caplog.text and "template changed?" in caplog.text
    assert json.loads((tmp_path / "stats.json").read_text(encoding="utf-8"))[TEMPLATE_CHANGED_STAT] == 1
    assert "template changed?" not in "\n".join(section_lines(STATS))  # the usual run: no such stat
    assert _closed(tmp_path, caplog).crawler.stats.get_value(TEMPLATE_CHANGED_STAT) is None


def _closed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, stats: dict[str, int] | None = None, **settings: str
) -> RunSummary:
    # Scrapy's own extensions (CoreStats...) off: they expect a spider_opened first.
    crawler = make_crawler(tmp_path, {"EXTENSIONS_BASE": {}, **settings})
    extension = build_from_crawler(RunSummary, crawler)
    for key, value in (STATS if stats is None else stats).items():
        crawler.stats.set_value(key, value)
    crawler.stats.set_value("start_time", datetime(2026, 9, 28, 1, 2, 3, tzinfo=UTC))
    with caplog.at_level(logging.INFO, logger="crawler.extensions.runsummary"):
        crawler.signals.send_catch_log(signals.spider_closed, spider=crawler.spider, reason="finished")
    return extension


def test_the_summary_is_logged_when_the_spider_closes(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    extension = _closed(tmp_path, caplog)
    assert extension.stats_file is None
    assert caplog.messages == [
        "Run summary, section china: listed=9 known=5 new=3 updated=0 unchanged=0 skipped=0 failed=0 list_failed=0",
        "Run summary, section live: listed=2 known=0 new=0 updated=0 unchanged=0 skipped=0 failed=1 list_failed=0",
        "Run summary (finished): " + summarise(STATS),
    ]
    assert not list(tmp_path.glob("*.json")), "no stats file unless SINA_STATS_FILE"


def test_the_final_stats_are_written_as_json(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    target = tmp_path / "stats" / "last.json"
    extension = _closed(tmp_path, caplog, SINA_STATS_FILE=str(target))
    assert extension.stats_file == target
    written = json.loads(target.read_text(encoding="utf-8"))
    assert written == {**STATS, "start_time": "2026-09-28T01:02:03+00:00", "finish_reason": "finished"}
    assert target.read_text(encoding="utf-8").startswith('{\n "finish_reason": "finished",'), "sorted, indented"
    assert [path.name for path in target.parent.iterdir()] == ["last.json"], "written atomically: no temporary file"
