"""Parse workers: the same PageFacts as in process, and no page lost when a worker dies."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from scrapy.statscollectors import MemoryStatsCollector
from scrapy.utils.test import get_crawler

from crawler.config import ConfigError
from crawler.parsing.page_facts import page_facts
from crawler.parsing.workers import PageCrashedParser, PageFactsError, PageTimedOut, ParseWorkers, worker_command
from tests.support.replay_proxy import load_corpus

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
CASES = load_corpus(CORPUS)
UTF8 = "text/html; charset=utf-8"
CRASHING_WORKER = [sys.executable, "-c", "from tests.support.crashing_worker import main; main()"]


def _jobs(copies: int = 1) -> list[tuple[bytes, str]]:
    """(page, url) of every corpus case, copies times."""
    return [(case.page, case.https_url) for case in CASES] * copies


async def _all_facts(workers: ParseWorkers, jobs: list[tuple[bytes, str]]) -> list[object]:
    """Every job's PageFacts, or the exception it raised; at once, as a crawl asks."""
    try:
        return await asyncio.gather(
            *(workers.page_facts(page, UTF8, url) for page, url in jobs), return_exceptions=True
        )
    finally:
        await workers.close()


def _stats_crawler():
    crawler = get_crawler()
    crawler.stats = MemoryStatsCollector(crawler)
    return crawler


def test_worker_facts_equal_in_process_facts() -> None:
    jobs = _jobs(2)  # more pages than may be in flight at once
    got = asyncio.run(_all_facts(ParseWorkers(1), jobs))
    assert got == [page_facts(page, UTF8, url) for page, url in jobs]
    assert all(facts.body is not None and facts.body.html for facts in got)  # type: ignore[union-attr]


def test_a_page_that_kills_the_worker_is_skipped_and_no_other_is_lost() -> None:
    crawler = _stats_crawler()
    workers = ParseWorkers(1, crawler, command=CRASHING_WORKER)
    jobs = _jobs()
    page, url = jobs[0]
    jobs.insert(2, (page, url.replace("/doc-i", "/crash-me/doc-i")))  # in flight with others
    got = asyncio.run(_all_facts(workers, jobs))
    crashed = [result for result in got if isinstance(result, BaseException)]
    assert len(crashed) == 1 and isinstance(got[2], PageCrashedParser), got
    assert all(not isinstance(result, BaseException) for i, result in enumerate(got) if i != 2)
    # Died with the page among others, then alone: two deaths, a fresh worker each time.
    assert crawler.stats.get_value("sina/parse_workers/died") == 2
    assert crawler.stats.get_value("sina/parse_workers/started") >= 3


def test_a_worker_killed_from_outside_costs_no_page() -> None:
    crawler = _stats_crawler()
    workers = ParseWorkers(1, crawler)
    jobs = _jobs(3)

    async def run() -> list[object]:
        task = asyncio.ensure_future(_all_facts(workers, jobs))
        while not workers._workers:  # the first page starts the worker
            await asyncio.sleep(0.001)
        os.kill(workers._workers[0].process.pid, signal.SIGKILL)
        return await task

    got = asyncio.run(run())
    assert all(not isinstance(result, BaseException) for result in got), got
    assert crawler.stats.get_value("sina/parse_workers/died") == 1  # once, for all the pages it held


def test_a_bug_met_on_a_page_fails_that_page_only_and_the_worker_goes_on() -> None:
    crawler = _stats_crawler()
    jobs = _jobs()
    page, url = jobs[0]
    jobs.insert(1, (page, url.replace("/doc-i", "/raise-me/doc-i")))
    got = asyncio.run(_all_facts(ParseWorkers(1, crawler, command=CRASHING_WORKER), jobs))
    assert isinstance(got[1], PageFactsError)
    assert "ZeroDivisionError: a bug met on this page" in str(got[1]) and "raise-me" in str(got[1])
    assert all(not isinstance(result, BaseException) for i, result in enumerate(got) if i != 1)
    assert crawler.stats.get_value("sina/parse_workers/started") == 1  # no worker died
    assert crawler.stats.get_value("sina/parse_workers/died") is None


def test_a_bug_in_process_is_reported_as_a_worker_reports_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from crawler.parsing import workers as parse_workers

    def buggy(body: bytes, content_type: str | None, url: str, style: str) -> object:
        raise ZeroDivisionError("a bug met on this page")

    monkeypatch.setattr(parse_workers, "page_facts", buggy)
    got = asyncio.run(_all_facts(ParseWorkers(0), _jobs()[:1]))
    assert isinstance(got[0], PageFactsError)
    assert "ZeroDivisionError: a bug met on this page" in str(got[0])


def test_a_worker_exits_when_its_crawl_is_gone() -> None:
    """kill -9 of the crawl closes the worker's stdin: the worker must not outlive it."""
    worker = subprocess.Popen(worker_command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    time.sleep(0.2)
    assert worker.poll() is None
    assert worker.stdin is not None
    worker.stdin.close()
    assert worker.wait(timeout=10) == 0


@pytest.mark.parametrize("value", ["-1", "two", "1.5"])
def test_parse_workers_setting_is_checked(value: str) -> None:
    crawler = get_crawler(settings_dict={"SINA_PARSE_WORKERS": value})
    with pytest.raises(ConfigError, match="SINA_PARSE_WORKERS"):
        ParseWorkers.from_crawler(crawler)


def test_zero_workers_parse_in_process() -> None:
    workers = ParseWorkers(0)
    jobs = _jobs()[:1]
    got = asyncio.run(_all_facts(workers, jobs))
    assert got == [page_facts(jobs[0][0], UTF8, jobs[0][1])]
    assert workers._workers == []


def test_a_page_over_the_parse_budget_is_skipped_and_no_other_is_lost() -> None:
    """A page that keeps the parser busy (40,000 attributes on one element: seconds, where
    a real page takes milliseconds) is cut off at the budget; its worker is killed and the
    pages queued behind it are parsed again, each as before."""
    crawler = _stats_crawler()
    attributes = " ".join(f"a{n}=1" for n in range(40_000))
    slow = (f"<html><body><div id='artibody'><p {attributes}>x</p></div></body></html>".encode(), CASES[0].https_url)
    jobs = [_jobs()[1], slow, *_jobs()[2:5]]
    started = time.monotonic()
    got = asyncio.run(_all_facts(ParseWorkers(1, crawler, budget=0.5), jobs))
    elapsed = time.monotonic() - started
    assert isinstance(got[1], PageTimedOut) and "SINA_PARSE_TIMEOUT" in str(got[1])
    assert [g for i, g in enumerate(got) if i != 1] == [
        page_facts(page, UTF8, url) for page, url in jobs if page != slow[0]
    ]
    assert elapsed < 5, "the slow page takes seconds to parse; the budget stops it sooner"


def test_parse_timeout_setting_is_checked() -> None:
    for value in ("0", "-1", "soon"):
        with pytest.raises(ConfigError, match="SINA_PARSE_TIMEOUT"):
            ParseWorkers.from_crawler(get_crawler(settings_dict={"SINA_PARSE_TIMEOUT": value}))
    assert ParseWorkers.from_crawler(get_crawler(settings_dict={"SINA_PARSE_TIMEOUT": "2.5"})).budget == 2.5
