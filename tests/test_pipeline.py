"""The posts pipeline: path, content, atomic write, one counter per outcome."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from scrapy.exceptions import CloseSpider, DropItem
from scrapy.statscollectors import MemoryStatsCollector
from scrapy.utils.test import get_crawler

from crawler.config import ConfigError
from crawler.extensions.runstate import CrawlRun
from crawler.items import ArticlePost, PlacedPost, Post
from crawler.pipelines.hexo_posts import HexoPostsPipeline
from crawler.pipelines.post_paths import PostPathPipeline
from crawler.spiders.listing import OrderedListings
from crawler.storage.files import TEMP_FOLDER, write_atomically
from crawler.storage.state import CrawlState
from tests.support.posts import a_body, a_flash, an_article
from tests.support.settings import own_settings


def _item(body_html: str | None = None, **changes: Any) -> ArticlePost:
    if body_html is not None:
        changes["body"] = a_body(body_html)
    return an_article(**changes)


class _Posts:
    """The two post pipelines of a crawl whose output is under tmp_path."""

    def __init__(self, tmp_path: Path, **settings: str) -> None:
        self.crawler = get_crawler(
            settings_dict=own_settings(
                {
                    "HEXO_POSTS_DIR": str(tmp_path / "posts"),
                    "STATE_DB": str(tmp_path / "state.sqlite"),
                    "MANIFEST": str(tmp_path / "manifest.jsonl"),
                    **settings,
                }
            )
        )
        self.crawler.stats = self.stats = MemoryStatsCollector(self.crawler)
        self.paths = PostPathPipeline.from_crawler(self.crawler)
        self.posts = HexoPostsPipeline.from_crawler(self.crawler)
        self.run = CrawlRun.of(self.crawler)
        self.run.open()  # what the crawl's start() does, without a reactor
        self.root = tmp_path / "posts"

    def process(self, item: Post) -> PlacedPost:
        """The post placed (PostPathPipeline), then written (HexoPostsPipeline)."""
        placed = self.paths.process_item(item)
        asyncio.run(self.posts.process_item(placed))
        return placed

    @property
    def state(self) -> CrawlState:
        assert self.run.state is not None, "the run is open"
        return self.run.state

    def manifest(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.run.output.manifest.read_text(encoding="utf-8").splitlines()]

    def close(self) -> None:
        self.run.close()


def test_new_then_unchanged_then_updated(tmp_path: Path) -> None:
    posts = _Posts(tmp_path)
    item = posts.process(_item())
    assert item.path == "金融/新浪财经/新浪财经－国內/标题_ 一.md"
    target = posts.root / item.path
    data = target.read_bytes()
    assert data.startswith(b"\n---\ntitle: '\xe6\xa0\x87")
    assert data.endswith(b"</div>\n" + b" " * 12)
    before = target.stat().st_mtime_ns
    posts.process(_item())
    assert target.stat().st_mtime_ns == before
    posts.process(_item(body_html="<p>y</p>\n"))
    assert b"<p>y</p>" in target.read_bytes()
    assert posts.stats.get_value("sina/posts/new") == 1
    assert posts.stats.get_value("sina/posts/unchanged") == 1
    assert posts.stats.get_value("sina/posts/updated") == 1
    assert [p.name for p in target.parent.iterdir()] == [target.name], "no temporary file left"
    manifest = posts.manifest()
    assert [line["status"] for line in manifest] == ["new", "updated"]
    assert manifest[1]["sha256"] == hashlib.sha256(target.read_bytes()).hexdigest()
    assert manifest[0]["path"] == item.path and manifest[0]["run_id"] == posts.run.run_id
    row = posts.state.get("abcdefg1234567")
    assert row is not None
    assert (row.path, row.sha256) == (item.path, manifest[1]["sha256"])
    posts.close()


def test_no_post_is_written_where_no_crawl_opened_the_run(tmp_path: Path) -> None:
    """`scrapy parse --pipelines` runs no start(): its post is dropped, saying why, and
    neither the lock, nor the state, nor the manifest is taken."""
    posts = _Posts(tmp_path)
    posts.run.close()
    post = an_article()
    with pytest.raises(DropItem, match=r"not written: only `scrapy crawl` writes posts \(https://"):
        posts.paths.process_item(post)
    assert not posts.run.is_open and not (tmp_path / "posts" / "金融").exists()


def test_same_name_other_article_gets_publishid_suffix_forever(tmp_path: Path) -> None:
    posts = _Posts(tmp_path)
    first = posts.process(_item())
    second = posts.process(_item(publishid="zzzzzzz7654321", body_html="<p>other</p>\n"))
    assert second.path.endswith("标题_ 一_zzzzzzz7654321.md")
    posts.close()
    # A later run, in which the second article comes first, keeps both paths.
    later = _Posts(tmp_path)
    again_second = later.process(_item(publishid="zzzzzzz7654321", body_html="<p>other 2</p>\n"))
    again_first = later.process(_item())
    assert (again_first.path, again_second.path) == (first.path, second.path)
    assert b"<p>x</p>" in (later.root / first.path).read_bytes()
    assert b"<p>other 2</p>" in (later.root / second.path).read_bytes()
    later.close()


def test_a_path_owned_by_another_article_in_the_state_is_not_taken(tmp_path: Path) -> None:
    posts = _Posts(tmp_path)
    posts.process(_item(publishid="zzzzzzz7654321"))
    posts.close()
    later = _Posts(tmp_path)
    item = later.process(_item())
    assert item.path.endswith("_abcdefg1234567.md")
    later.close()


def test_unwritable_folder_is_a_counted_drop(tmp_path: Path) -> None:
    posts = _Posts(tmp_path)
    (posts.root / "金融").write_text("a file where a folder should be", encoding="utf-8")
    with pytest.raises(DropItem, match=r"post not written for https://finance\.sina\.com\.cn/.*os_error"):
        posts.process(_item())
    assert posts.stats.get_value("sina/posts/failed/os_error") == 1
    assert posts.state.count() == 0, "no state row for a post that is not there"
    posts.close()


def test_a_post_cannot_be_incomplete_nor_changed() -> None:
    """What the pipelines no longer check: a post without a field is not a post at all."""
    fields = {field.name: getattr(_item(), field.name) for field in dataclasses.fields(ArticlePost)}
    del fields["date"]
    with pytest.raises(TypeError, match="date"):
        ArticlePost(**fields)
    with pytest.raises(dataclasses.FrozenInstanceError):
        _item().title = "another"  # type: ignore[misc]


def test_the_manifest_line_keeps_its_keys_and_values(tmp_path: Path) -> None:
    posts = _Posts(tmp_path)
    posts.process(_item(docid="comos:abcdefg1234567", keywords=("A股", "债券"), mtime=1790600000))
    posts.process(a_flash())
    article, flash = posts.manifest()
    assert list(article) == [
        *("docid", "publishid", "url", "section", "path", "title", "date", "media", "editor"),
        *("keywords", "summary", "images", "kind", "tags", "stocks", "sha256", "status", "run_id"),
    ]
    assert article["date"] == "2022-01-24T11:02:07Z" and article["kind"] == "article"
    assert (article["docid"], article["keywords"], article["tags"], article["stocks"]) == (
        "comos:abcdefg1234567",
        ["A股", "债券"],
        [],
        [],
    )
    assert list(flash) == list(article)
    assert (flash["docid"], flash["media"], flash["editor"], flash["kind"]) == (None, None, None, "flash")
    assert flash["tags"] == ["A股"] and flash["stocks"] == [{"market": "sh", "symbol": "600000", "key": "浦发银行"}]
    assert flash["date"] == "2026-09-28T03:04:05Z"
    posts.close()


def test_failed_write_leaves_no_temporary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "a" / "post.md"

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        write_atomically(target, b"data")
    assert list((tmp_path / "a").iterdir()) == []


def test_second_writer_on_the_same_folder_is_refused(tmp_path: Path) -> None:
    first = _Posts(tmp_path)
    with pytest.raises(CloseSpider) as closed:
        _Posts(tmp_path, SINA_LOCK_WAIT="0.3")
    assert closed.value.reason == "posts_dir_locked"
    first.close()
    second = _Posts(tmp_path, SINA_LOCK_WAIT="0")  # free again
    second.close()


def test_temporary_files_of_a_killed_run_are_removed_and_nothing_else(tmp_path: Path) -> None:
    leftover = tmp_path / "posts" / TEMP_FOLDER / "4242-7.tmp"
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(b"half a po")
    # Files the crawler did not make, whatever their names: never deleted.
    users = [tmp_path / "posts" / "金融" / ".tmp-abc.md", tmp_path / "posts" / TEMP_FOLDER / "notes.txt"]
    for path in users:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"mine")
    posts = _Posts(tmp_path)
    assert not leftover.exists()
    assert all(path.read_bytes() == b"mine" for path in users)
    assert posts.stats.get_value("sina/posts/temp_removed") == 1
    posts.close()


def test_conflicting_output_settings_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="inside HEXO_POSTS_DIR"):
        _Posts(tmp_path, STATE_DB=str(tmp_path / "posts" / "state.sqlite"))
    with pytest.raises(ConfigError, match="HEXO_IMAGES='both'"):
        _Posts(tmp_path, HEXO_IMAGES="both")


@dataclasses.dataclass(frozen=True)
class _Entry:  # a Listed entry: only its publishid matters here
    publishid: str
    mtime: int | None = None
    ctime: int | None = None
    intime: int | None = None


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


def test_group_fsync_flushes_files_together_before_any_rename(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from crawler.storage import files as post_files

    groups: list[list[str]] = []
    real = post_files.fsync_paths

    def recording(paths: list[Path]) -> None:
        groups.append(sorted(path.name for path in paths))
        assert all(path.exists() for path in paths), "flushed before the rename"
        real(paths)

    monkeypatch.setattr(post_files, "fsync_paths", recording)
    posts = _Posts(tmp_path)

    async def many() -> list[PlacedPost]:
        items = [posts.paths.process_item(_item(publishid=f"abcdefg{n:07d}", title=f"t{n}")) for n in range(5)]
        await asyncio.gather(*(posts.posts.process_item(item) for item in items))
        return items

    written = asyncio.run(many())
    assert len(groups) == 1 and len(groups[0]) == 5, groups
    assert all((posts.root / item.path).is_file() for item in written)
    assert not list((posts.root / TEMP_FOLDER).iterdir())
    posts.close()


def test_a_failed_fsync_fails_its_posts_and_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from crawler.storage import files as post_files

    def broken(paths: list[Path]) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(post_files, "fsync_paths", broken)
    posts = _Posts(tmp_path)
    with pytest.raises(DropItem, match="os_error"):
        posts.process(_item())
    assert posts.stats.get_value("sina/posts/failed/os_error") == 1
    assert [p for p in posts.root.rglob("*") if p.is_file() and p.name != ".sina-finance-hexo.lock"] == []
    assert posts.state.count() == 0
    posts.close()


def test_posts_are_readable_by_the_web_server(tmp_path: Path) -> None:
    """A post takes the usual file mode (0644 under umask 022), not mkstemp's 0600."""
    old = os.umask(0o022)
    try:
        posts = _Posts(tmp_path)
        item = posts.process(_item())
        assert (posts.root / item.path).stat().st_mode & 0o777 == 0o644
        posts.close()
    finally:
        os.umask(old)


def test_a_renamed_category_keeps_written_posts_at_their_path(tmp_path: Path) -> None:
    """What docs/usage.md#renaming-a-category says: a written post stays at its path (its
    URL), and takes the new name in its front matter when it is written again; a new post
    goes to the new folder; the state keeps one row per article."""
    old = ("金融", "新浪财经", "新浪财经－国内频道")
    new = ("金融", "新浪财经", "新浪财经－国內")
    posts = _Posts(tmp_path)
    first = posts.process(_item(categories=old))
    assert first.path == "金融/新浪财经/新浪财经－国内频道/标题_ 一.md"
    posts.close()
    later = _Posts(tmp_path)
    again = later.process(_item(categories=new))
    other = later.process(_item(publishid="zzzzzzz7654321", title="标题二", categories=new))
    assert again.path == first.path, "the path is kept"
    text = (later.root / first.path).read_text(encoding="utf-8")
    assert " - 新浪财经－国內\n" in text and "国内频道" not in text
    assert other.path == "金融/新浪财经/新浪财经－国內/标题二.md"
    assert sorted(str(p.relative_to(later.root)) for p in later.root.rglob("*.md")) == sorted([first.path, other.path])
    assert [line["status"] for line in later.manifest()] == ["new", "updated", "new"]
    assert later.state.count() == 2
    later.close()


def test_front_matter_extras_are_written_and_recorded_with_the_format(tmp_path: Path) -> None:
    edited = datetime(2022, 1, 24, 12, 0, 0, tzinfo=UTC)
    item = _item(excerpt="摘要 <b>", keywords=("A股", "债券"), updated=edited)
    plain = _Posts(tmp_path / "plain")
    placed = plain.process(item)
    data = (plain.root / placed.path).read_bytes()
    assert b"excerpt:" not in data and b"tags:" not in data and b"updated:" not in data
    assert (row := plain.state.get(item.publishid)) is not None and row.post_format == "3/clean"
    plain.close()
    extras = _Posts(tmp_path / "plain", HEXO_FRONT_MATTER_EXTRAS="updated,tags,excerpt")
    extras.process(item)
    text = (extras.root / placed.path).read_text(encoding="utf-8")
    assert (
        "date: Mon, 24 Jan 2022 11:02:07 GMT\n"
        "excerpt: '摘要 &lt;b&gt;'\ntags:\n - 'A股'\n - '债券'\nupdated: Mon, 24 Jan 2022 12:00:00 GMT\n---\n"
    ) in text
    assert (row := extras.state.get(item.publishid)) is not None
    assert row.post_format == "3/clean+excerpt,tags,updated"
    assert [line["status"] for line in extras.manifest()] == ["new", "updated"]
    extras.close()
    only_tags = _Posts(tmp_path / "tags", HEXO_FRONT_MATTER_EXTRAS="tags")
    placed = only_tags.process(_item(excerpt="摘要", updated=edited))  # no keywords: nothing to add
    assert (only_tags.root / placed.path).read_bytes() == data
    only_tags.close()
