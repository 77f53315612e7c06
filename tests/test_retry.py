"""Unit tests of the retry rule (crawler/downloadermiddlewares/retry.py): Retry-After,
backoff growth and cap, the host hold checked against Scrapy's own dispatch code, the
delay's raise and decay with and without AutoThrottle, and retries through Scrapy."""

from __future__ import annotations

import random
from email.utils import formatdate
from itertools import pairwise
from typing import Any

import pytest
from scrapy import Request, Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import DownloadTimeoutError
from scrapy.extensions.throttle import AutoThrottle
from scrapy.http import Response
from scrapy.utils.response import response_status_message
from scrapy.utils.test import get_crawler

import crawler.downloadermiddlewares.retry as retry_module
from crawler.downloadermiddlewares.fetchpolicy import RefusedRequest
from crawler.downloadermiddlewares.network import NetworkWatch
from crawler.downloadermiddlewares.retry import (
    DECAY_DONE,
    HOLD_MIN_DELAY,
    BackoffRetryMiddleware,
    retry_after_seconds,
)
from crawler.scrapy_internals import DownloadSlot, install_slots

HOST = "finance.sina.com.cn"
URL = f"https://{HOST}/roll/2026-09-28/doc-iretryaa0000001.shtml"
NOW = 1_000.0  # the fake monotonic clock's start
UNIX_NOW = 1_790_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(retry_module, "monotonic", fake)
    return fake


def _setup(
    settings: dict[str, Any] | None = None, delay: float = 0.05, jitter: float = 0.5
) -> tuple[Crawler, BackoffRetryMiddleware, DownloadSlot]:
    """A crawler with a spider, the middleware, and one download slot for HOST, where the
    middleware and AutoThrottle find a crawl's (crawler.scrapy_internals.install_slots)."""
    crawler = get_crawler(
        Spider,
        {
            "RETRY_BACKOFF_BASE": 0.1,
            "RETRY_BACKOFF_MAX": 10.0,
            "RETRY_TIMES": 3,
            "RETRY_HTTP_CODES": [403, 429, 500, 502, 503, 504, 522, 524, 408],
            "AUTOTHROTTLE_ENABLED": False,
            **(settings or {}),
        },
    )
    crawler.spider = Spider.from_crawler(crawler, "retry-test")
    slot = DownloadSlot.standalone(HOST, delay=delay, jitter=jitter, concurrency=4)
    middleware = BackoffRetryMiddleware.from_crawler(crawler)
    install_slots(crawler, slot)
    return crawler, middleware, slot


def _request(**meta: Any) -> Request:
    return Request(URL, meta={"download_slot": HOST, "download_latency": 0.01, **meta})


def _answer(
    crawler: Crawler, status: int, request: Request | None = None, headers: dict[str, str] | None = None
) -> Response:
    """A downloaded answer, announced as the downloader announces it (signal, then middleware)."""
    request = request or _request()
    response = Response(URL, status=status, headers=headers or {}, request=request)
    crawler.signals.send_catch_log(signals.response_downloaded, response=response, request=request, spider=None)
    return response


# --- Retry-After ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (b"2", 2.0),
        (b" 120 ", 120.0),
        ("0", 0.0),
        (b"1.5", 1.5),
        (formatdate(UNIX_NOW + 30, usegmt=True).encode(), 30.0),
        (formatdate(UNIX_NOW + 30, usegmt=True), 30.0),
        (formatdate(UNIX_NOW - 600, usegmt=True).encode(), 0.0),  # in the past: now
        (formatdate(UNIX_NOW + 45).replace("+0000", "-0000").encode(), 45.0),  # "-0000" is GMT too
        (b"", None),
        (None, None),
        (b"soon", None),
        (b"-3", None),
        (b"Mon, 99 Foo 2026 99:99:99 GMT", None),
    ],
)
def test_retry_after_is_seconds_or_an_http_date(value: bytes | str | None, seconds: float | None) -> None:
    assert retry_after_seconds(value, now=UNIX_NOW) == seconds


# --- backoff growth and cap -------------------------------------------------------------


def test_backoff_doubles_per_consecutive_failure_with_at_most_25_percent_jitter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, middleware, _ = _setup({"RETRY_BACKOFF_BASE": 0.5, "RETRY_BACKOFF_MAX": 100.0})
    monkeypatch.setattr(random, "random", lambda: 0.0)
    assert [middleware.backoff(n) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0]
    monkeypatch.setattr(random, "random", lambda: 0.999999)
    for n in range(6):
        assert 0.5 * 2**n < middleware.backoff(n) < 0.5 * 2**n * 1.25
    assert middleware.backoff(8) == 100.0, "capped at RETRY_BACKOFF_MAX"
    assert middleware.backoff(100_000) == 100.0, "no overflow after a very long failure streak"


# --- the host hold ----------------------------------------------------------------------


def test_retry_after_holds_the_whole_slot_whatever_the_random_delay(clock: Clock) -> None:
    crawler, middleware, slot = _setup()
    slot.hold_until(NOW - 0.01)  # a request just went
    _answer(crawler, 429, headers={"Retry-After": "2"})
    hold = middleware.holds[HOST]
    assert hold.not_before == NOW + 2
    assert slot.held_until == NOW + 2
    assert 0.1 <= slot.delay <= 0.125, "raised to the first backoff (base 0.1 + jitter)"
    assert crawler.stats.get_value("sina/retry/backoff_seconds") == 2.0
    # Scrapy's dispatch code, with its ±50 % random delay, never sends before NOW + 2,
    # whenever it is asked, and sends once that time and one delay have passed.
    for asked in (NOW, NOW + 0.5, NOW + 1.99, NOW + 2.0):
        for _ in range(300):
            assert slot.next_dispatch(asked) >= NOW + 2
    assert slot.next_dispatch(NOW + 2 + 1.5 * slot.delay) == NOW + 2 + 1.5 * slot.delay


@pytest.mark.parametrize("jitter", [0.0, 0.5, 0.99])
def test_the_hold_holds_with_no_configured_delay(clock: Clock, jitter: float) -> None:
    """DOWNLOAD_DELAY=0 and a zero backoff base: a zero delay would skip Scrapy's check."""
    crawler, middleware, slot = _setup({"RETRY_BACKOFF_BASE": 0.0}, delay=0.0, jitter=jitter)
    _answer(crawler, 503, headers={"Retry-After": "1"})
    assert slot.delay == HOLD_MIN_DELAY
    for _ in range(300):
        assert slot.next_dispatch(NOW + 0.5) >= NOW + 1
    # an answer to a request already on the wire does not lower it within the hold
    clock.now = NOW + 0.2
    _answer(crawler, 200)
    assert slot.delay == HOLD_MIN_DELAY
    clock.now = NOW + 1.0
    _answer(crawler, 200)
    assert slot.delay == 0.0, "back to the configured delay after the hold"
    assert HOST not in middleware.holds


def test_retry_after_and_the_hold_are_capped(clock: Clock) -> None:
    crawler, middleware, slot = _setup({"RETRY_BACKOFF_MAX": 10.0})
    _answer(crawler, 429, headers={"Retry-After": "3600"})
    assert middleware.holds[HOST].not_before == NOW + 10.0
    assert slot.held_until == NOW + 10.0


def test_without_retry_after_the_backoff_is_the_hold_and_grows(clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    crawler, middleware, slot = _setup()
    monkeypatch.setattr(random, "random", lambda: 0.0)
    for n, status in enumerate([503, 429, 403]):
        clock.now = NOW + 10 * n  # each answer after the previous hold
        _answer(crawler, status)
        assert middleware.holds[HOST].not_before == pytest.approx(clock.now + 0.1 * 2**n)
        assert slot.delay == pytest.approx(0.1 * 2**n)
    assert middleware.holds[HOST].failures == 3
    assert crawler.stats.get_value("sina/retry/backoff_seconds") == pytest.approx(0.1 + 0.2 + 0.4)
    clock.now += 10
    _answer(crawler, 200)
    assert middleware.holds[HOST].failures == 0, "a good answer ends the streak"
    _answer(crawler, 503)
    assert middleware.holds[HOST].not_before == pytest.approx(clock.now + 0.1), "a new streak starts at the base"


def test_overlapping_holds_are_counted_once(clock: Clock) -> None:
    crawler, middleware, _ = _setup()
    _answer(crawler, 429, headers={"Retry-After": "2"})
    clock.now = NOW + 1
    _answer(crawler, 429, headers={"Retry-After": "2"})  # extends the hold by 1 s
    assert middleware.holds[HOST].not_before == NOW + 3
    assert crawler.stats.get_value("sina/retry/backoff_seconds") == 3.0


def test_a_status_that_is_not_retryable_does_not_slow_the_host(clock: Clock) -> None:
    crawler, middleware, slot = _setup()
    for status in (200, 301, 404):
        _answer(crawler, status, headers={"Retry-After": "5"})
    assert middleware.holds == {}
    assert slot.delay == 0.05 and slot.held_until == 0


def test_an_answer_that_went_through_no_slot_changes_nothing(clock: Clock) -> None:
    crawler, middleware, slot = _setup()
    request = Request(URL)  # no download_slot: it never reached the downloader's queue
    _answer(crawler, 429, request=request, headers={"Retry-After": "5"})
    assert middleware.holds == {} and slot.delay == 0.05


def test_a_new_slot_for_the_host_starts_afresh(clock: Clock) -> None:
    crawler, middleware, _ = _setup()
    _answer(crawler, 503)
    fresh = DownloadSlot.standalone(HOST, delay=0.05, concurrency=4)  # the downloader dropped the idle slot
    install_slots(crawler, fresh)  # and made a new one
    _answer(crawler, 503)
    assert middleware.holds[HOST].slot == fresh and middleware.holds[HOST].failures == 1


# --- decay ------------------------------------------------------------------------------


def test_without_autothrottle_good_answers_halve_the_excess_back_to_the_delay(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    crawler, middleware, slot = _setup({"RETRY_BACKOFF_BASE": 0.8}, delay=0.05)
    monkeypatch.setattr(random, "random", lambda: 0.0)
    _answer(crawler, 429)
    assert slot.delay == 0.8
    clock.now = NOW + 0.5  # within the hold: an answer to a request sent before it
    _answer(crawler, 200)
    assert slot.delay == 0.8, "no decay while the host is held"
    clock.now = NOW + 1
    delays = []
    while HOST in middleware.holds:
        _answer(crawler, 200)
        delays.append(slot.delay)
    assert delays[:3] == pytest.approx([0.425, 0.2375, 0.14375])
    assert all(a > b for a, b in pairwise(delays))
    assert delays[-1] == 0.05, "exactly the configured delay again"
    assert delays[-2] - 0.05 <= 2 * DECAY_DONE
    assert len(delays) <= 8


def test_with_autothrottle_its_average_is_the_only_decay(clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    crawler, middleware, slot = _setup(
        {"AUTOTHROTTLE_ENABLED": True, "DOWNLOAD_DELAY": 0.05, "AUTOTHROTTLE_TARGET_CONCURRENCY": 2.0},
        delay=0.1,
    )
    throttle = crawler.get_extension(AutoThrottle)
    assert throttle is not None
    crawler.signals.send_catch_log(signals.spider_opened, spider=crawler.spider)  # AutoThrottle's min/max delays
    monkeypatch.setattr(random, "random", lambda: 0.0)
    _answer(crawler, 429)
    _answer(crawler, 429)
    _answer(crawler, 503)
    assert slot.delay == pytest.approx(0.4), "raised past AutoThrottle's delay (AutoThrottle never lowers on errors)"
    clock.now = NOW + 10
    _answer(crawler, 200, request=_request(download_latency=0.02))
    # AutoThrottle: max(target, (delay + target) / 2) with target = latency / 2 = 0.01, once
    assert slot.delay == pytest.approx((0.4 + 0.01) / 2)
    assert HOST not in middleware.holds, "AutoThrottle owns the delay from here"
    _answer(crawler, 200, request=_request(download_latency=0.02))
    assert slot.delay == pytest.approx(((0.4 + 0.01) / 2 + 0.01) / 2)
    # A request AutoThrottle does not adjust for: the rule decays itself.
    base = slot.delay
    for _ in range(3):
        _answer(crawler, 500)
    assert slot.delay == pytest.approx(0.4)
    clock.now = NOW + 20
    _answer(crawler, 200, request=_request(autothrottle_dont_adjust_delay=True))
    assert slot.delay == pytest.approx(base + (0.4 - base) / 2)


# --- retries through Scrapy's get_retry_request -----------------------------------------


def test_a_retryable_answer_is_retried_through_scrapy(clock: Clock) -> None:
    crawler, middleware, _ = _setup()
    request = _request()
    retry = middleware.process_response(request, _answer(crawler, 429, request))
    assert isinstance(retry, Request)
    assert retry.url == URL and retry.meta["retry_times"] == 1 and retry.dont_filter and retry.priority == -1
    assert crawler.stats.get_value("retry/count") == 1
    # Scrapy's own reason, whatever it calls 429
    assert crawler.stats.get_value(f"retry/reason_count/{response_status_message(429)}") == 1


def test_retries_stop_at_max_retry_times(clock: Clock) -> None:
    crawler, middleware, _ = _setup({"RETRY_TIMES": 1})
    request = _request()
    retry = middleware.process_response(request, _answer(crawler, 503, request))
    assert isinstance(retry, Request)
    response = _answer(crawler, 503, retry)
    assert middleware.process_response(retry, response) is response
    assert crawler.stats.get_value("retry/max_reached") == 1
    capped = _request(max_retry_times=0)
    response = _answer(crawler, 503, capped)
    assert middleware.process_response(capped, response) is response


def test_dont_retry_is_never_retried_but_still_slows_the_host(clock: Clock) -> None:
    crawler, middleware, slot = _setup()
    request = _request(dont_retry=True)
    response = _answer(crawler, 429, request, headers={"Retry-After": "3"})
    assert middleware.process_response(request, response) is response
    assert middleware.process_exception(request, DownloadTimeoutError("slow")) is None
    assert crawler.stats.get_value("retry/count") is None
    assert slot.held_until >= NOW + 3, "what the host answered holds it, whoever asked"


def test_a_non_retryable_status_is_passed_on(clock: Clock) -> None:
    crawler, middleware, _ = _setup()
    request = _request()
    response = _answer(crawler, 404, request)
    assert middleware.process_response(request, response) is response


def test_a_retryable_exception_is_retried_and_slows_the_host(clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    crawler, middleware, slot = _setup()
    monkeypatch.setattr(random, "random", lambda: 0.0)
    before_any_answer = middleware.process_exception(_request(), DownloadTimeoutError("took too long"))
    assert isinstance(before_any_answer, Request), "retried"
    assert middleware.holds == {}, "no answer yet from anywhere: a missing network, not a slow host"
    NetworkWatch.of(crawler).answered = True
    crawler.stats.set_value("retry/reason_count/scrapy.exceptions.DownloadTimeoutError", 0)
    retry = middleware.process_exception(_request(), DownloadTimeoutError("took too long"))
    assert isinstance(retry, Request) and retry.meta["retry_times"] == 1
    assert crawler.stats.get_value("retry/reason_count/scrapy.exceptions.DownloadTimeoutError") == 1
    assert middleware.holds[HOST].not_before == pytest.approx(NOW + 0.1)
    assert slot.held_until == pytest.approx(NOW + 0.1) and slot.delay == pytest.approx(0.1)


def test_a_refused_request_or_another_error_is_not_retried(clock: Clock) -> None:
    crawler, middleware, slot = _setup({"RETRY_EXCEPTIONS": [OSError, "scrapy.exceptions.IgnoreRequest"]})
    refused = RefusedRequest("offsite", URL)
    assert middleware.process_exception(_request(), refused) is None, "IgnoreRequest is never retried"
    assert middleware.process_exception(_request(), ValueError("a bug")) is None
    assert middleware.holds == {} and slot.delay == 0.05 and slot.held_until == 0
    assert crawler.stats.get_value("retry/count") is None
