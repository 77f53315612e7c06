"""One polite budget for a whole cluster: at most SINA_HOST_RATE requests per second to
each host, over every process of the cluster together, evenly spaced
(crawler.cluster.budget), so adding machines never multiplies the load on Sina.  Image
requests (HEXO_IMAGES=local) are spaced by SINA_IMAGE_HOST_RATE instead, as one process
spaces them on its own (crawler.downloadermiddlewares.imagerate).

Only with SINA_REDIS_URL; a crawl on its own keeps Scrapy's per-process throttling
(DOWNLOAD_DELAY, AutoThrottle, CONCURRENT_REQUESTS_PER_DOMAIN), which this adds to.  A
request waits here for its slot before it goes on to its download slot.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from scrapy.exceptions import NotConfigured
from scrapy.utils.httpobj import urlparse_cached

from crawler.cluster.protocol import ClusterKeys
from crawler.config import Config
from crawler.net.fetch_policy import IMAGE

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.statscollectors import StatsCollector

    from crawler.cluster.budget import HostBudget


class SharedHostRateMiddleware:
    def __init__(self, budget: HostBudget, stats: StatsCollector | None, images: HostBudget | None = None) -> None:
        self.budget = budget
        self.images = images or budget  # the budget of image requests
        self.stats = stats

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> SharedHostRateMiddleware:
        cluster = Config.of(crawler).cluster
        if cluster is None:
            # A crawl on its own: not a problem, so no message (Scrapy logs one as a WARNING).
            raise NotConfigured
        # Imported here: redis is the `cluster` extra, needed only with SINA_REDIS_URL.
        import redis

        from crawler.cluster.budget import HostBudget

        client = redis.Redis.from_url(cluster.redis_url, socket_connect_timeout=5, socket_timeout=10)
        prefix, image_rate = ClusterKeys(cluster.name).rate, Config.of(crawler).output.image_host_rate
        return cls(HostBudget(client, prefix, cluster.host_rate), crawler.stats, HostBudget(client, prefix, image_rate))

    async def process_request(self, request: Request) -> None:
        budget = self.images if request.meta.get("sina_fetch") == IMAGE else self.budget
        wait = budget.reserve(urlparse_cached(request).hostname or "")
        if wait > 0:
            if self.stats is not None:
                self.stats.inc_value("sina/cluster/rate_waits")
            await asyncio.sleep(wait)
