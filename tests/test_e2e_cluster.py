"""Several machines, on one (docs/cluster.md): a real ``redis-server``, the
real ``scrapy crawl sina_finance`` as coordinator and ``scrapy crawl sina_finance_worker``
processes, the replay proxy standing in for Sina.

- A coordinator and two workers write the very posts one process writes (corpus goldens
  and 300 more articles), each article fetched once, none lost, and the workers did work.
- A worker killed with SIGKILL mid-run loses nothing: what it held is pushed again once,
  every post is written once.
- The cluster's per-host budget holds over every process: no 1-second window sees more
  than the limit + 1 requests to a host (and without the limit it would).
- One coordinator per cluster (``cluster_locked``), a clear stop when Redis is gone
  (``cluster_unavailable``), workers refuse another project version (``version_mismatch``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis

from crawler.cluster.protocol import ClusterKeys
from tests.conftest import CASES
from tests.support.crawl import (
    CrawlResult,
    count_posts,
    end_process,
    files_under,
    finished_crawl,
    run_crawl,
    running_crawl,
    start_crawl,
)
from tests.support.replay_proxy import ReplayProxy, RollApi, busiest_window
from tests.support.synthetic import LID, PAGEID, synthetic_articles

pytestmark = [pytest.mark.e2e, pytest.mark.redis]

# The politeness delays off (the shared host budget is what is tested here) and a budget
# far above what these runs reach, unless a test says otherwise.
FAST = {"AUTOTHROTTLE_ENABLED": "0", "DOWNLOAD_DELAY": "0", "SINA_HOST_RATE": "1000"}
WAIT = 60.0  # seconds a test waits for something that takes a few


def _serve(proxy: ReplayProxy, count: int, delay: float = 0.0, with_corpus: bool = False) -> int:
    """``count`` synthetic articles (and the golden cases) in section ``china``; returns
    the number of roll pages that lists them all."""
    items, pages = synthetic_articles(list(CASES), count)
    for url, page in pages:
        proxy.add(url, page, delay=delay)
    if with_corpus:
        for case in CASES:
            proxy.add(case.https_url, case.page, delay=delay)
        items += [dict(case.item) for case in CASES]
    items.sort(key=lambda item: int(item.get("ctime") or 0), reverse=True)
    RollApi({(PAGEID, LID): items}).install(proxy)
    return -(-len(items) // 50)


def _wait_until(condition: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"not within {timeout} s: {what}")


def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url)


@contextmanager
def _workers(
    proxy: ReplayProxy, work: Path, count: int, settings: dict[str, str]
) -> Iterator[list[subprocess.Popen[str]]]:
    """``count`` workers, started and waiting for work (their heartbeat is in Redis)."""
    processes: list[subprocess.Popen[str]] = []
    keys, client = ClusterKeys(settings["SINA_CLUSTER"]), _client(settings["SINA_REDIS_URL"])
    try:
        for n in range(count):
            processes.append(
                start_crawl(proxy.url, work / f"worker{n}", spider="sina_finance_worker", settings=settings)
            )
        _wait_until(lambda: len(list(client.scan_iter(match=keys.workers))) >= count, f"{count} workers up")
        yield processes
        for process in processes:  # the coordinator is done: they stop on their own
            if process.poll() is None:
                process.wait(timeout=WAIT)
    finally:  # a test that failed (or a worker that hung) leaves no process behind
        for process in processes:
            end_process(process)


def _article_fetches(proxy: ReplayProxy) -> Counter[str]:
    return Counter(url for url in proxy.urls() if "/doc-i" in url)


def _manifest_posts(work: Path) -> Counter[tuple[str, str]]:
    lines = (work / "manifest.jsonl").read_text(encoding="utf-8").splitlines()
    return Counter((entry["publishid"], entry["path"]) for entry in map(json.loads, lines))


def _worker_results(work: Path, processes: list[subprocess.Popen[str]]) -> list[CrawlResult]:
    return [finished_crawl(process, work / f"worker{n}", timeout=WAIT) for n, process in enumerate(processes)]


def _cluster(url: str, name: str, **extra: str) -> dict[str, str]:
    return {**FAST, "SINA_REDIS_URL": url, "SINA_CLUSTER": name, **extra}


# --- the same posts, each article fetched once ---------------------------------------------


def test_coordinator_and_two_workers_write_what_one_process_writes(redis_url: str, tmp_path: Path) -> None:
    with ReplayProxy() as proxy:
        pages = _serve(proxy, 300, delay=0.02, with_corpus=True)
        args = ("sections=china", f"pages={pages}")
        alone = run_crawl(proxy.url, tmp_path / "alone", *args, settings=FAST)
        assert alone.returncode == 0, alone.log[-3000:]

        proxy.reset_log()
        settings = _cluster(redis_url, "same-posts")
        with _workers(proxy, tmp_path, 2, settings) as processes:
            coordinator = run_crawl(proxy.url, tmp_path / "coordinator", *args, settings=settings)
        workers = _worker_results(tmp_path, processes)
        fetches = _article_fetches(proxy)

        proxy.reset_log()  # incremental as ever: a second run fetches no known article
        again = run_crawl(proxy.url, tmp_path / "coordinator", *args, settings=settings)
        refetched = _article_fetches(proxy)

    assert coordinator.returncode == 0, coordinator.log[-3000:]
    total = 300 + len(CASES)
    posts = files_under(tmp_path / "coordinator" / "posts")
    assert len(posts) == total
    assert posts == files_under(tmp_path / "alone" / "posts")
    for case in CASES:
        assert posts[case.expected_path] == case.expected, case.name
    assert _manifest_posts(tmp_path / "coordinator") == _manifest_posts(tmp_path / "alone")
    assert max(_manifest_posts(tmp_path / "coordinator").values()) == 1

    assert len(fetches) == total and max(fetches.values()) == 1, fetches.most_common(3)
    answered = [worker.stat("sina/cluster/answers") for worker in workers]
    assert all(worker.returncode == 0 and worker.stats["finish_reason"] == "finished" for worker in workers)
    assert all(count > 0 for count in answered), answered  # both workers did work
    assert coordinator.stat("sina/cluster/pushed") == total
    assert coordinator.stat("sina/cluster/answers") == sum(answered)
    assert coordinator.stat("sina/cluster/taken") + sum(answered) == total
    assert coordinator.stat("sina/cluster/lost") == coordinator.stat("sina/cluster/pushed_again") == 0

    assert again.returncode == 0 and again.stat("sina/posts/new") == 0
    assert not refetched


def test_a_coordinator_without_workers_writes_the_goldens(redis_url: str, tmp_path: Path) -> None:
    with ReplayProxy() as proxy:
        _serve(proxy, 0, with_corpus=True)
        result = run_crawl(proxy.url, tmp_path, "sections=china", settings=_cluster(redis_url, "alone"))
        fetches = _article_fetches(proxy)
    assert result.returncode == 0, result.log[-3000:]
    posts = files_under(tmp_path / "posts")
    assert {path: posts.get(path) for path in (c.expected_path for c in CASES)} == {
        c.expected_path: c.expected for c in CASES
    }
    assert len(fetches) == len(CASES) and max(fetches.values()) == 1
    assert result.stat("sina/cluster/taken") == len(CASES)


def test_workers_parse_as_the_coordinator_is_configured(redis_url: str, tmp_path: Path) -> None:
    """The body style is the writer's (HEXO_BODY=sample here), whatever the workers' own
    settings; and a worker needs no browser, even where its settings name a page section."""
    settings = _cluster(redis_url, "sample")
    worker_settings = {**settings, "SINA_BROWSER_EXECUTABLE": str(tmp_path / "no-chromium")}
    with ReplayProxy() as proxy:
        _serve(proxy, 0, delay=0.3, with_corpus=True)
        with running_crawl(
            proxy.url,
            tmp_path / "worker0",
            "sections=page-china",
            spider="sina_finance_worker",
            settings=worker_settings,
        ) as worker:
            keys, client = ClusterKeys("sample"), _client(redis_url)
            _wait_until(lambda: list(client.scan_iter(match=keys.workers)), "the worker up")
            result = run_crawl(
                proxy.url, tmp_path / "c", "sections=china", settings={**settings, "HEXO_BODY": "sample"}
            )
            answered = finished_crawl(worker, tmp_path / "worker0", timeout=WAIT)
    assert result.returncode == 0, result.log[-3000:]
    assert answered.returncode == 0 and answered.stat("sina/cluster/answers") > 0, answered.log[-3000:]
    posts = files_under(tmp_path / "c" / "posts")
    assert {case.expected_path: posts.get(case.expected_path) for case in CASES} == {
        case.expected_path: case.expected_sample for case in CASES
    }


# --- a worker killed mid-run -----------------------------------------------------------------


def _process_tree(pid: int) -> list[int]:
    try:
        children = [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        children = []
    return [pid, *(grandchild for child in children for grandchild in _process_tree(child))]


def test_a_worker_killed_mid_run_loses_no_post(redis_url: str, tmp_path: Path) -> None:
    """SIGKILL (a machine lost) while the worker holds articles it popped from the queue:
    the coordinator pushes what is unanswered again once the queue is drained and no live
    worker holds anything; every post is written, once."""
    settings = _cluster(redis_url, "killed", CONCURRENT_REQUESTS_PER_DOMAIN="2")
    keys, client = ClusterKeys("killed"), _client(redis_url)
    with ReplayProxy() as proxy:
        pages = _serve(proxy, 120, delay=0.3)
        with (
            _workers(proxy, tmp_path, 2, settings) as processes,
            running_crawl(
                proxy.url, tmp_path / "coordinator", "sections=china", f"pages={pages}", settings=settings
            ) as coordinator,
        ):
            victim = processes[0]
            heartbeat = _wait_until(
                lambda: [
                    key for key in client.scan_iter(match=keys.workers) if key.endswith(f"-{victim.pid}".encode())
                ],
                "the victim's heartbeat",
            )[0]
            posts = tmp_path / "coordinator" / "posts"
            # Polled while the coordinator writes: posts only, its temporary files come and go.
            _wait_until(lambda: count_posts(posts) >= 30, "30 posts written")  # mid-run
            held = _wait_until(lambda: int(client.get(heartbeat) or 0), "the victim holding articles")
            written = count_posts(posts)
            for pid in reversed(_process_tree(victim.pid)):  # the machine is gone: its parse worker too
                os.kill(pid, signal.SIGKILL)
            result = finished_crawl(coordinator, tmp_path / "coordinator", timeout=120)
        survivor = finished_crawl(processes[1], tmp_path / "worker1", timeout=WAIT)
        fetches = _article_fetches(proxy)

    assert result.returncode == 0, result.log[-3000:]
    assert result.stats["finish_reason"] == "finished"
    manifest = _manifest_posts(tmp_path / "coordinator")
    assert len(manifest) == 120 and max(manifest.values()) == 1
    assert len(files_under(tmp_path / "coordinator" / "posts")) == 120
    pushed_again = result.stat("sina/cluster/pushed_again")
    assert 1 <= pushed_again <= 2, (held, pushed_again)  # at most CONCURRENT_REQUESTS_PER_DOMAIN held
    assert result.stat("sina/cluster/lost") == 0
    assert len(fetches) == 120 and sum(fetches.values()) <= 120 + pushed_again
    assert survivor.returncode == 0
    print(
        f"\nkill -9 of a worker holding {held} article(s), {written} posts written by then: "
        f"pushed again {pushed_again}, lost 0, posts 120 of 120, "
        f"fetched twice {sum(1 for n in fetches.values() if n > 1)}, "
        f"late answers {result.stat('sina/cluster/late_answers')}"
    )


# --- one polite budget ---------------------------------------------------------------------


def _rate_run(redis_url: str, work: Path, name: str, rate: str) -> tuple[int, CrawlResult]:
    """Coordinator + 3 workers, 2 connections each, over 30 articles that take 1 s each:
    the busiest second at Sina's article host."""
    settings = _cluster(redis_url, name, SINA_HOST_RATE=rate, CONCURRENT_REQUESTS_PER_DOMAIN="2")
    with ReplayProxy() as proxy:
        pages = _serve(proxy, 30, delay=1.0)
        with _workers(proxy, work, 3, settings) as processes:
            result = run_crawl(proxy.url, work / "coordinator", "sections=china", f"pages={pages}", settings=settings)
        _worker_results(work, processes)
        busiest = busiest_window(proxy.arrivals("://finance.sina.com.cn/"))
    assert result.returncode == 0, result.log[-3000:]
    assert result.stat("sina/posts/new") == 30
    return busiest, result


def test_the_host_budget_holds_over_every_process(redis_url: str, tmp_path: Path) -> None:
    busiest, result = _rate_run(redis_url, tmp_path / "limited", "rate", "5")
    assert busiest <= 5 + 1, busiest
    assert result.stat("sina/cluster/rate_waits") > 0
    # The same cluster without that budget: 4 processes x 2 connections, 8 in the second.
    unlimited, _ = _rate_run(redis_url, tmp_path / "unlimited", "norate", "1000")
    assert unlimited > 5 + 1, unlimited


# --- locks, Redis gone, versions -----------------------------------------------------------


def test_a_second_coordinator_on_the_cluster_stops_with_cluster_locked(redis_url: str, tmp_path: Path) -> None:
    settings = _cluster(redis_url, "locked", CONCURRENT_REQUESTS_PER_DOMAIN="1")
    client = _client(redis_url)
    with ReplayProxy() as proxy:
        pages = _serve(proxy, 5, delay=1.0)
        args = ("sections=china", f"pages={pages}")
        with running_crawl(proxy.url, tmp_path / "first", *args, settings=settings) as first:
            _wait_until(lambda: client.exists(ClusterKeys("locked").coordinator), "the first coordinator's lease")
            second = run_crawl(proxy.url, tmp_path / "second", *args, settings=settings)
            first_result = finished_crawl(first, tmp_path / "first")
    assert second.returncode == 1
    assert second.stats["finish_reason"] == "cluster_locked"
    assert "another coordinator holds cluster 'locked'" in second.log
    assert not files_under(tmp_path / "second" / "posts")
    assert first_result.returncode == 0 and first_result.stat("sina/posts/new") == 5
    assert not client.exists(ClusterKeys("locked").coordinator)  # released at the end


def _closed_port_url() -> str:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"redis://:secret@127.0.0.1:{port}/0"  # nothing listens there now


def test_redis_unreachable_at_start(tmp_path: Path) -> None:
    url = _closed_port_url()
    with ReplayProxy() as proxy:
        _serve(proxy, 0, with_corpus=True)
        coordinator = run_crawl(proxy.url, tmp_path / "c", "sections=china", settings=_cluster(url, "gone"))
        worker = run_crawl(proxy.url, tmp_path / "w", spider="sina_finance_worker", settings=_cluster(url, "gone"))
        fetched = proxy.urls()
    assert coordinator.returncode == 1
    assert coordinator.stats["finish_reason"] == "cluster_unavailable"
    assert "cannot reach Redis at redis://***@127.0.0.1:" in coordinator.log
    assert "secret" not in coordinator.log
    assert worker.returncode == 1
    assert "cannot reach the cluster's Redis" in worker.log
    assert not fetched  # nothing listed, nothing fetched
    assert not files_under(tmp_path / "c" / "posts")


def test_a_worker_refuses_a_coordinator_of_another_version(redis_url: str, tmp_path: Path) -> None:
    keys, client = ClusterKeys("versions"), _client(redis_url)
    client.set(keys.version, "0.0.0-another")
    lease = client.lock(keys.coordinator, timeout=60)
    assert lease.acquire(blocking=False)
    try:
        with ReplayProxy() as proxy:
            result = run_crawl(
                proxy.url,
                tmp_path,
                spider="sina_finance_worker",
                settings=_cluster(redis_url, "versions"),
                timeout=WAIT,
            )
    finally:
        lease.release()
    assert result.returncode == 1
    assert result.stats["finish_reason"] == "version_mismatch"
    assert "the coordinator runs version 0.0.0-another" in result.log


def test_a_worker_without_a_coordinator_stops_after_its_wait(redis_url: str, tmp_path: Path) -> None:
    with ReplayProxy() as proxy:
        settings = _cluster(redis_url, "nobody", SINA_WORKER_WAIT="1")
        result = run_crawl(proxy.url, tmp_path, spider="sina_finance_worker", settings=settings, timeout=WAIT)
    assert result.returncode == 0, result.log[-3000:]
    assert result.stats["finish_reason"] == "finished"
    assert "has no coordinator (none came): stopping" in result.log
    assert not _client(redis_url).exists(ClusterKeys("nobody").worker("x"))
    assert not list(_client(redis_url).scan_iter(match=ClusterKeys("nobody").workers))  # its heartbeat is gone
