"""Retention in-process (crawler.storage.retention, crawler.extensions.retention), for the
fast loop: posts written by the real pipelines, then a run's retention over them, with
every case a posts folder can hold: our old posts and their images, a user's file in an
asset folder, an edited post of ours, a post gone with its row left (a run killed between
the two), a row whose path is unsafe, a row written before the state kept dates, a file
we never wrote.  The end-to-end tests (tests/test_e2e_retention.py) run the real crawl."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from scrapy.exceptions import DropItem

from crawler.extensions.runstate import CrawlRun
from crawler.items import ImageFile, PlacedPost
from crawler.pipelines.hexo_posts import HexoPostsPipeline
from crawler.pipelines.local_images import asset_folder, asset_stem
from crawler.pipelines.post_paths import PostPathPipeline
from crawler.storage import retention
from crawler.storage.retention import check_post, front_matter_date, remove_post
from crawler.storage.state import CrawlState
from tests.support import rasters
from tests.support.components import make_crawler
from tests.support.posts import a_body, an_article

NOW = datetime.now(UTC)
IMAGE = "https://n.sinaimg.cn/finance/a.jpg"


def _write(run: CrawlRun, crawler: Any, number: int, days_old: float, image: bool = False) -> str:
    """Post number ``number`` dated ``days_old`` days ago, written by the pipelines (with
    one stored image beside it); its path."""
    paths, posts = PostPathPipeline.from_crawler(crawler), HexoPostsPipeline.from_crawler(crawler)
    publishid = f"retaint{number:07d}"
    post = an_article(
        publishid=publishid,
        url=f"https://finance.sina.com.cn/roll/doc-i{publishid}.shtml",
        title=f"保留测试{number}",
        date=(NOW - timedelta(days=days_old)).replace(microsecond=0),
        body=a_body(f'<p><img src="{IMAGE}"></p>\n', (IMAGE,)) if image else a_body(),
    )
    placed = paths.process_item(post)
    if image:
        name = asset_stem(IMAGE) + ".jpg"
        folder = run.output.posts_dir / asset_folder(placed.path)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(rasters.JPEG)
        placed = PlacedPost(post, placed.path, None, (ImageFile(IMAGE, f"{asset_folder(placed.path)}/{name}", ""),))
    asyncio.run(posts.process_item(placed))
    return placed.path


def _manifest(tmp_path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (tmp_path / "manifest.jsonl").read_text(encoding="utf-8").splitlines()]


def test_retention_removes_only_our_old_posts(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO")
    crawler = make_crawler(tmp_path, {"HEXO_IMAGES": "local"})
    run = CrawlRun.of(crawler)
    run.open()
    root = run.output.posts_dir
    new = _write(run, crawler, 1, 1, image=True)
    old = _write(run, crawler, 2, 30, image=True)
    old_plain = _write(run, crawler, 3, 40)
    edited = _write(run, crawler, 4, 50)
    gone = _write(run, crawler, 5, 60)
    undated = _write(run, crawler, 6, 70)
    unsafe = _write(run, crawler, 7, 80)
    state = run.state
    assert state is not None
    # A user's file in an old post's asset folder, and a post of another crawler beside ours.
    (root / asset_folder(old) / "notes.txt").write_text("mine", encoding="utf-8")
    foreign = root / Path(old).parent / "another-crawler.md"
    foreign.write_text("---\ntitle: x\ndate: Mon, 24 Jan 2000 11:02:07 GMT\n---\n", encoding="utf-8")
    (root / edited).write_text("edited by hand", encoding="utf-8")
    (root / gone).unlink()  # removed, then the run was killed before its row went
    db = sqlite3.connect(tmp_path / "state.sqlite")
    db.execute("UPDATE articles SET date = NULL WHERE path = ?", (undated,))  # written before dates were kept
    db.execute("UPDATE articles SET path = '../outside.md' WHERE path = ?", (unsafe,))
    db.commit()
    db.close()

    run.retain(7, None)

    assert (root / new).is_file() and (root / asset_folder(new)).is_dir()
    for path in (old, old_plain, undated):
        assert not (root / path).exists(), path
    assert [p.name for p in (root / asset_folder(old)).iterdir()] == ["notes.txt"], "the user's file stays"
    assert (root / edited).read_text(encoding="utf-8") == "edited by hand"
    assert foreign.is_file() and (root / unsafe).is_file(), "files the state does not name stay"
    assert [row.publishid for row in state.all()] == ["retaint0000001"]
    deleted = [entry for entry in _manifest(tmp_path) if entry["status"] == "deleted"]
    assert sorted(entry["path"] for entry in deleted) == sorted([old, old_plain, gone, undated])
    assert list(deleted[0]) == [
        *("docid", "publishid", "url", "section", "path", "date", "sha256", "status", "run_id", "reason"),
    ]
    assert {entry["reason"] for entry in deleted} == {"keep_days"}
    assert [entry["publishid"] for entry in deleted] == [f"retaint{n:07d}" for n in (6, 5, 3, 2)], "oldest first"
    stats = crawler.stats.get_stats()
    assert stats["sina/retention/deleted"] == 4
    assert stats["sina/retention/kept_edited"] == 1 and stats["sina/state/unsafe_path"] == 1
    assert "sina/retention/undated" not in stats, "its date read back from its post"
    assert f"Retention: kept {edited}" in caplog.text and "it is yours now" in caplog.text
    assert run.window is not None and run.window.cutoff is not None

    before = (tmp_path / "manifest.jsonl").read_bytes()
    run.retain(7, None)  # again: nothing left to do, nothing warned again
    assert (tmp_path / "manifest.jsonl").read_bytes() == before
    assert caplog.text.count("it is yours now") == 1
    run.close()


def test_keep_posts_keeps_the_newest(tmp_path: Path) -> None:
    crawler = make_crawler(tmp_path, {"HEXO_KEEP_POSTS": "2"})
    run = CrawlRun.of(crawler)
    run.open()
    paths = [_write(run, crawler, number, days) for number, days in ((1, 3), (2, 1), (3, 2), (4, 3))]
    run.retain(None, None)  # the setting
    state = run.state
    assert state is not None
    assert sorted(row.publishid for row in state.all()) == ["retaint0000002", "retaint0000003"]
    gone = [entry["publishid"] for entry in _manifest(tmp_path) if entry["status"] == "deleted"]
    assert gone == ["retaint0000001", "retaint0000004"], "same date: the smaller publishid is the older"
    assert all((run.output.posts_dir / path).exists() == (n in (1, 2)) for n, path in enumerate(paths))
    assert run.window is not None and run.window.floor is not None
    assert run.window.outside(run.window.floor[0] - 1, "z") and not run.window.outside(run.window.floor[0] + 1, "a")
    run.close()


def test_retention_off_touches_nothing(tmp_path: Path) -> None:
    crawler = make_crawler(tmp_path)
    run = CrawlRun.of(crawler)
    run.open()
    path = _write(run, crawler, 1, 4000)
    run.retain(None, None)
    assert run.window is None and (run.output.posts_dir / path).is_file()
    assert "sina/retention/deleted" not in crawler.stats.get_stats()
    run.close()


def test_a_failure_while_removing_is_counted_and_the_window_still_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    crawler = make_crawler(tmp_path)
    run = CrawlRun.of(crawler)
    run.open()
    path = _write(run, crawler, 1, 30)

    def refused(target: Path) -> None:
        raise PermissionError(13, "Permission denied", str(target))

    monkeypatch.setattr(retention, "_unlink", refused)
    run.retain(7, None)
    stats = crawler.stats.get_stats()
    assert stats["sina/retention/failed"] == 1 and stats["sina/retention/deleted"] == 0
    assert (run.output.posts_dir / path).is_file() and run.state is not None and run.state.count() == 1
    run.close()


def test_a_manifest_that_cannot_be_written_stops_retention_not_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    crawler = make_crawler(tmp_path)
    run = CrawlRun.of(crawler)
    run.open()
    _write(run, crawler, 1, 30)

    def full(entry: dict[str, Any]) -> None:
        raise OSError(28, "No space left on device")

    assert run.manifest is not None
    monkeypatch.setattr(run.manifest, "append", full)
    run.retain(7, None)
    assert crawler.stats.get_value("sina/retention/failed") == 1
    assert run.state is not None and run.state.count() == 1, "the row stays: the next run writes the line"
    assert run.window is not None and run.window.keep_days == 7
    run.close()


# --- the storage functions alone -------------------------------------------------------


def test_check_post_says_what_is_there(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = b"\n---\ntitle: x\ndate: Mon, 24 Jan 2022 11:02:07 GMT\n---\nbody"
    sha = hashlib.sha256(data).hexdigest()
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "p.md").write_bytes(data)
    assert check_post(tmp_path, "a/p.md", sha).status == "ours"
    assert check_post(tmp_path, "a/p.md", "0" * 64).status == "edited"
    assert check_post(tmp_path, "a/q.md", sha).status == "gone"
    assert check_post(tmp_path, "../p.md", sha).status == "unsafe"
    (tmp_path / "a" / "l.md").symlink_to(tmp_path / "a" / "p.md")
    assert check_post(tmp_path, "a/l.md", sha).status == "edited", "a link is not what we wrote"
    (tmp_path / "b").symlink_to(tmp_path / "a")
    assert check_post(tmp_path, "b/p.md", sha).status == "unsafe", "never through a linked folder"
    (tmp_path / "a" / "d.md").mkdir()
    assert check_post(tmp_path, "a/d.md", sha).detail == "not a regular file"

    def unreadable(path: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(retention, "_read_no_follow", unreadable)
    assert check_post(tmp_path, "a/p.md", sha).status == "unreadable", "not taken as edited: nothing is known"
    assert front_matter_date(data) == int(datetime(2022, 1, 24, 11, 2, 7, tzinfo=UTC).timestamp())


@pytest.mark.parametrize(
    "data",
    [
        b"no front matter\ndate: Mon, 24 Jan 2022 11:02:07 GMT\n",
        b"---\ntitle: x\n---\ndate: Mon, 24 Jan 2022 11:02:07 GMT\n",
        b"---\ndate: not a date\n---\n",
        b"---\ntitle: x\n",
        b"",
    ],
)
def test_a_post_without_a_readable_date(data: bytes) -> None:
    assert front_matter_date(data) is None


def test_remove_post_takes_only_our_images(tmp_path: Path) -> None:
    folder = tmp_path / "a" / "p"
    folder.mkdir(parents=True)
    (tmp_path / "a" / "p.md").write_bytes(b"post")
    ours = folder / ("0" * 20 + ".jpg")
    ours.write_bytes(rasters.JPEG)
    kept = {
        "1" * 20 + ".png": rasters.JPEG,  # a JPEG named .png: not as we store it
        "short.jpg": rasters.JPEG,
        "2" * 20 + ".svg": b"<svg/>",
        "3" * 20 + ".jpg": b"not an image",
    }
    for name, data in kept.items():
        (folder / name).write_bytes(data)
    (folder / ("4" * 20 + ".jpg")).symlink_to(ours)
    changed = remove_post(tmp_path, "a/p.md")
    assert not (tmp_path / "a" / "p.md").exists() and not ours.exists()
    assert sorted(path.name for path in folder.iterdir()) == sorted([*kept, "4" * 20 + ".jpg"])
    assert changed == [tmp_path / "a", folder]
    retention.fsync_folders([*changed, tmp_path / "gone"])


def test_an_emptied_asset_folder_goes(tmp_path: Path) -> None:
    (tmp_path / "a" / "p").mkdir(parents=True)
    (tmp_path / "a" / "p.md").write_bytes(b"post")
    (tmp_path / "a" / "p" / ("0" * 20 + ".gif")).write_bytes(rasters.GIF_1X1)
    remove_post(tmp_path, "a/p.md")
    assert list((tmp_path / "a").iterdir()) == []


def test_the_state_forgets_rows_and_takes_dates(tmp_path: Path) -> None:
    state = CrawlState(tmp_path / "state.sqlite")
    for number in range(3):
        state.record(
            publishid=f"p{number}",
            docid=None,
            url=f"https://x/{number}",
            section="china",
            path=f"a/{number}.md",
            sha256="0" * 64,
            mtime=None,
            post_format="3/clean",
            changed=True,
            date=100 + number if number else None,
        )
    state.set_date("p0", 42)
    assert [row.date for row in state.all()] == [42, 101, 102]
    state.record(
        publishid="p1",
        docid=None,
        url="https://x/1",
        section="china",
        path="a/1.md",
        sha256="0" * 64,
        mtime=None,
        post_format="3/clean",
        changed=False,
    )
    kept = state.get("p1")
    assert kept is not None and kept.date == 101, "a record without a date keeps it"
    state.forget(["p0", "p2"])
    assert [row.publishid for row in state.all()] == ["p1"]
    state.close()


def test_a_state_from_before_dates_gets_the_column(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE articles (publishid TEXT PRIMARY KEY, docid TEXT, url TEXT NOT NULL, section TEXT NOT NULL,"
        " path TEXT NOT NULL UNIQUE, sha256 TEXT NOT NULL, mtime INTEGER, first_seen TEXT NOT NULL,"
        " last_written TEXT NOT NULL, post_format TEXT);"
        "INSERT INTO articles VALUES ('p', NULL, 'u', 'china', 'a/p.md', 'x', NULL, 't', 't', '3/clean');"
        "PRAGMA user_version=2;"
    )
    db.close()
    state = CrawlState(path)
    row = state.get("p")
    assert row is not None and row.date is None and row.post_format == "3/clean"
    state.close()
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == 2, "nothing older crawlers cannot read"


def test_an_undated_row_whose_post_cannot_date_it_stays(tmp_path: Path) -> None:
    """A row from before dates were kept, its post gone: never removed; the rest, with
    HEXO_FSYNC on, removed and made durable."""
    crawler = make_crawler(tmp_path, {"HEXO_FSYNC": True})
    run = CrawlRun.of(crawler)
    run.open()
    undated, old = _write(run, crawler, 1, 90), _write(run, crawler, 2, 90)
    (run.output.posts_dir / undated).unlink()
    db = sqlite3.connect(tmp_path / "state.sqlite")
    db.execute("UPDATE articles SET date = NULL WHERE path = ?", (undated,))
    db.commit()
    db.close()
    run.retain(30, None)
    assert crawler.stats is not None
    assert crawler.stats.get_value("sina/retention/undated") == 1
    assert crawler.stats.get_value("sina/retention/deleted") == 1
    assert run.state is not None and [row.path for row in run.state.all()] == [undated]
    assert not (run.output.posts_dir / old).exists()
    run.close()


def test_a_post_dated_before_the_window_is_not_written(tmp_path: Path) -> None:
    """An item its listing could not date (a list page), its page dates before the window."""
    crawler = make_crawler(tmp_path)
    run = CrawlRun.of(crawler)
    run.open()
    run.retain(7, None)
    paths = PostPathPipeline.from_crawler(crawler)
    with pytest.raises(DropItem, match=r"doc-iabcdefg1234567\.shtml: dated 2022-01-24, before the retention window"):
        paths.process_item(an_article())
    assert paths.process_item(an_article(date=NOW)).path.endswith(".md")
    assert crawler.stats is not None and crawler.stats.get_value("sina/skipped/outside_window") == 1
    run.close()


def test_an_asset_folder_that_is_a_link_is_not_followed(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    image = elsewhere / ("0" * 20 + ".jpg")
    image.write_bytes(rasters.JPEG)
    (tmp_path / "posts" / "a").mkdir(parents=True)
    (tmp_path / "posts" / "a" / "p.md").write_bytes(b"post")
    (tmp_path / "posts" / "a" / "p").symlink_to(elsewhere)
    assert remove_post(tmp_path / "posts", "a/p.md") == [tmp_path / "posts" / "a"]
    assert image.read_bytes() == rasters.JPEG and (tmp_path / "posts" / "a" / "p").is_symlink()
