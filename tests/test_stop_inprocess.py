"""A crawl that stops when it must (crawler.downloadermiddlewares.network), in this
process: the real spider, settings and middlewares, with download handlers that fail or
never answer in place of a network.  The same seen from a shell (a real `scrapy crawl`,
its signals and exit statuses) is tests/test_e2e_stop.py."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest
from OpenSSL import SSL
from scrapy import Request, Spider
from scrapy.crawler import AsyncCrawlerRunner, Crawler, CrawlerProcessBase
from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
)
from scrapy.http import Response
from scrapy.utils.test import get_crawler
from twisted.internet.error import NoRouteError
from twisted.python.failure import Failure
from twisted.web._newclient import ResponseNeverReceived

import crawler.commands.crawl as crawl_command
import crawler.downloadermiddlewares.network as network
from crawler.commands.crawl import EXIT_INTERRUPTED, Command, signal_name
from crawler.downloadermiddlewares.network import (
    CrawlStop,
    NetworkCheckMiddleware,
    NetworkWatch,
    StopRequested,
    connection_failure,
)
from crawler.scrapy_internals import TunnelError
from crawler.spiders.sina_finance import SinaFinanceSpider
from tests.support.settings import output_settings
from tests.support.settings import project_settings as crawl_settings

NO_ROUTE: Exception = NoRouteError()  # type: ignore[no-untyped-call]
FEED = "https://feed.mix.sina.com.cn/api/roll/get?pageid=155&lid=1686"


def _request(url: str = FEED, proxy: str | None = None) -> Request:
    return Request(url, meta={"proxy": proxy} if proxy else {})


# --- what a connection-level failure says ---------------------------------------------------


def _tls_error() -> DownloadFailedError:
    error = DownloadFailedError("[<twisted.python.failure.Failure OpenSSL.SSL.Error>]")
    failure = Failure(SSL.Error("certificate verify failed"))  # type: ignore[no-untyped-call]
    error.__cause__ = ResponseNeverReceived([failure])  # type: ignore[no-untyped-call]
    return error


@pytest.mark.parametrize(
    ("exception", "proxy", "said"),
    [
        (CannotResolveHostError("no"), None, "DNS lookup for feed.mix.sina.com.cn failed"),
        (CannotResolveHostError("no"), "http://u:pw@proxy.example:3128", "DNS lookup for the proxy http://proxy.example:3128"),
        (DownloadConnectionRefusedError(), None, "feed.mix.sina.com.cn refused the connection"),
        (DownloadConnectionRefusedError(), "http://u:pw@[::1]:8080", "the proxy http://[::1]:8080 refused"),
        (TunnelError("Could not open CONNECT tunnel [502]"), "127.0.0.1:3128", "the proxy http://127.0.0.1:3128 could"),
        (NO_ROUTE, None, "feed.mix.sina.com.cn is unreachable"),
        (NO_ROUTE, "http://127.0.0.1:1", "the proxy http://127.0.0.1:1 is unreachable"),
        (_tls_error(), None, "the TLS handshake with feed.mix.sina.com.cn failed"),
        (DownloadTimeoutError("slow"), None, "no answer from feed.mix.sina.com.cn (a firewall"),
        (DownloadTimeoutError("slow"), "http://u:pw@10.0.0.1:3128", "no answer through the proxy http://10.0.0.1:3128"),
    ],
)  # fmt: skip
def test_a_connection_level_failure_names_the_name_or_the_proxy(
    exception: Exception, proxy: str | None, said: str
) -> None:
    what = connection_failure(_request(proxy=proxy), exception)
    assert what is not None and what.startswith(said), what
    assert "pw" not in what


@pytest.mark.parametrize("exception", [DownloadFailedError("closed without an answer"), ValueError("bug")])
def test_a_closing_site_or_a_bug_is_not_a_missing_network(exception: Exception) -> None:
    assert connection_failure(_request(), exception) is None


def test_the_watch_clears_the_host_of_a_connection_failure_only_until_an_answer() -> None:
    watch = NetworkWatch()
    assert watch.unproven(_request(), CannotResolveHostError("no"))
    assert not watch.unproven(_request(), DownloadFailedError("closed without an answer"))
    watch.answered = True
    assert not watch.unproven(_request(), CannotResolveHostError("no"))


# --- the middleware: count, then stop -------------------------------------------------------


def _checking(monkeypatch: pytest.MonkeyPatch) -> tuple[Crawler, NetworkCheckMiddleware, list[str]]:
    """A crawl's network check whose stops are recorded (the reasons) instead of made."""
    crawler = get_crawler(Spider)
    stops: list[str] = []
    monkeypatch.setattr(CrawlStop, "stop", lambda self, reason: stops.append(reason))
    middleware = NetworkCheckMiddleware.from_crawler(crawler)
    crawler.stats.open_spider()
    return crawler, middleware, stops


def test_the_third_connection_failure_without_an_answer_stops_the_crawl(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    crawler, middleware, stops = _checking(monkeypatch)
    for _ in range(network.UNREACHABLE_AFTER - 1):
        middleware.process_exception(_request(), CannotResolveHostError("no"))
    middleware.process_exception(_request(), ValueError("a bug"))  # not counted
    assert stops == []
    with caplog.at_level(logging.INFO), pytest.raises(StopRequested):
        middleware.process_exception(_request(), CannotResolveHostError("no"))
    assert stops == ["network_unreachable"]
    (error,) = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert error.getMessage().startswith(
        "Network unreachable: DNS lookup for feed.mix.sina.com.cn failed (3 attempt(s) on 1 host(s)"
    )
    assert crawler.stats.get_value("sina/network/connection_failures") == network.UNREACHABLE_AFTER


def test_timeouts_on_two_hosts_before_any_answer_stop_the_crawl(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A firewall that drops packets: every host times out at once; the second host stops it."""
    _, middleware, stops = _checking(monkeypatch)
    middleware.process_exception(Request(FEED, meta={"download_timeout": 30}), DownloadTimeoutError("slow"))
    assert stops == []
    with caplog.at_level(logging.INFO), pytest.raises(StopRequested):
        middleware.process_exception(
            Request("https://finance.sina.com.cn/robots.txt", meta={"download_timeout": 30}),
            DownloadTimeoutError("slow"),
        )
    assert stops == ["network_unreachable"]
    (error,) = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert error.getMessage().startswith(
        "Network unreachable: no answer from finance.sina.com.cn within 30 s (a firewall dropping the connection?)"
        " (2 attempt(s) on 2 host(s)"
    )


def test_after_an_answer_nothing_is_counted_and_a_stopping_crawl_sends_nothing() -> None:
    crawler = get_crawler(Spider)
    middleware = NetworkCheckMiddleware.from_crawler(crawler)
    middleware.response_downloaded(Response(FEED), _request())
    for _ in range(network.UNREACHABLE_AFTER + 1):
        middleware.process_exception(_request(), CannotResolveHostError("no"))
    assert middleware.watch.failures == 0
    middleware.process_request(_request())  # sent
    middleware.stop.reason = "shutdown"
    with pytest.raises(StopRequested, match="stopping: "):
        middleware.process_request(_request())


def test_signal_names() -> None:
    assert signal_name(signal.SIGTERM) == "SIGTERM" and signal_name(999) == "signal 999"


# --- whole crawls in this process ---------------------------------------------------------


class Unresolvable:
    """A download handler for which no name resolves."""

    lazy = False

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Unresolvable:
        return cls()

    async def download_request(self, request: Request) -> Response:
        raise CannotResolveHostError(f"DNS lookup failed: {request.url}")

    async def close(self) -> None:
        pass


class NeverAnswers(Unresolvable):
    """A download handler whose answers never come."""

    async def download_request(self, request: Request) -> Response:
        await asyncio.sleep(3600)
        raise AssertionError("never")


def _settings(work: Path, handler: type, **overrides: Any) -> Any:
    handlers = dict.fromkeys(("http", "https"), f"{__name__}.{handler.__name__}")
    settings = crawl_settings(
        {
            **output_settings(work),
            "SINA_PARSE_WORKERS": 0,
            "HEXO_FSYNC": False,
            "TWISTED_REACTOR_ENABLED": False,
            "TELNETCONSOLE_ENABLED": False,
            "MEMUSAGE_ENABLED": False,
            "DOWNLOAD_HANDLERS": {**handlers, "ftp": None, "s3": None, "file": None, "data": None},
            "RETRY_BACKOFF_BASE": 0.01,
            "AUTOTHROTTLE_START_DELAY": 0.01,
            "DOWNLOAD_DELAY": 0.01,
            **overrides,
        }
    )
    # No name is looked up: the handler stands for the network, the public-address check too.
    settings["DOWNLOADER_MIDDLEWARES"] = {
        **settings.getdict("DOWNLOADER_MIDDLEWARES"),
        "crawler.downloadermiddlewares.fetchpolicy.PublicAddressMiddleware": None,
    }
    return settings


def test_a_crawl_with_no_dns_stops_with_network_unreachable(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async def run() -> Crawler:
        crawler = AsyncCrawlerRunner(_settings(tmp_path, Unresolvable)).create_crawler(SinaFinanceSpider)
        await crawler.crawl_async(sections="china,macro")
        return crawler

    with caplog.at_level(logging.INFO):
        crawler = asyncio.run(run())
    stats = crawler.stats.get_stats()
    assert stats["finish_reason"] == "network_unreachable"
    errors = [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]
    assert len(errors) == 1 and "DNS lookup for " in errors[0], errors
    assert "Slowing down" not in caplog.text
    assert not list(tmp_path.rglob("*.md"))


def test_a_stopped_command_exits_3_with_its_summary(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command's own handlers, called as the signals would: the first starts the stop,
    the second abandons the downloads that never answer; the run exits 3."""
    from tests.support.inprocess import CommandProcess

    # SINA_STOP_GRACE long: the second signal, not the grace, ends it.
    settings = _settings(
        tmp_path, NeverAnswers, ROBOTSTXT_OBEY=False, CONCURRENT_REQUESTS_PER_DOMAIN=1, SINA_STOP_GRACE=30
    )
    process = CommandProcess(settings)

    def install(_: object, first: Callable[[int], None], again: Callable[[int], None]) -> None:
        process.loop.call_later(0.3, first, signal.SIGTERM)
        process.loop.call_later(0.6, again, signal.SIGINT)

    monkeypatch.setattr(crawl_command, "install_stop_handlers", install)
    command = Command()
    command.crawler_process = cast(CrawlerProcessBase, process)
    abandoned: list[str] = []

    def unraisable(seen: Any) -> None:
        abandoned.append(f"{seen.object!r}: {seen.exc_value!r}")

    hook = sys.unraisablehook
    sys.unraisablehook = unraisable
    with caplog.at_level(logging.INFO):
        try:
            command.run(["sina_finance"], argparse.Namespace(spargs={"sections": "china,macro"}))
        finally:
            process.close()
            gc.collect()
            sys.unraisablehook = hook
    # The abandoned download's coroutine is dropped with the loop: Scrapy's engine, closed by
    # then, cannot untrack it (what a real crawl's exit does to it, silently).
    assert all("ExecutionEngine._download" in line for line in abandoned), abandoned
    assert command.exitcode == EXIT_INTERRUPTED
    assert "Received SIGTERM: stopping once the downloads in flight end (at most 30 s)" in caplog.text
    assert "Received SIGINT again: stopping now" in caplog.text
    assert "Stopping without 1 download(s) still in flight" in caplog.text
    assert "Run summary: interrupted, 0 listed article(s) not reached" in caplog.text
    assert "Run summary (shutdown): " in caplog.text
    ours = [record for record in caplog.records if record.name.startswith(("crawler", "sina_finance"))]
    assert not [record.getMessage() for record in ours if record.levelno >= logging.WARNING]


def test_the_stop_grace_setting_is_checked() -> None:
    from crawler.config.crawl import Config
    from crawler.config.errors import ConfigError

    for value in ("0", "-1", "soon"):
        with pytest.raises(ConfigError, match="SINA_STOP_GRACE"):
            Config.from_settings(crawl_settings({"SINA_STOP_GRACE": value}))
    assert Config.from_settings(crawl_settings({"SINA_STOP_GRACE": "1.5"})).stop_grace == 1.5
