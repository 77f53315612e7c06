"""A worker's side of a cluster: scrapy-redis's Scheduler over the shared queue, taking
no more articles than it can fetch at once, and telling the coordinator what it holds.

scrapy-redis removes a request from the queue when a worker pops it, with no
acknowledgement.  So each worker keeps a heartbeat key (``<cluster>:worker:<id>``, which
expires HEARTBEAT_TTL seconds after its last beat) holding the number of articles it has
popped and not yet answered; the coordinator pushes again what is unanswered only when
no live worker holds anything (crawler.cluster.coordinator).

Invariants: a worker holds at most CONCURRENT_REQUESTS_PER_DOMAIN articles (so a killed
worker loses little and idle workers find work); what it schedules itself (retries,
redirects of an article it holds) stays in this process, never on the shared queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections import deque
from typing import TYPE_CHECKING, Any

import redis
from scrapy_redis.scheduler import Scheduler

from crawler.cluster.protocol import HEARTBEAT_SECONDS, HEARTBEAT_TTL, ClusterKeys

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

# How often an idle worker looks at the shared queue (Scrapy's own idle heartbeat is 5 s).
POLL_SECONDS = 0.05


class HeldArticles:
    """The articles this worker has taken and not answered, said to Redis every
    HEARTBEAT_SECONDS; ``room`` says whether it may take one more."""

    def __init__(self, client: redis.Redis, keys: ClusterKeys, capacity: int) -> None:
        self.client = client
        self.key = keys.worker(f"{socket.gethostname()}-{os.getpid()}")
        self.capacity = max(1, capacity)
        self.publishids: set[str] = set()
        self.taking = True  # False once the worker stops taking work (its coordinator left)
        self._beating: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.beat()
        self._beating = asyncio.ensure_future(self._beat_forever())

    @property
    def room(self) -> bool:
        return self.taking and len(self.publishids) < self.capacity

    def took(self, publishid: str) -> None:
        self.publishids.add(publishid)
        self.beat()  # before the download: a coordinator must never see it held by no one

    def answered(self, publishid: str) -> None:
        self.publishids.discard(publishid)

    def beat(self) -> None:
        with contextlib.suppress(redis.RedisError):
            self.client.set(self.key, len(self.publishids), ex=HEARTBEAT_TTL)

    async def _beat_forever(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            self.beat()

    def stop(self) -> None:
        if self._beating is not None:
            self._beating.cancel()
            self._beating = None
        with contextlib.suppress(redis.RedisError):
            self.client.delete(self.key)


class WorkerScheduler(Scheduler):  # type: ignore[misc]  # scrapy_redis ships no type information
    """scrapy-redis's Scheduler, popping from the shared queue only while the worker has
    room (``spider.held``), and looking at it every POLL_SECONDS while idle."""

    crawler: Crawler
    local: deque[Request]
    held: HeldArticles
    _watching: asyncio.Task[None] | None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> WorkerScheduler | UnreachableScheduler:
        try:
            scheduler: WorkerScheduler = super().from_crawler(crawler)
        except redis.RedisError as exc:  # scrapy-redis pings the server here
            # The spider opens all the same, finds Redis unreachable and closes with
            # cluster_unavailable (one line, no traceback, as a coordinator does).
            logger.debug("Cluster Redis not reachable when the scheduler starts: %s", exc)
            return UnreachableScheduler()
        scheduler.crawler = crawler
        return scheduler

    def open(self, spider: Any) -> None:
        super().open(spider)
        self.local = deque()
        self.held = spider.held
        self._watching = asyncio.ensure_future(self._watch())

    def close(self, reason: str) -> None:
        if self._watching is not None:
            self._watching.cancel()
            self._watching = None
        super().close(reason)

    def enqueue_request(self, request: Request) -> bool:
        # Retries and redirects of an article this worker holds stay here: the coordinator
        # counts it as held by this worker until it answers.
        self.local.append(request)
        if self.stats:
            self.stats.inc_value("scheduler/enqueued/memory")
        return True

    def next_request(self) -> Request | None:
        if self.local:
            if self.stats:
                self.stats.inc_value("scheduler/dequeued/memory")
            return self.local.popleft()
        try:
            return self._take()
        except redis.RedisError as exc:
            logger.warning("Cluster queue not readable: %s", exc)
            return None

    def has_pending_requests(self) -> bool:
        return bool(self.local)  # the shared queue is the coordinator's, watched by _watch

    def _take(self) -> Request | None:
        if not self.held.room:
            return None
        request: Request | None = super().next_request()
        if request is not None:
            self.held.took(request.cb_kwargs["listing"].publishid)
        return request

    async def _watch(self) -> None:
        """Scrapy asks the scheduler for work after each response, and every 5 s when idle:
        an idle worker must notice new work sooner than that."""
        while True:
            await asyncio.sleep(POLL_SECONDS)
            if not self.held.room:
                continue
            try:
                request = self._take()
            except redis.RedisError as exc:
                logger.warning("Cluster queue not readable: %s", exc)
                continue
            if request is not None and self.crawler.engine is not None:
                self.crawler.engine.crawl(request)  # queued here, fetched at once


class UnreachableScheduler:
    """The scheduler of a worker whose Redis could not be reached (Scrapy's scheduler
    interface): it holds nothing, so that the spider opens and closes with
    ``cluster_unavailable``."""

    def open(self, spider: Any) -> None:
        pass

    def close(self, reason: str) -> None:
        pass

    def has_pending_requests(self) -> bool:
        return False

    def enqueue_request(self, request: Request) -> bool:
        return False

    def next_request(self) -> Request | None:
        return None
