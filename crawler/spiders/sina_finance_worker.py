"""``scrapy crawl sina_finance_worker``: a worker of a cluster (SINA_REDIS_URL), one per
node.  It lists nothing and writes nothing: it takes article requests from the shared
queue through scrapy-redis's Scheduler, parses them as ``sina_finance`` does, and sends
each item, or why an article gave none, back to the coordinator (crawler.cluster).

It needs no browser and no posts folder, and parses with the settings that travel with
each request (the coordinator's body style).  It works only for a coordinator of its own
project version (``version_mismatch``), and stops once the articles it holds are answered
after the coordinator it served has gone, or when none has come for SINA_WORKER_WAIT
seconds.

Spider modules are all imported by ``scrapy list`` and by any crawl, so this one imports
no part of the ``cluster`` extra (redis, scrapy-redis) at the top: only ``from_crawler``
does, once it has checked they are installed (or says how to install them).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import CloseSpider
from scrapy.http import Response
from scrapy.settings import BaseSettings
from twisted.python.failure import Failure

from crawler.cluster import CLUSTER_EXTRA, missing_cluster_extra
from crawler.cluster.protocol import ClusterKeys, item_answer, project_version, skipped_answer
from crawler.config import Config, ConfigError, Section
from crawler.config.values import setting
from crawler.downloadermiddlewares.network import StopRequested
from crawler.items import PagePost
from crawler.sina.roll_api import RollItem
from crawler.spiders.articles import Skip, download_failed
from crawler.spiders.sina_finance import SinaFinanceSpider

if TYPE_CHECKING:
    import redis

    from crawler.cluster.worker import HeldArticles

WATCH_SECONDS = 0.5  # how often it looks for its coordinator


class SinaFinanceWorkerSpider(SinaFinanceSpider):
    name = "sina_finance_worker"
    writes_posts = False  # no posts folder, no state (crawler.extensions.runstate)
    keys: ClusterKeys
    client: redis.Redis
    held: HeldArticles
    wait: float  # SINA_WORKER_WAIT
    redis_at: str  # SINA_REDIS_URL without its password, for log lines

    @classmethod
    def update_settings(cls, settings: BaseSettings) -> None:
        super().update_settings(settings)
        url = settings.get("SINA_REDIS_URL")
        if not url:
            return  # from_crawler says so, plainly
        keys = ClusterKeys(str(setting(settings, "SINA_CLUSTER")))
        worker_settings: dict[str, Any] = {
            "SCHEDULER": "crawler.cluster.worker.WorkerScheduler",
            "SCHEDULER_QUEUE_CLASS": "scrapy_redis.queue.PriorityQueue",
            "SCHEDULER_QUEUE_KEY": keys.requests,
            "DUPEFILTER_CLASS": "scrapy_redis.dupefilter.RFPDupeFilter",  # scrapy-redis reads Scrapy's name
            "SCHEDULER_DUPEFILTER_KEY": keys.dupefilter,
            "SCHEDULER_PERSIST": True,  # the queue and the dupefilter are the coordinator's
            "REDIS_URL": url,
            "ITEM_PIPELINES": {},  # the coordinator writes
        }
        for name, value in worker_settings.items():
            settings.set(name, value, priority="spider")

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> SinaFinanceWorkerSpider:
        missing = missing_cluster_extra()
        if missing:
            raise ConfigError(f"sina_finance_worker is a cluster's worker, but {missing}: it needs {CLUSTER_EXTRA}")
        import redis  # the cluster extra, there as just checked

        from crawler.cluster.coordinator import redis_address
        from crawler.cluster.worker import HeldArticles

        spider: SinaFinanceWorkerSpider = super().from_crawler(crawler, *args, **kwargs)  # type: ignore[assignment]
        cluster = Config.of(crawler).cluster
        if cluster is None:
            raise ConfigError("sina_finance_worker needs SINA_REDIS_URL (the coordinator's Redis)")
        spider.keys = ClusterKeys(cluster.name)
        spider.redis_at = redis_address(cluster.redis_url)
        spider.client = redis.Redis.from_url(cluster.redis_url, socket_connect_timeout=5, socket_timeout=10)
        capacity = crawler.settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN", 4)
        spider.held = HeldArticles(spider.client, spider.keys, capacity)
        spider.wait = cluster.worker_wait
        crawler.signals.connect(spider.worker_closed, signal=signals.spider_closed)
        return spider

    async def start(self) -> AsyncIterator[Any]:
        """Lists nothing (the shared queue is the work, crawler.cluster.worker): runs while
        a coordinator does, or until SINA_WORKER_WAIT seconds pass without one."""
        self.logger.info("Working for cluster %r", self.keys.name)
        self.held.start()
        from redis import RedisError  # installed: from_crawler checked

        served, since = False, time.monotonic()
        while True:
            try:
                coordinating = self._coordinator_here()
            except RedisError as exc:
                self.logger.error("Not working: cannot reach the cluster's Redis at %s: %s", self.redis_at, exc)
                raise CloseSpider("cluster_unavailable") from exc
            if coordinating:
                served, since = True, time.monotonic()
            elif served or time.monotonic() - since >= self.wait:
                break
            await asyncio.sleep(WATCH_SECONDS)
        self.held.taking = False  # what it holds is still fetched and answered
        self.logger.info("Cluster %r has no coordinator%s: stopping", self.keys.name, "" if served else " (none came)")
        return
        yield  # an async generator that lists nothing

    def _coordinator_here(self) -> bool:
        """Whether a coordinator of this project version runs; CloseSpider for another version."""
        raw: Any = self.client.get(self.keys.version)
        version = raw.decode() if isinstance(raw, bytes) else raw
        if version is not None and version != project_version():
            self.logger.error(
                "Not working: the coordinator runs version %s, this worker %s", version, project_version()
            )
            raise CloseSpider("version_mismatch")
        return bool(self.client.exists(self.keys.coordinator))

    def worker_closed(self, spider: SinaFinanceWorkerSpider, reason: str) -> None:
        self.held.stop()

    # --- articles: answered to the coordinator, not written -------------------------------

    async def parse_article(self, response: Response, listing: RollItem, section: Section) -> AsyncIterator[PagePost]:
        outcome = await self._article_post(response, listing, section)
        if isinstance(outcome, Skip):
            answer = skipped_answer(listing.publishid, section.id, outcome.reason, outcome.url, outcome.detail)
        else:
            answer = item_answer(outcome)
        self._send(listing.publishid, answer)
        return
        yield  # items go to the coordinator, not to this process's pipelines

    def article_failed(self, failure: Failure) -> None:
        if isinstance(failure.value, StopRequested):
            return  # the worker stops: unanswered, so the coordinator pushes it again
        request = failure.request  # type: ignore[attr-defined]
        skip = download_failed(failure)
        listing, section = request.cb_kwargs["listing"], request.cb_kwargs["section"]
        self._send(listing.publishid, skipped_answer(listing.publishid, section.id, skip.reason, skip.url, skip.detail))

    def _send(self, publishid: str, answer: bytes) -> None:
        self.client.rpush(self.keys.results, answer)
        self.held.answered(publishid)
        self.crawler.stats.inc_value("sina/cluster/answers")
