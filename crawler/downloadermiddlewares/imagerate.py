"""HEXO_IMAGES=local: image requests (meta ``sina_fetch`` = image) are paced per image host,
at most SINA_IMAGE_HOST_RATE a second to each host, evenly spaced, and leave the article
hosts' pacing alone.

Invariant: two image requests to one host are dispatched from here at least
1/SINA_IMAGE_HOST_RATE seconds apart, in the order they arrived; every image request goes
to the download slot ``IMAGE_SLOT`` (DOWNLOAD_SLOTS gives it no delay of its own: the
pacing is here), and AutoThrottle does not adjust that slot's delay from their latencies.
Without a slot of their own, a post's images would queue in the article host's slot behind
AutoThrottle's delay (it starts at AUTOTHROTTLE_START_DELAY and randomises), one image per
article delay.  Image redirects come through again and are paced as images too.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from scrapy.exceptions import NotConfigured
from scrapy.utils.httpobj import urlparse_cached

from crawler.config import Config
from crawler.net.fetch_policy import IMAGE

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler

IMAGE_SLOT = "sina-images"  # the key of crawler/settings.py's DOWNLOAD_SLOTS entry


class HostPacer:
    """``reserve(host)``: the seconds to wait before one more request to host, so that the
    requests to each host are ``1/rate`` seconds apart (the first goes at once)."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        if not rate > 0:
            raise ValueError(f"a rate is more than 0 requests per second, not {rate!r}")
        self.interval = 1.0 / rate
        self.clock = clock
        self._next: dict[str, float] = {}  # host -> the earliest time of its next request

    def reserve(self, host: str) -> float:
        now = self.clock()
        start = max(now, self._next.get(host, now))
        self._next[host] = start + self.interval
        return start - now


class ImageHostRateMiddleware:
    def __init__(self, pacer: HostPacer) -> None:
        self.pacer = pacer

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ImageHostRateMiddleware:
        output = Config.of(crawler).output
        if output.images != "local":
            raise NotConfigured("HEXO_IMAGES is not 'local'")
        return cls(HostPacer(output.image_host_rate))

    async def process_request(self, request: Request) -> None:
        if request.meta.get("sina_fetch") != IMAGE:
            return
        request.meta["download_slot"] = IMAGE_SLOT
        request.meta["autothrottle_dont_adjust_delay"] = True
        wait = self.pacer.reserve(urlparse_cached(request).hostname or "")
        if wait > 0:
            await asyncio.sleep(wait)
