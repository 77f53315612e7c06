"""Crash safety, end to end: the real `scrapy crawl sina_finance` is killed with
SIGKILL twice while it writes 300 posts, then run again to completion.  The posts
folder must end up exactly as an uninterrupted crawl leaves it (byte for byte, no
temporary file), with one state row per post and a manifest line for each."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypedDict

import pytest

from crawler.storage.files import TEMP_FOLDER
from crawler.storage.locking import LOCK_NAME
from tests.conftest import CASES
from tests.support.crawl import REPO, CrawlResult, files_under, run_crawl
from tests.support.replay_proxy import ProxyRequest, ProxyResponse, ReplayProxy, RollApi

pytestmark = pytest.mark.e2e

ARTICLES = 300
SPIDER_ARGS = ("sections=china", "pages=10")  # 300 items: six roll pages of 50
SETTINGS = {"AUTOTHROTTLE_ENABLED": "0", "DOWNLOAD_DELAY": "0.01"}
ARTICLE_DELAY = 0.01  # seconds the proxy waits before each article page
KILL_AFTER = (25, 100)  # first kill once 25 posts exist, second once 100 more exist
# Article pages the proxy answers in a round before its kill; the others wait for the kill.
# So a kill always lands in the middle of the crawl, however slow the test is to notice the
# posts (a busy machine): never after the crawl has written everything.
ANSWERS_BEFORE_KILL = 40
POLL = 0.005
HANG_GUARD = 300  # seconds; only a crawl that hangs without progress waits it out


def _listing_and_pages() -> tuple[list[dict[str, Any]], dict[str, bytes]]:
    """300 distinct articles: corpus pages (in turn) at distinct URLs with distinct titles."""
    items, pages = [], {}
    for number in range(ARTICLES):
        case = CASES[number % len(CASES)]
        publishid = f"killtst{number:07d}"
        url = f"https://finance.sina.com.cn/roll/2026-09-28/doc-i{publishid}.shtml"
        when = str(1790000000 - number * 60)  # newest first, as the API lists
        item = copy.deepcopy(case.item)
        item.update(url=url, title=f"断电测试文章{number:03d}", ctime=when, intime=when, mtime=when)
        item["docid"] = f"comos:{publishid}"
        items.append(item)
        pages[url] = case.page
    return items, pages


class _KillRound:
    """Between start() and killed(), the proxy answers ``answers`` article pages and holds
    the next ones until the kill; outside a round it answers every page."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._left: int | None = None
        self._kill = threading.Event()

    def start(self, answers: int) -> None:
        with self._lock:
            self._left, self._kill = answers, threading.Event()

    def killed(self) -> None:
        with self._lock:
            self._left = None
            self._kill.set()

    def hold(self) -> threading.Event | None:
        with self._lock:
            if self._left is None:
                return None
            if self._left > 0:
                self._left -= 1
                return None
            return self._kill


def _serve(proxy: ReplayProxy, kill_round: _KillRound) -> None:
    items, pages = _listing_and_pages()
    for url, page in pages.items():

        def answer(request: ProxyRequest, page: bytes = page) -> ProxyResponse:
            headers = {"Content-Type": "text/html; charset=utf-8"}
            return ProxyResponse(200, page, headers, delay=ARTICLE_DELAY, hold=kill_round.hold())

        proxy.add_handler(url, answer)
    RollApi({("155", "1686"): items}).install(proxy)


def _settings(work: Path) -> dict[str, str]:
    return {
        "HEXO_POSTS_DIR": str(work / "posts"),
        "STATE_DB": str(work / "state.sqlite"),
        "MANIFEST": str(work / "manifest.jsonl"),
        "LOG_LEVEL": "INFO",
        "RETRY_BACKOFF_BASE": "0.05",  # as run_crawl
        **SETTINGS,
    }


def _start_crawl(proxy_url: str, work: Path, log_name: str) -> subprocess.Popen[bytes]:
    """The same command as tests.support.crawl.run_crawl, started in the background."""
    command = [sys.executable, "-m", "scrapy", "crawl", "sina_finance"]
    for arg in SPIDER_ARGS:
        command += ["-a", arg]
    for name, value in {**_settings(work), "LOG_FILE": str(work / log_name)}.items():
        command += ["-s", f"{name}={value}"]
    env = {key: value for key, value in os.environ.items() if key.lower() not in ("no_proxy", "all_proxy")}
    env.update(http_proxy=proxy_url, https_proxy=proxy_url, HTTP_PROXY=proxy_url, HTTPS_PROXY=proxy_url)
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _count_posts(posts: Path) -> int:
    return sum(1 for _, _, names in os.walk(posts) for name in names if name.endswith(".md") and name[0] != ".")


def _children(pid: int) -> list[int]:
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's parent may never reap it)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


def _kill_when(
    process: subprocess.Popen[bytes], count: Callable[[], int], at_least: int, deadline: float = HANG_GUARD
) -> tuple[int, list[int]]:
    """SIGKILL the crawl as soon as ``count()`` reaches ``at_least``; returns the count seen
    then, and the crawl's child processes (its parse workers)."""
    end = time.monotonic() + deadline
    try:
        while time.monotonic() < end:
            seen = count()
            if seen >= at_least:
                children = _children(process.pid)
                os.kill(process.pid, signal.SIGKILL)
                return seen, children
            if process.poll() is not None:
                pytest.fail(f"the crawl ended (rc {process.returncode}) before the count reached {at_least}: {seen}")
            time.sleep(POLL)
        pytest.fail(f"the count did not reach {at_least} in {deadline} s: {count()}")
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=HANG_GUARD)


def _recorded_posts(work: Path) -> int:
    """Posts on disk that the state has recorded too (a post is renamed into place, then
    its row committed): what the crawl has finished."""
    rows: int
    try:
        db = sqlite3.connect(f"file:{work / 'state.sqlite'}?mode=ro", uri=True)
        try:
            (rows,) = db.execute("SELECT count(*) FROM articles").fetchone()
        finally:
            db.close()
    except sqlite3.Error:  # not created yet, or being written
        return 0
    return min(rows, _count_posts(work / "posts"))


def _state_rows(work: Path) -> dict[str, tuple[str, str]]:
    """publishid -> (path, sha256), read without changing the database."""
    db = sqlite3.connect(f"file:{work / 'state.sqlite'}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT publishid, path, sha256 FROM articles").fetchall()
    finally:
        db.close()
    assert len({publishid for publishid, _, _ in rows}) == len(rows)
    return {publishid: (path, sha256) for publishid, path, sha256 in rows}


def _manifest(work: Path) -> list[dict[str, Any]]:
    data = (work / "manifest.jsonl").read_bytes()
    assert data.endswith(b"\n") or not data, "last manifest line not ended"
    return [json.loads(line) for line in data.decode("utf-8").splitlines()]


def _forget_newest_row(work: Path) -> str:
    """Delete the state row of the newest recorded article (on a page the next run
    lists, whatever paging does); returns its post's path."""
    path: str
    db = sqlite3.connect(work / "state.sqlite")
    try:
        publishid, path = db.execute("SELECT publishid, path FROM articles ORDER BY publishid LIMIT 1").fetchone()
        with db:
            db.execute("DELETE FROM articles WHERE publishid = ?", (publishid,))
    finally:
        db.close()
    return path


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _problems_after_kill(work: Path) -> list[str]:
    """What a kill may leave: posts not yet recorded, never a record without its post
    (or without its manifest line), never a torn manifest line."""
    posts = work / "posts"
    problems = []
    for publishid, (path, sha256) in _state_rows(work).items():
        if not (posts / path).is_file():
            problems.append(f"state row {publishid} without its post {path}")
        elif _sha256((posts / path).read_bytes()) != sha256:
            problems.append(f"{path}: state sha256 differs from the file")
    try:
        announced = {entry["path"] for entry in _manifest(work)}
    except (AssertionError, ValueError) as exc:
        return [*problems, f"manifest unreadable: {exc}"]
    problems += [f"recorded, not in the manifest: {p}" for p, _ in _state_rows(work).values() if p not in announced]
    return problems


class Kill(TypedDict):
    """What one kill of the crawl left."""

    seen: int  # posts counted when the kill was sent
    workers: list[int]  # the crawl's child processes then (its parse workers)
    workers_left: list[int]
    on_disk: int
    rows: int
    temporary: list[str]
    problems: list[str]


class CrashRuns(TypedDict):
    """An uninterrupted crawl, then the killed ones and the run that completes their work."""

    reference: Path
    uninterrupted: CrawlResult
    work: Path
    kills: list[Kill]
    recorded_before_final: set[str]
    final_articles: list[str]
    unrecorded: tuple[str, int]  # a post without its row, and its st_mtime_ns
    final: CrawlResult


@pytest.fixture(scope="module")
def crash_runs(tmp_path_factory: pytest.TempPathFactory) -> CrashRuns:
    reference = tmp_path_factory.mktemp("reference")
    work = tmp_path_factory.mktemp("killed")
    posts = work / "posts"
    kills: list[Kill] = []
    kill_round = _KillRound()
    with ReplayProxy() as proxy:
        _serve(proxy, kill_round)
        uninterrupted = run_crawl(proxy.url, reference, *SPIDER_ARGS, settings=SETTINGS)
        target = KILL_AFTER[0]
        for round_number in range(len(KILL_AFTER)):
            # Enough answers to reach the target, never enough to finish the crawl.
            kill_round.start(target - _count_posts(posts) + ANSWERS_BEFORE_KILL)
            process = _start_crawl(proxy.url, work, f"killed-{round_number}.log")
            try:
                seen, workers = _kill_when(process, lambda: _count_posts(posts), target)
            finally:
                kill_round.killed()
            # The workers notice their crawl is gone (their pipe closes): wait for that, not a time.
            time_left = time.monotonic() + HANG_GUARD
            while any(_running(pid) for pid in workers) and time.monotonic() < time_left:
                time.sleep(POLL)
            temporary = sorted(p.name for p in (posts / TEMP_FOLDER).glob("*.tmp"))
            kills.append(
                {
                    "seen": seen,
                    "workers": workers,
                    "workers_left": [pid for pid in workers if _running(pid)],
                    "on_disk": _count_posts(posts),
                    "rows": len(_state_rows(work)),
                    "temporary": temporary,
                    "problems": _problems_after_kill(work),
                }
            )
            target = _count_posts(posts) + KILL_AFTER[1]
        # What a kill between a post's rename and its state commit leaves: the post, no row.
        unrecorded = _forget_newest_row(work)
        unrecorded_mtime = (posts / unrecorded).stat().st_mtime_ns
        recorded_before_final = set(_state_urls(work))
        # What a kill in the middle of a write leaves (a real kill rarely hits that moment).
        planted = posts / TEMP_FOLDER / "999999-1.tmp"
        planted.parent.mkdir(parents=True, exist_ok=True)
        planted.write_bytes(b"\n---\ntitle: half a po")
        proxy.reset_log()
        final = run_crawl(proxy.url, work, *SPIDER_ARGS, settings=SETTINGS)
        final_articles = [url for url in proxy.urls() if "/doc-i" in url]
    return {
        "reference": reference,
        "uninterrupted": uninterrupted,
        "work": work,
        "kills": kills,
        "recorded_before_final": recorded_before_final,
        "final_articles": final_articles,
        "unrecorded": (unrecorded, unrecorded_mtime),
        "final": final,
    }


def _final(crash_runs: CrashRuns) -> CrawlResult:
    return crash_runs["final"]


def test_reference_crawl_writes_every_post(crash_runs: CrashRuns) -> None:
    result: CrawlResult = crash_runs["uninterrupted"]
    assert result.returncode == 0, result.log[-3000:]
    assert result.stat("sina/posts/new") == ARTICLES
    assert len(files_under(crash_runs["reference"] / "posts")) == ARTICLES
    assert len(set(files_under(crash_runs["reference"] / "posts").values())) == ARTICLES, "posts must differ"


def test_kills_happened_in_the_middle_of_the_crawl(crash_runs: CrashRuns) -> None:
    first, second = crash_runs["kills"]
    assert KILL_AFTER[0] <= first["seen"] < ARTICLES, first
    assert first["on_disk"] < second["seen"] < ARTICLES, (first, second)
    assert 0 < len(crash_runs["recorded_before_final"]) < ARTICLES


def test_a_killed_crawl_leaves_no_parse_worker_running(crash_runs: CrashRuns) -> None:
    for kill in crash_runs["kills"]:
        assert kill["workers"], "the crawl had a parse worker when it was killed"
        assert kill["workers_left"] == [], f"parse workers outlived their crawl by {HANG_GUARD} s"


def test_each_kill_left_a_consistent_folder(crash_runs: CrashRuns) -> None:
    for number, kill in enumerate(crash_runs["kills"]):
        assert kill["problems"] == [], f"after kill {number + 1}"
        assert kill["rows"] <= kill["on_disk"], f"after kill {number + 1}: more state rows than posts"


def test_final_run_completes_and_fetches_only_what_is_missing(crash_runs: CrashRuns) -> None:
    final = _final(crash_runs)
    assert final.returncode == 0, final.log[-3000:]
    recorded = crash_runs["recorded_before_final"]
    missing = {item["url"] for item in _listing_and_pages()[0]} - recorded
    fetched = crash_runs["final_articles"]
    assert sorted(fetched) == sorted(missing), "a recorded post was fetched again, or a missing one not at all"
    assert final.stat("sina/posts/new") == len(missing)  # also those written but not yet recorded at the kill
    assert final.stat("sina/posts/updated") == 0
    assert final.stat("sina/posts/failed/os_error") == 0
    assert f"Run summary (finished): new={len(missing)} updated=0 unchanged=" in final.log


def test_every_post_byte_exact_as_an_uninterrupted_crawl(crash_runs: CrashRuns) -> None:
    expected = files_under(crash_runs["reference"] / "posts")
    written = files_under(crash_runs["work"] / "posts")
    assert sorted(written) == sorted(expected)  # no post missing, no file more (temporary ones included)
    differing = [path for path in expected if written[path] != expected[path]]
    assert not differing, differing[:5]


def test_no_temporary_file_left(crash_runs: CrashRuns) -> None:
    posts = crash_runs["work"] / "posts"
    assert not list((posts / TEMP_FOLDER).iterdir())
    final = _final(crash_runs)
    left = len(crash_runs["kills"][-1]["temporary"])  # those of the first kill went at the second run
    assert final.stat("sina/posts/temp_removed") == left + 1  # + the planted one
    assert f"Removed {left + 1} temporary file(s) left by an interrupted run" in final.log
    assert (posts / LOCK_NAME).read_bytes() == b"", "lock released"


def test_state_has_one_row_per_post_with_its_sha256(crash_runs: CrashRuns) -> None:
    posts = crash_runs["work"] / "posts"
    rows = _state_rows(crash_runs["work"])
    files = files_under(posts)
    assert len(rows) == ARTICLES
    assert sorted(path for path, _ in rows.values()) == sorted(files)
    assert sorted(rows) == sorted(f"killtst{number:07d}" for number in range(ARTICLES))
    wrong = [path for path, sha256 in rows.values() if _sha256(files[path]) != sha256]
    assert not wrong, wrong[:5]


def test_manifest_announces_every_post_as_new(crash_runs: CrashRuns) -> None:
    entries = _manifest(crash_runs["work"])
    files = files_under(crash_runs["work"] / "posts")
    new = {entry["path"] for entry in entries if entry["status"] == "new"}
    assert new == set(files)
    assert {entry["status"] for entry in entries} == {"new"}
    for entry in entries:
        assert entry["sha256"] == _sha256(files[entry["path"]]), entry["path"]
    # A post written but not yet recorded when the crawl was killed is announced again.
    assert len(entries) >= ARTICLES + 1


def test_post_written_but_not_recorded_is_announced_again_not_rewritten(crash_runs: CrashRuns) -> None:
    path, mtime = crash_runs["unrecorded"]
    posts = crash_runs["work"] / "posts"
    lines = [entry for entry in _manifest(crash_runs["work"]) if entry["path"] == path]
    assert [entry["status"] for entry in lines] == ["new", "new"]
    assert lines[0]["run_id"] != lines[1]["run_id"]
    assert (posts / path).stat().st_mtime_ns == mtime, "a post whose bytes did not change must not be touched"
    assert path in {row_path for row_path, _ in _state_rows(crash_runs["work"]).values()}


# --- an article still in flight when the crawl is killed -----------------------------


def test_article_unwritten_at_the_kill_is_fetched_by_the_next_run(tmp_path: Path) -> None:
    """docs/usage.md: "a crash at any point (even `kill -9`) ... and the next run completes the
    work"; state.py: "a post without a row ... is simply fetched again".  Here the proxy
    holds the oldest article of two roll pages until the crawl is killed, which happens once
    every other post is written and recorded, so roll page 1 holds only known articles when
    the next run starts."""
    items, pages = _listing_and_pages()
    items = items[:100]  # two roll pages
    slow_url = items[-1]["url"]  # the oldest: on page 2
    killed = threading.Event()  # the slow article is answered only once the crawl is killed
    with ReplayProxy() as proxy:
        for item in items:
            url, page = item["url"], pages[item["url"]]

            def answer(request: ProxyRequest, url: str = url, page: bytes = page) -> ProxyResponse:
                return ProxyResponse(
                    200,
                    page,
                    {"Content-Type": "text/html; charset=utf-8"},
                    hold=killed if url == slow_url else None,
                )

            proxy.add_handler(url, answer)
        RollApi({("155", "1686"): items}).install(proxy)
        process = _start_crawl(proxy.url, tmp_path, "killed.log")
        try:
            seen, _ = _kill_when(process, lambda: _recorded_posts(tmp_path), len(items) - 1)
        finally:
            killed.set()
        assert proxy.count(slow_url) >= 1, "the slow article was not even asked for before the kill"
        assert _problems_after_kill(tmp_path) == []
        assert seen == len(_state_rows(tmp_path)) == len(items) - 1
        assert slow_url not in _state_urls(tmp_path)
        proxy.reset_log()
        again = run_crawl(proxy.url, tmp_path, *SPIDER_ARGS, settings=SETTINGS)
        roll_pages = proxy.count("/api/roll/get?")
        fetched_again = proxy.count(slow_url)
    assert again.returncode == 0, again.log[-3000:]
    assert fetched_again == 1, (
        f"{slow_url} (roll page 2) was unwritten when the crawl was killed, and the next run never fetched it:"
        f" roll page 1 held only known articles, so paging stopped after {roll_pages} page(s)"
        f" (sina/articles/known={again.stat('sina/articles/known')}); the post is missing for good"
    )
    assert len(files_under(tmp_path / "posts")) == len(items)


def _state_urls(work: Path) -> list[str]:
    db = sqlite3.connect(f"file:{work / 'state.sqlite'}?mode=ro", uri=True)
    try:
        return [url for (url,) in db.execute("SELECT url FROM articles")]
    finally:
        db.close()
