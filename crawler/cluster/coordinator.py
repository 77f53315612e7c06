"""The coordinator's side of a cluster: the writer of the posts (docs/cluster.md).

It holds the cluster's lease (redis-py's Lock, renewed; one coordinator per cluster name,
and a dead one's lease expires), pushes article requests onto scrapy-redis's shared queue
through scrapy-redis's dupefilter, takes some back to fetch itself, and reads the answers
workers send.  It remembers every article it pushed until it has its answer: when the
queue is empty, no answer is waiting and no worker says it holds an article, the ones
still unanswered were lost with a worker that died, and are pushed again, once.  What is
still missing after that is left for the next run, as any failed article.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import redis
from redis.exceptions import LockNotOwnedError
from redis.lock import Lock
from scrapy_redis.dupefilter import RFPDupeFilter
from scrapy_redis.queue import PriorityQueue

from crawler.cluster.protocol import Answer, ClusterKeys, read_answer

if TYPE_CHECKING:
    from scrapy import Request, Spider

logger = logging.getLogger(__name__)

LEASE_SECONDS = 30.0  # a coordinator that stops renewing loses the cluster after this long
RENEW_SECONDS = 10.0
# The queue must look drained this long (two heartbeats of every worker) before what is
# unanswered counts as lost.
LOST_AFTER = 2.0


class ClusterError(Exception):
    """The cluster cannot be used; ``reason`` is the crawl's finish reason."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass
class Pushed:
    request: Request
    section_id: str
    pushes: int = 1


@dataclass
class Coordinator:
    url: str
    keys: ClusterKeys
    version: str
    run_id: str
    client: redis.Redis = field(init=False)
    queue: PriorityQueue = field(init=False)
    dupefilter: RFPDupeFilter = field(init=False)
    unanswered: dict[str, Pushed] = field(default_factory=dict)  # publishid -> what was pushed
    fetching_here: set[str] = field(default_factory=set)  # taken back from the queue, in flight here
    lost: list[Pushed] = field(default_factory=list)  # pushed twice, never answered
    lease_lost: bool = False
    _lease: Lock | None = None
    _renewal: asyncio.Task[None] | None = None
    _drained_since: float | None = None

    def open(self, spider: Spider) -> None:
        """Connect, take the lease, start a fresh run: ClusterError when it cannot."""
        try:
            self.client = redis.Redis.from_url(self.url, socket_connect_timeout=5, socket_timeout=10)
            self.client.ping()
        except (redis.RedisError, ValueError) as exc:
            where = redis_address(self.url)
            raise ClusterError("cluster_unavailable", f"cannot reach Redis at {where}: {exc}") from exc
        lease = Lock(self.client, self.keys.coordinator, timeout=LEASE_SECONDS, blocking=False)
        if not lease.acquire(blocking=False):
            raise ClusterError("cluster_locked", f"another coordinator holds cluster {self.keys.name!r}")
        self._lease = lease
        # Requests of an earlier run (a coordinator that died) refer to its spider: gone.
        self.client.delete(self.keys.requests, self.keys.dupefilter, self.keys.results)
        self.client.set(self.keys.version, self.version)
        self.client.set(self.keys.run, self.run_id)
        self.queue = PriorityQueue(self.client, spider, self.keys.requests)
        self.dupefilter = RFPDupeFilter(self.client, self.keys.dupefilter)

    def keep_lease(self) -> None:
        """Renew the lease every RENEW_SECONDS until close (a task of the running loop)."""
        self._renewal = asyncio.ensure_future(self._renew())

    async def _renew(self) -> None:
        while self._lease is not None:
            await asyncio.sleep(RENEW_SECONDS)
            if self._lease is None:
                return
            try:
                self._lease.extend(LEASE_SECONDS, replace_ttl=True)
            except LockNotOwnedError:
                # It expired (this process stalled for LEASE_SECONDS): another coordinator
                # may hold the cluster now; this one must stop (``lease_lost``).
                logger.error("Cluster lease of %r lost", self.keys.name)
                self.lease_lost = True
                return
            except redis.RedisError as exc:
                logger.error("Cluster lease of %r not renewed: %s", self.keys.name, exc)

    def close(self) -> None:
        """The run is over: workers stop, the dupefilter goes, the lease is released."""
        if self._renewal is not None:
            self._renewal.cancel()
            self._renewal = None
        if self._lease is None or self.lease_lost:  # the cluster's keys are another's now
            return
        with contextlib.suppress(redis.RedisError):
            # Whatever is still queued was given up with this run: workers must not fetch it.
            self.client.delete(self.keys.run, self.keys.dupefilter, self.keys.requests)
        with contextlib.suppress(redis.RedisError):
            self._lease.release()
        self._lease = None

    # --- articles out ---------------------------------------------------------------

    def push(self, request: Request, publishid: str, section_id: str) -> bool:
        """Put an article request on the shared queue (once a run); False when it was there."""
        if self.dupefilter.request_seen(request):
            return False
        self.queue.push(request)
        self.unanswered[publishid] = Pushed(request, section_id)
        self._drained_since = None
        return True

    def take(self) -> Request | None:
        """An article request from the shared queue, for the coordinator to fetch itself."""
        request: Request | None = self.queue.pop(0)
        if request is not None:
            self.fetching_here.add(request.cb_kwargs["listing"].publishid)
        return request

    # --- answers in -----------------------------------------------------------------

    def answers(self, most: int = 100) -> list[Answer]:
        """The answers workers sent since the last call (at most ``most``)."""
        raw: Any = self.client.lpop(self.keys.results, most) or []
        answers = []
        for data in raw:
            try:
                answers.append(read_answer(bytes(data)))
            except ValueError as exc:
                logger.warning("Cluster answer not understood, dropped: %s", exc)
        return answers

    def answered(self, publishid: str) -> bool:
        """Mark an article answered; False when it already was (or was given up): an article
        pushed again whose first worker was only slow answers twice, and only the first
        answer counts."""
        self.fetching_here.discard(publishid)
        return self.unanswered.pop(publishid, None) is not None

    # --- lost work ------------------------------------------------------------------

    def workers_holding(self) -> int:
        """Articles the live workers say they hold (a worker gone stops saying so)."""
        total = 0
        for key in self.client.scan_iter(match=self.keys.workers, count=100):
            value: Any = self.client.get(key)
            with contextlib.suppress(TypeError, ValueError):
                total += int(value or 0)
        return total

    def recover(self) -> tuple[int, list[Pushed]]:
        """When nothing is queued, held, waiting or being fetched here for LOST_AFTER
        seconds, the unanswered articles were lost: pushed again once.  Returns how many
        were pushed again, and those given up (already pushed twice; kept in ``lost``)."""
        busy = (
            not self.unanswered
            or self.fetching_here
            or len(self.queue) > 0
            or self.client.llen(self.keys.results) > 0
            or self.workers_holding() > 0
        )
        now = time.monotonic()
        if busy:
            self._drained_since = None
            return 0, []
        if self._drained_since is None:
            self._drained_since = now
            return 0, []
        if now - self._drained_since < LOST_AFTER:
            return 0, []
        self._drained_since = None
        pushed_again, given_up = 0, []
        for publishid, pushed in list(self.unanswered.items()):
            if pushed.pushes >= 2:
                given_up.append(self.unanswered.pop(publishid))
                continue
            pushed.pushes += 1
            pushed_again += 1
            self.queue.push(pushed.request)
            logger.warning("Article %s was lost with a worker; pushed again", pushed.request.url)
        self.lost += given_up
        return pushed_again, given_up

    @property
    def finished(self) -> bool:
        return not self.unanswered


def redis_address(url: str) -> str:
    """A Redis URL without its password, for a log line."""
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"  # the last @, as redis-py splits it
