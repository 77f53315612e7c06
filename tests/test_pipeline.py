"""The posts pipeline: path, content, atomic write, one counter per outcome."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from scrapy.exceptions import DropItem
from scrapy.settings import Settings
from scrapy.statscollectors import MemoryStatsCollector
from scrapy.utils.test import get_crawler

from crawler.config import OutputConfig
from crawler.items import ArticleItem
from crawler.listing import OrderedListings
from crawler.pipelines.hexo_posts import HexoPostsPipeline, write_atomically


def _item(**changes) -> ArticleItem:
    item = ArticleItem(
        publishid="abcdefg1234567",
        url="https://finance.sina.com.cn/roll/2026-09-28/doc-iabcdefg1234567.shtml",
        section="china",
        title="标题: 一",
        date="2022-01-24T11:02:07Z",
        categories=["金融", "新浪财经", "新浪财经－国內"],
        author="新浪财经",
        body_html="<p>x</p>\n",
    )
    for key, value in changes.items():
        setattr(item, key, value)
    return item


def _pipeline(tmp_path: Path) -> tuple[HexoPostsPipeline, MemoryStatsCollector]:
    crawler = get_crawler(settings_dict={})
    stats = MemoryStatsCollector(crawler)
    pipeline = HexoPostsPipeline(OutputConfig(posts_dir=tmp_path), stats)
    pipeline.open_spider()
    return pipeline, stats


def test_written_then_unchanged_then_updated(tmp_path: Path) -> None:
    pipeline, stats = _pipeline(tmp_path)
    item = pipeline.process_item(_item())
    assert item.path == "金融/新浪财经/新浪财经－国內/标题_ 一.md"
    target = tmp_path / item.path
    data = target.read_bytes()
    assert data.startswith(b"\n---\ntitle: '\xe6\xa0\x87")
    assert data.endswith(b"</div>\n" + b" " * 12)
    before = target.stat().st_mtime_ns
    pipeline.process_item(_item())
    assert target.stat().st_mtime_ns == before
    pipeline.process_item(_item(body_html="<p>y</p>\n"))
    assert b"<p>y</p>" in target.read_bytes()
    assert stats.get_value("sina/posts/written") == 1
    assert stats.get_value("sina/posts/unchanged") == 1
    assert stats.get_value("sina/posts/updated") == 1
    assert [p.name for p in target.parent.iterdir()] == [target.name], "no temporary file left"


def test_same_name_other_article_gets_publishid_suffix(tmp_path: Path) -> None:
    pipeline, _ = _pipeline(tmp_path)
    first = pipeline.process_item(_item())
    second = pipeline.process_item(_item(publishid="zzzzzzz7654321", body_html="<p>other</p>\n"))
    assert first.path != second.path
    assert second.path.endswith("标题_ 一_zzzzzzz7654321.md")
    assert b"<p>x</p>" in (tmp_path / first.path).read_bytes()


def test_unwritable_folder_is_a_counted_drop(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        blocker = tmp_path / "金融"
        blocker.write_text("a file where a folder should be", encoding="utf-8")
    else:  # pragma: no cover - CI runs as root
        (tmp_path / "金融").mkdir(mode=0o500)
    pipeline, stats = _pipeline(tmp_path)
    with pytest.raises(DropItem, match=r"post not written for https://finance\.sina\.com\.cn/.*os_error"):
        pipeline.process_item(_item())
    assert stats.get_value("sina/posts/failed/os_error") == 1


def test_incomplete_item_is_a_counted_drop(tmp_path: Path) -> None:
    pipeline, stats = _pipeline(tmp_path)
    with pytest.raises(DropItem, match="bad_item"):
        pipeline.process_item(_item(date=None))
    assert stats.get_value("sina/posts/failed/bad_item") == 1
    assert list(tmp_path.rglob("*.md")) == []


def test_failed_write_leaves_no_temporary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "a" / "post.md"

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        write_atomically(target, b"data")
    assert list((tmp_path / "a").iterdir()) == []


def test_from_crawler_reads_output_settings(tmp_path: Path) -> None:
    crawler = get_crawler(settings_dict={"HEXO_POSTS_DIR": str(tmp_path / "x")})
    crawler.stats = MemoryStatsCollector(crawler)
    pipeline = HexoPostsPipeline.from_crawler(crawler)
    assert pipeline.posts_dir == tmp_path / "x"
    assert Settings().get("HEXO_POSTS_DIR") is None


class _Entry:
    def __init__(self, publishid: str) -> None:
        self.publishid = publishid


def test_ordered_listings_release_in_section_order() -> None:
    listings: OrderedListings[_Entry] = OrderedListings(["a", "b", "c"])
    listings.add("b", [_Entry("1"), _Entry("2")])
    assert listings.complete("b") == []  # a is not complete yet
    listings.add("a", [_Entry("2"), _Entry("3")])
    listings.add("c", [_Entry("3")])
    released = listings.complete("a")
    assert [(section, entry.publishid) for section, entry in released] == [("a", "2"), ("a", "3"), ("b", "1")]
    assert not listings.finished
    assert listings.complete("c") == []
    assert listings.finished
    assert listings.duplicates == 2
    assert listings.owner == {"2": "a", "3": "a", "1": "b"}
