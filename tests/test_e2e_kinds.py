"""Every kind of Sina Finance content a reader sees becomes a post (docs/post-kinds.md),
end to end through the real spider and the replay proxy: the 7×24 live feed (one post
per flash), the JSON channel list of the US-stock channel, and the galleries and videos
any listing holds.  Goldens: tests/corpus-kinds/ (made from the recorded answers and
pages, read by a person before they were frozen)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.crawl import CrawlResult, files_under, run_crawl
from tests.support.hexo import load_with_hexo
from tests.support.kinds import ARTICLE_PATH_IN_FEED, FLASHES, GOOD, KIND_CASES, PAGES, serve_kinds
from tests.support.replay_proxy import FeedApi, ProxyResponse, ReplayProxy, RollApi, ZhiboApi

pytestmark = pytest.mark.e2e

CASES = KIND_CASES


FirstCrawl = tuple[Path, CrawlResult, dict[str, bytes], list[str]]  # work, result, posts, requested URLs


@pytest.fixture(scope="module")
def first_crawl(tmp_path_factory: pytest.TempPathFactory) -> FirstCrawl:
    work = tmp_path_factory.mktemp("kinds")
    with ReplayProxy() as proxy:
        serve_kinds(proxy)
        result = run_crawl(proxy.url, work, "sections=zhibo,feed-usstock")
        requested = proxy.urls()
    return work, result, files_under(work / "posts"), requested


def test_every_new_kind_is_written(first_crawl: FirstCrawl) -> None:
    _, result, files, _ = first_crawl
    assert result.returncode == 0, result.log[-3000:]
    assert sorted(files) == sorted([*(case.expected_path for case in CASES.values()), ARTICLE_PATH_IN_FEED])
    assert result.stat("sina/zhibo/pages") == 1
    assert result.stat("sina/zhibo/flashes") == 3
    assert result.stat("sina/feed/pages") == 1
    assert result.stat("sina/posts/new") == 6
    assert result.stat("sina/skipped/not_article") == 0


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_post_of_each_kind(first_crawl: FirstCrawl, name: str) -> None:
    case = CASES[name]
    files = first_crawl[2]
    assert files[case.expected_path] == case.expected


def test_the_feed_article_is_the_golden_article(first_crawl: FirstCrawl) -> None:
    files = first_crawl[2]
    expected = GOOD.expected.replace("新浪财经－国內".encode(), "新浪财经－美股频道".encode())
    assert files[ARTICLE_PATH_IN_FEED] == expected


def test_flashes_request_no_page(first_crawl: FirstCrawl) -> None:
    requested = first_crawl[3]
    zhibo = [url for url in requested if "zhibo.sina.com.cn" in url and not url.endswith("robots.txt")]
    assert len(zhibo) == 1 and "zhibo_id=152" in zhibo[0] and "page=1" in zhibo[0]
    assert not any("7x24" in url or "finance.sina.cn" in url for url in requested)


def test_manifest_has_the_tags_and_stocks_of_flashes(first_crawl: FirstCrawl) -> None:
    work = first_crawl[0]
    lines = [json.loads(line) for line in (work / "manifest.jsonl").read_text(encoding="utf-8").splitlines()]
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        by_kind.setdefault(line["kind"], []).append(line)
    assert sorted(by_kind) == ["article", "flash", "gallery", "video"]
    flash = next(line for line in by_kind["flash"] if line["publishid"] == "zhibo5103047")
    assert flash["tags"] == ["其他"]
    assert flash["stocks"] == [
        {"market": "sb", "symbol": "430542", "key": "利雅得"},
        {"market": "fund", "symbol": "002611", "key": "避险"},
    ]
    assert flash["url"] == "https://finance.sina.com.cn/7x24/2026-09-19/doc-inisinhh9981846.shtml"
    assert flash["date"] == "2026-09-19T03:03:36Z"


@pytest.mark.hexo
def test_hexo_reads_every_new_post(first_crawl: FirstCrawl) -> None:
    work = first_crawl[0]
    posts = {post["source"]: post for post in load_with_hexo(work / "posts")}
    for case in CASES.values():
        post = posts[case.expected_path]
        front = case.expected.decode("utf-8")
        title = front.split("\ntitle: ", 1)[1].split("\n", 1)[0]
        assert post["title"] == title[1:-1].replace("''", "'"), case.name
        assert post["categories"] == case.expected_path.split("/")[:3], case.name
        assert post["raw_has_content"] is True
    assert (
        posts[
            "金融/新浪财经/新浪财经－7x24/沙特多地传出爆炸声，中国驻沙特大使馆提醒在沙中资机构和中国公民进一步加强安全防范.md"
        ]["date"]
        == "2026-09-19T03:03:36.000Z"
    )


def test_flashes_are_incremental(tmp_path: Path) -> None:
    """A re-run requests the live API once and writes nothing; a flash whose update_time
    changed is written again, once."""
    with ReplayProxy() as proxy:
        zhibo, _ = serve_kinds(proxy)
        first = run_crawl(proxy.url, tmp_path, "sections=zhibo")
        before = files_under(tmp_path / "posts")
        proxy.reset_log()
        again = run_crawl(proxy.url, tmp_path, "sections=zhibo")
        again_requests = [url for url in proxy.urls() if not url.endswith("/robots.txt")]
        changed = zhibo.channels["152"][1]
        changed["update_time"] = "2026-09-19 11:30:00"
        changed["rich_text"] = changed["rich_text"].replace("沙特民防部门", "沙特民防部门（更新）")
        updated = run_crawl(proxy.url, tmp_path, "sections=zhibo")
        after = files_under(tmp_path / "posts")
        last = run_crawl(proxy.url, tmp_path, "sections=zhibo")
    assert first.stat("sina/posts/new") == 3
    assert again.stat("sina/posts/new") == 0 and again.stat("sina/zhibo/flashes") == 0
    assert again.stat("sina/articles/known") == 3
    assert len(again_requests) == 1 and "zhibo/feed" in again_requests[0]
    assert updated.stat("sina/posts/updated") == 1 and updated.stat("sina/articles/known") == 2
    differing = [path for path in after if after[path] != before.get(path)]
    assert len(differing) == 1 and "（更新）".encode() in after[differing[0]]
    assert last.stat("sina/posts/updated") == 0 and last.stat("sina/articles/known") == 3


def test_galleries_and_videos_listed_by_the_roll_api_are_posts(tmp_path: Path) -> None:
    items = [
        {**case.item, "intime": case.item["ctime"], "mtime": case.item["ctime"], "media_name": case.item["media"]}
        for case in PAGES
    ]
    items.append({"title": "专题", "url": "https://finance.sina.com.cn/zt_d/topic/", "ctime": "1570000000"})
    with ReplayProxy() as proxy:
        for case in PAGES:
            assert case.page is not None
            proxy.add(case.https_url, case.page, headers={"Content-Type": "text/html"})
        RollApi({("155", "1686"): items}).install(proxy)
        result = run_crawl(proxy.url, tmp_path, "sections=china")
    files = files_under(tmp_path / "posts")
    for case in PAGES:
        path = case.expected_path.replace("新浪财经－美股频道", "新浪财经－国內")
        assert files[path] == case.expected.replace("新浪财经－美股频道".encode(), "新浪财经－国內".encode())
    assert result.stat("sina/posts/new") == 2
    assert result.stat("sina/skipped/not_article") == 1  # the topic page


BAD_ANSWERS = {
    "not_json": ProxyResponse(200, b"<html>busy</html>", {"Content-Type": "text/html"}),
    "status": ProxyResponse(
        200, b'{"result":{"status":{"code":11,"msg":"busy"}}}', {"Content-Type": "application/json"}
    ),
    "bad_envelope": ProxyResponse(200, b'{"result":{"status":{"code":0}}}', {"Content-Type": "application/json"}),
}


@pytest.mark.parametrize("reason", sorted(BAD_ANSWERS))
def test_a_bad_live_or_feed_answer_fails_its_section_alone(tmp_path: Path, reason: str) -> None:
    with ReplayProxy() as proxy:
        serve_kinds(proxy)
        proxy.add_handler(ZhiboApi.prefix, lambda request: BAD_ANSWERS[reason])
        zhibo_bad = run_crawl(proxy.url, tmp_path / "zhibo", "sections=zhibo,feed-usstock")
    with ReplayProxy() as proxy:
        serve_kinds(proxy)
        feed_answer = BAD_ANSWERS[reason]
        if reason == "status":
            feed_answer = ProxyResponse(200, b'{"status":{"code":2,"msg":"busy"},"data":[]}')
        if reason == "bad_envelope":
            feed_answer = ProxyResponse(200, b'{"status":{"code":0},"data":{}}')
        proxy.add_handler(FeedApi.prefix, lambda request: feed_answer)
        feed_bad = run_crawl(proxy.url, tmp_path / "feed", "sections=zhibo,feed-usstock")
    assert zhibo_bad.returncode == 0 and feed_bad.returncode == 0
    assert zhibo_bad.stat(f"sina/zhibo/failed/{reason}") == 1
    assert zhibo_bad.stat("sina/section/zhibo/list_failed") == 1
    assert "Live API failed for section zhibo" in zhibo_bad.log
    assert len(files_under(tmp_path / "zhibo" / "posts")) == 3  # the feed's article, gallery and video
    assert feed_bad.stat(f"sina/feed/failed/{reason}") == 1
    assert "Feed API failed for section feed-usstock" in feed_bad.log
    assert len(files_under(tmp_path / "feed" / "posts")) == 3  # the three flashes


def test_flashes_without_id_or_time_are_skipped_and_counted(tmp_path: Path) -> None:
    broken = copy.deepcopy(FLASHES)
    del broken[0]["id"]
    broken[1]["create_time"] = "yesterday"
    with ReplayProxy() as proxy:
        serve_kinds(proxy, broken)
        result = run_crawl(proxy.url, tmp_path, "sections=zhibo")
    assert result.returncode == 0, result.log[-3000:]
    assert result.stat("sina/skipped/no_id") == 1
    assert result.stat("sina/skipped/no_time") == 1
    assert result.stat("sina/posts/new") == 1
    assert "Flash skipped (no_id)" in result.log and "Flash skipped (no_time)" in result.log
