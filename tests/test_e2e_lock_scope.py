"""Only a crawl that writes posts takes the posts-folder lock (crawler.extensions.runstate):
`scrapy shell` and `scrapy parse` read pages and leave the folder to a crawl, and a crawl
turned away names the holder's PID and command line.  Also the single-URL check the docs
give (docs/usage.md, "Checking one page"), through the real commands and the replay proxy."""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

import pytest

from crawler.storage.locking import LOCK_NAME, PostsFolderLock
from tests.conftest import corpus_case
from tests.support.crawl import REPO, CrawlResult, files_under, finished_crawl, run_crawl, running_crawl, scrapy_command
from tests.support.replay_proxy import DEFAULT_CONTENT_TYPE, ProxyResponse, ReplayProxy, serve_corpus
from tests.support.settings import output_settings

pytestmark = pytest.mark.e2e

SEED = corpus_case("seed-haiguan")
TITLE = "2022年全国海关工作会议在北京召开"
HANG_GUARD = 120  # seconds; only a test that would otherwise hang waits it out


def _lines(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    """Each line the shell prints, then None at its end."""
    for line in stream:
        lines.put(line)
    lines.put(None)


def _crawl_beside(shell: subprocess.Popen[str], proxy_url: str, work: Path) -> tuple[CrawlResult, list[str]]:
    """Once the shell shows its banner (the page fetched, its spider open), the lock is
    free and a crawl runs; then the shell is asked for its response, and ends."""
    lines: queue.Queue[str | None] = queue.Queue()
    assert shell.stdout is not None and shell.stdin is not None
    reader = threading.Thread(target=_lines, args=(shell.stdout, lines), daemon=True)
    reader.start()
    seen: list[str] = []
    deadline = time.monotonic() + HANG_GUARD
    while not any("Available Scrapy objects" in line for line in seen):
        assert time.monotonic() < deadline, "no shell banner:\n" + "".join(seen)
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            continue
        assert line is not None, "the shell ended:\n" + "".join(seen)
        seen.append(line)
    free = PostsFolderLock(work / "posts")
    assert free.try_acquire(), f"the shell holds the lock: {(work / 'posts' / LOCK_NAME).read_text()}"
    free.release()
    result = run_crawl(proxy_url, work, "sections=china", settings={"SINA_LOCK_WAIT": "0.5"})
    shell.stdin.write("print('shell still has', response.status)\n")
    shell.stdin.close()
    shell.wait(timeout=HANG_GUARD)
    reader.join(timeout=HANG_GUARD)
    while not lines.empty():
        seen.append(lines.get() or "")
    return result, seen


def test_scrapy_shell_leaves_the_posts_folder_to_a_crawl(tmp_path: Path) -> None:
    """A shell holds a fetched article open while a real crawl of the same posts folder
    runs: the crawl writes its post, and the shell, still there, answers afterwards."""
    with ReplayProxy() as proxy:
        serve_corpus(proxy, [SEED])
        command, env = scrapy_command(
            proxy.url, tmp_path / "shell", "shell", SEED.https_url, settings=output_settings(tmp_path)
        )
        env.update(PYTHONUNBUFFERED="1", SCRAPY_PYTHON_SHELL="python")
        with subprocess.Popen(
            command,
            cwd=REPO,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        ) as shell:
            try:
                result, seen = _crawl_beside(shell, proxy.url, tmp_path)
            finally:
                if shell.poll() is None:
                    shell.kill()
    assert result.returncode == 0, result.log[-3000:]
    assert result.stats["finish_reason"] == "finished" and result.stat("sina/posts/new") == 1
    assert "Not crawling" not in result.log
    assert any("shell still has 200" in line for line in seen), "".join(seen)[-3000:]


def test_a_crawl_turned_away_names_the_crawl_that_holds_the_folder(tmp_path: Path) -> None:
    """The first crawl holds the lock while its article's answer is held back; a second
    crawl on the same posts folder stops with a message naming the first's PID and
    command line; the first then finishes its work."""
    posts = {"HEXO_POSTS_DIR": str(tmp_path / "posts")}
    answer = threading.Event()
    with ReplayProxy() as proxy:
        serve_corpus(proxy, [SEED])
        proxy.remove(SEED.https_url)
        proxy.add_handler(
            SEED.https_url,
            lambda request: ProxyResponse(200, SEED.page, {"Content-Type": DEFAULT_CONTENT_TYPE}, hold=answer),
        )
        with running_crawl(proxy.url, tmp_path / "first", "sections=china", settings=posts) as first:
            try:
                deadline = time.monotonic() + HANG_GUARD
                while proxy.count(SEED.https_url) == 0:  # the first is at its article: it holds the lock
                    assert first.poll() is None, "the first crawl ended before its article"
                    assert time.monotonic() < deadline, "the first crawl never asked for its article"
                    time.sleep(0.05)
                second = run_crawl(
                    proxy.url, tmp_path / "second", "sections=china", settings={**posts, "SINA_LOCK_WAIT": "0.5"}
                )
            finally:
                answer.set()
            first_result = finished_crawl(first, tmp_path / "first")
    assert second.returncode == 1 and second.stats["finish_reason"] == "posts_dir_locked"
    holder = f"held by PID {first.pid}: {Path(sys.executable).name} -m scrapy crawl sina_finance -a sections=china -s "
    (line,) = [line for line in second.log.splitlines() if "Not crawling" in line]
    assert f"another crawl is writing to {tmp_path / 'posts'} ({holder}" in line, line
    assert first_result.returncode == 0 and first_result.stat("sina/posts/new") == 1, first_result.log[-3000:]


def _parse(proxy_url: str, work: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """The documented check of one page: scrapy parse --spider sina_finance URL."""
    command, env = scrapy_command(
        proxy_url,
        work / "parse",
        "parse",
        "--spider",
        "sina_finance",
        *options,
        SEED.https_url,
        settings=output_settings(work),
    )
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=HANG_GUARD)


def test_the_documented_single_page_check_shows_the_post_and_takes_no_lock(tmp_path: Path) -> None:
    """docs/usage.md's `scrapy parse --spider sina_finance URL` (no -c), run while another
    crawl holds the posts folder: it prints the post the crawl would write, writes nothing."""
    holder = PostsFolderLock(tmp_path / "posts")
    holder.acquire(0)
    try:
        with ReplayProxy() as proxy:
            serve_corpus(proxy, [SEED])
            done = _parse(proxy.url, tmp_path)
    finally:
        holder.release()
    documented = (REPO / "docs" / "usage.md").read_text(encoding="utf-8")
    assert f"scrapy parse --spider sina_finance {SEED.https_url}\n" in documented, "the command docs/usage.md gives"
    log = (tmp_path / "parse" / "crawl.log").read_text(encoding="utf-8")
    assert done.returncode == 0, done.stderr[-3000:] + log[-3000:]
    assert "# Scraped Items" in done.stdout and f"'title': '{TITLE}'" in done.stdout, done.stdout[-3000:]
    assert "'section': 'china'" in done.stdout
    assert "Not crawling" not in log and "Traceback" not in log + done.stderr
    assert files_under(tmp_path / "posts") == {}


def test_parse_with_pipelines_writes_no_post_and_says_so(tmp_path: Path) -> None:
    """Only `scrapy crawl` writes posts: `scrapy parse --pipelines` drops its post with a
    line that says so, and leaves no lock taken, no state and no manifest.  (Scrapy's parse
    command does not await its pipelines, so asyncio adds the DropItem's traceback.)"""
    with ReplayProxy() as proxy:
        serve_corpus(proxy, [SEED])
        done = _parse(proxy.url, tmp_path, "--pipelines")
    log = (tmp_path / "parse" / "crawl.log").read_text(encoding="utf-8")
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"not written: only `scrapy crawl` writes posts ({SEED.https_url})" in log, log[-3000:]
    assert files_under(tmp_path / "posts") == {}
    assert not (tmp_path / "manifest.jsonl").exists() and not (tmp_path / "state.sqlite").exists()
