"""The cluster's parts one by one (crawler.cluster, docs/cluster.md): what
workers send (pure, no Redis), its settings, and, against a real redis-server (marked
``redis``), the coordinator's lease, queue and recovery of lost work, a worker's count of
what it holds, and the shared host budget.  End to end: tests/test_e2e_cluster.py."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest
import scrapy

from crawler.cluster.protocol import ClusterKeys, item_answer, project_version, read_answer, skipped_answer
from crawler.config import Config, ConfigError
from crawler.items import ArticlePost, Post
from tests.support.posts import a_body, a_flash, an_article
from tests.support.replay_proxy import busiest_window
from tests.support.settings import project_settings

if TYPE_CHECKING:  # imported where used: redis is the optional [cluster] extra
    from crawler.cluster.coordinator import Coordinator

# --- what workers send --------------------------------------------------------------------


def _item() -> ArticlePost:
    html = '<p>正文</p><img src="https://n.sinaimg.cn/a.jpg">'
    return an_article(
        publishid="nitmeau2811260",
        docid="comos:nitmeau2811260",
        url="https://finance.sina.com.cn/china/2026-09-28/doc-initmeau2811260.shtml",
        title="标题 “引号” <b>",
        date=datetime(2026, 9, 28, 11, 2, 7, tzinfo=UTC),
        keywords=("关键词", "A股"),
        excerpt="摘要 <b>",
        categories=("金融", "新浪财经", "国内"),
        body=a_body(html, ("https://n.sinaimg.cn/a.jpg",)),
        mtime=1790600000,
        updated=datetime(2026, 9, 28, 11, 13, 20, tzinfo=UTC),
    )


def test_an_item_crosses_to_the_coordinator_unchanged() -> None:
    item = _item()
    answer = read_answer(item_answer(item))
    assert answer.item == item
    assert (answer.publishid, answer.section) == ("nitmeau2811260", "china")
    assert isinstance(answer.item, ArticlePost) and isinstance(answer.item.body.image_spans[0], tuple)
    assert answer.item.date == datetime(2026, 9, 28, 11, 2, 7, tzinfo=UTC)


@pytest.mark.parametrize("post", [a_flash(), an_article(), _item()], ids=["flash", "article", "full"])
def test_every_kind_of_post_crosses_unchanged(post: Post) -> None:
    assert read_answer(item_answer(post)).item == post


def test_every_item_field_is_sent() -> None:
    sent = json.loads(item_answer(_item()))["item"]
    assert set(sent) == {"kind"} | {field.name for field in dataclasses.fields(ArticlePost)}
    assert sent["kind"] == "article" and sent["date"] == "2026-09-28T11:02:07+00:00"


def test_a_skip_crosses_with_its_reason() -> None:
    answer = read_answer(skipped_answer("x1", "china", "http_404", "https://finance.sina.com.cn/x", "gone"))
    assert (answer.item, answer.publishid, answer.section) == (None, "x1", "china")
    assert (answer.reason, answer.url, answer.detail) == ("http_404", "https://finance.sina.com.cn/x", "gone")


@pytest.mark.parametrize(
    "data",
    [
        b"[]",
        b"not json",
        b'{"kind": "other"}',
        b'{"kind": "item", "item": "x"}',
        b'{"kind": "item", "item": {"x": 1}}',
        b'{"kind": "item", "item": {"kind": "article", "publishid": "x"}}',
        b'{"kind": "item", "item": {"kind": "poem"}}',
        b'{"kind": "skipped", "section": "china"}',
    ],
)
def test_what_is_not_an_answer_is_refused(data: bytes) -> None:
    with pytest.raises(ValueError):
        read_answer(data)


def test_keys_live_under_the_cluster_name() -> None:
    keys = ClusterKeys("news")
    assert (keys.requests, keys.dupefilter, keys.results, keys.coordinator) == (
        "news:requests",
        "news:dupefilter",
        "news:results",
        "news:coordinator",
    )
    assert keys.worker("host-1") == "news:worker:host-1" and keys.workers == "news:worker:*"


def test_the_version_is_read_from_the_code_and_is_the_packages() -> None:
    from importlib import metadata

    import crawler

    # scrapyd runs the code from an egg it does not install: the version must not need that.
    assert project_version() == crawler.__version__ == metadata.version("sina-finance-hexo")


# --- settings -----------------------------------------------------------------------------


def _config(**values: object) -> Config:
    return Config.from_settings(project_settings(values))


def test_without_a_redis_url_there_is_no_cluster() -> None:
    assert _config().cluster is None


def test_cluster_settings_are_read_once() -> None:
    cluster = _config(SINA_REDIS_URL="redis://:pw@10.0.0.5:6379/0", SINA_CLUSTER="news", SINA_HOST_RATE="2.5").cluster
    assert cluster is not None
    assert (cluster.redis_url, cluster.name, cluster.host_rate) == ("redis://:pw@10.0.0.5:6379/0", "news", 2.5)
    assert cluster.worker_wait == 60
    assert _config(SINA_REDIS_URL="redis://h").cluster.host_rate == 4.0  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"SINA_REDIS_URL": "http://h:6379"}, "expected redis://, rediss:// or unix://"),
        ({"SINA_REDIS_URL": "redis://h", "SINA_CLUSTER": "a:b"}, "SINA_CLUSTER='a:b'"),
        ({"SINA_REDIS_URL": "redis://h", "SINA_CLUSTER": "%(spider)s"}, "SINA_CLUSTER="),
        ({"SINA_REDIS_URL": "redis://h", "SINA_HOST_RATE": "0"}, "SINA_HOST_RATE='0'"),
        ({"SINA_REDIS_URL": "redis://h", "SINA_HOST_RATE": "fast"}, "SINA_HOST_RATE='fast'"),
        ({"SINA_REDIS_URL": "redis://h", "SINA_HOST_RATE": "nan"}, "SINA_HOST_RATE='nan'"),
        ({"SINA_REDIS_URL": "redis://h", "SINA_WORKER_WAIT": "-1"}, "SINA_WORKER_WAIT='-1': expected seconds"),
    ],
)
def test_wrong_cluster_settings_are_refused_at_start(values: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _config(**values)


def test_busiest_window_counts_a_sliding_second() -> None:
    assert busiest_window([]) == 0
    assert busiest_window([0.0, 0.2, 0.4, 0.6, 0.8, 1.0]) == 5  # 1.0 is the next second
    assert busiest_window([0.0, 0.9, 0.95, 1.5, 1.6]) == 4


# --- against a real Redis -----------------------------------------------------------------

needs_redis = [pytest.mark.e2e, pytest.mark.redis]


@dataclass
class Listing:  # what the spider's requests carry (cb_kwargs["listing"]); picklable
    publishid: str


class _Spider(scrapy.Spider):
    name = "cluster-test"

    def parse_article(self, response: object, listing: Listing) -> None:
        pass


def _request(publishid: str) -> scrapy.Request:
    spider = _Spider()
    url = f"https://finance.sina.com.cn/roll/2026-09-28/doc-i{publishid}.shtml"
    return scrapy.Request(url, callback=spider.parse_article, cb_kwargs={"listing": Listing(publishid)})


@pytest.fixture
def coordinator(redis_url: str, request: pytest.FixtureRequest) -> Iterator[Coordinator]:
    from crawler.cluster.coordinator import Coordinator

    keys = ClusterKeys(request.node.name.replace("_", "-").lower()[:40])
    coordinator = Coordinator(redis_url, keys, "1.0", "run-1")
    coordinator.open(_Spider())
    yield coordinator
    coordinator.close()


class TestCoordinator:
    pytestmark = needs_redis

    def test_the_lease_expires_and_a_second_coordinator_is_refused(
        self, coordinator: Coordinator, redis_url: str
    ) -> None:
        from crawler.cluster.coordinator import LEASE_SECONDS, ClusterError, Coordinator

        ttl = coordinator.client.pttl(coordinator.keys.coordinator)
        assert 0 < ttl <= LEASE_SECONDS * 1000  # a dead coordinator's lease runs out
        second = Coordinator(redis_url, coordinator.keys, "1.0", "run-2")
        with pytest.raises(ClusterError) as refused:
            second.open(_Spider())
        assert refused.value.reason == "cluster_locked"
        coordinator.close()
        second.open(_Spider())  # released: the next one takes it
        second.close()

    def test_a_running_coordinator_keeps_its_lease(
        self, coordinator: Coordinator, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        import asyncio

        from crawler.cluster import coordinator as module

        monkeypatch.setattr(module, "LEASE_SECONDS", 0.5)
        monkeypatch.setattr(module, "RENEW_SECONDS", 0.1)
        key = coordinator.keys.coordinator
        coordinator.client.pexpire(key, 300)  # as if its last renewal were 0.2 s ago

        async def run_for_a_while() -> None:
            coordinator.keep_lease()
            await asyncio.sleep(1.0)  # twice the lease: kept only by renewing
            assert coordinator.client.exists(key)
            coordinator.close()

        asyncio.run(run_for_a_while())
        assert not coordinator.client.exists(key)

    def test_a_coordinator_that_lost_its_lease_says_so(
        self, coordinator: Coordinator, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        import asyncio

        from crawler.cluster import coordinator as module

        monkeypatch.setattr(module, "RENEW_SECONDS", 0.05)
        coordinator.client.delete(coordinator.keys.coordinator)  # expired while it stalled
        coordinator.client.set(coordinator.keys.coordinator, b"another coordinator")

        async def run_for_a_while() -> None:
            coordinator.keep_lease()
            await asyncio.sleep(0.3)

        asyncio.run(run_for_a_while())
        assert coordinator.lease_lost
        coordinator.client.zadd(coordinator.keys.requests, {b"the other's request": 0})
        coordinator.close()
        assert coordinator.client.get(coordinator.keys.coordinator) == b"another coordinator"  # not released
        assert coordinator.client.zcard(coordinator.keys.requests) == 1  # nor the other's queue cleared

    def test_a_new_run_starts_from_an_empty_queue(self, coordinator: Coordinator, redis_url: str) -> None:
        from crawler.cluster.coordinator import Coordinator

        assert coordinator.push(_request("aaa0000001"), "aaa0000001", "china")
        coordinator.client.rpush(coordinator.keys.results, b"{}")
        coordinator.close()  # as if it died with work queued
        coordinator.client.rpush(coordinator.keys.requests, b"stale")
        following = Coordinator(redis_url, coordinator.keys, "1.0", "run-2")
        following.open(_Spider())
        try:
            assert len(following.queue) == 0 and following.client.llen(following.keys.results) == 0
            assert following.push(_request("aaa0000001"), "aaa0000001", "china")  # not seen in this run
            assert following.client.get(following.keys.version) == b"1.0"
        finally:
            following.close()

    def test_an_article_is_queued_once_and_answered_once(self, coordinator: Coordinator) -> None:
        assert coordinator.push(_request("aaa0000001"), "aaa0000001", "china")
        assert not coordinator.push(_request("aaa0000001"), "aaa0000001", "china")
        taken = coordinator.take()
        assert taken is not None and taken.url.endswith("doc-iaaa0000001.shtml")
        assert coordinator.fetching_here == {"aaa0000001"} and coordinator.take() is None
        assert not coordinator.finished
        assert coordinator.answered("aaa0000001")
        assert not coordinator.answered("aaa0000001")  # a second answer does not count
        assert coordinator.finished and not coordinator.fetching_here

    def test_answers_arrive_in_order_and_garbage_is_dropped(self, coordinator: Coordinator) -> None:
        keys = coordinator.keys
        coordinator.client.rpush(keys.results, skipped_answer("a1", "china", "http_404", "u", ""), b"garbage")
        coordinator.client.rpush(keys.results, item_answer(_item()))
        answers = coordinator.answers()
        assert [answer.publishid for answer in answers] == ["a1", "nitmeau2811260"]
        assert coordinator.answers() == []

    def test_lost_work_is_pushed_again_once_then_given_up(
        self, coordinator: Coordinator, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from crawler.cluster import coordinator as module

        monkeypatch.setattr(module, "LOST_AFTER", 0.05)
        coordinator.push(_request("aaa0000001"), "aaa0000001", "china")
        assert coordinator.recover() == (0, [])  # queued: not lost
        coordinator.queue.pop()  # a worker took it, then died: no heartbeat, no answer
        coordinator.client.set(coordinator.keys.worker("alive"), 1)  # ... but one still holds one
        assert coordinator.recover() == (0, [])
        time.sleep(0.1)
        assert coordinator.recover() == (0, [])
        coordinator.client.delete(coordinator.keys.worker("alive"))
        assert coordinator.recover() == (0, [])  # drained from now on
        time.sleep(0.1)
        assert coordinator.recover() == (1, [])
        assert len(coordinator.queue) == 1
        coordinator.queue.pop()  # lost again
        coordinator.recover()
        time.sleep(0.1)
        pushed_again, given_up = coordinator.recover()
        assert pushed_again == 0 and [pushed.request.url for pushed in given_up] == [_request("aaa0000001").url]
        assert coordinator.finished and coordinator.lost == given_up


@pytest.mark.e2e
@pytest.mark.redis
def test_a_worker_takes_no_more_than_it_can_fetch(redis_url: str) -> None:
    import redis

    from crawler.cluster.worker import HeldArticles

    client = redis.Redis.from_url(redis_url)
    held = HeldArticles(client, ClusterKeys("held"), capacity=2)
    held.took("a")
    held.took("b")
    assert not held.room and client.get(held.key) == b"2"
    assert client.ttl(held.key) > 0  # a killed worker's count expires
    held.answered("a")
    held.beat()
    assert held.room and client.get(held.key) == b"1"
    held.taking = False
    assert not held.room  # its coordinator left: what it holds is finished, nothing more taken
    held.stop()
    assert not client.exists(held.key)


@pytest.mark.e2e
@pytest.mark.redis
def test_the_host_budget_spaces_requests_over_every_client(redis_url: str) -> None:
    """Slots are read on Redis's clock, so the check reads them there too: no bound on how
    long a call took, only which slot each call got and when Redis answered it."""
    import redis

    from crawler.cluster.budget import HostBudget

    client = redis.Redis.from_url(redis_url)
    first, second = (HostBudget(redis.Redis.from_url(redis_url), "budget:rate", 10.0) for _ in range(2))
    key = "budget:rate:finance.sina.com.cn"

    def redis_now() -> float:
        seconds, microseconds = client.time()
        return seconds + microseconds / 1_000_000

    def next_free() -> float:
        value = client.get(key)
        assert value is not None
        return float(value)

    # An idle host: the first request goes at once, and the next slot is 0.1 s later.
    before = redis_now()
    assert first.reserve("finance.sina.com.cn") == 0.0
    assert before - 2e-6 <= next_free() - 0.1 <= redis_now() + 2e-6
    assert first.reserve("cj.sina.com.cn") == 0.0  # another host has its own budget
    # A busy host (its next free slot an hour ahead, whatever the time now): two processes,
    # one budget, each request takes the slot after the one before, whoever asks; its wait
    # is that slot less Redis's time when it asked.
    free = redis_now() + 3600
    client.set(key, f"{free:.6f}", px=3_700_000)
    for n, budget in enumerate((second, first, second, first)):
        before = redis_now()
        wait = budget.reserve("finance.sina.com.cn")
        after = redis_now()
        slot = free + n * 0.1
        assert next_free() == pytest.approx(slot + 0.1, abs=2e-6)
        assert slot - after - 2e-6 <= wait <= slot - before + 2e-6
    with pytest.raises(ValueError):
        HostBudget(redis.Redis.from_url(redis_url), "budget:rate", 0)
