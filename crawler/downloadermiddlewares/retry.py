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
from scrapy.utils.response import response_status_message

if TYPE_CHECKING:
    from scrapy import Request
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
