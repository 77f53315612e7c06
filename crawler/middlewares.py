"""Retry rule: Scrapy's RetryMiddleware, with a pause before each retry.

The pause grows (RETRY_BACKOFF_BASE * 2**n, plus up to 25 % jitter, at most
RETRY_BACKOFF_MAX seconds) or is the server's Retry-After when it sends one.  It
holds the request's download slot, so the whole host backs off, not one request."""

from __future__ import annotations

import asyncio
import logging
import random
from email.utils import parsedate_to_datetime
from time import time
from typing import TYPE_CHECKING

from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from scrapy.utils.response import response_status_message

from crawler.dns import PrivateAddressError
from crawler.fetch_policy import FetchPolicy, HostPatterns, RefusedURL
from crawler.run import CrawlRun

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from scrapy.settings import BaseSettings

logger = logging.getLogger(__name__)


def retry_after_seconds(value: bytes | None) -> float | None:
    """Retry-After as seconds: a number, or an HTTP date."""
    if not value:
        return None
    text = value.decode("latin-1").strip()
    if text.isdigit():
        return float(text)
    try:
        return max(parsedate_to_datetime(text).timestamp() - time(), 0.0)
    except (TypeError, ValueError):
        return None


class BackoffRetryMiddleware(RetryMiddleware):
    def __init__(self, settings: BaseSettings) -> None:
        super().__init__(settings)
        self.backoff_base = settings.getfloat("RETRY_BACKOFF_BASE", 2.0)
        self.backoff_max = settings.getfloat("RETRY_BACKOFF_MAX", 120.0)

    def pause_for(self, request: Request, response: Response | None = None) -> float:
        retries = int(request.meta.get("retry_times", 0))
        pause = self.backoff_base * (2**retries) * (1 + random.random() / 4)
        if response is not None:
            asked = retry_after_seconds(response.headers.get("Retry-After"))
            if asked is not None:
                pause = asked
        return min(pause, self.backoff_max)

    def _will_retry(self, request: Request) -> bool:
        max_retries = request.meta.get("max_retry_times", self.max_retry_times)
        return int(request.meta.get("retry_times", 0)) < max_retries

    async def _pause(self, request: Request, seconds: float, why: str) -> None:
        if seconds <= 0:
            return
        self.crawler.stats.inc_value("sina/retry/backoff_seconds", round(seconds, 3))
        logger.debug("Retrying %s after %.1f s (%s)", request.url, seconds, why)
        await asyncio.sleep(seconds)  # Scrapy runs on the asyncio reactor

    async def process_response(self, request: Request, response: Response, spider: object = None) -> object:
        if request.meta.get("dont_retry", False) or response.status not in self.retry_http_codes:
            return response
        reason = response_status_message(response.status)
        if self._will_retry(request):
            await self._pause(request, self.pause_for(request, response), reason)
        return self._retry(request, reason) or response

    async def process_exception(self, request: Request, exception: Exception, spider: object = None) -> object:
        if not isinstance(exception, self.exceptions_to_retry) or request.meta.get("dont_retry", False):
            return None
        if self._will_retry(request):
            await self._pause(request, self.pause_for(request), type(exception).__name__)
        return self._retry(request, exception)


class RefusedRequest(IgnoreRequest):
    """A request the fetch policy refuses; ``reason`` names it in stats and logs."""

    def __init__(self, reason: str, url: str) -> None:
        super().__init__(f"{reason}: {url}")
        self.reason = reason
        self.url = url


class FetchPolicyMiddleware:
    """Every request, each redirect and meta refresh of it included (they come through
    again), is checked against crawler.fetch_policy for its purpose (meta ``sina_fetch``)
    before anything else sees it, robots.txt included.  A refused redirect is
    ``offsite_redirect``; a refused first request is named by the policy's reason."""

    def __init__(self, policy: FetchPolicy) -> None:
        self.policy = policy

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> FetchPolicyMiddleware:
        output = CrawlRun.of(crawler).output
        return cls(FetchPolicy(image_hosts=HostPatterns.of(output.image_hosts)))

    def process_request(self, request: Request) -> None:
        try:
            hostname = self.policy.check(request.url, request.meta.get("sina_fetch")).hostname
        except RefusedURL as refused:
            redirected = bool(request.meta.get("redirect_urls"))
            raise RefusedRequest("offsite_redirect" if redirected else refused.reason, request.url) from None
        # The downloader connects where urllib's parse of the URL says: it must agree.
        if (urlparse_cached(request).hostname or "") != hostname:
            raise RefusedRequest("ambiguous_url", request.url)


class PublicAddressMiddleware:
    """A request that goes straight to its host (no proxy) is refused as
    ``private_address`` when the host's name resolves to an address that is not public.
    The crawl's resolver (crawler.dns) refuses such names anyway; asking it here first
    gives the refusal its name, and no retry.  Runs after HttpProxyMiddleware, which
    decides whether a proxy is used (behind one, the proxy resolves the name)."""

    async def process_request(self, request: Request) -> None:
        if request.meta.get("proxy"):
            return
        host = urlparse_cached(request).hostname
        if not host:
            return
        from twisted.internet import reactor

        try:
            await maybe_deferred_to_future(reactor.resolver.getHostByName(host))  # type: ignore[attr-defined]
        except PrivateAddressError:
            raise RefusedRequest("private_address", request.url) from None
        except Exception:  # any other lookup failure is the download's to report
            return
