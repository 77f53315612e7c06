"""End to end: a burst of 429s with Retry-After holds the whole host, not one request.

The real spider crawls 24 articles on finance.sina.com.cn through the replay proxy.  The
host answers the first 4 article requests with ``429`` and ``Retry-After: 1``, then the page.
The proxy notes when each request to the host arrived (``time.monotonic()``, the proxy runs
in this process).  No request may arrive sooner than 1 s (less a small tolerance) after a
429 was sent; afterwards the spacing decays back toward the configured delay (counted: the
crawl's end holds more requests in as long a stretch as its start after the hold).  The same
scenario with the rule this project had before (one request slept in process_response,
after the downloader had freed the host's slot) breaks the first property: that is the
proof the test can fail.

One transfer per host (CONCURRENT_REQUESTS_PER_DOMAIN=1): with more, a request the
downloader had put on the wire a moment before the 429 reached it could arrive at the proxy
just after the 429 left it, and no client can recall such a request.  With one transfer per
host the downloader cannot start another request to the host before it has handled the
answer (Scrapy frees the transfer after the ``response_downloaded`` signal the rule acts
on), so every arrival after a 429 was dispatched by a downloader that knew of it."""

from __future__ import annotations

import asyncio
import copy
import json
import threading
import time
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from scrapy import Request, Spider
from scrapy.downloadermiddlewares.retry import RetryMiddleware, get_retry_request
from scrapy.http import Response
from scrapy.utils.response import response_status_message

from crawler import settings as project_settings
from crawler.downloadermiddlewares.retry import retry_after_seconds
from tests.conftest import corpus_case
from tests.support.crawl import CrawlResult, files_under, run_crawl
from tests.support.replay_proxy import ProxyRequest, ProxyResponse, ReplayProxy, RollApi

pytestmark = pytest.mark.e2e

SEED = corpus_case("seed-haiguan")
HOST = "https://finance.sina.com.cn/"
ARTICLES = 24
BURST = 4  # article requests answered 429
RETRY_AFTER = 1.0  # the hold is what is measured, not its length: short keeps the suite short
TOLERANCE = 0.05  # clocks and scheduling; the rule itself waits a random delay more
SETTINGS = {
    "CONCURRENT_REQUESTS_PER_DOMAIN": "1",  # see the module docstring
    "RETRY_TIMES": "6",  # a burst never costs an article
    # The delay grows to 0.2 * 2**3 = 1.6 s over the burst: a decay long enough to measure.
    "RETRY_BACKOFF_BASE": "0.2",
}


@dataclass(frozen=True)
class Arrival:
    at: float  # time.monotonic() when the proxy answered (arrival; the answer leaves at once)
    status: int
    url: str


class Host:
    """Every request to finance.sina.com.cn: robots.txt is 404, the first BURST article
    requests get 429 + Retry-After, later ones the seed's page."""

    def __init__(self) -> None:
        self.arrivals: list[Arrival] = []
        self._lock = threading.Lock()

    def __call__(self, request: ProxyRequest) -> ProxyResponse:
        with self._lock:
            if "/doc-i" not in request.url:
                response = ProxyResponse(404, b"not found")
            elif sum(arrival.status == 429 for arrival in self.arrivals) < BURST:
                response = ProxyResponse(429, b"slow down", {"Retry-After": f"{RETRY_AFTER:g}"})
            else:
                response = ProxyResponse(200, SEED.page)
            self.arrivals.append(Arrival(time.monotonic(), response.status, request.url))
            return response


def _articles(count: int) -> list[dict[str, Any]]:
    """Copies of the seed's roll API item, each at its own URL (7 letters, 7 digits)."""
    items = []
    for number in range(count):
        publishid = f"backoff{number:07d}"
        ctime = str(1790000000 - number * 3600)
        item = copy.deepcopy(SEED.item)
        item.update(
            url=f"https://finance.sina.com.cn/roll/2026-09-28/doc-i{publishid}.shtml",
            title=f"退避测试{number:02d}",
            ctime=ctime,
            intime=ctime,
            mtime=ctime,
            docid=f"comos:{publishid}",
        )
        items.append(item)
    return items


def _crawl(work: Path, settings: dict[str, str]) -> tuple[CrawlResult, list[Arrival]]:
    host = Host()
    with ReplayProxy() as proxy:
        proxy.add_handler(HOST, host)
        RollApi({("155", "1686"): _articles(ARTICLES)}).install(proxy)
        result = run_crawl(proxy.url, work, "sections=china", settings={**SETTINGS, **settings})
    return result, host.arrivals


def _too_soon(arrivals: list[Arrival]) -> list[tuple[float, Arrival]]:
    """(seconds after a 429, arrival) for every request that came within Retry-After of one."""
    refusals = [arrival.at for arrival in arrivals if arrival.status == 429]
    return [
        (arrival.at - sent, arrival)
        for sent in refusals
        for arrival in arrivals
        if sent < arrival.at < sent + RETRY_AFTER - TOLERANCE
    ]


def _gaps_after_burst(arrivals: list[Arrival]) -> list[float]:
    """Seconds from the last 429 to the next request, then between each later request."""
    last = max(arrival.at for arrival in arrivals if arrival.status == 429)
    times = [last, *(arrival.at for arrival in arrivals if arrival.at > last)]
    return [b - a for a, b in pairwise(times)]


def _report(title: str, arrivals: list[Arrival]) -> None:
    start = arrivals[0].at
    print(f"\n{title}")
    print("  arrivals (s since robots.txt, status):", " ".join(f"{a.at - start:.2f}/{a.status}" for a in arrivals))
    refusals = [arrival.at for arrival in arrivals if arrival.status == 429]
    print("  gaps between the 429s:", " ".join(f"{b - a:.2f}" for a, b in pairwise(refusals)))
    print("  gaps after the last 429:", " ".join(f"{gap:.2f}" for gap in _gaps_after_burst(arrivals)))


def _check_a_full_crawl(result: CrawlResult, arrivals: list[Arrival], work: Path) -> None:
    assert result.returncode == 0, result.log[-3000:]
    assert sum(arrival.status == 429 for arrival in arrivals) == BURST
    assert len(files_under(work / "posts")) == ARTICLES, "the burst cost no article"
    assert result.stat("sina/posts/new") == ARTICLES
    assert result.stat("retry/count") == BURST
    assert result.stat(f"retry/reason_count/{response_status_message(429)}") == BURST
    # The whole host is held: nothing arrives within Retry-After of any 429, the retries
    # and the 20 other articles included.
    assert _too_soon(arrivals) == []
    assert float(result.stats["sina/retry/backoff_seconds"]) >= BURST * RETRY_AFTER - TOLERANCE


def _arrivals_in_the_last(arrivals: list[Arrival], window: float) -> int:
    """How many requests reached the host in the crawl's last ``window`` seconds."""
    last = arrivals[-1].at
    return sum(arrival.at > last - window for arrival in arrivals)


def _check_the_decay(arrivals: list[Arrival]) -> None:
    """After the hold (gaps[0]), the delay starts near 1.6 s (the backoff after 4 failures,
    times the downloader's random 0.5-1.5) and halves toward the configured 0.05 s.

    Counted, not timed against a ceiling: each window is a stretch of this same crawl, so
    a loaded machine that slows the crawl stretches the window with it."""
    gaps = _gaps_after_burst(arrivals)
    assert gaps[0] >= RETRY_AFTER - TOLERANCE
    spacing = gaps[1:]
    assert len(spacing) == ARTICLES - 1, "the 20 articles never fetched and the 4 retries came after the hold"
    assert min(spacing[:2]) > 0.2, "spaced out right after the hold"
    # The spacing decays: in as long as the first four requests after the hold took, at
    # least twice as many arrive at the end (8 gaps where there had been 4).
    first_four = sum(spacing[:4])
    at_the_end = _arrivals_in_the_last(arrivals, first_four)
    assert at_the_end >= 2 * 4 + 1, f"{at_the_end} requests in the last {first_four:.2f} s: no decay"
    # ... back near the configured delay: in as long as the first gap after the hold took,
    # at least four gaps at the end.
    at_the_end = _arrivals_in_the_last(arrivals, spacing[0])
    assert at_the_end >= 4 + 1, f"{at_the_end} requests in the last {spacing[0]:.2f} s: not back to the delay"


@pytest.mark.parametrize("autothrottle", [True, False], ids=["autothrottle", "no-autothrottle"])
def test_retry_after_holds_the_whole_host_then_the_spacing_decays(tmp_path: Path, autothrottle: bool) -> None:
    result, arrivals = _crawl(tmp_path, {"AUTOTHROTTLE_ENABLED": str(autothrottle)})
    _report(f"Host-wide backoff, AutoThrottle {'on' if autothrottle else 'off'}:", arrivals)
    _check_a_full_crawl(result, arrivals, tmp_path)
    _check_the_decay(arrivals)
    refusals = [arrival.at for arrival in arrivals if arrival.status == 429]
    assert all(b - a >= RETRY_AFTER - TOLERANCE for a, b in pairwise(refusals))


# --- the contrast: the rule before this fix ---------------------------------------------


class PerRequestSleepRetry(RetryMiddleware):
    """The rule before the fix, for contrast (loaded by the crawl's process from here): it
    slept the one request for Retry-After in process_response, after the downloader had
    freed the host's slot, so every other request to the host went on at full speed."""

    # A coroutine where Scrapy's is sync: Scrapy awaits either, mypy sees another return type.
    async def process_response(  # type: ignore[override]
        self, request: Request, response: Response, spider: Spider | None = None
    ) -> Request | Response:
        if request.meta.get("dont_retry", False) or response.status not in self.retry_http_codes:
            return response
        await asyncio.sleep(retry_after_seconds(response.headers.get("Retry-After")) or 0.0)
        reason = response_status_message(response.status)
        assert self.crawler.spider is not None  # as Scrapy's own _retry asserts
        return get_retry_request(request, spider=self.crawler.spider, reason=reason) or response


def test_the_old_per_request_sleep_breaks_the_hold(tmp_path: Path) -> None:
    """Proof that the check above can fail: the old rule lets other requests through."""
    middlewares = {
        **project_settings.DOWNLOADER_MIDDLEWARES,
        "crawler.downloadermiddlewares.retry.BackoffRetryMiddleware": None,
        f"{__name__}.PerRequestSleepRetry": 550,
    }
    result, arrivals = _crawl(tmp_path, {"DOWNLOADER_MIDDLEWARES": json.dumps(middlewares)})
    _report("The old per-request sleep:", arrivals)
    assert result.returncode == 0, result.log[-3000:]
    assert sum(arrival.status == 429 for arrival in arrivals) == BURST
    too_soon = _too_soon(arrivals)
    print("  arrivals within Retry-After of a 429:", len(too_soon), [f"{after:.2f}" for after, _ in too_soon[:8]])
    assert len(too_soon) >= BURST, "other requests kept arriving within the 1 s window"
    with pytest.raises(AssertionError):
        _check_a_full_crawl(result, arrivals, tmp_path)
