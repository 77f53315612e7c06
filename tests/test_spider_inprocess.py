"""The spiders in this process, as Scrapy's own tests do: built by ``get_crawler()`` and
fed recorded answers (tests/recorded/, tests/corpus/), every callback and errback called
directly; the cluster's driver with a coordinator that needs no Redis; and whole runs
through tests/support/inprocess.py, whose posts are the goldens byte for byte.
Subprocess crawls (tests/test_e2e_*.py) stay for what needs a process."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import scrapy
from redis import RedisError
from scrapy.exceptions import CloseSpider, DontCloseSpider
from scrapy.http import HtmlResponse, Response, TextResponse
from scrapy.utils.test import get_crawler
from twisted.internet.error import DNSLookupError
from twisted.python.failure import Failure

from crawler.cluster.protocol import Answer as ClusterAnswer
from crawler.cluster.protocol import read_answer
from crawler.extensions.runstate import RunHealth
from crawler.hexo.post import render_post_bytes
from crawler.items import ArticlePost, FlashPost, GalleryPost, PlacedPost, VideoPost, exported
from crawler.pipelines.hexo_posts import post_content
from crawler.sina.roll_api import roll_item
from crawler.sina.urls import article_request_url
from crawler.spiders import sina_finance
from crawler.spiders.sina_finance import SinaFinanceSpider
from crawler.spiders.sina_finance_worker import SinaFinanceWorkerSpider
from tests.conftest import CASES, RECORDED, corpus_case
from tests.support.inprocess import Answer, crawl
from tests.support.posts import an_article
from tests.support.replay_proxy import RollApi
from tests.support.settings import own_settings

ROLL = (RECORDED / "feed.mix.roll.get_pageid153_lid2516_page1.trimmed.json").read_bytes()
ZHIBO = (RECORDED / "zhibo.api.zhibo.feed_zhibo_id152_page1.trimmed.json").read_bytes()
COLUMN = (RECORDED / "finance.sina.com.cn_roll_c_56592.EXCERPT.html").read_bytes()
LIST_PAGE = b"""<html><body>
<a href="https://finance.sina.com.cn/china/2026-09-28/doc-iaaaaaaa0000001.shtml">one</a>
<a href="/roll/2026-09-28/doc-iaaaaaaa0000002.shtml">two</a>
<a href="https://finance.sina.com.cn/china/2026-09-28/doc-iaaaaaaa0000001.shtml">one again</a>
<a href="https://finance.sina.com.cn/topic/">a topic</a>
</body></html>"""
FEED = json.dumps(
    {
        "result": {
            "status": {"code": 0},
            "data": [
                {
                    "url": "https://finance.sina.com.cn/stock/usstock/2026-09-28/doc-iaaaaaaa0000003.shtml",
                    "ctime": "1790000000",
                },
                {"url": "https://finance.sina.com.cn/topic/", "ctime": "1790000000"},
            ],
        }
    }
).encode()

T = TypeVar("T")


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


async def _collect(outputs: AsyncIterator[T]) -> list[T]:
    return [output async for output in outputs]


def _handed(outputs: AsyncIterator[object]) -> list[Any]:
    """What an article callback hands to the item pipelines (it yields nothing: its post
    goes through crawler.scrapy_internals.process_item_detached, caught here)."""
    handed: list[Any] = []

    def detached(crawler: object, item: object, done: Callable[[], None]) -> None:
        handed.append(item)
        done()

    real = getattr(sina_finance, "process_item_detached")  # noqa: B009 (not exported: mypy)
    setattr(sina_finance, "process_item_detached", detached)  # noqa: B010
    try:
        assert _run(_collect(outputs)) == []
    finally:
        setattr(sina_finance, "process_item_detached", real)  # noqa: B010
    return handed


@dataclass
class Spider:
    """A sina_finance spider built as Scrapy builds it, its run opened, its listing
    requests made (start())."""

    spider: SinaFinanceSpider
    starts: list[scrapy.Request]

    @property
    def stats(self) -> dict[str, Any]:
        return self.spider.crawler.stats.get_stats()

    def stat(self, key: str) -> int:
        return int(self.stats.get(key, 0))

    def start(self, section_id: str) -> scrapy.Request:
        return next(request for request in self.starts if request.cb_kwargs["section"].id == section_id)


def _spider(
    tmp_path: Path,
    sections: str,
    spidercls: type[SinaFinanceSpider] = SinaFinanceSpider,
    cluster: object = None,
    **settings: Any,
) -> Spider:
    """``cluster``: the coordinator the run has before start() (none: start() opens it)."""
    crawler = get_crawler(
        spidercls,
        settings_dict=own_settings(
            {
                "HEXO_POSTS_DIR": str(tmp_path / "posts"),
                "STATE_DB": str(tmp_path / "state.sqlite"),
                "MANIFEST": str(tmp_path / "manifest.jsonl"),
                "SINA_PARSE_WORKERS": 0,
                **settings,
            }
        ),
    )
    assert crawler.stats is not None
    crawler.stats.open_spider()
    spider = spidercls.from_crawler(crawler, sections=sections)
    crawler.spider = spider
    if spider.writes_posts:
        spider.run.cluster = cluster  # type: ignore[assignment]
        starts = _run(_collect(spider.start()))  # opens the run (CrawlRun.begin_crawl)
        return Spider(spider, starts)
    return Spider(spider, [])


@pytest.fixture
def page_sections(monkeypatch: pytest.MonkeyPatch) -> None:
    """A page section without the browser set up (get_crawler's settings are frozen)."""
    monkeypatch.setattr(sina_finance, "browser_meta", lambda crawler, ignore_https_errors: {"playwright": True})


def _answer(
    request: scrapy.Request, body: bytes, cls: type[TextResponse] = TextResponse, url: str | None = None
) -> TextResponse:
    return cls(url or request.url, body=body, encoding="utf-8", request=request)


def _requests(outputs: Iterable[Any]) -> list[scrapy.Request]:
    return [output for output in outputs if isinstance(output, scrapy.Request)]


# --- every kind of listing, read by parse_listing ------------------------------------------


def test_a_roll_page(tmp_path: Path) -> None:
    crawl = _spider(tmp_path, "china")
    start = crawl.start("china")
    assert start.url == "https://feed.mix.sina.com.cn/api/roll/get?pageid=155&lid=1686&k=&num=50&page=1"
    assert start.headers["Referer"] == b"https://finance.sina.com.cn/" and start.cb_kwargs["page"] == 1
    articles = _requests(crawl.spider.parse_listing(_answer(start, ROLL), **start.cb_kwargs))
    listed = [roll_item(item) for item in json.loads(ROLL)["result"]["data"]]
    assert [request.url for request in articles] == [article_request_url(item.url) for item in listed]
    assert all(request.callback == crawl.spider.parse_article for request in articles)
    assert all(request.errback == crawl.spider.article_failed for request in articles)
    assert articles[0].meta == {"sina_fetch": "article", "sina_body_style": "clean"}
    assert (crawl.stat("sina/roll/pages"), crawl.stat("sina/section/china/listed")) == (1, len(listed))
    assert crawl.stat("sina/articles/requested") == len(listed)


def test_a_full_roll_page_pages_on_and_the_last_page_releases(tmp_path: Path) -> None:
    items = [
        {"url": f"https://finance.sina.com.cn/roll/2026-09-28/doc-iaaaaaaa{n:07d}.shtml", "ctime": "1790000000"}
        for n in range(60)
    ]
    crawl = _spider(tmp_path, "china")
    crawl.spider.arguments = dataclasses.replace(crawl.spider.arguments, pages=2)
    api = RollApi({("155", "1686"): items})
    start = crawl.start("china")
    (second,) = crawl.spider.parse_listing(
        _answer(start, json.dumps(api.envelope("155", "1686")).encode()), **start.cb_kwargs
    )
    assert isinstance(second, scrapy.Request)
    assert (
        second.url.endswith("&page=2")
        and second.cb_kwargs["page"] == 2
        and second.callback == crawl.spider.parse_listing
    )
    page_two = json.dumps(api.envelope("155", "1686", page=2)).encode()
    articles = _requests(crawl.spider.parse_listing(_answer(second, page_two), **second.cb_kwargs))
    assert len(articles) == 60 and crawl.stat("sina/roll/pages") == 2


def test_a_roll_answer_that_is_not_json_fails_its_section(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    crawl = _spider(tmp_path, "china")
    start = crawl.start("china")
    assert list(crawl.spider.parse_listing(_answer(start, b"<html>busy</html>"), **start.cb_kwargs)) == []
    assert crawl.stat("sina/roll/failed/not_json") == 1 and crawl.stat("sina/section/china/list_failed") == 1
    assert f"Roll API failed for section china: {start.url}: not_json" in caplog.text
    assert crawl.spider.run.section("china").left_behind


def test_a_column_page(tmp_path: Path) -> None:
    crawl = _spider(tmp_path, "col-gongsi")
    start = crawl.start("col-gongsi")
    assert start.url == "https://finance.sina.com.cn/roll/c/56592.shtml" and "Referer" not in start.headers
    articles = _requests(crawl.spider.parse_listing(_answer(start, COLUMN, HtmlResponse), **start.cb_kwargs))
    assert len(articles) == 14 and all("/doc-i" in article.url for article in articles)
    assert crawl.stat("sina/section/col-gongsi/listed") == 14
    assert "sina/list/pages" not in crawl.stats


def test_a_column_page_without_links_fails_as_no_links(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    crawl = _spider(tmp_path, "col-gongsi")
    start = crawl.start("col-gongsi")
    assert list(crawl.spider.parse_listing(_answer(start, b"<p>moved</p>", HtmlResponse), **start.cb_kwargs)) == []
    assert crawl.stat("sina/list/failed/no_links") == 1
    assert (
        "Column page failed for section col-gongsi: https://finance.sina.com.cn/roll/c/56592.shtml: no_links"
        in caplog.text
    )


def test_a_list_page_the_browser_rendered(tmp_path: Path, page_sections: None) -> None:
    crawl = _spider(tmp_path, "page-china")
    start = crawl.start("page-china")
    assert (
        start.meta["playwright"] is True
        and start.meta["playwright_page_methods"][0].kwargs["arg"] == 'a[href*="/doc-i"]'
    )
    articles = _requests(crawl.spider.parse_listing(_answer(start, LIST_PAGE, HtmlResponse), **start.cb_kwargs))
    assert [request.url for request in articles] == [
        "https://finance.sina.com.cn/china/2026-09-28/doc-iaaaaaaa0000001.shtml",
        "https://finance.sina.com.cn/roll/2026-09-28/doc-iaaaaaaa0000002.shtml",
    ]


def test_a_list_page_the_browser_was_sent_off_site_from(
    tmp_path: Path, page_sections: None, caplog: pytest.LogCaptureFixture
) -> None:
    crawl = _spider(tmp_path, "page-china")
    start = crawl.start("page-china")
    sent = _answer(start, LIST_PAGE, HtmlResponse, url="https://evil.example/")
    assert list(crawl.spider.parse_listing(sent, **start.cb_kwargs)) == []
    assert crawl.stat("sina/list/failed/offsite_redirect") == 1
    assert (
        "Listing failed for section page-china: https://finance.sina.com.cn/china/: offsite_redirect:"
        " the browser was sent to https://evil.example/"
    ) in caplog.text


def test_a_page_of_the_live_feed_gives_posts_at_once(tmp_path: Path) -> None:
    crawl = _spider(tmp_path, "zhibo")
    start = crawl.start("zhibo")
    assert start.headers["Referer"] == b"https://finance.sina.com.cn/7x24/"
    outputs = list(crawl.spider.parse_listing(_answer(start, ZHIBO), **start.cb_kwargs))
    flashes = [output for output in outputs if isinstance(output, FlashPost)]
    assert len(flashes) == 3 and not _requests(outputs)  # a page of 3: not full, no next page
    assert flashes[0].publishid == "zhibo5103048" and flashes[0].title.startswith("交通运输部公路科学研究院徐剑")
    assert flashes[0].date.tzinfo is not None and flashes[0].categories == ("金融", "新浪财经", "新浪财经－7x24")
    assert crawl.stat("sina/zhibo/flashes") == 3 and crawl.stat("sina/zhibo/pages") == 1


def test_a_channel_list(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    crawl = _spider(tmp_path, "feed-usstock")
    start = crawl.start("feed-usstock")
    assert start.url.startswith("https://interface.sina.cn/pc_api/public_news_data.d.json?")
    (article,) = _requests(crawl.spider.parse_listing(_answer(start, FEED), **start.cb_kwargs))
    assert article.url.endswith("doc-iaaaaaaa0000003.shtml")
    assert crawl.stat("sina/skipped/not_article") == 1 and crawl.stat("sina/feed/pages") == 1
    assert "Feed item skipped (not_article) in" in caplog.text


def test_a_listing_that_cannot_be_fetched_fails_its_section(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    crawl = _spider(tmp_path, "china,macro")
    china, macro = crawl.start("china"), crawl.start("macro")
    assert _requests(crawl.spider.parse_listing(_answer(macro, ROLL), **macro.cb_kwargs)) == []  # waits for china
    failure = Failure(DNSLookupError("no such host"))  # type: ignore[no-untyped-call]  # Twisted's Failure() is untyped
    failure.request = china  # type: ignore[attr-defined]  # as Scrapy's downloader sets it
    released = list(crawl.spider.list_failed(failure))
    assert len(released) == 3 and all(request.cb_kwargs["section"].id == "macro" for request in released)
    assert crawl.stat("sina/roll/failed/dns_error") == 1
    assert f"Listing failed for section china: {china.url}: dns_error" in caplog.text


# --- scrapy parse URL: the default callback ---------------------------------------------------


def test_the_default_callback_makes_the_post_of_one_url(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """`scrapy parse --spider sina_finance URL`: the first selected section, the page's own
    title and date; a URL of no article is one skip line, not an exception."""
    crawl = _spider(tmp_path, "stock")  # (the first in sections.yaml order, when several)
    case = corpus_case("nitmeau2811260")
    page = HtmlResponse(case.https_url, body=case.page, request=scrapy.Request(case.https_url))
    (post,) = _run(_collect(crawl.spider.parse(page)))
    assert isinstance(post, ArticlePost) and post.publishid == "nitmeau2811260" and post.section == "stock"
    assert post.title == case.item["title"] and post.summary is None  # the API's intro is not there
    other = HtmlResponse(
        "https://finance.sina.com.cn/stock/", body=b"<html></html>", request=scrapy.Request("https://x")
    )
    assert _run(_collect(crawl.spider.parse(other))) == []
    assert crawl.stat("sina/skipped/not_article") == 1
    assert "Article skipped (not_article): https://finance.sina.com.cn/stock/: not_article" in caplog.text


# --- articles: parse_article and article_failed ----------------------------------------------


def _article_request(crawl: Spider, case_name: str) -> tuple[scrapy.Request, bytes]:
    case = corpus_case(case_name)
    start = crawl.start("china")
    envelope = RollApi({("155", "1686"): [dict(case.item)]}).envelope("155", "1686")
    (request,) = crawl.spider.parse_listing(_answer(start, json.dumps(envelope).encode()), **start.cb_kwargs)
    assert isinstance(request, scrapy.Request)
    return request, case.page


def test_an_article_page_gives_its_golden_post(tmp_path: Path) -> None:
    crawl = _spider(tmp_path, "china")
    case = corpus_case("nitmeau2811260")
    request, page = _article_request(crawl, case.name)
    (post,) = _handed(crawl.spider.parse_article(_answer(request, page, HtmlResponse), **request.cb_kwargs))
    assert isinstance(post, ArticlePost) and post.publishid == "nitmeau2811260"
    assert render_post_bytes(post_content(PlacedPost(post, case.expected_path))) == case.expected
    assert crawl.stat("sina/articles/parsed") == 1


def test_an_article_redirected_on_sinas_hosts_is_kept_and_said(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    crawl = _spider(tmp_path, "china")
    request, page = _article_request(crawl, "nitmeau2811260")
    moved = request.replace(
        url="https://finance.sina.com.cn/moved.shtml", meta={**request.meta, "redirect_urls": [request.url]}
    )
    (post,) = _handed(crawl.spider.parse_article(_answer(moved, page, HtmlResponse), **request.cb_kwargs))
    assert post.url == "https://finance.sina.com.cn/moved.shtml" and crawl.stat("sina/articles/redirected") == 1
    assert f"Article {request.url} redirected to https://finance.sina.com.cn/moved.shtml" in caplog.text


def test_an_article_page_without_a_body_is_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    crawl = _spider(tmp_path, "china")
    request, _ = _article_request(crawl, "nitmeau2811260")
    answer = _answer(request, b"<html><head><title>t</title></head><body>gone</body></html>", HtmlResponse)
    assert _handed(crawl.spider.parse_article(answer, **request.cb_kwargs)) == []
    assert crawl.stat("sina/skipped/no_body") == 1 and crawl.stat("sina/articles/parsed") == 0
    assert f"Article skipped (no_body): {request.url}" in caplog.text
    assert not crawl.spider.run.section("china").left_behind  # no later fetch makes it a post


def test_an_article_that_cannot_be_fetched_is_skipped_and_left_for_the_next_run(tmp_path: Path) -> None:
    crawl = _spider(tmp_path, "china")
    request, _ = _article_request(crawl, "nitmeau2811260")
    failure = Failure(DNSLookupError("no such host"))  # type: ignore[no-untyped-call]  # Twisted's Failure() is untyped
    failure.request = request  # type: ignore[attr-defined]
    crawl.spider.article_failed(failure)
    assert crawl.stat("sina/skipped/dns_error") == 1 and crawl.stat("sina/section/china/skipped") == 1
    assert crawl.spider.run.section("china").left_behind


@pytest.mark.parametrize(
    ("item", "page", "kind"),
    [
        (
            {"url": "http://slide.news.sina.com.cn/c/slide_1_86523_402095.html", "ctime": "1570500000", "title": "图"},
            "slide.news.sina.com.cn_slide_1_86523_402095.gb2312.html",
            GalleryPost,
        ),
        (
            {"url": "http://video.sina.com.cn/p/news/2019-10-05/detail-iicezzrr0285941.d.html", "ctime": "1570277270"},
            "video.sina.com.cn_p_news_2019-10-05_detail-iicezzrr0285941.html",
            VideoPost,
        ),
    ],
    ids=["gallery", "video"],
)
def test_galleries_and_videos_are_posts_of_their_kind(
    tmp_path: Path, item: dict[str, str], page: str, kind: type[GalleryPost | VideoPost]
) -> None:
    crawl = _spider(tmp_path, "china")
    start = crawl.start("china")
    envelope = RollApi({("155", "1686"): [item]}).envelope("155", "1686")
    (request,) = crawl.spider.parse_listing(_answer(start, json.dumps(envelope).encode()), **start.cb_kwargs)
    assert isinstance(request, scrapy.Request)
    answer = Response(request.url, body=(RECORDED / page).read_bytes(), request=request)
    (post,) = _handed(crawl.spider.parse_article(answer, **request.cb_kwargs))
    assert type(post) is kind and exported(PlacedPost(post, "p.md"))["kind"] == kind.kind


# --- a cluster's worker: answers instead of posts --------------------------------------------


@dataclass
class _Held:
    answered_ids: list[str] = field(default_factory=list)

    def answered(self, publishid: str) -> None:
        self.answered_ids.append(publishid)


@dataclass
class _Client:
    pushed: list[tuple[str, bytes]] = field(default_factory=list)

    def rpush(self, key: str, value: bytes) -> None:
        self.pushed.append((key, value))


def test_a_worker_sends_its_post_or_its_skip_to_the_coordinator(tmp_path: Path) -> None:
    crawl = _spider(
        tmp_path, "china", SinaFinanceWorkerSpider, SINA_REDIS_URL="redis://127.0.0.1:1/0", SINA_CLUSTER="w"
    )
    worker = crawl.spider
    assert isinstance(worker, SinaFinanceWorkerSpider)
    worker.client, worker.held = _Client(), _Held()  # type: ignore[assignment]
    case = corpus_case("nitmeau2811260")
    listing = roll_item(dict(case.item))
    request = scrapy.Request(case.https_url, meta={"sina_body_style": "sample"})
    section = worker.by_id["china"]
    assert (
        _run(
            _collect(
                worker.parse_article(HtmlResponse(case.https_url, body=case.page, request=request), listing, section)
            )
        )
        == []
    )
    failure = Failure(DNSLookupError("gone"))  # type: ignore[no-untyped-call]  # Twisted's Failure() is untyped
    failure.request = scrapy.Request(case.https_url, cb_kwargs={"listing": listing, "section": section})  # type: ignore[attr-defined]
    worker.article_failed(failure)
    (key, sent), (_, skipped) = worker.client.pushed  # type: ignore[attr-defined]
    assert key == "w:results" and worker.held.answered_ids == [listing.publishid] * 2  # type: ignore[attr-defined]
    post = read_answer(sent).item
    assert post is not None and render_post_bytes(post_content(PlacedPost(post, "x.md"))) == case.expected_sample
    assert (read_answer(skipped).reason, read_answer(skipped).url) == ("dns_error", case.https_url)


# --- the coordinator, driven by spider_idle ---------------------------------------------------


@dataclass
class _Pushed:
    request: scrapy.Request
    section_id: str


@dataclass
class _Coordinator:
    """crawler.cluster.coordinator.Coordinator as the driver sees it, without Redis."""

    waiting: list[ClusterAnswer] = field(default_factory=list)
    queue: list[scrapy.Request] = field(default_factory=list)
    unanswered: set[str] = field(default_factory=set)
    fetching_here: set[str] = field(default_factory=set)
    given_up: list[_Pushed] = field(default_factory=list)
    pushed: list[str] = field(default_factory=list)
    lease_lost: bool = False
    fail: bool = False

    def push(self, request: scrapy.Request, publishid: str, section_id: str) -> bool:
        self.pushed.append(publishid)
        return True

    def answers(self) -> list[ClusterAnswer]:
        if self.fail:
            raise RedisError("connection reset")
        waiting, self.waiting = self.waiting, []
        return waiting

    def answered(self, publishid: str) -> bool:
        self.fetching_here.discard(publishid)
        if publishid not in self.unanswered:
            return False
        self.unanswered.discard(publishid)
        return True

    def take(self) -> scrapy.Request | None:
        if not self.queue:
            return None
        request = self.queue.pop(0)
        self.fetching_here.add(request.cb_kwargs["listing"].publishid)
        return request

    def recover(self) -> tuple[int, list[_Pushed]]:
        given_up, self.given_up = self.given_up, []
        return 0, given_up

    @property
    def finished(self) -> bool:
        return not self.unanswered


@dataclass
class _Engine:
    crawled: list[scrapy.Request] = field(default_factory=list)
    items: list[Any] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)

    @property
    def scraper(self) -> _Engine:
        return self

    def needs_backout(self) -> bool:
        return False

    def crawl(self, request: scrapy.Request) -> None:
        self.crawled.append(request)

    async def start_itemproc_async(self, item: Any, *, response: None) -> None:
        self.items.append(item)

    async def close_spider_async(self, *, reason: str) -> None:
        self.closed.append(reason)


def _coordinating(tmp_path: Path) -> tuple[Spider, _Coordinator, _Engine]:
    cluster, engine = _Coordinator(), _Engine()
    crawl = _spider(
        tmp_path, "china", cluster=cluster, SINA_REDIS_URL="redis://127.0.0.1:1/0", CONCURRENT_REQUESTS_PER_DOMAIN=2
    )
    crawl.spider.crawler.engine = engine  # type: ignore[assignment]
    return crawl, cluster, engine


def _idle(crawl: Spider) -> bool:
    """spider_idle as the engine sends it: True when the crawl is kept open."""
    driver = crawl.spider.coordinator_driver
    assert driver is not None

    async def idle() -> bool:
        try:
            driver.spider_idle()
        except DontCloseSpider:
            return True
        finally:
            await asyncio.sleep(0)  # what it scheduled (the item pipelines, a close) runs
        return False

    return bool(_run(idle()))


def test_the_coordinator_pushes_what_it_lists_and_stays_open_until_answered(tmp_path: Path) -> None:
    crawl, cluster, _engine = _coordinating(tmp_path)
    pushed = cluster.pushed
    start = crawl.start("china")
    assert list(crawl.spider.parse_listing(_answer(start, ROLL), **start.cb_kwargs)) == []  # pushed, not requested
    assert len(pushed) == 3 and crawl.stat("sina/cluster/pushed") == 3
    cluster.unanswered = set(pushed)
    assert _idle(crawl)
    health = RunHealth(crawl.spider.run)
    crawl.spider.run.articles_requested = 3
    health.spider_idle(crawl.spider)  # nothing parsed yet, but the workers are at it: no verdict
    cluster.unanswered.clear()
    with pytest.raises(CloseSpider) as closed:
        health.spider_idle(crawl.spider)
    assert closed.value.reason == "no_article_parsed"


def test_the_coordinator_takes_work_back_while_it_has_room(tmp_path: Path) -> None:
    crawl, cluster, engine = _coordinating(tmp_path)
    requests = [
        scrapy.Request(f"https://finance.sina.com.cn/{n}", cb_kwargs={"listing": an_article(publishid=str(n))})
        for n in range(3)
    ]
    cluster.queue, cluster.unanswered = list(requests), {"0", "1", "2"}
    assert _idle(crawl)
    assert engine.crawled == requests[:2] and crawl.stat("sina/cluster/taken") == 2  # CONCURRENT_REQUESTS_PER_DOMAIN


def test_the_coordinator_writes_its_workers_posts_and_counts_their_skips(tmp_path: Path) -> None:
    crawl, cluster, engine = _coordinating(tmp_path)
    post = an_article(publishid="a1", section="china")
    cluster.unanswered = {"a1", "a2"}
    cluster.waiting = [
        ClusterAnswer("a1", "china", post),
        ClusterAnswer("a2", "china", None, "http_404", "https://finance.sina.com.cn/a2", ""),
        ClusterAnswer("a1", "china", post),  # a slow worker's second answer
    ]
    assert _idle(crawl)  # the post is in the pipelines
    assert engine.items == [post]
    assert (crawl.stat("sina/cluster/answers"), crawl.stat("sina/cluster/late_answers")) == (2, 1)
    assert crawl.stat("sina/articles/parsed") == 1 and crawl.stat("sina/skipped/http_404") == 1
    assert crawl.spider.run.section("china").left_behind
    assert _idle(crawl)  # every article answered, but a listing is not done
    crawl.spider.listings.complete("china")
    assert not _idle(crawl)  # the crawl may close


def test_articles_lost_twice_are_skipped_as_lost(tmp_path: Path) -> None:
    crawl, cluster, _engine = _coordinating(tmp_path)
    cluster.given_up = [_Pushed(scrapy.Request("https://finance.sina.com.cn/lost"), "china")]
    crawl.spider.listings.complete("china")
    assert not _idle(crawl)
    assert crawl.stat("sina/cluster/lost") == 1 and crawl.stat("sina/skipped/lost") == 1


@pytest.mark.parametrize(("change", "reason"), [("lease_lost", "cluster_locked"), ("fail", "cluster_unavailable")])
def test_the_coordinator_closes_the_crawl_when_the_cluster_is_gone(tmp_path: Path, change: str, reason: str) -> None:
    crawl, cluster, engine = _coordinating(tmp_path)
    setattr(cluster, change, True)
    assert _idle(crawl)  # closed with its reason, not as finished
    assert engine.closed == [reason]


# --- whole runs in this process ----------------------------------------------------------------


def _corpus_answers() -> dict[str, Answer]:
    envelope = RollApi({("155", "1686"): [dict(case.item) for case in CASES]}).envelope("155", "1686")
    roll = "https://feed.mix.sina.com.cn/api/roll/get?pageid=155&lid=1686&k=&num=50&page=1"
    answers = {roll: Answer(json.dumps(envelope).encode(), content_type="application/json")}
    answers.update({case.https_url: Answer(case.page, content_type="text/html") for case in CASES})
    return answers


def _posts(root: Path) -> dict[str, bytes]:
    return {path.relative_to(root).as_posix(): path.read_bytes() for path in root.rglob("*.md")}


def test_a_run_in_this_process_writes_the_goldens_then_fetches_nothing_known(tmp_path: Path) -> None:
    first = crawl(SinaFinanceSpider, tmp_path, _corpus_answers(), sections="china")
    assert first.stats["finish_reason"] == "finished" and first.stat("sina/posts/new") == len(CASES)
    assert _posts(tmp_path / "posts") == {case.expected_path: case.expected for case in CASES}
    second = crawl(SinaFinanceSpider, tmp_path, _corpus_answers(), sections="china")
    assert second.stat("sina/articles/known") == len(CASES) and second.stat("sina/articles/requested") == 0
    assert [url for url in second.asked if "/doc-i" in url] == []


def test_a_run_whose_every_listing_failed_says_so(tmp_path: Path) -> None:
    failed = crawl(SinaFinanceSpider, tmp_path, {}, sections="china")
    assert failed.stats["finish_reason"] == "all_listings_failed"
    assert "Run failed: all_listings_failed" in failed.log


def test_what_minus_o_exports_keeps_the_items_keys() -> None:
    """``scrapy crawl -O``: one flat object per post, as before posts were typed."""
    assert list(exported(PlacedPost(an_article(), "a/b/c/x.md"))) == [
        *("publishid", "docid", "url", "section", "title", "date", "media", "editor", "keywords", "summary"),
        *("categories", "author", "headimg", "image_urls", "image_files", "body_html", "body_image_spans"),
        *("mtime", "kind", "tags", "stocks", "path", "replaces"),
    ]
    assert exported(PlacedPost(an_article(), "x.md"))["date"] == "2022-01-24T11:02:07Z"


def test_every_spider_callback_is_called_here() -> None:
    """The callbacks and errbacks the spiders name in their requests, each called above."""
    called = {"parse_listing", "list_failed", "parse_article", "article_failed"}
    named = {
        name
        for cls in (SinaFinanceSpider, SinaFinanceWorkerSpider)
        for name, value in vars(cls).items()
        if callable(value) and (name.startswith("parse_") or name.endswith("_failed"))
    }
    assert named == called
