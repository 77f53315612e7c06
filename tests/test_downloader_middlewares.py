"""The project's downloader middlewares in-process, each built from a crawler as Scrapy
builds it (``build_from_crawler``): the fetch policy on every request, the public-address
check before a direct connection (with the crawl's resolver), the cluster's shared host
rate, and the pacing of image requests per image host (HEXO_IMAGES=local).  The retry
rule and the meta refresh have their own modules (test_retry.py, test_meta_refresh.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import twisted.internet
from scrapy import Request
from scrapy.exceptions import NotConfigured
from scrapy.resolver import dnscache
from scrapy.utils.misc import build_from_crawler
from twisted.internet import defer
from twisted.internet.error import DNSLookupError

from crawler.cluster.budget import HostBudget
from crawler.downloadermiddlewares.fetchpolicy import FetchPolicyMiddleware, PublicAddressMiddleware, RefusedRequest
from crawler.downloadermiddlewares.hostrate import SharedHostRateMiddleware
from crawler.downloadermiddlewares.imagerate import IMAGE_SLOT, HostPacer, ImageHostRateMiddleware
from crawler.net.fetch_policy import IMAGE
from crawler.resolver import PrivateAddressError, PublicAddressResolver
from tests.support.components import make_crawler

ARTICLE = "https://finance.sina.com.cn/roll/2026-09-28/doc-imiddlew0000001.shtml"


# --- the fetch policy -------------------------------------------------------------------


def _policy(tmp_path: Path, **settings: Any) -> FetchPolicyMiddleware:
    return build_from_crawler(FetchPolicyMiddleware, make_crawler(tmp_path, settings))


def _refusal(middleware: FetchPolicyMiddleware, request: Request) -> str | None:
    try:
        middleware.process_request(request)
    except RefusedRequest as refused:
        assert refused.url == request.url and str(refused) == f"{refused.reason}: {request.url}"
        return refused.reason
    return None


@pytest.mark.parametrize(
    ("url", "meta", "reason"),
    [
        (ARTICLE, {"sina_fetch": "article"}, None),
        ("https://evil.example/doc-iabcdefg1234567.shtml", {"sina_fetch": "article"}, "offsite"),
        ("https://evil.example/x", {"sina_fetch": "article", "redirect_urls": [ARTICLE]}, "offsite_redirect"),
        ("https://finance.sina.com.cn:8443/x", {"sina_fetch": "listing"}, "odd_port"),
        ("https://n.sinaimg.cn/a.png", {"sina_fetch": "image"}, None),
        ("https://img.example.com/a.png", {"sina_fetch": "image"}, "offsite"),
        ("https://finance.sina.com.cn/robots.txt", {}, None),
        ("https://10.0.0.1/robots.txt", {}, "private_address"),
        # WHATWG reads finance.sina.com.cn, urllib (the downloader) reads finance%2esina.com.cn
        ("https://finance%2Esina.com.cn/x", {"sina_fetch": "article"}, "ambiguous_url"),
    ],
)
def test_every_request_meets_the_fetch_policy(
    tmp_path: Path, url: str, meta: dict[str, Any], reason: str | None
) -> None:
    assert _refusal(_policy(tmp_path), Request(url, meta=meta)) == reason


def test_image_hosts_come_from_the_setting(tmp_path: Path) -> None:
    middleware = _policy(tmp_path, HEXO_IMAGE_HOSTS="img.example.com")
    assert _refusal(middleware, Request("https://img.example.com/a.png", meta={"sina_fetch": "image"})) is None
    assert _refusal(middleware, Request("https://n.sinaimg.cn/a.png", meta={"sina_fetch": "image"})) == "offsite"


# --- a public address before a direct connection ----------------------------------------


class _Answers(PublicAddressResolver):
    """The crawl's resolver, with the addresses names have given here."""

    def __init__(self, answers: dict[str, str | BaseException]) -> None:
        self.answers = answers
        self.exempt = frozenset()
        self.asked: list[str] = []

    def lookup(self, name: str, timeout: object = ()) -> defer.Deferred[str]:
        self.asked.append(name)
        answer = self.answers[name]
        return defer.fail(answer) if isinstance(answer, BaseException) else defer.succeed(answer)


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> _Answers:
    """The reactor's resolver, as TWISTED_DNS_RESOLVER installs it (no reactor is started)."""
    answers = _Answers(
        {
            "finance.sina.com.cn": "202.108.33.60",
            "intranet.sina.com.cn": "10.1.2.3",
            "gone.sina.com.cn": DNSLookupError(),
        }
    )
    monkeypatch.setattr(twisted.internet, "reactor", SimpleNamespace(resolver=answers), raising=False)
    return answers


def _checked(url: str, **meta: Any) -> str | None:
    try:
        asyncio.run(PublicAddressMiddleware().process_request(Request(url, meta=meta)))
    except RefusedRequest as refused:
        return refused.reason
    return None


def test_a_name_of_a_private_address_is_refused_by_name(resolver: _Answers) -> None:
    assert _checked("https://intranet.sina.com.cn/secret") == "private_address"
    assert _checked(ARTICLE) is None
    assert _checked("https://gone.sina.com.cn/x") is None, "another lookup failure is the download's to report"
    assert resolver.asked == ["intranet.sina.com.cn", "finance.sina.com.cn", "gone.sina.com.cn"]


def test_behind_a_proxy_or_without_a_host_nothing_is_asked(resolver: _Answers) -> None:
    assert _checked("https://intranet.sina.com.cn/secret", proxy="http://proxy.corp:3128") is None
    assert _checked("data:,x") is None
    assert resolver.asked == []


def test_the_resolver_refuses_a_cached_private_address(monkeypatch: pytest.MonkeyPatch) -> None:
    """Scrapy's caching resolver, for real: a name it has cached is answered from the
    cache, and the answer is checked all the same."""
    monkeypatch.setattr(dnscache, "limit", dnscache.limit)  # the resolver sets it: put it back
    monkeypatch.setitem(dnscache, "cached.sina.com.cn", "192.168.1.9")
    monkeypatch.setitem(dnscache, "n.sinaimg.cn", "202.108.33.60")
    resolver = PublicAddressResolver(SimpleNamespace(), cache_size=100, timeout=1.0)
    results: list[object] = []
    for name in ("cached.sina.com.cn", "n.sinaimg.cn"):
        resolver.getHostByName(name).addCallbacks(results.append, lambda failure: results.append(failure.value))
    refused, public = results
    assert isinstance(refused, PrivateAddressError) and "192.168.1.9, which is not a public address" in str(refused)
    assert public == "202.108.33.60"


# --- the cluster's shared host rate -----------------------------------------------------


class _Budget:
    def __init__(self, waits: list[float]) -> None:
        self.waits = waits
        self.hosts: list[str] = []

    def reserve(self, host: str) -> float:
        self.hosts.append(host)
        return self.waits.pop(0)


def test_the_host_rate_needs_a_cluster(tmp_path: Path) -> None:
    with pytest.raises(NotConfigured) as off:
        build_from_crawler(SharedHostRateMiddleware, make_crawler(tmp_path))
    assert off.value.args == (), "a message would make Scrapy log a crawl on its own as a WARNING"


def test_the_host_rate_is_the_cluster_s_budget(tmp_path: Path) -> None:
    crawler = make_crawler(tmp_path, {"SINA_REDIS_URL": "redis://127.0.0.1:9/0", "SINA_HOST_RATE": 8})
    middleware = build_from_crawler(SharedHostRateMiddleware, crawler)  # no connection yet
    assert isinstance(middleware.budget, HostBudget)
    assert (middleware.budget.prefix, middleware.budget.interval) == ("sina-finance-hexo:rate", 1 / 8)
    assert middleware.stats is crawler.stats
    assert isinstance(middleware.images, HostBudget)
    assert (middleware.images.prefix, middleware.images.interval) == ("sina-finance-hexo:rate", 1 / 4)


def test_an_image_request_takes_the_image_budget_of_the_cluster(tmp_path: Path) -> None:
    articles, images = _Budget([0.0]), _Budget([0.0])
    middleware = SharedHostRateMiddleware(articles, None, images)  # type: ignore[arg-type]
    asyncio.run(middleware.process_request(Request("https://n.sinaimg.cn/a.png", meta={"sina_fetch": IMAGE})))
    asyncio.run(middleware.process_request(Request(ARTICLE)))
    assert (articles.hosts, images.hosts) == (["finance.sina.com.cn"], ["n.sinaimg.cn"])


def test_a_request_waits_for_its_host_s_slot(tmp_path: Path) -> None:
    crawler = make_crawler(tmp_path)
    budget = _Budget([0.0, 0.01])
    middleware = SharedHostRateMiddleware(budget, crawler.stats)  # type: ignore[arg-type]
    asyncio.run(middleware.process_request(Request(ARTICLE)))
    assert crawler.stats.get_value("sina/cluster/rate_waits") is None, "a free slot: no wait"
    asyncio.run(middleware.process_request(Request("https://n.sinaimg.cn/a.png")))
    assert crawler.stats.get_value("sina/cluster/rate_waits") == 1
    assert budget.hosts == ["finance.sina.com.cn", "n.sinaimg.cn"]
    uncounted = _Budget([0.001])
    asyncio.run(SharedHostRateMiddleware(uncounted, None).process_request(Request(ARTICLE)))  # type: ignore[arg-type]
    assert uncounted.waits == [], "no stats collector: it waits all the same"


# --- image requests, paced per image host ------------------------------------------------


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_pacer_spaces_each_host_s_requests_evenly() -> None:
    clock = _Clock()
    pacer = HostPacer(4.0, clock)
    assert [pacer.reserve("n.sinaimg.cn") for _ in range(3)] == [0.0, 0.25, 0.5]
    assert pacer.reserve("k.sinaimg.cn") == 0.0, "another host has its own pace"
    clock.now += 10
    assert pacer.reserve("n.sinaimg.cn") == 0.0, "a host idle for long goes at once"
    with pytest.raises(ValueError, match="more than 0"):
        HostPacer(0.0)


def test_image_pacing_needs_local_images(tmp_path: Path) -> None:
    with pytest.raises(NotConfigured, match="HEXO_IMAGES"):
        build_from_crawler(ImageHostRateMiddleware, make_crawler(tmp_path))
    crawler = make_crawler(tmp_path, {"HEXO_IMAGES": "local", "SINA_IMAGE_HOST_RATE": "10"})
    assert build_from_crawler(ImageHostRateMiddleware, crawler).pacer.interval == pytest.approx(0.1)


def test_image_requests_go_to_their_own_slot_paced_per_host(tmp_path: Path) -> None:
    crawler = make_crawler(tmp_path, {"HEXO_IMAGES": "local", "SINA_IMAGE_HOST_RATE": "50"})
    middleware = build_from_crawler(ImageHostRateMiddleware, crawler)
    article = Request(ARTICLE)
    images = [Request(f"https://n.sinaimg.cn/{n}.jpg", meta={"sina_fetch": IMAGE}) for n in range(3)]

    async def send() -> float:
        loop = asyncio.get_running_loop()
        start = loop.time()
        await middleware.process_request(article)
        for image in images:
            await middleware.process_request(image)
        return loop.time() - start

    assert asyncio.run(send()) >= 2 / 50 - 0.005, "three images to one host: two intervals apart at least"
    assert "download_slot" not in article.meta, "an article keeps its host's slot"
    assert {image.meta["download_slot"] for image in images} == {IMAGE_SLOT}
    assert all(image.meta["autothrottle_dont_adjust_delay"] is True for image in images)


def test_the_image_slot_is_a_download_slot_without_delay() -> None:
    from crawler import settings

    slots = settings.DOWNLOAD_SLOTS
    assert slots[IMAGE_SLOT]["delay"] == 0 and slots[IMAGE_SLOT]["concurrency"] >= 1
