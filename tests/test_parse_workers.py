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

from crawler.config import Config, ConfigError
from crawler.config.crawl import MAX_AUTO_WORKERS, parse_worker_count
from crawler.parsing.page_facts import PageFacts, page_facts
from crawler.parsing.workers import PageCrashedParser, PageFactsError, PageTimedOut, ParseWorkers, worker_command
from tests.conftest import CASES
from tests.support.settings import project_settings

ROOT = Path(__file__).resolve().parents[1]
UTF8 = "text/html; charset=utf-8"
CRASHING_WORKER = [sys.executable, "-c", "from tests.support.crashing_worker import main; main()"]

Outcome = PageFacts | BaseException  # a page's facts, or what stopped them


def _jobs(copies: int = 1) -> list[tuple[bytes, str]]:
    """(page, url) of every corpus case, copies times."""
    return [(case.page, case.https_url) for case in CASES] * copies


async def _all_facts(workers: ParseWorkers, jobs: list[tuple[bytes, str]]) -> list[Outcome]:
    """Every job's PageFacts, or the exception it raised; at once, as a crawl asks."""
    try:
        return await asyncio.gather(
            *(workers.page_facts(page, UTF8, url) for page, url in jobs), return_exceptions=True
        )
    finally:
        await workers.close()


class _Events:
    """What ParseWorkers tells the crawl's stats: started, died."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def __call__(self, event: str) -> None:
        self.counts[event] = self.counts.get(event, 0) + 1

    def get_value(self, key: str) -> int | None:
        return self.counts.get(key.rsplit("/", 1)[-1])


def test_worker_facts_equal_in_process_facts() -> None:
    jobs = _jobs(2)  # more pages than may be in flight at once
    got = asyncio.run(_all_facts(ParseWorkers(1), jobs))
    assert got == [page_facts(page, UTF8, url) for page, url in jobs]
    assert all(isinstance(facts, PageFacts) and facts.body is not None and facts.body.html for facts in got)


def test_a_page_that_kills_the_worker_is_skipped_and_no_other_is_lost() -> None:
    events = _Events()
    workers = ParseWorkers(1, command=CRASHING_WORKER, count_event=events)
    jobs = _jobs()
    page, url = jobs[0]
    jobs.insert(2, (page, url.replace("/doc-i", "/crash-me/doc-i")))  # in flight with others
    got = asyncio.run(_all_facts(workers, jobs))
    crashed = [result for result in got if isinstance(result, BaseException)]
    assert len(crashed) == 1 and isinstance(got[2], PageCrashedParser), got
    assert all(not isinstance(result, BaseException) for i, result in enumerate(got) if i != 2)
    # Died with the page among others, then alone: two deaths, a fresh worker each time.
    assert events.get_value("sina/parse_workers/died") == 2
    started = events.get_value("sina/parse_workers/started")
    assert started is not None and started >= 3


def test_a_worker_killed_from_outside_costs_no_page() -> None:
    events = _Events()
    workers = ParseWorkers(1, count_event=events)
    jobs = _jobs(3)

    async def run() -> list[Outcome]:
        task = asyncio.ensure_future(_all_facts(workers, jobs))
        while not workers._workers:  # the first page starts the worker
            await asyncio.sleep(0.001)
        os.kill(workers._workers[0].process.pid, signal.SIGKILL)
        return await task

    got = asyncio.run(run())
    assert all(not isinstance(result, BaseException) for result in got), got
    assert events.get_value("sina/parse_workers/died") == 1  # once, for all the pages it held


def test_a_bug_met_on_a_page_fails_that_page_only_and_the_worker_goes_on() -> None:
    events = _Events()
    jobs = _jobs()
    page, url = jobs[0]
    jobs.insert(1, (page, url.replace("/doc-i", "/raise-me/doc-i")))
    got = asyncio.run(_all_facts(ParseWorkers(1, command=CRASHING_WORKER, count_event=events), jobs))
    assert isinstance(got[1], PageFactsError)
    assert "ZeroDivisionError: a bug met on this page" in str(got[1]) and "raise-me" in str(got[1])
    assert all(not isinstance(result, BaseException) for i, result in enumerate(got) if i != 1)
    assert events.get_value("sina/parse_workers/started") == 1  # no worker died
    assert events.get_value("sina/parse_workers/died") is None


def test_a_bug_in_process_is_reported_as_a_worker_reports_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from crawler.parsing import workers as parse_workers

    def buggy(body: bytes, content_type: str | None, url: str, style: str, kind: str) -> object:
        raise ZeroDivisionError("a bug met on this page")

    monkeypatch.setattr(parse_workers, "page_facts", buggy)
    got = asyncio.run(_all_facts(ParseWorkers(0), _jobs()[:1]))
    assert isinstance(got[0], PageFactsError)
    assert "ZeroDivisionError: a bug met on this page" in str(got[0])


def test_a_worker_exits_when_its_crawl_is_gone() -> None:
    """kill -9 of the crawl closes the worker's stdin: the worker must not outlive it."""
    with subprocess.Popen(worker_command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE) as worker:
        time.sleep(0.2)
        assert worker.poll() is None
        assert worker.stdin is not None
        worker.stdin.close()
        assert worker.wait(timeout=10) == 0


@pytest.mark.parametrize("value", ["-1", "two", "1.5", "automatic"])
def test_parse_workers_setting_is_checked(value: str) -> None:
    with pytest.raises(ConfigError, match=r"SINA_PARSE_WORKERS=.*expected a whole number, 0 or more, or auto"):
        Config.from_settings(project_settings({"SINA_PARSE_WORKERS": value}))


@pytest.mark.parametrize(("cpus", "workers"), [(1, 1), (2, 1), (3, 2), (4, 3), (5, 4), (64, 4)])
def test_auto_parse_workers_take_the_cores_beyond_the_crawls_own(cpus: int, workers: int) -> None:
    assert parse_worker_count("auto", cpus) == workers
    assert parse_worker_count(" AUTO ", cpus) == workers


def test_auto_parse_workers_follow_this_process_cpu_affinity() -> None:
    usable = len(os.sched_getaffinity(0))
    config = Config.from_settings(project_settings({"SINA_PARSE_WORKERS": "auto"}))
    assert config.parse_workers == max(1, min(MAX_AUTO_WORKERS, usable - 1))
    assert Config.from_settings(project_settings({"SINA_PARSE_WORKERS": "3"})).parse_workers == 3


def test_zero_workers_parse_in_process() -> None:
    workers = ParseWorkers(0)
    jobs = _jobs()[:1]
    got = asyncio.run(_all_facts(workers, jobs))
    assert got == [page_facts(jobs[0][0], UTF8, jobs[0][1])]
    assert workers._workers == []


# A page that keeps the parser busy: 40,000 attributes on one element take seconds to
# parse, where a real page takes milliseconds.
_ATTRIBUTES = " ".join(f"a{n}=1" for n in range(40_000))
SLOW_PAGE = f"<html><body><div id='artibody'><p {_ATTRIBUTES}>x</p></div></body></html>".encode()


# Seconds per page: far less than the slow page takes, far more than a real page (whose
# clock also runs while its worker starts) takes on a busy machine.
BUDGET = 2.0


def _over_budget_jobs() -> list[tuple[bytes, str]]:
    """The slow page (second) among four corpus pages."""
    return [_jobs()[1], (SLOW_PAGE, CASES[0].https_url), *_jobs()[2:5]]


def test_a_page_over_the_parse_budget_is_skipped_and_no_other_is_lost() -> None:
    """The slow page is cut off at the budget; its worker is killed and the pages queued
    behind it are parsed again, each as before."""
    jobs = _over_budget_jobs()
    got = asyncio.run(_all_facts(ParseWorkers(1, budget=BUDGET, count_event=_Events()), jobs))
    assert isinstance(got[1], PageTimedOut) and "SINA_PARSE_TIMEOUT" in str(got[1])
    assert [g for i, g in enumerate(got) if i != 1] == [
        page_facts(page, UTF8, url) for page, url in jobs if page != SLOW_PAGE
    ]


@pytest.mark.e2e  # slow: parses the slow page to the end, for seconds
def test_the_parse_budget_stops_the_slow_page_before_it_is_parsed() -> None:
    """The budgeted run (the slow page among four real ones, one worker, BUDGET) races the
    slow page alone in a worker without a budget: the run has every answer, the slow
    page's PageTimedOut included, before the other worker has parsed the page to the end.
    An order of events, not a time: a loaded machine slows both sides alike."""
    order: list[str] = []

    async def side(name: str, workers: ParseWorkers, jobs: list[tuple[bytes, str]]) -> list[Outcome]:
        got = await _all_facts(workers, jobs)
        order.append(name)
        return got

    async def race() -> tuple[list[Outcome], list[Outcome]]:
        return await asyncio.gather(
            side("budgeted run", ParseWorkers(1, budget=BUDGET), _over_budget_jobs()),
            side("slow page parsed to the end", ParseWorkers(1, budget=None), [(SLOW_PAGE, CASES[0].https_url)]),
        )

    run, alone = asyncio.run(race())
    assert isinstance(run[1], PageTimedOut)
    assert all(not isinstance(result, BaseException) for i, result in enumerate(run) if i != 1)
    assert not isinstance(alone[0], BaseException), "without a budget the slow page is parsed: it is only slow"
    assert order == ["budgeted run", "slow page parsed to the end"]


def test_parse_timeout_setting_is_checked() -> None:
    for value in ("0", "-1", "soon"):
        with pytest.raises(ConfigError, match="SINA_PARSE_TIMEOUT"):
            Config.from_settings(project_settings({"SINA_PARSE_TIMEOUT": value}))
    assert Config.from_settings(project_settings({"SINA_PARSE_TIMEOUT": "2.5"})).parse_timeout == 2.5
