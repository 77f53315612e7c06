"""Operations through the real `scrapy crawl`: exit status and finish reasons of a
failed run, the posts-folder lock, retries with backoff, per-section summary."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from crawler.storage.locking import PostsFolderLock
from tests.support.crawl import CORPUS, files_under, run_crawl
from tests.support.replay_proxy import ProxyRequest, ProxyResponse, ReplayProxy, RollApi, load_corpus, serve_corpus

CASES = {case.name: case for case in load_corpus(CORPUS)}
SEED = CASES["seed-haiguan"]
ROLL = "https://feed.mix.sina.com.cn/api/roll/get"


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
        with ReplayProxy() as proxy:
            serve_corpus(proxy, [SEED])
            started = time.monotonic()
            result = run_crawl(proxy.url, tmp_path, "sections=china", settings={"SINA_LOCK_WAIT": "0.5"})
            elapsed = time.monotonic() - started
            requests = proxy.urls()
    finally:
        holder.release()
    assert result.returncode == 1
    assert result.stats["finish_reason"] == "posts_dir_locked"
    assert f"another crawl is writing to {tmp_path / 'posts'}" in result.log
    assert requests == [], "a locked run makes no request"
    assert files_under(tmp_path / "posts") == {}
    assert elapsed < 30


def test_the_second_run_waits_for_the_first_when_allowed(tmp_path: Path) -> None:
    holder = PostsFolderLock(tmp_path / "posts")
    holder.acquire(0)
    threading.Timer(1.0, holder.release).start()
    with ReplayProxy() as proxy:
        serve_corpus(proxy, [SEED])
        result = run_crawl(proxy.url, tmp_path, "sections=china", settings={"SINA_LOCK_WAIT": "20"})
    assert result.returncode == 0
    assert files_under(tmp_path / "posts") == {SEED.expected_path: SEED.expected}


def test_retries_back_off_and_honour_retry_after(tmp_path: Path) -> None:
    times: dict[str, list[float]] = {"503": [], "429": []}
    answers = {
        "503": [ProxyResponse(503, b"busy", {"Retry-After": "1"})],
        "429": [ProxyResponse(429, b"slow down")] * 2,
    }

    def flaky(kind: str):
        def handler(request: ProxyRequest) -> ProxyResponse:
            times[kind].append(time.monotonic())
            if answers[kind]:
                return answers[kind].pop(0)
            return ProxyResponse(200, SEED.page)

        return handler

    other = dict(SEED.item, url=SEED.item["url"].replace("zzkpeid5261109", "zzkpeid5261110"), title="另一篇")
    with ReplayProxy() as proxy:
        proxy.add_handler(SEED.https_url, flaky("503"))
        proxy.add_handler(other["url"], flaky("429"))
        RollApi({("155", "1686"): [SEED.item, other]}).install(proxy)
        result = run_crawl(proxy.url, tmp_path, "sections=china", settings={"RETRY_BACKOFF_BASE": "0.4"})
    assert result.returncode == 0
    assert files_under(tmp_path / "posts")[SEED.expected_path] == SEED.expected
    first, second = times["503"]
    assert second - first >= 0.95, "Retry-After: 1 was honoured"
    a, b, c = times["429"]
    assert b - a >= 0.4 and c - b >= 0.8, "pauses grow: 0.4 s, then 0.8 s (plus jitter)"
    assert result.stat("retry/count") == 3
    assert result.stat("sina/posts/new") == 2


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
    """scrapyd's cancel.json (SIGINT/SIGTERM) stops a run that waits for the lock at once."""
    import os
    import signal
    import subprocess
    import sys

    from tests.support.crawl import REPO

    holder = PostsFolderLock(tmp_path / "posts")
    holder.acquire(0)
    try:
        command = [sys.executable, "-m", "scrapy", "crawl", "sina_finance", "-a", "sections=china"]
        for name, value in {
            "HEXO_POSTS_DIR": tmp_path / "posts",
            "STATE_DB": tmp_path / "state.sqlite",
            "MANIFEST": tmp_path / "manifest.jsonl",
            "SINA_LOCK_WAIT": 60,
            "LOG_FILE": tmp_path / "crawl.log",
        }.items():
            command += ["-s", f"{name}={value}"]
        process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        log = tmp_path / "crawl.log"
        deadline = time.monotonic() + 30
        while "Spider opened" not in (log.read_text(encoding="utf-8") if log.exists() else ""):
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.1)
        time.sleep(1.0)
        os.kill(process.pid, signal.SIGINT)
        started = time.monotonic()
        process.wait(timeout=20)
        assert time.monotonic() - started < 5, "the stop request waited for the lock"
    finally:
        if process.poll() is None:
            process.kill()
        holder.release()
    assert "Received SIGINT" in log.read_text(encoding="utf-8")
