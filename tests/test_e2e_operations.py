"""Operations through the real `scrapy crawl`: exit status and finish reasons of a
failed run, the posts-folder lock, retries with backoff, per-section summary."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from crawler.storage.locking import PostsFolderLock
from tests.conftest import corpus_case
from tests.support.crawl import REPO, files_under, run_crawl
from tests.support.lockwatch import OpenWatch
from tests.support.replay_proxy import ProxyRequest, ProxyResponse, ReplayProxy, RollApi, serve_corpus

pytestmark = pytest.mark.e2e

SEED = corpus_case("seed-haiguan")
ROLL = "https://feed.mix.sina.com.cn/api/roll/get"
HANG_GUARD = 300  # seconds; only a test that would otherwise hang waits it out


def test_every_listing_failing_ends_the_run_with_a_failure(tmp_path: Path) -> None:
    with ReplayProxy() as proxy:
        proxy.add_handler(ROLL, lambda request: ProxyResponse(200, b"<html>busy</html>"))
        result = run_crawl(proxy.url, tmp_path, "sections=china,macro", settings={"RETRY_TIMES": "0"})
    assert result.returncode == 1
    assert result.stats["finish_reason"] == "all_listings_failed"
    assert result.stat("sina/roll/failed/not_json") == 2
    assert "Run failed: all_listings_failed" in result.log


def test_no_article_parsed_ends_the_run_with_a_failure(tmp_path: Path) -> None:
    with ReplayProxy() as proxy:
        serve_corpus(proxy, [SEED])
        proxy.add(SEED.https_url, b"<html><body><p>the template changed</p></body></html>")
        result = run_crawl(proxy.url, tmp_path, "sections=china")
    assert result.returncode == 1
    assert result.stats["finish_reason"] == "no_article_parsed"
    assert result.stat("sina/skipped/no_body") == 1


def test_a_run_with_nothing_new_is_a_success(tmp_path: Path) -> None:
    with ReplayProxy() as proxy:
        RollApi({("155", "1686"): []}).install(proxy)
        result = run_crawl(proxy.url, tmp_path, "sections=china")
    assert result.returncode == 0
    assert result.stats["finish_reason"] == "finished"


def test_a_second_writer_on_the_posts_folder_stops_at_once(tmp_path: Path) -> None:
    holder = PostsFolderLock(tmp_path / "posts")
    holder.acquire(0)
    try:
        with ReplayProxy() as proxy, OpenWatch(holder.path) as watch:
            serve_corpus(proxy, [SEED])
            result = run_crawl(proxy.url, tmp_path, "sections=china", settings={"SINA_LOCK_WAIT": "0.5"})
            requests = proxy.urls()
            tried = watch.wait_for_open(still_waiting=lambda: False)
    finally:
        holder.release()
    assert tried, "the crawl never tried the lock"
    assert result.returncode == 1
    assert result.stats["finish_reason"] == "posts_dir_locked"
    # It gave up after SINA_LOCK_WAIT (told by its message, not by timing the run).
    assert f"another crawl is writing to {tmp_path / 'posts'}" in result.log
    assert "waited 0.5 s (SINA_LOCK_WAIT)" in result.log
    assert requests == [], "a locked run makes no request"
    assert files_under(tmp_path / "posts") == {}


def test_the_second_run_waits_for_the_first_when_allowed(tmp_path: Path) -> None:
    """The lock is held (as a first run holds it) when the crawl starts, and released only
    once the crawl has been turned away and tried again: it opens the lock file at each try
    (crawler/storage/locking.py), and a crawl that went on without the lock would not open
    it twice.  Proved by the order of events, not by timing: two tries while the lock was
    held; no request to the site when it was released; then the lock taken and the crawl
    done."""
    holder = PostsFolderLock(tmp_path / "posts")
    holder.acquire(0)
    events: list[str] = []
    crawl_over = threading.Event()
    with ReplayProxy() as proxy, OpenWatch(holder.path) as watch:
        serve_corpus(proxy, [SEED])

        def release_once_the_crawl_waits() -> None:
            try:
                for event in ("the crawl tried the lock", "and tried it again"):
                    if not watch.wait_for_open(still_waiting=lambda: not crawl_over.is_set(), hang_guard=HANG_GUARD):
                        break
                    events.append(event)
                events.append(f"released after {len(proxy.urls())} request(s)")
            finally:
                holder.release()

        releaser = threading.Thread(target=release_once_the_crawl_waits)
        releaser.start()
        try:
            result = run_crawl(proxy.url, tmp_path, "sections=china", settings={"SINA_LOCK_WAIT": "120"})
        finally:
            crawl_over.set()
            releaser.join()
        requests = proxy.urls()
    waited = ["the crawl tried the lock", "and tried it again", "released after 0 request(s)"]
    assert events == waited, result.log[-3000:]
    assert result.returncode == 0, result.log[-3000:]
    assert result.stats["finish_reason"] == "finished"
    assert SEED.https_url in requests, "the crawl crawled once the lock was released"
    assert files_under(tmp_path / "posts") == {SEED.expected_path: SEED.expected}


def test_retries_back_off_and_honour_retry_after(tmp_path: Path) -> None:
    """The host's answers, in arrival order whatever the URL: 503 with Retry-After: 1, then
    429, 429, then pages.  Each failure holds the whole host (both articles): the next
    request to it, for either article, waits Retry-After, then base * 2**n for the n-th
    consecutive failure (RETRY_BACKOFF_BASE 0.2: 0.4 s, 0.8 s)."""
    arrivals: list[float] = []
    answers = [ProxyResponse(503, b"busy", {"Retry-After": "1"}), ProxyResponse(429, b"slow down")]
    answers.append(ProxyResponse(429, b"slow down"))
    lock = threading.Lock()

    def host(request: ProxyRequest) -> ProxyResponse:
        with lock:
            arrivals.append(time.monotonic())
            return answers.pop(0) if answers else ProxyResponse(200, SEED.page)

    other = dict(SEED.item, url=SEED.item["url"].replace("zzkpeid5261109", "zzkpeid5261110"), title="另一篇")
    with ReplayProxy() as proxy:
        proxy.add_handler(SEED.https_url, host)
        proxy.add_handler(other["url"], host)
        RollApi({("155", "1686"): [SEED.item, other]}).install(proxy)
        # One transfer at a time: no request is on the wire when a failure is answered.
        settings = {"RETRY_BACKOFF_BASE": "0.2", "CONCURRENT_REQUESTS_PER_DOMAIN": "1"}
        result = run_crawl(proxy.url, tmp_path, "sections=china", settings=settings)
    assert result.returncode == 0
    assert files_under(tmp_path / "posts")[SEED.expected_path] == SEED.expected
    assert len(arrivals) == 5, "two articles, three failures"
    gaps = [arrivals[n + 1] - arrivals[n] for n in range(len(arrivals) - 1)]
    assert gaps[0] >= 0.95, "Retry-After: 1 was honoured for the host"
    assert gaps[1] >= 0.4 and gaps[2] >= 0.8, "the pauses grow with consecutive failures: 0.4 s, then 0.8 s"
    assert result.stat("retry/count") == 3
    assert result.stat("sina/posts/new") == 2
    assert float(result.stats["sina/retry/backoff_seconds"]) >= 1 + 0.4 + 0.8


def test_per_section_summary_lines(tmp_path: Path) -> None:
    with ReplayProxy() as proxy:
        serve_corpus(proxy, [SEED])
        result = run_crawl(proxy.url, tmp_path, "sections=china,macro")
    assert (
        "Run summary, section china: listed=1 known=0 new=1 updated=0 unchanged=0 skipped=0 failed=0 list_failed=0"
        in result.log
    )
    assert (
        "Run summary, section macro: listed=0 known=0 new=0 updated=0 unchanged=0 skipped=0 failed=0 list_failed=1"
        in (result.log)
    )


def test_waiting_for_the_lock_does_not_block_a_stop_request(tmp_path: Path) -> None:
    """scrapyd's cancel.json (SIGINT/SIGTERM) stops a run that waits for the lock at once.

    SIGINT is sent once the crawl has tried the lock twice (it is waiting).  Had the stop
    request waited for the lock, the run would have ended when SINA_LOCK_WAIT ran out, with
    "Not crawling: another crawl is writing ..." and posts_dir_locked: that, not a time, is
    what tells the two apart."""
    holder = PostsFolderLock(tmp_path / "posts")
    holder.acquire(0)
    log = tmp_path / "crawl.log"
    process = None
    try:
        command = [sys.executable, "-m", "scrapy", "crawl", "sina_finance", "-a", "sections=china"]
        for name, value in {
            "HEXO_POSTS_DIR": tmp_path / "posts",
            "STATE_DB": tmp_path / "state.sqlite",
            "MANIFEST": tmp_path / "manifest.jsonl",
            "SINA_LOCK_WAIT": 120,
            "LOG_FILE": log,
        }.items():
            command += ["-s", f"{name}={value}"]
        with OpenWatch(holder.path) as watch:
            process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            tries = [watch.wait_for_open(still_waiting=lambda: process.poll() is None, hang_guard=HANG_GUARD)]
            tries.append(tries[0] and watch.wait_for_open(still_waiting=lambda: process.poll() is None))
        assert all(tries), f"the crawl ended (rc {process.returncode}) without waiting for the lock: {tries}"
        os.kill(process.pid, signal.SIGINT)
        process.wait(timeout=HANG_GUARD)
    finally:
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
        holder.release()
    text = log.read_text(encoding="utf-8")
    assert "Received SIGINT" in text
    assert "Not crawling" not in text, "the stop request waited for the lock: " + text[-3000:]
    assert "posts_dir_locked" not in text, text[-3000:]
    assert process.returncode == 3  # stopped before it finished (crawler.commands.crawl)
    assert "Run summary (shutdown): " in text
