"""A crawl that stops when it must: at once when the network is not there, and promptly
when it is told to (SIGINT, SIGTERM).

Invariants:

- **No network, no crawl**: until the crawl has received any HTTP response (whatever its
  status), a download that fails at the connection level (DNS, refused, unreachable,
  proxy down or refusing the tunnel, TLS) counts toward UNREACHABLE_AFTER; when that many
  have failed in a row with no answer at all, or the failures span UNREACHABLE_HOSTS hosts,
  the crawl stops with ``network_unreachable``
  and one ERROR line that says what failed (the DNS name, or the proxy, credentials
  stripped).  Such failures do not slow the host down (crawler.downloadermiddlewares.retry):
  a host-wide backoff is for a site that answers 429/5xx, not for a missing network.  Once
  any HTTP response has arrived, this check is over and normal retries apply.  A download
  timeout before any answer counts too: a firewall that drops packets answers nothing at all,
  and a site that has not answered one of the crawl's first requests within DOWNLOAD_TIMEOUT
  cannot be crawled either.
- **A stop is prompt**: once a stop begins (``CrawlStop.stop``), no request reaches the
  downloader any more, those waiting in its slots (behind a delay or a backoff hold) are
  dropped with StopRequested, retries are not made, and the spider closes as soon as the
  downloads in flight end; after SINA_STOP_GRACE seconds, or at a second signal, it closes
  without them (crawler.scrapy_internals.abandon_in_progress).  A dropped request is left
  for the next run: the spider's errbacks count nothing for it (crawler.admission: a run
  that did not finish records no ``pages_done``, and an article never answered has no state
  row, so the next run fetches it).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import TYPE_CHECKING, ClassVar
from urllib.parse import urlsplit

from OpenSSL import SSL
from scrapy import signals
from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
    IgnoreRequest,
)
from scrapy.utils.defer import deferred_from_coro
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet.error import ConnectError, ConnectionRefusedError, DNSLookupError
from twisted.internet.error import TimeoutError as TwistedTimeoutError

from crawler.config.crawl import Config
from crawler.scrapy_internals import TunnelError, abandon_in_progress, drop_queued_downloads, running_engine

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response

logger = logging.getLogger(__name__)

#: Connection-level failures in a row, with no HTTP response yet, that stop the crawl.
UNREACHABLE_AFTER = 3
#: ...or this many hosts failed so: a silent firewall times every host out at once, and a
#: third attempt would come only one DOWNLOAD_TIMEOUT later.
UNREACHABLE_HOSTS = 2
#: The finish reason of a crawl stopped by a signal (Scrapy's own name for it).
SHUTDOWN = "shutdown"


class StopRequested(IgnoreRequest):
    """A request dropped because the crawl is stopping: not failed, left for the next run."""


class CrawlStop:
    """Whether, and why, one crawl is stopping; the one place that stops it."""

    _stops: ClassVar[weakref.WeakKeyDictionary[Crawler, CrawlStop]] = weakref.WeakKeyDictionary()

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.reason: str | None = None
        self.abandoned = False

    @classmethod
    def of(cls, crawler: Crawler) -> CrawlStop:
        stop = cls._stops.get(crawler)
        if stop is None:
            stop = cls._stops[crawler] = cls(crawler)
        return stop

    @property
    def stopping(self) -> bool:
        return self.reason is not None

    @property
    def grace(self) -> float:
        """Seconds the downloads in flight get to end once the stop begins (SINA_STOP_GRACE)."""
        return Config.of(self.crawler).stop_grace

    def stop(self, reason: str) -> None:
        """Close the spider with ``reason`` as soon as the downloads in flight end (at most
        SINA_STOP_GRACE seconds); a second call closes it without waiting for them."""
        if self.reason is not None:
            self.abandon()
            return
        self.reason = reason
        engine = running_engine(self.crawler)
        if engine is None or engine.spider is None:  # not crawling yet, or any more
            deferred_from_coro(self.crawler.stop_async())
            return
        dropped = drop_queued_downloads(self.crawler, lambda request: StopRequested(f"stopping: {request.url}"))
        if dropped:
            self.crawler.stats.inc_value("sina/stop/dropped", dropped)
        if reason == SHUTDOWN:
            deferred_from_coro(self.crawler.stop_async())
        else:
            deferred_from_coro(engine.close_spider_async(reason=reason))
        asyncio.get_event_loop().call_later(self.grace, self.abandon)

    def abandon(self) -> None:
        """Close without the downloads still in flight (their answers are not waited for)."""
        if self.abandoned:
            return
        self.abandoned = True
        abandoned = abandon_in_progress(self.crawler)
        if abandoned:
            logger.info("Stopping without %d download(s) still in flight: the next run fetches them", abandoned)


# --- the network check -------------------------------------------------------------


def _without_credentials(url: str) -> str:
    parts = urlsplit(url if "://" in url else f"http://{url}")
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}{f':{parts.port}' if parts.port else ''}"


def _tls_failure(exception: BaseException) -> bool:
    """Whether a failed download failed in its TLS handshake (Twisted wraps the OpenSSL error)."""
    seen: set[int] = set()
    pending: list[BaseException] = [exception]
    while pending:
        error = pending.pop()
        if id(error) in seen:
            continue
        seen.add(id(error))
        if isinstance(error, SSL.Error):
            return True
        for reason in getattr(error, "reasons", ()) or ():  # ResponseNeverReceived: Failures
            value = getattr(reason, "value", None)
            if isinstance(value, BaseException):
                pending.append(value)
        for linked in (error.__cause__, error.__context__):
            if linked is not None:
                pending.append(linked)
    return False


def connection_failure(request: Request, exception: BaseException) -> str | None:
    """What a connection-level failure says to an operator, or None for any other failure."""
    proxy = request.meta.get("proxy")
    where = _without_credentials(str(proxy)) if proxy else ""
    host = urlparse_cached(request).hostname or request.url
    if isinstance(exception, CannotResolveHostError | DNSLookupError):
        if proxy:
            return f"DNS lookup for the proxy {where} failed"
        return f"DNS lookup for {host} failed"
    if isinstance(exception, DownloadConnectionRefusedError | ConnectionRefusedError):
        return f"the proxy {where} refused the connection" if proxy else f"{host} refused the connection"
    if isinstance(exception, TunnelError):
        return f"the proxy {where} could not open a tunnel to {host} ({exception})"
    if isinstance(exception, ConnectError):
        return f"the proxy {where} is unreachable ({exception})" if proxy else f"{host} is unreachable ({exception})"
    if isinstance(exception, DownloadTimeoutError | TwistedTimeoutError):
        waited = request.meta.get("download_timeout")
        within = f" within {waited:g} s" if isinstance(waited, int | float) else ""
        if proxy:
            return f"no answer through the proxy {where}{within} (a firewall dropping the connection?)"
        return f"no answer from {host}{within} (a firewall dropping the connection?)"
    if isinstance(exception, DownloadFailedError) and _tls_failure(exception):
        return f"the TLS handshake with {host} failed ({exception})"
    return None


class NetworkWatch:
    """Until the first HTTP response: the connection-level failures in a row."""

    _watches: ClassVar[weakref.WeakKeyDictionary[Crawler, NetworkWatch]] = weakref.WeakKeyDictionary()

    def __init__(self) -> None:
        self.answered = False  # any HTTP response has arrived: the network is there
        self.failures = 0
        self.hosts: set[str] = set()  # the hosts of those failures

    @classmethod
    def of(cls, crawler: Crawler) -> NetworkWatch:
        watch = cls._watches.get(crawler)
        if watch is None:
            watch = cls._watches[crawler] = cls()
        return watch

    def unproven(self, request: Request, exception: BaseException) -> bool:
        """A connection-level failure while no response has come: not the host's fault."""
        return not self.answered and connection_failure(request, exception) is not None


class NetworkCheckMiddleware:
    """Refuses every request once the crawl stops, and stops it when the network is not
    there (see module).  Placed last before the download, so that its process_exception
    sees a download's failure first, before the retry rule."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.watch = NetworkWatch.of(crawler)
        self.stop = CrawlStop.of(crawler)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> NetworkCheckMiddleware:
        middleware = cls(crawler)
        crawler.signals.connect(middleware.response_downloaded, signal=signals.response_downloaded)
        return middleware

    def response_downloaded(self, response: Response, request: Request) -> None:
        self.watch.answered = True

    def process_request(self, request: Request) -> None:
        if self.stop.stopping:
            raise StopRequested(f"stopping: {request.url}")

    def process_exception(self, request: Request, exception: Exception) -> None:
        if self.watch.answered or self.stop.stopping:
            return
        what = connection_failure(request, exception)
        if what is None:
            return
        self.watch.failures += 1
        self.watch.hosts.add(urlparse_cached(request).hostname or request.url)
        self.crawler.stats.inc_value("sina/network/connection_failures")
        logger.info("No answer yet (%d of %d): %s: %s", self.watch.failures, UNREACHABLE_AFTER, request.url, what)
        if self.watch.failures >= UNREACHABLE_AFTER or len(self.watch.hosts) >= UNREACHABLE_HOSTS:
            logger.error(
                "Network unreachable: %s (%d attempt(s) on %d host(s), no answer from any host); stopping",
                what,
                self.watch.failures,
                len(self.watch.hosts),
            )
            self.stop.stop("network_unreachable")
            raise StopRequested(f"stopping: {request.url}")
