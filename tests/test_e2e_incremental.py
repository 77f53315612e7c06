"""Incremental, lossless runs through the real spider and the replay proxy:
state, updates, collisions, long names, a failing article, local images."""

from __future__ import annotations

import copy
import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import corpus_case
from tests.support.crawl import files_under, run_crawl
from tests.support.hexo import load_with_hexo
from tests.support.replay_proxy import CorpusCase, ProxyResponse, ReplayProxy, RollApi

pytestmark = pytest.mark.e2e

SEED = corpus_case("seed-haiguan")
ROLL = "https://feed.mix.sina.com.cn/api/roll/get"


def _article(publishid: str, title: str, ctime: int, case: CorpusCase = SEED) -> dict[str, Any]:
    item = copy.deepcopy(case.item)
    url = f"https://finance.sina.com.cn/roll/2026-09-28/doc-i{publishid}.shtml"
    item.update(url=url, title=title, ctime=str(ctime), intime=str(ctime), mtime=str(ctime))
    item["docid"] = f"comos:{publishid}"
    return item


def _manifest(work: Path) -> list[dict[str, Any]]:
    path = work / "manifest.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def _state(work: Path) -> dict[str, tuple[str, str, int]]:
    with sqlite3.connect(work / "state.sqlite") as db:
        rows = db.execute("SELECT publishid, path, sha256, mtime FROM articles").fetchall()
    return {publishid: (path, sha, mtime) for publishid, path, sha, mtime in rows}


def _article_requests(proxy: ReplayProxy) -> list[str]:
    return [url for url in proxy.urls() if "/doc-i" in url]


def test_changed_mtime_and_body_rewrites_exactly_that_post(tmp_path: Path) -> None:
    items = [_article(f"ccccccc{n:07d}", f"增量{n}", 1790000000 - n * 60) for n in range(5)]
    pages = {item["url"]: SEED.page for item in items}
    with ReplayProxy() as proxy:
        for url, page in pages.items():
            proxy.add(url, page)
        api = RollApi({("155", "1686"): items}).install(proxy)
        first = run_crawl(proxy.url, tmp_path, "sections=china")
        before = files_under(tmp_path / "posts")
        mtimes = {p: (tmp_path / "posts" / p).stat().st_mtime_ns for p in before}

        # One article changes its mtime and its body; another only its mtime.
        changed, touched = items[2], items[4]
        changed["mtime"] = str(int(changed["mtime"]) + 100)
        touched["mtime"] = str(int(touched["mtime"]) + 100)
        proxy.add(changed["url"], SEED.page.replace("海关".encode(), "海關".encode()))
        api.listings[("155", "1686")] = items
        proxy.reset_log()
        second = run_crawl(proxy.url, tmp_path, "sections=china")
        requested = _article_requests(proxy)

        proxy.reset_log()
        refresh = run_crawl(proxy.url, tmp_path, "sections=china", "refresh=1")
        refreshed = _article_requests(proxy)

    assert first.stat("sina/posts/new") == 5
    after = files_under(tmp_path / "posts")
    changed_path = next(p for p in before if "增量2" in p)
    assert sorted(requested) == sorted([changed["url"], touched["url"]])
    assert second.stat("sina/posts/updated") == 1
    assert second.stat("sina/posts/unchanged") == 1
    assert second.stat("sina/articles/known") == 3
    for path, data in before.items():
        now = (tmp_path / "posts" / path).stat().st_mtime_ns
        if path == changed_path:
            assert after[path] != data and "海關".encode() in after[path]
            assert now != mtimes[path]
        else:
            assert after[path] == data and now == mtimes[path], f"{path} must not be rewritten"
    manifest = _manifest(tmp_path)
    assert [(line["status"], line["path"]) for line in manifest[5:]] == [("updated", changed_path)]
    assert manifest[5]["sha256"] == hashlib.sha256(after[changed_path]).hexdigest()
    assert len({line["run_id"] for line in manifest}) == 2
    state = _state(tmp_path)
    assert state[changed["url"][-20:-6]][2] == int(changed["mtime"])
    assert all(state[pid][1] == hashlib.sha256(after[path]).hexdigest() for pid, (path, _, _) in state.items())
    # refresh=1 fetches everything again and rewrites nothing.
    assert sorted(refreshed) == sorted(item["url"] for item in items)
    assert refresh.stat("sina/posts/unchanged") == 5
    assert files_under(tmp_path / "posts") == after
    assert len(_manifest(tmp_path)) == 6


def test_paging_stops_at_a_page_of_known_articles(tmp_path: Path) -> None:
    items = [_article(f"ddddddd{n:07d}", f"分页{n}", 1790000000 - n * 60) for n in range(60)]
    with ReplayProxy() as proxy:
        for item in items:
            proxy.add(item["url"], SEED.page)
        api = RollApi({("155", "1686"): items}).install(proxy)
        fast = {"AUTOTHROTTLE_ENABLED": "0", "DOWNLOAD_DELAY": "0"}  # paging is tested, not the pace
        run_crawl(proxy.url, tmp_path, "sections=china", "pages=5", settings=fast)
        newer = [_article(f"eeeeeee{n:07d}", f"新{n}", 1790000600 + n) for n in range(10)]
        for item in newer:
            proxy.add(item["url"], SEED.page)
        api.listings[("155", "1686")] = newer + items
        proxy.reset_log()
        second = run_crawl(proxy.url, tmp_path, "sections=china", "pages=5", settings=fast)
        second_api = [url for url in proxy.urls() if url.startswith(ROLL)]
        proxy.reset_log()
        third = run_crawl(proxy.url, tmp_path, "sections=china", "pages=5", settings=fast)
        third_api = [url for url in proxy.urls() if url.startswith(ROLL)]
        third_articles = _article_requests(proxy)
    assert second.stat("sina/posts/new") == 10
    assert [url.rsplit("page=", 1)[1] for url in second_api] == ["1", "2"]  # page 2: all known, stop
    assert [url.rsplit("page=", 1)[1] for url in third_api] == ["1"]
    assert third_articles == []
    assert third.stat("sina/articles/known") == 50
    assert len(files_under(tmp_path / "posts")) == 70


def test_same_title_collision_and_long_title(tmp_path: Path) -> None:
    long_title = "长" * 100  # 300 bytes in UTF-8: more than a file name may hold
    first = _article("fffffff0000001", "同名文章", 1790000300)
    second = _article("fffffff0000002", "同名文章", 1790000200)
    long = _article("fffffff0000003", long_title, 1790000100)
    with ReplayProxy() as proxy:
        for item in (first, second, long):
            proxy.add(item["url"], SEED.page)
        api = RollApi({("155", "1686"): [first, second, long]}).install(proxy)
        run_crawl(proxy.url, tmp_path, "sections=china")
        folder = "金融/新浪财经/新浪财经－国內/"
        # The article written first keeps the name (both are fetched at once, either may be first).
        paths = {pid: path for pid, (path, _, _) in _state(tmp_path).items()}
        owner = next(pid for pid in ("fffffff0000001", "fffffff0000002") if paths[pid] == folder + "同名文章.md")
        other = "fffffff0000002" if owner == "fffffff0000001" else "fffffff0000001"
        assert paths[other] == f"{folder}同名文章_{other}.md"
        # Later each one is listed alone and changes: each keeps its own name.
        for changing in (second, first):
            changing["mtime"] = str(int(changing["mtime"]) + 5)
            marker = changing["docid"][-7:]
            proxy.add(changing["url"], SEED.page.replace("海关".encode(), marker.encode()))
            api.listings[("155", "1686")] = [changing]
            again = run_crawl(proxy.url, tmp_path, "sections=china")
            assert again.stat("sina/posts/updated") == 1
    files = files_under(tmp_path / "posts")
    assert set(paths.values()) <= set(files)
    for item in (first, second):
        publishid = item["docid"].split(":")[1]
        post = files[paths[publishid]]
        assert item["docid"][-7:].encode() in post, "each article's changes land in its own post"
        other_marker = (second if item is first else first)["docid"][-7:].encode()
        assert other_marker not in post
    (long_name,) = [path for path in files if path.endswith("_fffffff0000003.md")]
    name = long_name.rsplit("/", 1)[1]
    assert len(name.encode("utf-8")) <= 255
    assert name.startswith("长" * 70) and name == name.encode("utf-8").decode("utf-8")
    assert f"title: '{long_title}'".encode() in files[long_name], "the title itself is kept whole"


def test_a_post_survives_a_run_in_which_its_article_fails(tmp_path: Path) -> None:
    item = _article("ggggggg0000001", "会失败的文章", 1790000000)
    with ReplayProxy() as proxy:
        proxy.add(item["url"], SEED.page)
        api = RollApi({("155", "1686"): [item]}).install(proxy)
        run_crawl(proxy.url, tmp_path, "sections=china")
        before = files_under(tmp_path / "posts")
        item["mtime"] = str(int(item["mtime"]) + 1)
        api.listings[("155", "1686")] = [item]
        proxy.remove(item["url"])
        proxy.add_handler(item["url"], lambda request: ProxyResponse(500, b"server error"))
        failing = run_crawl(proxy.url, tmp_path, "sections=china", settings={"RETRY_TIMES": "1"})
    assert failing.stat("sina/skipped/http_500") == 1
    assert files_under(tmp_path / "posts") == before
    assert len(before) == 1
    # The state still has the old mtime, so the next run tries again.
    assert _state(tmp_path)["ggggggg0000001"][2] == int(item["mtime"]) - 1


@pytest.mark.hexo
def test_local_images_are_stored_beside_the_post(tmp_path: Path) -> None:
    case = SEED
    images = {
        "https://n.sinaimg.cn/finance/crawl/116/w550h366/20220124/cf6c-f4238c0cc33a40060a9c478865af0e20.jpg": (
            b"\xff\xd8\xff\xe0 not re-encoded \x00\x01"
        ),
    }
    # The sample body style keeps the QR-code block, whose image fails here.
    qr = "https://n.sinaimg.cn/finance/cece9e13/20200514/343233024.png"
    with ReplayProxy() as proxy:
        proxy.add(case.https_url, case.page)
        for url, data in images.items():
            proxy.add(url, data, headers={"Content-Type": "image/jpeg"})
        proxy.add_handler(qr, lambda request: ProxyResponse(404, b"gone"))
        RollApi({("155", "1686"): [case.item]}).install(proxy)
        result = run_crawl(
            proxy.url, tmp_path, "sections=china", settings={"HEXO_IMAGES": "local", "HEXO_BODY": "sample"}
        )
        referers = {r.url: r.headers.get("referer") for r in proxy.requests}
    files = files_under(tmp_path / "posts")
    post = files[case.expected_path].decode("utf-8")
    folder = case.expected_path[: -len(".md")]
    (stored,) = [path for path in files if path.startswith(folder + "/")]
    stored_name = stored.rsplit("/", 1)[1]
    assert files[stored] == next(iter(images.values())), "original bytes"
    assert stored_name.endswith(".jpg")
    assert f'src="{stored_name}"' in post
    assert f"headimg: '{stored_name}'" in post and f"thumbnail: '{stored_name}'" in post
    assert f'src="{qr}"' in post, "a failed image keeps its remote URL"
    assert result.stat("sina/images/stored") == 1
    assert result.stat("sina/images/failed") == 1
    assert result.stat("sina/posts/new") == 1
    assert referers[next(iter(images))] == "https://finance.sina.com.cn/"
    # Apart from the image lines, the post is the golden one.
    golden = case.expected_sample.decode("utf-8")
    remote = next(iter(images))
    assert post == golden.replace(remote, stored_name)
    (hexo_post,) = load_with_hexo(tmp_path / "posts")
    assert hexo_post["title"] == "2022年全国海关工作会议在北京召开"


def test_posts_of_another_body_style_or_format_are_written_again(tmp_path: Path) -> None:
    """The state remembers the post format and body style each post was written in: a
    change of HEXO_BODY, or a state from before this format (schema 1), rewrites the
    listed posts once; after that, nothing is fetched."""
    case = SEED
    with ReplayProxy() as proxy:
        proxy.add(case.https_url, case.page)
        RollApi({("155", "1686"): [case.item]}).install(proxy)
        sample = run_crawl(proxy.url, tmp_path, "sections=china", settings={"HEXO_BODY": "sample"})
        sample_files = files_under(tmp_path / "posts")
        clean = run_crawl(proxy.url, tmp_path, "sections=china")
        clean_files = files_under(tmp_path / "posts")
        again = run_crawl(proxy.url, tmp_path, "sections=china")
        # A state written by the crawler before post formats were recorded (schema 1).
        with sqlite3.connect(tmp_path / "state.sqlite") as db:
            db.execute("ALTER TABLE articles DROP COLUMN post_format")
            db.execute("PRAGMA user_version=1")
        db.close()
        migrated = run_crawl(proxy.url, tmp_path, "sections=china")
        proxy.reset_log()
        last = run_crawl(proxy.url, tmp_path, "sections=china")
        last_requests = _article_requests(proxy)
    assert sample_files == {case.expected_path: case.expected_sample}
    assert clean_files == {case.expected_path: case.expected}
    assert (sample.stat("sina/posts/new"), clean.stat("sina/posts/updated")) == (1, 1)
    assert again.stat("sina/articles/known") == 1 and again.stat("sina/posts/updated") == 0
    assert migrated.returncode == 0, migrated.log[-2000:]
    assert migrated.stat("sina/posts/unchanged") == 1, "fetched again, same bytes, not rewritten"
    assert files_under(tmp_path / "posts") == clean_files
    assert last.stat("sina/articles/known") == 1 and last_requests == []
    with sqlite3.connect(tmp_path / "state.sqlite") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 2
        assert db.execute("SELECT post_format FROM articles").fetchall() == [("3/clean",)]
    db.close()
    assert [line["status"] for line in _manifest(tmp_path)] == ["new", "updated"]
