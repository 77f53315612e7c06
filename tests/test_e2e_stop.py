"""End to end: a crawl that stops when it must (issue 19).

- **No network**: with no DNS at all (a resolver that answers nothing, no proxy) or a
  dead proxy (a closed port on 127.0.0.1), the real `scrapy crawl sina_finance` of every
  shipped section, with the project's own politeness and backoff settings, stops well
  within 60 s: exit 1, finish reason ``network_unreachable``, one ERROR line that names
  the DNS name or the proxy (its password never), and no host-wide backoff.  Nothing
  leaves 127.0.0.1: every lookup fails in the process, every connection is refused.
- **Stop when told**: SIGTERM or SIGINT in the middle of a crawl, with article pages on
  the wire that the proxy never answers, ends it within 10 s: exit 3, the run summary
  with ``interrupted`` and the number of listed articles not reached, no temporary file;
  a second signal stops it at once, summary and exit 3 included.  The next run writes
  exactly what was not reached, and the posts are byte for byte those of a crawl never
  stopped.
- **A worker without Redis**: one ERROR line, no traceback, ``cluster_unavailable``, exit
  1, and the Redis password nowhere in its output.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from crawler import settings as project_settings
from crawler.storage.files import TEMP_FOLDER
from tests.conftest import CASES
from tests.support.crawl import REPO, CrawlResult, count_posts, crawl_command, crawl_result, files_under, run_crawl
from tests.support.replay_proxy import ProxyRequest, ProxyResponse, ReplayProxy, RollApi
from tests.support.synthetic import LID, PAGEID, synthetic_articles

pytestmark = pytest.mark.e2e

NO_NETWORK_LIMIT = 60.0  # seconds (issue 19)
SILENT_TIMEOUT = 5  # DOWNLOAD_TIMEOUT through a silent proxy
STOP_LIMIT = 10.0  # seconds from the signal to the exit (issue 19)
# The project's own pace, not the short one run_crawl gives tests: what a user runs.
PRODUCTION_PACE = {
    "AUTOTHROTTLE_START_DELAY": str(project_settings.AUTOTHROTTLE_START_DELAY),
    "DOWNLOAD_DELAY": str(project_settings.DOWNLOAD_DELAY),
    "RETRY_BACKOFF_BASE": str(project_settings.RETRY_BACKOFF_BASE),
}


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port  # nothing listens there now


def _errors(log: str) -> list[str]:
    return [line for line in log.splitlines() if " ERROR: " in line]


def _timed_crawl(work: Path, env: dict[str, str], settings: dict[str, str]) -> tuple[CrawlResult, float]:
    """Every shipped section, through what ``env`` says the network is; (result, seconds)."""
    command, environment = crawl_command(
        f"http://127.0.0.1:{_closed_port()}", work, settings={**PRODUCTION_PACE, **settings}
    )
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        environment.pop(name, None)
    environment.update(env)
    started = time.monotonic()
    done = subprocess.run(command, cwd=REPO, env=environment, capture_output=True, text=True, timeout=300)
    elapsed = time.monotonic() - started
    print(f"network_unreachable after {elapsed:.2f} s")  # the figure issue 19 asks for
    return crawl_result(work, done.returncode, done.stderr + done.stdout), elapsed


def _assert_unreachable(result: CrawlResult, elapsed: float, names: str) -> None:
    assert result.returncode == 1, result.log[-3000:]
    assert result.stats["finish_reason"] == "network_unreachable"
    errors = _errors(result.log)
    assert len(errors) == 1, errors
    assert names in errors[0], errors[0]
    assert elapsed < NO_NETWORK_LIMIT
    assert "Slowing down" not in result.log  # no host-wide backoff for a missing network
    assert "sina/retry/backoff_seconds" not in result.stats
    assert "Traceback" not in result.log
    assert "Run summary (network_unreachable)" in result.log


def test_no_dns_fails_fast_naming_the_name(tmp_path: Path) -> None:
    """Every name fails to resolve, in the process (tests.support.fake_dns with no entry)."""
    result, elapsed = _timed_crawl(
        tmp_path,
        env={"no_proxy": "*"},
        settings={"TWISTED_DNS_RESOLVER": "tests.support.fake_dns.MappedResolver", "TEST_DNS": "{}"},
    )
    _assert_unreachable(result, elapsed, "Network unreachable: DNS lookup for ")
    assert "DNS lookup for feed.mix.sina.com.cn failed" in result.log
    assert not files_under(tmp_path / "posts")


def test_a_dead_proxy_fails_fast_naming_the_proxy_without_its_password(tmp_path: Path) -> None:
    proxy = f"http://crawler:s3cret@127.0.0.1:{_closed_port()}"
    env = {name: proxy for name in ("http_proxy", "https_proxy")}
    result, elapsed = _timed_crawl(tmp_path, env=env, settings={})
    shown = proxy.replace("crawler:s3cret@", "")
    _assert_unreachable(result, elapsed, f"Network unreachable: the proxy {shown} refused the connection")
    assert "s3cret" not in result.log
    assert not files_under(tmp_path / "posts")


def test_a_silent_proxy_fails_fast_naming_it(tmp_path: Path) -> None:
    """A firewall that drops packets: the proxy's port takes the connection (the kernel's
    backlog) and never answers; the first downloads time out with no answer from anywhere."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)  # never accepted, never answered
        proxy = f"http://127.0.0.1:{silent.getsockname()[1]}"
        env = {name: proxy for name in ("http_proxy", "https_proxy")}
        # 5 s, not the shipped 30 s, and a 1 s stop grace, not 5, to keep the suite short:
        # the stop comes one timeout after the start, as 2 hosts time out together (36 s
        # with 30 s and the shipped grace, measured), then the grace.
        settings = {"DOWNLOAD_TIMEOUT": str(SILENT_TIMEOUT), "SINA_STOP_GRACE": "1"}
        result, elapsed = _timed_crawl(tmp_path, env=env, settings=settings)
    _assert_unreachable(
        result, elapsed, f"Network unreachable: no answer through the proxy {proxy} within {SILENT_TIMEOUT} s"
    )
    # Fast: one timeout, not UNREACHABLE_AFTER of them one after another (15 s and more).
    assert elapsed < 2 * SILENT_TIMEOUT + 5, f"{elapsed:.2f} s"
    assert not files_under(tmp_path / "posts")


def test_once_a_host_answered_connection_failures_are_retried_as_before(tmp_path: Path) -> None:
    """The check ends at the first HTTP response: the roll API answers (through the proxy),
    then every article's name fails to resolve.  Those are retried and skipped as before
    (dns_error), and the run ends as one whose articles all failed, not network_unreachable."""
    with ReplayProxy() as proxy:
        items = _serve(proxy, 3, None)
        result = run_crawl(
            proxy.url,
            tmp_path,
            "sections=china",
            settings={
                "TWISTED_DNS_RESOLVER": "tests.support.fake_dns.MappedResolver",
                "TEST_DNS": "{}",
                "RETRY_TIMES": "1",  # the normal backoff applies: short pauses, few of them
                "RETRY_BACKOFF_BASE": "0.01",
            },
            env={"no_proxy": "finance.sina.com.cn"},  # its article pages: no DNS
        )
    assert result.stats["finish_reason"] == "no_article_parsed", result.log[-3000:]
    assert result.stat("sina/skipped/dns_error") == len(items)
    assert result.stat("retry/count") >= len(items)
    assert "Network unreachable" not in result.log
    assert "Slowing down finance.sina.com.cn (CannotResolveHostError" in result.log  # the host-wide rule, as before


# --- stop when told ----------------------------------------------------------------

ARTICLES = 60
ANSWERED = 12  # article pages the proxy answers; the others stay on the wire
SPIDER_ARGS = ("sections=china", "pages=2")  # two roll pages of 50: 60 items
FAST = {"AUTOTHROTTLE_ENABLED": "0", "DOWNLOAD_DELAY": "0.01"}


class _Gate:
    """Answers the first ``answers`` article pages; holds the others until ``release``."""

    def __init__(self, answers: int | None) -> None:
        self.left = answers
        self.held = 0  # pages held so far: downloads on the wire
        self.lock = threading.Lock()
        self.released = threading.Event()

    def hold(self) -> threading.Event | None:
        with self.lock:
            if self.left is None:
                return None
            if self.left > 0:
                self.left -= 1
                return None
            self.held += 1
            return self.released


def _serve(proxy: ReplayProxy, count: int, held: _Gate | None) -> list[dict[str, Any]]:
    """``count`` synthetic articles and their listing; returns the roll-API items."""
    items, pages = synthetic_articles(list(CASES), count)
    for url, page in pages:

        def answer(request: ProxyRequest, page: bytes = page) -> ProxyResponse:
            headers = {"Content-Type": "text/html; charset=utf-8"}
            return ProxyResponse(200, page, headers, hold=None if held is None else held.hold())

        proxy.add_handler(url, answer)
    RollApi({(PAGEID, LID): items}).install(proxy)
    return items


def _start(proxy_url: str, work: Path, grace: float) -> subprocess.Popen[str]:
    command, environment = crawl_command(
        proxy_url, work, *SPIDER_ARGS, settings={**FAST, "SINA_STOP_GRACE": f"{grace:g}"}
    )
    return subprocess.Popen(
        command, cwd=REPO, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The posts of the same crawl never stopped (every page answered): one for every case."""
    reference = tmp_path_factory.mktemp("uninterrupted")
    with ReplayProxy() as proxy:
        _serve(proxy, ARTICLES, None)
        result = run_crawl(proxy.url, reference, *SPIDER_ARGS, settings=FAST)
    assert result.returncode == 0, result.log[-3000:]
    return files_under(reference / "posts")


SHIPPED_GRACE = float(project_settings.SINA_STOP_GRACE)


@pytest.mark.parametrize(
    ("signals", "grace", "limit", "answered_after_signal"),
    [
        # The downloads in flight never answer: the stop waits SINA_STOP_GRACE for them,
        # the shipped 5 s within issue 19's 10 s...
        pytest.param((signal.SIGTERM,), SHIPPED_GRACE, STOP_LIMIT, False, id="SIGTERM"),
        # ... and as long as an operator sets, no longer (1 s here, to keep the suite short).
        pytest.param((signal.SIGINT,), 1.0, 1.0 + 3.0, False, id="SIGINT"),
        # A second signal stops at once, without the downloads in flight: well before the grace.
        pytest.param((signal.SIGTERM, signal.SIGINT), SHIPPED_GRACE, 4.0, False, id="SIGTERM-then-SIGINT"),
        # They answer once the signal is sent: the stop ends with them, well before the grace.
        pytest.param((signal.SIGTERM,), SHIPPED_GRACE, 4.0, True, id="SIGTERM-in-flight-answered"),
    ],
)
def test_a_signal_stops_the_crawl_promptly_and_the_next_run_completes_it(
    tmp_path: Path,
    uninterrupted: dict[str, bytes],
    signals: tuple[signal.Signals, ...],
    grace: float,
    limit: float,
    answered_after_signal: bool,
) -> None:
    work = tmp_path / "stopped"
    gate = _Gate(ANSWERED)
    with ReplayProxy() as proxy:
        _serve(proxy, ARTICLES, gate)
        process = _start(proxy.url, work, grace)
        try:
            deadline = time.monotonic() + 120
            # Mid-crawl, with downloads on the wire: the first posts can be written before
            # any held page is asked for.
            while count_posts(work / "posts") < ANSWERED // 2 or not gate.held:
                assert process.poll() is None, f"the crawl ended (rc {process.returncode}) before the signal"
                assert time.monotonic() < deadline, "no post written in 120 s"
                time.sleep(0.01)
            sent = time.monotonic()
            for number, signum in enumerate(signals):
                if number:
                    time.sleep(0.5)
                process.send_signal(signum)
            if answered_after_signal:
                gate.released.set()
            try:
                output, _ = process.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()
                raise AssertionError("the crawl did not stop within 60 s of the signal") from None
            took = time.monotonic() - sent
        finally:
            gate.released.set()
            if process.poll() is None:
                process.kill()
                process.wait()
        print(f"{'+'.join(s.name for s in signals)} -> exit after {took:.2f} s")  # issue 19's figure
        stopped = crawl_result(work, process.returncode, output)
        (work / "crawl.log").rename(work / "stopped.log")  # kept for a look; the next run logs anew
        temporary = sorted(path.name for path in (work / "posts" / TEMP_FOLDER).glob("*"))
        written_at_stop = count_posts(work / "posts")
        gate.left = None  # from here on, every page is answered
        again = run_crawl(proxy.url, work, *SPIDER_ARGS, settings=FAST)

    assert stopped.returncode == 3, stopped.log[-4000:]
    # Downloads that never answer are left behind (the grace, or a second signal); answered, waited for.
    assert ("download(s) still in flight: the next run fetches them" in stopped.log) is not answered_after_signal
    assert took < limit, f"{took:.2f} s from the signal to the exit"
    if len(signals) == 1 and not answered_after_signal:  # the grace was waited, all of it
        assert took >= grace, f"{took:.2f} s from the signal to the exit: the {grace:g} s grace not waited"
        assert f"(at most {grace:g} s)" in stopped.log
    assert stopped.stats["finish_reason"] == "shutdown"
    not_reached = stopped.stat("sina/articles/not_reached")
    assert 0 < not_reached <= ARTICLES - ANSWERED // 2
    assert f"Run summary: interrupted, {not_reached} listed article(s) not reached" in stopped.log
    assert "Run summary (shutdown): " in stopped.log
    assert "failed: none" in stopped.log  # what was not reached is not a failure
    assert not _errors(stopped.log), _errors(stopped.log)
    assert "Traceback" not in stopped.log
    assert temporary == []
    assert written_at_stop == ARTICLES - not_reached  # every article reached was written

    assert again.returncode == 0, again.log[-3000:]
    assert again.stat("sina/posts/new") == not_reached  # exactly what was left
    assert again.stat("sina/posts/updated") == 0
    assert files_under(work / "posts") == uninterrupted
    assert len(uninterrupted) == ARTICLES


# --- a worker without its Redis -------------------------------------------------------


def test_a_worker_without_redis_stops_cleanly_and_never_logs_the_password(tmp_path: Path) -> None:
    url = f"redis://:s3cret@127.0.0.1:{_closed_port()}/0"
    command, environment = crawl_command(
        f"http://127.0.0.1:{_closed_port()}", tmp_path, spider="sina_finance_worker", settings={"SINA_REDIS_URL": url}
    )
    done = subprocess.run(command, cwd=REPO, env=environment, capture_output=True, text=True, timeout=120)
    result = crawl_result(tmp_path, done.returncode, done.stderr)
    everything = done.stdout + done.stderr + result.log
    assert result.returncode == 1, result.log[-3000:]
    assert result.stats["finish_reason"] == "cluster_unavailable"
    errors = _errors(result.log)
    assert len(errors) == 1, errors
    assert "cannot reach the cluster's Redis at redis://***@127.0.0.1:" in errors[0]
    assert "Traceback" not in everything
    assert "s3cret" not in everything
