"""Retention end to end (issue 20): the real `scrapy crawl sina_finance` through the replay
proxy, with local images.  A first run writes new and old posts; then the posts folder
gets a user's page, another crawler's post in our category folder, a user's file in an
old post's asset folder, and one of our old posts edited by hand.  ``-a keep_days`` /
``-a keep_posts`` then remove our old posts and their images, and nothing else; the
manifest has a ``deleted`` line for each; the state forgets them; a re-run does not
fetch them again (requests counted at the proxy).  And a run SIGKILLed after each step of
the removal (tests/support/retention_killer.py), then run again, ends as one that was
never killed, with nothing half-removed at the kill."""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from crawler.pipelines.local_images import asset_folder
from tests.conftest import corpus_case
from tests.support import rasters
from tests.support.crawl import REPO, CrawlResult, crawl_command, crawl_result, files_under, run_crawl
from tests.support.replay_proxy import ProxyResponse, ReplayProxy, RollApi

pytestmark = pytest.mark.e2e

SEED = corpus_case("seed-haiguan")
FOLDER = "金融/新浪财经/新浪财经－国內"
DAY = 86400
NOW = int(time.time())
LOCAL = {"HEXO_IMAGES": "local", "DOWNLOAD_DELAY": "0", "AUTOTHROTTLE_ENABLED": "False"}


def _publishid(number: int) -> str:
    return f"retainx{number:07d}"


def _url(number: int) -> str:
    return f"https://finance.sina.com.cn/roll/2026-12-01/doc-i{_publishid(number)}.shtml"


def _image(number: int) -> str:
    return f"https://n.sinaimg.cn/finance/retention/{number}.jpg"


def _serve(proxy: ReplayProxy, dated: dict[int, int]) -> None:
    """Article ``number`` dated ``dated[number]`` (Unix seconds), listed newest first, each
    page the seed article with an image of its own before the seed's."""
    items = []
    for number, when in sorted(dated.items(), key=lambda pair: -pair[1]):
        item = copy.deepcopy(SEED.item)
        item.update(url=_url(number), title=f"保留测试文章{number:02d}", ctime=str(when), intime=str(when))
        item.update(mtime=str(when), docid=f"comos:{_publishid(number)}")
        items.append(item)
        image = f'<p><img src="{_image(number)}"></p><div class="img_wrapper">'.encode()
        proxy.add(_url(number), SEED.page.replace(b'<div class="img_wrapper">', image, 1))
    proxy.add_handler(
        "https://n.sinaimg.cn/finance/",
        lambda request: ProxyResponse(200, rasters.JPEG + request.url.encode(), {"Content-Type": "image/jpeg"}),
    )
    RollApi({("155", "1686"): items}).install(proxy)


def _rows(work: Path) -> dict[str, str]:
    """publishid -> path, read without changing the database."""
    db = sqlite3.connect(f"file:{work / 'state.sqlite'}?mode=ro", uri=True)
    try:
        return dict(db.execute("SELECT publishid, path FROM articles").fetchall())
    finally:
        db.close()


def _manifest(work: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (work / "manifest.jsonl").read_text(encoding="utf-8").splitlines()]


def _deleted(work: Path) -> list[str]:
    return [entry["publishid"] for entry in _manifest(work) if entry["status"] == "deleted"]


def _ok(result: CrawlResult) -> CrawlResult:
    assert result.returncode == 0, result.log[-3000:]
    assert "Traceback" not in result.log and " ERROR: " not in result.log, result.log[-3000:]
    return result


def _fetched(proxy: ReplayProxy, numbers: list[int]) -> int:
    return sum(proxy.count(_publishid(number)) for number in numbers)


# --- keep_days, with files that are not ours ----------------------------------------------

NEW = {1: NOW - 3600, 2: NOW - 2 * DAY, 3: NOW - 5 * DAY}
OLD = {4: NOW - 20 * DAY, 5: NOW - 21 * DAY, 6: NOW - 30 * DAY, 7: NOW - 400 * DAY}
EDITED = 6


def test_keep_days_removes_only_our_old_posts_and_they_are_not_fetched_again(tmp_path: Path) -> None:
    work = tmp_path / "work"
    posts = work / "posts"
    with ReplayProxy() as proxy:
        _serve(proxy, {**NEW, **OLD})
        first = _ok(run_crawl(proxy.url, work, "sections=china", settings=LOCAL))
        assert first.stat("sina/posts/new") == 7 and "sina/retention/deleted" not in first.stats
        written = _rows(work)
        assert len(written) == 7
        for number in OLD:
            assert len(list((posts / asset_folder(written[_publishid(number)])).iterdir())) == 2, "two images each"

        # What is not ours, or no longer: a user's page, another crawler's old post in our
        # category folder, a user's file in an old post's asset folder, an old post edited.
        user_page = posts / "about.md"
        user_page.write_text("---\ntitle: About\ndate: 2001-01-01\n---\nmine\n", encoding="utf-8")
        foreign = posts / FOLDER / "另一个爬虫的文章.md"
        foreign.write_text("---\ntitle: 另一个\ndate: Mon, 01 Jan 2001 00:00:00 GMT\n---\n", encoding="utf-8")
        notes = posts / asset_folder(written[_publishid(4)]) / "notes.txt"
        notes.write_text("mine", encoding="utf-8")
        edited = posts / written[_publishid(EDITED)]
        edited.write_bytes(edited.read_bytes() + b"\n<!-- my note -->\n")
        ours_old = [written[_publishid(n)] for n in OLD if n != EDITED]
        images_old = [
            path
            for path in files_under(posts)
            for post in ours_old
            if path.startswith(asset_folder(post) + "/") and not path.endswith("notes.txt")
        ]
        assert len(images_old) == 6
        kept_files = {path: data for path, data in files_under(posts).items() if path not in {*ours_old, *images_old}}

        proxy.reset_log()
        second = _ok(run_crawl(proxy.url, work, "sections=china", "keep_days=10", settings=LOCAL))
        assert _fetched(proxy, list(OLD)) == 0, "out of the window: not fetched again"
        assert _fetched(proxy, list(NEW)) == 0, "known: not fetched"
        assert second.stat("sina/retention/deleted") == 3
        assert second.stat("sina/retention/kept_edited") == 1
        assert second.stat("sina/skipped/outside_window") == 4
        assert f"Retention: kept {written[_publishid(EDITED)]}" in second.log
        assert files_under(posts) == kept_files, "only our old posts and their images went"
        assert [path.name for path in notes.parent.iterdir()] == ["notes.txt"]
        assert user_page.is_file() and foreign.is_file() and edited.is_file()
        assert sorted(_rows(work)) == sorted(_publishid(n) for n in NEW), "the state forgets them"
        lines = [entry for entry in _manifest(work) if entry["status"] == "deleted"]
        assert sorted(entry["publishid"] for entry in lines) == sorted(_publishid(n) for n in OLD if n != EDITED)
        for entry in lines:
            assert entry["path"] == written[entry["publishid"]] and entry["reason"] == "keep_days"
            assert entry["url"] == _url(int(entry["publishid"][-7:])) and entry["date"].endswith("Z")
        assert "deleted=3" in second.log

        # Again: nothing to remove, nothing old fetched, nothing changed.
        manifest_before, files_before = (work / "manifest.jsonl").read_bytes(), files_under(posts)
        proxy.reset_log()
        third = _ok(run_crawl(proxy.url, work, "sections=china", "keep_days=10", settings=LOCAL))
        assert _fetched(proxy, list(OLD)) == 0 and third.stat("sina/retention/deleted") == 0
        assert (work / "manifest.jsonl").read_bytes() == manifest_before and files_under(posts) == files_before
        assert "it is yours now" not in third.log, "an edited post is warned about once"

        # A wider window: the old articles are in it again, fetched and written again.
        proxy.reset_log()
        wider = _ok(run_crawl(proxy.url, work, "sections=china", "keep_days=25", settings=LOCAL))
        assert _fetched(proxy, [4, 5]) == 2 and _fetched(proxy, [6, 7]) == 0
        assert wider.stat("sina/posts/new") == 2


def test_keep_posts_keeps_the_newest_and_breaks_ties_by_publishid(tmp_path: Path) -> None:
    work = tmp_path / "work"
    dated = {1: NOW - DAY, 2: NOW - 2 * DAY, 3: NOW - 3 * DAY, 4: NOW - 3 * DAY, 5: NOW - 4 * DAY}
    with ReplayProxy() as proxy:
        _serve(proxy, dated)
        _ok(run_crawl(proxy.url, work, "sections=china", settings=LOCAL))
        written = _rows(work)
        proxy.reset_log()
        second = _ok(run_crawl(proxy.url, work, "sections=china", "keep_posts=3", settings=LOCAL))
        # 3 and 4 share a date: 4 (the larger publishid) ranks as the newer.
        assert sorted(_rows(work)) == [_publishid(n) for n in (1, 2, 4)]
        assert _deleted(work) == [_publishid(5), _publishid(3)], "oldest first"
        assert {entry["reason"] for entry in _manifest(work) if entry["status"] == "deleted"} == {"keep_posts"}
        for number in (3, 5):
            path = work / "posts" / written[_publishid(number)]
            assert not path.exists() and not path.with_suffix("").exists()
        assert second.stat("sina/skipped/outside_window") == 2 and _fetched(proxy, [3, 5]) == 0
        proxy.reset_log()
        third = _ok(run_crawl(proxy.url, work, "sections=china", "keep_posts=3", settings=LOCAL))
        assert third.stat("sina/retention/deleted") == 0 and _fetched(proxy, [3, 5]) == 0


def test_bad_retention_arguments_stop_the_crawl_with_exit_2(tmp_path: Path) -> None:
    with ReplayProxy() as proxy:
        result = run_crawl(proxy.url, tmp_path / "work", "sections=china", "keep_days=0")
        assert result.returncode == 2
        assert "Not crawling: -a keep_days='0': expected a whole number of days, 1 or more" in result.log
        assert proxy.urls() == []
        result = run_crawl(proxy.url, tmp_path / "work", settings={"HEXO_KEEP_POSTS": "many"})
        assert result.returncode == 2 and "HEXO_KEEP_POSTS='many': expected a whole number" in result.log


# --- kill -9 halfway through the removal ------------------------------------------------

KILL_NEW = {1: NOW - DAY}
KILL_OLD = {2: NOW - 20 * DAY, 3: NOW - 21 * DAY, 4: NOW - 22 * DAY}
# Steps of the removal of three old posts (tests/support/retention_killer.py): 3 x (two
# images, then the post) = 9 removals, then 3 manifest lines, then the rows forgotten.
KILL_AT = (1, 2, 3, 5, 9, 10, 12)


def _killed_crawl(proxy_url: str, work: Path, at: int) -> int:
    command, environment = crawl_command(proxy_url, work, "sections=china", "keep_days=10", settings=LOCAL)
    at_module = command.index("scrapy")
    command[at_module - 1 : at_module] = ["-m", "tests.support.retention_killer"]  # -m scrapy -> the wrapper
    environment["RETENTION_KILL_AT"] = str(at)
    done = subprocess.run(command, cwd=REPO, env=environment, capture_output=True, text=True, timeout=180)
    assert done.returncode == -signal.SIGKILL, crawl_result(work, done.returncode, done.stderr).log[-3000:]
    return done.returncode


def _consistent(work: Path, written: dict[str, str]) -> None:
    """Whatever the kill interrupted: a row gone means its line was written and its files
    are gone; a post gone means its images are gone; a post there is whole (our bytes)."""
    posts, rows, deleted = work / "posts", _rows(work), set(_deleted(work))
    for number in KILL_OLD:
        publishid = _publishid(number)
        post, images = posts / written[publishid], posts / asset_folder(written[publishid])
        if publishid not in rows:
            assert publishid in deleted and not post.exists() and not images.exists()
        if not post.exists():
            assert not images.exists() or not any(images.iterdir()), f"{publishid}: images left without their post"


@pytest.fixture(scope="module")
def kill_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A first run's output (one new post, three old ones, two images each), copied for each kill."""
    template = tmp_path_factory.mktemp("retention") / "template"
    with ReplayProxy() as proxy:
        _serve(proxy, {**KILL_NEW, **KILL_OLD})
        _ok(run_crawl(proxy.url, template, "sections=china", settings=LOCAL))
    return template


def _old_files(work: Path, written: dict[str, str]) -> int:
    """Files of the old posts still there: posts and images."""
    names = [written[_publishid(number)] for number in KILL_OLD]
    return sum(
        1
        for path in files_under(work / "posts")
        for name in names
        if path == name or path.startswith(asset_folder(name) + "/")
    )


@pytest.mark.parametrize("at", KILL_AT)
def test_a_kill_during_removal_leaves_nothing_half_removed(tmp_path: Path, kill_template: Path, at: int) -> None:
    template, work = kill_template, tmp_path / "work"
    written = _rows(template)
    shutil.copytree(template, work)
    assert _old_files(work, written) == 9
    with ReplayProxy() as proxy:
        _serve(proxy, {**KILL_NEW, **KILL_OLD})
        _killed_crawl(proxy.url, work, at)
        # Killed just after step ``at``: that many files gone, or lines written.
        assert _old_files(work, written) == max(9 - at, 0)
        assert len(_deleted(work)) == min(max(at - 9, 0), 3) and len(_rows(work)) == 4
        _consistent(work, written)
        proxy.reset_log()
        _ok(run_crawl(proxy.url, work, "sections=china", "keep_days=10", settings=LOCAL))
        assert _fetched(proxy, list(KILL_OLD)) == 0
    assert sorted(_rows(work)) == [_publishid(1)]
    assert set(_deleted(work)) == {_publishid(n) for n in KILL_OLD}, "a deleted line for each (a repeat allowed)"
    new_post = written[_publishid(1)]
    expected = {
        path
        for path in files_under(template / "posts")
        if path == new_post or path.startswith(asset_folder(new_post) + "/")
    }
    assert set(files_under(work / "posts")) == expected, "as a run never killed leaves it"
    digest = hashlib.sha256((work / "posts" / new_post).read_bytes()).hexdigest()
    assert digest == hashlib.sha256((template / "posts" / new_post).read_bytes()).hexdigest()
