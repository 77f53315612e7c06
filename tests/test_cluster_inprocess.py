"""The cluster's Redis side in this process, for the fast loop: the coordinator (lease,
shared queue, answers, lost work), a worker's scheduler and heartbeat, the worker
spider's wait for its coordinator, and the run opening a cluster, all over one in-memory
Redis (tests/support/fake_redis.py) whose clock the test moves.  What needs a real
redis-server (the budget's Lua script, several processes) stays in tests/test_cluster.py
and tests/test_e2e_cluster.py (marker ``redis``)."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar, cast

import pytest
import redis
import scrapy
from scrapy import Request, signals
from scrapy.exceptions import CloseSpider
from scrapy.utils.test import get_crawler

from crawler.cluster import coordinator as coordinator_module
from crawler.cluster import worker as worker_module
from crawler.cluster.budget import HostBudget
from crawler.cluster.coordinator import LEASE_SECONDS, LOST_AFTER, ClusterError, Coordinator, redis_address
from crawler.cluster.protocol import HEARTBEAT_TTL, ClusterKeys, item_answer, project_version, skipped_answer
from crawler.cluster.worker import HeldArticles, UnreachableScheduler, WorkerScheduler
from crawler.extensions.runstate import CrawlRun, RunState
from crawler.sina.roll_api import RollItem, roll_item
from crawler.spiders import sina_finance_worker
from crawler.spiders.sina_finance import SinaFinanceSpider
from crawler.spiders.sina_finance_worker import SinaFinanceWorkerSpider
from crawler.spiders.sina_requests import article_request
from tests.conftest import RECORDED
from tests.support import fake_redis
from tests.support.components import output_settings
from tests.support.fake_redis import FakeServer
from tests.support.posts import an_article
from tests.support.settings import own_settings

T = TypeVar("T")
CLUSTER = "w"
KEYS = ClusterKeys(CLUSTER)
ROLL = json.loads((RECORDED / "feed.mix.roll.get_pageid153_lid2516_page1.trimmed.json").read_bytes())


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> FakeServer:
    return fake_redis.install(monkeypatch)


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


async def _turns(count: int = 5) -> None:
    """Let the loop's other tasks (renewal, heartbeat, watch) run ``count`` times."""
    for _ in range(count):
        await asyncio.sleep(0)


def _crawler_settings(tmp_path: Path, **settings: Any) -> dict[str, Any]:
    return own_settings(
        {
            **output_settings(tmp_path),
            "SINA_PARSE_WORKERS": 0,
            "SINA_REDIS_URL": "redis://fake:6379/0",
            "SINA_CLUSTER": CLUSTER,
            **settings,
        }
    )


def _writer(tmp_path: Path, **settings: Any) -> SinaFinanceSpider:
    """A coordinating sina_finance spider (its requests' callbacks), not opened."""
    crawler = get_crawler(SinaFinanceSpider, _crawler_settings(tmp_path, **settings))
    spider = SinaFinanceSpider.from_crawler(crawler, sections="china")
    crawler.spider = spider
    return spider


def _worker(tmp_path: Path, **settings: Any) -> SinaFinanceWorkerSpider:
    crawler = get_crawler(SinaFinanceWorkerSpider, _crawler_settings(tmp_path, **settings))
    assert crawler.stats is not None
    crawler.stats.open_spider()
    spider = SinaFinanceWorkerSpider.from_crawler(crawler, sections="china")
    crawler.spider = spider
    return spider


def _listed(count: int) -> list[RollItem]:
    return [roll_item(item) for item in ROLL["result"]["data"][:count]]


def _articles(spider: SinaFinanceSpider, count: int) -> list[tuple[str, scrapy.Request]]:
    """(publishid, request) of the first ``count`` articles of a recorded roll page."""
    section = spider.by_id["china"]
    return [
        (
            entry.publishid,
            article_request(entry, section, "clean", callback=spider.parse_article, errback=spider.article_failed),
        )
        for entry in _listed(count)
    ]


def _opened(spider: SinaFinanceSpider, run_id: str = "run-1") -> Coordinator:
    coordinator = Coordinator("redis://fake:6379/0", KEYS, project_version(), run_id)
    coordinator.open(spider)
    return coordinator


# --- the coordinator ------------------------------------------------------------------------


def test_a_coordinator_takes_the_lease_and_starts_a_fresh_run(tmp_path: Path, server: FakeServer) -> None:
    client = server.client()
    client.rpush(KEYS.results, b"an answer for a dead coordinator")
    client.sadd(KEYS.dupefilter, b"a fingerprint of its run")
    client.execute_command("ZADD", KEYS.requests, 0, b"a request of its run")
    coordinator = _opened(_writer(tmp_path), "run-1")
    assert server.connected[-1] == ("redis://fake:6379/0", {"socket_connect_timeout": 5, "socket_timeout": 10})
    assert client.exists(KEYS.results, KEYS.dupefilter, KEYS.requests) == 0
    assert (client.get(KEYS.version), client.get(KEYS.run)) == (project_version().encode(), b"run-1")
    assert client.get(KEYS.coordinator) is not None and server.ttl(KEYS.coordinator) == LEASE_SECONDS
    assert coordinator.finished and not coordinator.lease_lost

    with pytest.raises(ClusterError) as second:
        _opened(_writer(tmp_path / "other"), "run-2")
    assert (second.value.reason, second.value.detail) == ("cluster_locked", "another coordinator holds cluster 'w'")
    assert str(second.value) == "cluster_locked: another coordinator holds cluster 'w'"
    assert client.get(KEYS.run) == b"run-1"  # the second one changed nothing


def test_a_coordinator_that_cannot_reach_redis_says_where_without_the_password(
    tmp_path: Path, server: FakeServer
) -> None:
    server.down = True
    coordinator = Coordinator("redis://:secret@fake:6379/0", KEYS, project_version(), "run-1")
    with pytest.raises(ClusterError) as refused:
        coordinator.open(_writer(tmp_path))
    assert refused.value.reason == "cluster_unavailable"
    assert refused.value.detail.startswith("cannot reach Redis at redis://***@fake:6379/0: Error 111")
    assert "secret" not in str(refused.value)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:pw@host:6379/0", "redis://***@host:6379/0"),
        ("rediss://user:pw@host/1", "rediss://***@host/1"),
        ("redis://user:p@ss@host/1", "redis://***@host/1"),  # an @ in the password: the last one ends it
        ("redis://host:6379/0", "redis://host:6379/0"),
        ("unix:///run/redis.sock", "unix:///run/redis.sock"),
    ],
)
def test_a_redis_address_is_logged_without_its_password(url: str, shown: str) -> None:
    assert redis_address(url) == shown


def test_an_article_is_pushed_once_and_taken_back_by_priority(tmp_path: Path, server: FakeServer) -> None:
    spider = _writer(tmp_path)
    coordinator = _opened(spider)
    (low_id, low), (high_id, high) = _articles(spider, 2)
    high = high.replace(priority=5)
    assert coordinator.push(low, low_id, "china") and coordinator.push(high, high_id, "china")
    assert not coordinator.push(low.replace(), low_id, "china")  # the same page again: the dupefilter says so
    assert server.client().zcard(KEYS.requests) == 2 and set(coordinator.unanswered) == {low_id, high_id}
    assert coordinator.unanswered[low_id].section_id == "china" and not coordinator.finished

    taken = coordinator.take()
    assert taken is not None and taken.url == high.url and taken.priority == 5
    assert taken.callback == spider.parse_article and taken.cb_kwargs["listing"].publishid == high_id
    assert coordinator.fetching_here == {high_id}
    second = coordinator.take()
    assert second is not None and second.url == low.url
    assert coordinator.take() is None and coordinator.fetching_here == {high_id, low_id}


def test_answers_are_read_in_order_and_counted_once(
    tmp_path: Path, server: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    coordinator = _opened(_writer(tmp_path))
    post = an_article()
    worker = server.client()
    worker.rpush(KEYS.results, item_answer(post), b"{not json", skipped_answer("p2", "china", "http_404", "u", "d"))
    first = coordinator.answers(most=1)
    assert [answer.item for answer in first] == [post]
    (skipped,) = coordinator.answers()
    assert (skipped.publishid, skipped.section, skipped.reason, skipped.item) == ("p2", "china", "http_404", None)
    assert "Cluster answer not understood, dropped: " in caplog.text
    assert coordinator.answers() == [] and worker.llen(KEYS.results) == 0

    spider = coordinator.queue.spider
    ((publishid, request),) = _articles(spider, 1)
    coordinator.push(request, publishid, "china")
    coordinator.fetching_here.add(publishid)
    assert coordinator.answered(publishid) and coordinator.finished and not coordinator.fetching_here
    assert not coordinator.answered(publishid)  # a second answer (a slow first worker) does not count


def test_workers_holding_counts_only_live_heartbeats(tmp_path: Path, server: FakeServer) -> None:
    coordinator = _opened(_writer(tmp_path))
    client = server.client()
    client.set(KEYS.worker("a-1"), 2, ex=HEARTBEAT_TTL)
    client.set(KEYS.worker("b-2"), 1, ex=HEARTBEAT_TTL + 5)
    client.set(KEYS.worker("c-3"), b"garbled", ex=HEARTBEAT_TTL)
    client.set("other:worker:d-4", 7)  # another cluster's worker
    assert coordinator.workers_holding() == 3
    server.advance(HEARTBEAT_TTL)  # a-1 went silent (killed)
    assert coordinator.workers_holding() == 1


@dataclass
class _Clock:
    now: float = 100.0

    def monotonic(self) -> float:
        return self.now


def test_unanswered_articles_are_pushed_again_once_then_given_up(
    tmp_path: Path, server: FakeServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    clock = _Clock()
    monkeypatch.setattr(coordinator_module, "time", SimpleNamespace(monotonic=clock.monotonic))
    coordinator = _opened(_writer(tmp_path))
    assert coordinator.recover() == (0, [])  # nothing pushed: nothing to recover
    ((publishid, request),) = _articles(coordinator.queue.spider, 1)
    coordinator.push(request, publishid, "china")
    assert coordinator.recover() == (0, [])  # still queued
    assert coordinator.take() is not None
    assert coordinator.recover() == (0, [])  # fetched here
    coordinator.fetching_here.clear()  # fetched here, say, and its answer about to be read
    client = server.client()
    client.set(KEYS.worker("a-1"), 1, ex=HEARTBEAT_TTL)
    assert coordinator.recover() == (0, [])  # a live worker holds an article
    server.advance(HEARTBEAT_TTL)
    client.rpush(KEYS.results, b"an answer")
    assert coordinator.recover() == (0, [])  # an answer waits
    client.delete(KEYS.results)

    assert coordinator.recover() == (0, [])  # drained from now on
    clock.now += LOST_AFTER / 2
    assert coordinator.recover() == (0, [])  # not for long enough yet
    clock.now += LOST_AFTER / 2
    assert coordinator.recover() == (1, [])
    assert client.zcard(KEYS.requests) == 1 and coordinator.unanswered[publishid].pushes == 2
    assert f"Article {request.url} was lost with a worker; pushed again" in caplog.text

    assert coordinator.take() is not None
    coordinator.fetching_here.clear()  # lost again
    assert coordinator.recover() == (0, [])
    clock.now += LOST_AFTER
    pushed_again, given_up = coordinator.recover()
    assert pushed_again == 0 and [pushed.request.url for pushed in given_up] == [request.url]
    assert coordinator.lost == given_up and coordinator.finished and client.zcard(KEYS.requests) == 0


def test_closing_gives_up_the_queue_and_the_lease(tmp_path: Path, server: FakeServer) -> None:
    spider = _writer(tmp_path)
    coordinator = _opened(spider)
    ((publishid, request),) = _articles(spider, 1)
    coordinator.push(request, publishid, "china")
    coordinator.close()
    client = server.client()
    assert client.exists(KEYS.run, KEYS.dupefilter, KEYS.requests, KEYS.coordinator) == 0
    assert client.get(KEYS.version) == project_version().encode()  # what a late worker still checks
    coordinator.close()  # twice: nothing more to do
    _opened(_writer(tmp_path / "next"), "run-2")  # the cluster is free


def test_a_coordinator_whose_lease_was_lost_leaves_the_new_owner_s_keys(tmp_path: Path, server: FakeServer) -> None:
    coordinator = _opened(_writer(tmp_path))
    server.advance(LEASE_SECONDS)  # it stalled: the lease expired
    successor = _opened(_writer(tmp_path / "successor"), "run-2")
    coordinator.lease_lost = True
    coordinator.close()
    client = server.client()
    assert client.get(KEYS.run) == b"run-2" and client.exists(KEYS.coordinator) == 1
    successor.close()
    assert client.exists(KEYS.coordinator) == 0


def test_the_lease_is_renewed_until_it_is_lost(
    tmp_path: Path, server: FakeServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(coordinator_module, "RENEW_SECONDS", 0)
    coordinator = _opened(_writer(tmp_path))

    async def scenario() -> None:
        coordinator.keep_lease()
        server.advance(LEASE_SECONDS - 1)
        await _turns()
        assert server.ttl(KEYS.coordinator) == LEASE_SECONDS  # renewed in full
        server.down = True
        await _turns()
        assert "Cluster lease of 'w' not renewed: Error 111" in caplog.text and not coordinator.lease_lost
        server.down = False
        server.client().set(KEYS.coordinator, b"another coordinator's token")  # it expired and was taken
        await _turns()
        assert coordinator.lease_lost and "Cluster lease of 'w' lost" in caplog.text
        assert coordinator._renewal is not None and coordinator._renewal.done()
        coordinator.close()
        assert server.client().get(KEYS.coordinator) == b"another coordinator's token"

    _run(scenario())


def test_closing_stops_the_renewal(tmp_path: Path, server: FakeServer) -> None:
    coordinator = _opened(_writer(tmp_path))

    async def scenario() -> None:
        coordinator.keep_lease()
        renewal = coordinator._renewal
        assert renewal is not None
        await _turns(1)
        coordinator.close()
        await _turns(1)
        assert renewal.cancelled() and coordinator._renewal is None

    _run(scenario())


# --- a worker's scheduler and heartbeat -------------------------------------------------------


# scrapy-redis 0.9.1's Scheduler (the worker's base class) calls what Scrapy 2.19 deprecates:
# stats.inc_value(spider=…) on each request taken from the shared queue, and Spider.log when it
# opens on a queue that holds requests.  Their warnings, not this project's.
_SCRAPY_REDIS = re.escape("Passing a 'spider' argument to StatsCollector.inc_value() is deprecated")
scrapy_redis_warnings = pytest.mark.filterwarnings(f"ignore:{_SCRAPY_REDIS}:scrapy.exceptions.ScrapyDeprecationWarning")
scrapy_redis_log_warning = pytest.mark.filterwarnings(
    r"ignore:Spider\.log\(\) is deprecated:scrapy.exceptions.ScrapyDeprecationWarning"
)


@dataclass
class _Engine:
    crawled: list[scrapy.Request] = field(default_factory=list)

    def crawl(self, request: scrapy.Request) -> None:
        self.crawled.append(request)


def _heartbeat(server: FakeServer, held: HeldArticles) -> bytes | None:
    return server.client().get(held.key)


@scrapy_redis_warnings
@scrapy_redis_log_warning
def test_a_worker_takes_no_more_articles_than_it_can_fetch(tmp_path: Path, server: FakeServer) -> None:
    coordinator = _opened(_writer(tmp_path))
    pushed = _articles(coordinator.queue.spider, 3)
    for publishid, request in pushed:
        coordinator.push(request, publishid, "china")
    worker = _worker(tmp_path / "worker", CONCURRENT_REQUESTS_PER_DOMAIN=2)
    stats = worker.crawler.stats
    assert stats is not None

    async def scenario() -> None:
        scheduler = WorkerScheduler.from_crawler(worker.crawler)
        assert isinstance(scheduler, WorkerScheduler)
        scheduler.open(worker)
        first, second = scheduler.next_request(), scheduler.next_request()
        assert first is not None and second is not None and scheduler.next_request() is None  # full
        assert first.callback == worker.parse_article  # the worker's own callback, by name
        held = {request.cb_kwargs["listing"].publishid for request in (first, second)}
        assert worker.held.publishids == held and _heartbeat(server, worker.held) == b"2"
        assert not scheduler.has_pending_requests()  # the shared queue is watched, not pending here

        retry = first.replace(dont_filter=True)
        assert scheduler.enqueue_request(retry) and scheduler.has_pending_requests()
        assert scheduler.next_request() is retry  # its own retries stay here, taken first
        assert stats.get_value("scheduler/enqueued/memory") == stats.get_value("scheduler/dequeued/memory") == 1

        worker.held.answered(first.cb_kwargs["listing"].publishid)
        third = scheduler.next_request()
        assert third is not None
        assert {request.url for request in (first, second, third)} == {request.url for _, request in pushed}
        assert scheduler.next_request() is None and server.client().zcard(KEYS.requests) == 0
        scheduler.close("finished")

    _run(scenario())


@scrapy_redis_warnings
def test_an_idle_worker_notices_new_work_at_once(
    tmp_path: Path, server: FakeServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(worker_module, "POLL_SECONDS", 0)
    coordinator = _opened(_writer(tmp_path))
    (first_id, first), (second_id, second) = _articles(coordinator.queue.spider, 2)
    worker = _worker(tmp_path / "worker", CONCURRENT_REQUESTS_PER_DOMAIN=1)
    engine = _Engine()
    worker.crawler.engine = cast(Any, engine)

    async def scenario() -> None:
        scheduler = WorkerScheduler.from_crawler(worker.crawler)
        assert isinstance(scheduler, WorkerScheduler)
        scheduler.open(worker)
        await _turns()
        assert engine.crawled == []
        coordinator.push(first, first_id, "china")
        coordinator.push(second, second_id, "china")
        await _turns()
        assert [request.url in (first.url, second.url) for request in engine.crawled] == [True]  # as many as it fetches
        assert server.client().zcard(KEYS.requests) == 1
        server.down = True
        worker.held.publishids.clear()
        await _turns()
        assert "Cluster queue not readable: Error 111" in caplog.text and len(engine.crawled) == 1
        assert scheduler.next_request() is None  # said, not raised
        server.down = False
        watching = scheduler._watching
        scheduler.close("finished")
        await _turns(1)
        assert watching is not None and watching.cancelled() and server.client().zcard(KEYS.requests) == 1

    _run(scenario())


def test_a_worker_without_its_redis_gets_a_scheduler_that_holds_nothing(tmp_path: Path, server: FakeServer) -> None:
    """So that the spider opens, finds Redis unreachable and closes with cluster_unavailable."""
    worker = _worker(tmp_path)
    server.down = True
    scheduler = WorkerScheduler.from_crawler(worker.crawler)
    assert isinstance(scheduler, UnreachableScheduler)
    assert not scheduler.has_pending_requests()
    assert scheduler.enqueue_request(Request("https://finance.sina.com.cn/")) is False
    assert scheduler.next_request() is None


def test_the_heartbeat_says_what_a_worker_holds_until_it_stops(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker_module, "HEARTBEAT_SECONDS", 0)
    held = HeldArticles(cast(redis.Redis, server.client()), KEYS, capacity=0)
    assert held.capacity == 1 and held.key.startswith("w:worker:")

    async def scenario() -> None:
        held.start()
        assert _heartbeat(server, held) == b"0" and server.ttl(held.key) == HEARTBEAT_TTL
        assert held.room
        held.took("p1")
        assert _heartbeat(server, held) == b"1" and not held.room  # said before the download
        server.advance(HEARTBEAT_TTL - 0.5)
        await _turns()
        assert server.ttl(held.key) == HEARTBEAT_TTL  # beaten again
        server.down = True
        await _turns()  # a beat that fails is not an error: the next one may pass
        server.down = False
        held.answered("p1")
        held.answered("p1")
        assert held.room
        held.taking = False
        assert not held.room  # its coordinator left: it takes nothing more
        beating = held._beating
        held.stop()
        await _turns(1)
        assert beating is not None and beating.cancelled() and _heartbeat(server, held) is None
        held.stop()  # twice: nothing more to do

    _run(scenario())


# --- the worker spider waits for its coordinator -----------------------------------------------


async def _started(worker: SinaFinanceWorkerSpider) -> list[Any]:
    return [output async for output in worker.start()]


def test_a_worker_with_no_coordinator_stops_after_its_wait(
    tmp_path: Path, server: FakeServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    monkeypatch.setattr(sina_finance_worker, "WATCH_SECONDS", 0)
    worker = _worker(tmp_path, SINA_WORKER_WAIT=0.001)
    assert worker.wait == 0.001 and worker.keys == KEYS
    assert _run(_started(worker)) == []
    assert "Working for cluster 'w'" in caplog.text
    assert "Cluster 'w' has no coordinator (none came): stopping" in caplog.text
    assert not worker.held.taking and _heartbeat(server, worker.held) == b"0"


def test_a_worker_works_while_its_coordinator_does(
    tmp_path: Path, server: FakeServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    monkeypatch.setattr(sina_finance_worker, "WATCH_SECONDS", 0)
    coordinator = _opened(_writer(tmp_path))
    worker = _worker(tmp_path / "worker", SINA_WORKER_WAIT=0.001)

    async def scenario() -> None:
        started = asyncio.ensure_future(_started(worker))
        await asyncio.sleep(0.01)  # ten times its wait: it stays while a coordinator is there
        assert not started.done() and worker.held.taking
        coordinator.close()
        assert await started == []
        assert not worker.held.taking

    _run(scenario())
    assert "Cluster 'w' has no coordinator: stopping" in caplog.text


def test_a_worker_of_another_version_does_not_work(
    tmp_path: Path, server: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.client().set(KEYS.version, "0.0.1-older")
    worker = _worker(tmp_path)
    with pytest.raises(CloseSpider) as closed:
        _run(_started(worker))
    assert closed.value.reason == "version_mismatch"
    assert f"Not working: the coordinator runs version 0.0.1-older, this worker {project_version()}" in caplog.text


def test_a_worker_whose_redis_fails_closes(
    tmp_path: Path, server: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    worker = _worker(tmp_path)
    server.down = True
    with pytest.raises(CloseSpider) as closed:
        _run(_started(worker))
    assert (
        closed.value.reason == "cluster_unavailable"
        and "cannot reach the cluster's Redis at " in caplog.text
        and "Error 111" in caplog.text
    )


def test_a_closed_worker_stops_its_heartbeat(tmp_path: Path, server: FakeServer) -> None:
    worker = _worker(tmp_path)
    worker.held.beat()
    assert _heartbeat(server, worker.held) == b"0"
    _run(worker.crawler.signals.send_catch_log_async(signals.spider_closed, spider=worker, reason="finished"))
    assert _heartbeat(server, worker.held) is None


# --- the run opens a cluster -----------------------------------------------------------------


def test_a_run_coordinates_its_cluster_and_a_second_one_is_refused(
    tmp_path: Path, server: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    url = {"SINA_REDIS_URL": "redis://:secret@fake:6379/0"}
    first, second = _writer(tmp_path / "one", **url), _writer(tmp_path / "two", **url)
    first_run, second_run = CrawlRun.of(first.crawler), CrawlRun.of(second.crawler)

    async def scenario() -> None:
        opened = RunState.from_crawler(first.crawler)
        await first_run.begin_crawl(first)  # what the spider's start() does first
        assert isinstance(first_run.cluster, Coordinator) and first_run.is_open
        assert server.client().get(KEYS.run) == first_run.run_id.encode()
        with pytest.raises(CloseSpider) as closed:
            await second_run.begin_crawl(second)
        assert closed.value.reason == "cluster_locked" and second_run.cluster is None
        opened.spider_closed(first, "finished")
        assert server.client().exists(KEYS.coordinator, KEYS.run) == 0
        second_run.close()
        first_run.close()

    _run(scenario())
    assert "Coordinating cluster 'w' at redis://***@fake:6379/0" in caplog.text
    assert "Not crawling: another coordinator holds cluster 'w'" in caplog.text
    assert "secret" not in caplog.text


# --- the host budget's Python side -------------------------------------------------------------


@dataclass
class _Script:
    """What register_script gives: called with the keys and arguments, answers as Redis does."""

    answers: list[bytes]
    calls: list[tuple[list[str], list[str]]] = field(default_factory=list)

    def __call__(self, keys: list[str], args: list[str]) -> bytes:
        self.calls.append((keys, args))
        return self.answers.pop(0)


@dataclass
class _ScriptClient:
    script: _Script
    registered: list[str] = field(default_factory=list)

    def register_script(self, text: str) -> _Script:
        self.registered.append(text)
        return self.script


def test_a_host_budget_reserves_the_host_s_next_slot() -> None:
    script = _Script([b"0.125000", b"0.000000", b"-0.000001"])
    client = _ScriptClient(script)
    budget = HostBudget(cast(redis.Redis, client), "w:rate", 8.0)
    assert len(client.registered) == 1 and "redis.call('TIME')" in client.registered[0]
    assert budget.reserve("finance.sina.com.cn") == 0.125
    assert budget.reserve("n.sinaimg.cn") == 0.0
    assert budget.reserve("n.sinaimg.cn") == 0.0  # a slot already passed: no negative wait
    assert script.calls[0] == (["w:rate:finance.sina.com.cn"], ["0.125"])
    assert [keys for keys, _ in script.calls][1:] == [["w:rate:n.sinaimg.cn"]] * 2


@pytest.mark.parametrize("rate", [0.0, -1.0, float("nan")])
def test_a_host_budget_needs_a_rate(rate: float) -> None:
    with pytest.raises(ValueError, match="a rate is more than 0 requests per second"):
        HostBudget(cast(redis.Redis, _ScriptClient(_Script([]))), "w:rate", rate)
