"""End to end: the real spider, through the real Scrapy downloader and the replay
proxy, writes every golden post byte for byte."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypedDict

import pytest

from crawler.storage.locking import LOCK_NAME
from tests.conftest import CASES, CORPUS, corpus_case
from tests.support.crawl import CrawlResult, files_under, run_crawl
from tests.support.hexo import load_with_hexo
from tests.support.replay_proxy import CorpusCase, ProxyRequest, ProxyResponse, ReplayProxy, RollApi, serve_corpus

pytestmark = pytest.mark.e2e


def test_corpus_is_there() -> None:
    assert len(CASES) >= 11, f"golden corpus missing or incomplete at {CORPUS}"


class CorpusRun(TypedDict):
    """What ``corpus_run`` saw of its two crawls."""

    work: Path
    first: CrawlResult
    second: CrawlResult
    files: dict[str, bytes]
    files_second: dict[str, bytes]
    mtimes: tuple[dict[str, int], dict[str, int]]  # each post's st_mtime_ns after each crawl
    requests: list[str]
    second_requests: list[str]


@pytest.fixture(scope="module")
def corpus_run(tmp_path_factory: pytest.TempPathFactory) -> CorpusRun:
    """One crawl of section china over the whole corpus, then a second identical run."""
    work = tmp_path_factory.mktemp("corpus")
    with ReplayProxy() as proxy:
        serve_corpus(proxy, CASES, pageid="155", lid="1686")
        first = run_crawl(proxy.url, work, "sections=china")
        files_first = files_under(work / "posts")
        mtimes = {p: (work / "posts" / p).stat().st_mtime_ns for p in files_first}
        first_requests = proxy.urls()
        proxy.reset_log()
        second = run_crawl(proxy.url, work, "sections=china")
        second_requests = [url for url in proxy.urls() if not url.endswith("/robots.txt")]
        files_second = files_under(work / "posts")
        mtimes_second = {p: (work / "posts" / p).stat().st_mtime_ns for p in files_second}
    return {
        "work": work,
        "first": first,
        "second": second,
        "files": files_first,
        "files_second": files_second,
        "mtimes": (mtimes, mtimes_second),
        "requests": first_requests,
        "second_requests": second_requests,
    }


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_golden_post_written_byte_for_byte(corpus_run: CorpusRun, case: CorpusCase) -> None:
    files = corpus_run["files"]
    assert case.expected_path in files, f"{case.expected_path} not written; log:\n{corpus_run['first'].log[-3000:]}"
    assert files[case.expected_path] == case.expected


def test_no_other_files_and_clean_exit(corpus_run: CorpusRun) -> None:
    first = corpus_run["first"]
    assert first.returncode == 0, first.log[-3000:]
    assert sorted(corpus_run["files"]) == sorted(case.expected_path for case in CASES)
    assert first.stat("sina/posts/new") == len(CASES)
    assert first.stat("sina/articles/parsed") == len(CASES)
    assert "Run summary (finished): new=11 updated=0 unchanged=0 (not fetched: 0)" in first.log
    assert (corpus_run["work"] / "posts" / LOCK_NAME).read_bytes() == b"", "lock released"


def test_requests_go_through_the_proxy_at_real_urls(corpus_run: CorpusRun) -> None:
    urls = corpus_run["requests"]
    api = [url for url in urls if url.startswith("https://feed.mix.sina.com.cn/api/roll/get?")]
    assert len(api) == 1 and "pageid=155" in api[0] and "lid=1686" in api[0] and "page=1" in api[0]
    for case in CASES:
        assert case.https_url in urls


def test_second_run_makes_no_article_request_and_changes_nothing(corpus_run: CorpusRun) -> None:
    second = corpus_run["second"]
    assert second.returncode == 0
    assert corpus_run["files_second"] == corpus_run["files"]
    before, after = corpus_run["mtimes"]
    assert before == after, "unchanged posts must not be rewritten"
    assert second.stat("sina/articles/known") == len(CASES)
    assert second.stat("sina/posts/new") == 0
    assert corpus_run["second_requests"] == [
        "https://feed.mix.sina.com.cn/api/roll/get?pageid=155&lid=1686&k=&num=50&page=1"
    ]
    assert "new=0 updated=0 unchanged=11 (not fetched: 11)" in second.log


@pytest.mark.hexo
def test_hexo_loads_every_written_post(corpus_run: CorpusRun) -> None:
    posts = {post["source"]: post for post in load_with_hexo(corpus_run["work"] / "posts")}
    assert sorted(posts) == sorted(case.expected_path for case in CASES)
    for case in CASES:
        post = posts[case.expected_path]
        categories = case.expected_path.split("/")[:3]
        assert post["categories"] == categories
        assert post["date"] == _iso(int(case.item["intime"]))
        front_title = case.expected.decode("utf-8").split("\ntitle: ", 1)[1].split("\n", 1)[0]
        assert post["title"] == _unquote(front_title)
        assert post["raw_has_content"] is True


def _iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _unquote(value: str) -> str:
    if value.startswith('"'):
        return value[1:-1]
    return value[1:-1].replace("''", "'")


# --- faults: one bad article or list never costs another -------------------------------


def _synthetic(case: CorpusCase, publishid: str, title: str, ctime: int) -> tuple[dict[str, Any], str]:
    item = copy.deepcopy(case.item)
    url = f"https://finance.sina.com.cn/roll/2026-09-28/doc-i{publishid}.shtml"
    item.update(url=url, title=title, ctime=str(ctime), intime=str(ctime), mtime=str(ctime))
    item["docid"] = f"comos:{publishid}"
    return item, url


def test_faults_are_counted_and_never_cost_another_article(tmp_path: Path) -> None:
    good = CASES[0]
    seed = corpus_case("seed-haiguan")
    listing = [good.item]
    with ReplayProxy() as proxy:
        proxy.add(good.https_url, good.page)
        proxy.add(good.https_url.split("?")[0], good.page)
        faults = {
            "aaaaaaa0000001": ProxyResponse(404, b"not found"),
            "aaaaaaa0000002": ProxyResponse(200, b"<html><body><p>no container</p></body></html>"),
            "aaaaaaa0000003": ProxyResponse(500, b"boom"),
        }
        for number, (publishid, response) in enumerate(faults.items()):
            item, url = _synthetic(seed, publishid, f"坏文章{number}", 1790000000 + number)
            listing.append(item)

            def fault(request: ProxyRequest, response: ProxyResponse = response) -> ProxyResponse:
                return response

            proxy.add_handler(url, fault)
        listing.append({"title": "视频", "url": "https://video.sina.com.cn/p/1.html", "ctime": "1790000000"})
        listing.append({"title": "no url", "ctime": "1790000000"})
        RollApi({("155", "1686"): listing}).install(proxy)
        result = run_crawl(proxy.url, tmp_path, "sections=china,macro", settings={"RETRY_TIMES": "1"})
    files = files_under(tmp_path / "posts")
    assert files == {good.expected_path: good.expected}
    assert result.returncode == 0
    assert result.stat("sina/skipped/http_404") == 1
    assert result.stat("sina/skipped/http_500") == 1
    assert result.stat("sina/skipped/no_body") == 1
    assert result.stat("sina/skipped/not_article") == 1
    assert result.stat("sina/skipped/no_url") == 1
    assert result.stat("sina/roll/failed/status") == 1  # section macro: unknown lid
    assert result.stat("retry/count") >= 1  # the 500 was retried
    assert (
        "Article skipped (no_body): https://finance.sina.com.cn/roll/2026-09-28/doc-iaaaaaaa0000002.shtml" in result.log
    )
    assert (
        "Article skipped (http_404): https://finance.sina.com.cn/roll/2026-09-28/doc-iaaaaaaa0000001.shtml"
        in result.log
    )
    assert "Roll API failed for section macro" in result.log


def test_article_listed_by_two_sections_belongs_to_the_first(tmp_path: Path) -> None:
    case = corpus_case("seed-haiguan")
    with ReplayProxy() as proxy:
        proxy.add(case.https_url, case.page)
        api = RollApi({("155", "1686"): [case.item], ("155", "1687"): [case.item]})
        # The first section's listing answers last: ownership must not depend on timing.
        proxy.add_handler(
            api.prefix,
            lambda request: _delayed(api(request), 0.8 if request.query.get("lid") == "1686" else 0.0),
        )
        result = run_crawl(proxy.url, tmp_path, "sections=macro,china")
        assert proxy.count(case.https_url) == 1
    files = files_under(tmp_path / "posts")
    assert files == {case.expected_path: case.expected}
    assert result.stat("sina/skipped/listed_twice") == 1


def _delayed(response: ProxyResponse, seconds: float) -> ProxyResponse:
    response.delay = seconds
    return response


def test_paging_pages_and_since(tmp_path: Path) -> None:
    seed = corpus_case("seed-haiguan")
    items = []
    with ReplayProxy() as proxy:
        for number in range(60):
            item, url = _synthetic(seed, f"bbbbbbb{number:07d}", f"文章{number:02d}", 1790000000 - number * 3600)
            items.append(item)
            proxy.add(url, seed.page)
        RollApi({("155", "1686"): items}).install(proxy)
        # Paging is what is tested, not the pace: 170 articles without the politeness delays.
        fast = {"AUTOTHROTTLE_ENABLED": "0", "DOWNLOAD_DELAY": "0"}
        one = run_crawl(proxy.url, tmp_path / "one", "sections=china", settings=fast)
        two = run_crawl(proxy.url, tmp_path / "two", "sections=china", "pages=5", settings=fast)
        # 1790000000 is 2026-09-21 22:13:20 Beijing; items reach back 59 hours.
        since = run_crawl(proxy.url, tmp_path / "since", "sections=china", "pages=5", "since=2026-09-21", settings=fast)
    assert len(files_under(tmp_path / "one" / "posts")) == 50
    assert one.stat("sina/roll/pages") == 1
    assert len(files_under(tmp_path / "two" / "posts")) == 60
    assert two.stat("sina/roll/pages") == 2  # the short second page ends the listing
    start_of_day = datetime(2026, 9, 21, tzinfo=timezone(timedelta(hours=8))).timestamp()
    expected_since = sum(1 for item in items if int(item["ctime"]) >= start_of_day)
    assert 0 < expected_since < 50
    assert len(files_under(tmp_path / "since" / "posts")) == expected_since
    assert since.stat("sina/roll/pages") == 1  # page 1 already reached older items
    assert since.stat("sina/skipped/before_since") == 50 - expected_since


def test_bad_arguments_and_config_stop_the_crawl(tmp_path: Path) -> None:
    bad_yaml = tmp_path / "sections.yaml"
    bad_yaml.write_text(
        "sections:\n  - id: china\n    name: x\n    kind: roll\n    pageid: '155'\n    lid: '1686'\n"
        "    categories: [a, b, c]\n    author: x\n    colour: red\n",
        encoding="utf-8",
    )
    with ReplayProxy() as proxy:
        result = run_crawl(proxy.url, tmp_path, settings={"SINA_SECTIONS_FILE": str(bad_yaml)})
        unknown = run_crawl(proxy.url, tmp_path, "sections=nope")
        assert proxy.requests == []
    assert result.returncode != 0
    assert f"{bad_yaml}:9: unknown key 'colour' in a section" in result.log
    assert unknown.returncode != 0
    assert "-a sections: unknown section(s) nope" in unknown.log


def test_items_export_with_O(tmp_path: Path) -> None:
    case = corpus_case("nitmeau2811260")
    with ReplayProxy() as proxy:
        serve_corpus(proxy, [case])
        out = tmp_path / "items.jsonl"
        result = run_crawl(
            proxy.url,
            tmp_path,
            "sections=china",
            settings={"FEEDS": json.dumps({str(out): {"format": "jsonlines"}})},
        )
    assert result.returncode == 0
    (exported,) = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert exported["publishid"] == "nitmeau2811260"
    assert exported["path"] == case.expected_path
    assert exported["date"] == "2026-09-28T15:20:25Z"
    assert exported["media"] == "环球市场播报"
    assert exported["editor"] == "郭明煜"
    assert exported["keywords"][:2] == ["奥多比", "美国假日季线上购物"]
    assert exported["image_urls"][0].startswith("https://n.sinaimg.cn/finance/transform/116/w550h366/20260928/")


def test_golden_posts_in_the_sample_body_style(tmp_path: Path) -> None:
    """HEXO_BODY=sample: every golden's expected_sample.md, at the same paths."""
    with ReplayProxy() as proxy:
        serve_corpus(proxy, CASES, pageid="155", lid="1686")
        result = run_crawl(proxy.url, tmp_path, "sections=china", settings={"HEXO_BODY": "sample"})
    assert result.returncode == 0, result.log[-3000:]
    files = files_under(tmp_path / "posts")
    assert sorted(files) == sorted(case.expected_path for case in CASES)
    for case in CASES:
        assert case.expected_sample, f"{case.name}: no expected_sample.md"
        assert files[case.expected_path] == case.expected_sample, case.name


def test_golden_posts_the_same_without_parse_workers(tmp_path: Path, corpus_run: CorpusRun) -> None:
    """SINA_PARSE_WORKERS=0 parses in the crawl's own process: the same bytes, no worker."""
    with ReplayProxy() as proxy:
        serve_corpus(proxy, CASES, pageid="155", lid="1686")
        result = run_crawl(proxy.url, tmp_path, "sections=china", settings={"SINA_PARSE_WORKERS": "0"})
    assert result.returncode == 0, result.log[-3000:]
    assert result.stat("sina/parse_workers/started") == 0
    assert corpus_run["first"].stat("sina/parse_workers/started") == 1
    assert files_under(tmp_path / "posts") == corpus_run["files"]
