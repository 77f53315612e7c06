"""The contract of crawler/scrapy_internals.py with the installed Scrapy.  Each assumption
that module states is checked here against Scrapy's own code.  When a Scrapy upgrade
breaks one, this fails and names it.  Also checked: nothing else in crawler/ or tests/
names those internals."""

from __future__ import annotations

import asyncio
import logging
import re
import signal
from collections.abc import Callable
from pathlib import Path
from time import monotonic
from types import SimpleNamespace
from typing import Any, cast

import pytest
from scrapy import Request, Spider, signals
from scrapy.core.downloader import Slot
from scrapy.crawler import AsyncCrawlerRunner, Crawler, CrawlerProcessBase
from scrapy.extensions.throttle import AutoThrottle
from scrapy.http import Response
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.test import get_crawler
from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from crawler.commands.crawl import Command
from crawler.downloadermiddlewares.network import StopRequested
from crawler.scrapy_internals import (
    DOWNLOAD_HANDLER_LOGGER,
    OVER_MAXSIZE,
    RETRY_LOGGER,
    ROBOTS_TXT_LOGGER,
    DownloadSlot,
    TunnelError,
    abandon_in_progress,
    command_crawler,
    download_slot,
    drop_queued_downloads,
    install_slots,
    install_stop_handlers,
    process_item_detached,
    quiet_scrapy_log_lines,
)
from crawler.spiders.sina_finance import SinaFinanceSpider

REPO = Path(__file__).resolve().parents[1]
ADAPTER = REPO / "crawler" / "scrapy_internals.py"
HOST = "finance.sina.com.cn"
#: How the internals the adapter uses are spelled; no other file of the project may use one.
INTERNALS = re.compile(
    r"\blastseen\b|_process_queue|\bscrapy\.core\b|_create_crawler|_create_spider|_spider_opened"
    r"|_apply_settings|_schedule_coro|engine\.downloader|downloader\.slots|\.latercall\b"
    r"|_signal_shutdown|_signal_kill|_maybe_fire_closing|\.inprogress\b|engine\._slot|_check_if_closing|itemproc_size"
)


def test_only_the_adapter_names_scrapy_internals() -> None:
    files = [*REPO.joinpath("crawler").rglob("*.py"), *REPO.joinpath("tests").glob("**/*.py")]
    found = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for path in files
        if path not in (ADAPTER, Path(__file__).resolve()) and "node_modules" not in path.parts
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if INTERNALS.search(line)
    ]
    assert not found, "Scrapy internals outside crawler/scrapy_internals.py:\n" + "\n".join(found)


# --- a hold, against Scrapy's dispatch code -----------------------------------------------


@pytest.mark.parametrize("jitter", [0.0, 0.5, 0.99])
def test_nothing_leaves_a_held_slot_before_the_hold_ends(jitter: float) -> None:
    slot = DownloadSlot.standalone(HOST, delay=0.05, jitter=jitter)
    slot.hold_until(100.0)
    assert slot.held_until == 100.0
    for asked in (0.0, 50.0, 99.99, 100.0):
        for _ in range(30):  # draws of the random delay
            assert slot.next_dispatch(asked) >= 100.0, "Downloader._process_queue: not before lastseen + delay"
    after = 100.0 + (1 + jitter) * 0.05
    assert slot.next_dispatch(after) == after, "dispatched once the hold and one delay have passed"
    assert slot.held_until == 100.0, "a probe is not a dispatch"


def test_a_hold_never_moves_back() -> None:
    slot = DownloadSlot.standalone(HOST, delay=0.05)
    slot.hold_until(10.0)
    slot.hold_until(5.0)
    assert slot.held_until == 10.0


def test_a_zero_delay_skips_the_check() -> None:
    """Why the retry rule keeps a held slot's delay above zero (HOLD_MIN_DELAY)."""
    slot = DownloadSlot.standalone(HOST, delay=0.0)
    slot.hold_until(100.0)
    assert slot.next_dispatch(1.0) == 1.0, "Downloader._process_queue checks lastseen only with a delay"
    slot.delay = 0.001
    assert slot.delay == 0.001
    assert slot.next_dispatch(1.0) >= 100.0


def test_the_delay_spaces_dispatches() -> None:
    slot = DownloadSlot.standalone(HOST, delay=2.0, jitter=0.0)
    assert slot.next_dispatch(5.0) == 5.0, "a slot that never dispatched sends at once"
    slot.hold_until(10.0)
    assert slot.next_dispatch(10.5) == 12.0


def test_the_probe_refuses_a_busy_slot() -> None:
    slot = DownloadSlot.standalone(HOST, delay=0.1)
    slot._slot.queue.append((Request(f"https://{HOST}/"), None))  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="idle slot"):
        slot.next_dispatch(0.0)


def test_slots_are_equal_when_they_are_the_same_slot() -> None:
    first = DownloadSlot.standalone(HOST, delay=0.1)
    again = DownloadSlot(HOST, first._slot)
    other = DownloadSlot.standalone(HOST, delay=0.1)
    assert first == again and hash(first) == hash(again)
    assert first != other and first != "a slot"
    assert repr(first) == f"DownloadSlot('{HOST}', delay=0.1, held_until=0)"


# --- the crawl's downloader -----------------------------------------------------------------


class AnswerAtOnce:
    """A download handler that answers every request 200 at once, and notes when."""

    lazy = False
    started: list[tuple[str, float]]

    def __init__(self) -> None:
        AnswerAtOnce.started = []

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> AnswerAtOnce:
        return cls()

    async def download_request(self, request: Request) -> Response:
        AnswerAtOnce.started.append((request.url, monotonic()))
        return Response(request.url, status=200, request=request)

    async def close(self) -> None:
        pass


def _downloader_crawler(**settings: Any) -> Crawler:
    handlers = dict.fromkeys(("http", "ftp", "s3", "file", "data"), None)
    crawler = get_crawler(
        Spider,
        {"DOWNLOAD_HANDLERS": {**handlers, "https": f"{__name__}.AnswerAtOnce"}, **settings},
    )
    crawler.spider = Spider.from_crawler(crawler, "contract")
    return crawler


def test_download_slot_is_the_slot_the_downloader_used_and_a_hold_set_on_its_answer_holds() -> None:
    """Scrapy's real engine and downloader: the answer's signal comes while its slot is
    still busy, download_slot finds that slot by the request's meta, and a hold set then
    keeps the slot's next request from leaving before the hold ends."""
    from scrapy.core.engine import ExecutionEngine  # the real one, for the contract only

    crawler = _downloader_crawler(DOWNLOAD_DELAY=0.001, CONCURRENT_REQUESTS_PER_DOMAIN=1)
    found: list[DownloadSlot | None] = []
    held: list[float] = []

    def answered(response: Response, request: Request, spider: Spider) -> None:
        slot = download_slot(crawler, request)
        found.append(slot)
        if slot is not None and not held:
            held.append(monotonic() + 0.05)
            slot.hold_until(held[0])

    crawler.signals.connect(answered, signal=signals.response_downloaded, weak=False)

    async def crawl() -> list[Response | Request]:
        crawler.engine = ExecutionEngine(crawler, lambda spider: None)
        downloader = crawler.engine.downloader
        try:
            fetches = [maybe_deferred_to_future(downloader.fetch(Request(f"https://{HOST}/{n}"))) for n in (1, 2)]
            return list(await asyncio.gather(*fetches))
        finally:
            downloader.close()

    responses = asyncio.run(crawl())
    assert all(isinstance(response, Response) and response.status == 200 for response in responses)
    assert [response.meta["download_slot"] for response in responses] == [HOST, HOST]
    assert len(found) == 2 and found[0] is not None and found[0] == found[1], "one slot, found by meta download_slot"
    assert found[0].key == HOST and found[0].delay == 0.001, "made from DOWNLOAD_DELAY"
    assert AnswerAtOnce.started[1][1] >= held[0], "the second request left only once the hold had ended"
    assert download_slot(crawler, Request(f"https://{HOST}/never")) is None, "never in the downloader: no slot"
    gone = Request(f"https://{HOST}/gone", meta={"download_slot": "gone.example"})
    assert download_slot(crawler, gone) is None, "a slot the downloader dropped: none"


def test_autothrottle_finds_installed_slots_where_the_downloader_keeps_them() -> None:
    crawler = get_crawler(Spider, {"AUTOTHROTTLE_ENABLED": True, "AUTOTHROTTLE_TARGET_CONCURRENCY": 1.0})
    crawler.spider = Spider.from_crawler(crawler, "contract")
    throttle = crawler.get_extension(AutoThrottle)
    assert throttle is not None
    crawler.signals.send_catch_log(signals.spider_opened, spider=crawler.spider)
    slot = DownloadSlot.standalone(HOST, delay=4.0)
    install_slots(crawler, slot)
    request = Request(f"https://{HOST}/", meta={"download_slot": HOST, "download_latency": 1.0})
    response = Response(request.url, status=200, request=request)
    crawler.signals.send_catch_log(signals.response_downloaded, response=response, request=request, spider=None)
    assert slot.delay == pytest.approx((4.0 + 1.0) / 2), "AutoThrottle averaged the installed slot's delay"
    assert download_slot(crawler, request) == slot


# --- the crawl command ----------------------------------------------------------------------


def test_the_command_gets_the_crawler_scrapy_would_run() -> None:
    command = Command()
    command.crawler_process = AsyncCrawlerRunner({"SPIDER_MODULES": ["crawler.spiders"]})  # type: ignore[assignment]
    crawler = command_crawler(command, "sina_finance")
    assert isinstance(crawler, Crawler) and crawler.spidercls is SinaFinanceSpider
    assert crawler.settings.getlist("SPIDER_MODULES") == ["crawler.spiders"], "made by the command's process"


def test_the_engine_calls_the_coordinator_relies_on_exist() -> None:
    """send_to_pipelines and engine_is_full (crawler.cluster.driver) lean on these."""
    import inspect

    from scrapy.core.engine import ExecutionEngine
    from scrapy.core.scraper import Scraper

    assert callable(ExecutionEngine.needs_backout)
    assert inspect.iscoroutinefunction(Scraper.start_itemproc_async)
    assert list(inspect.signature(Scraper.start_itemproc_async).parameters)[1:3] == ["item", "response"]


def test_a_detached_item_keeps_the_scraper_busy_until_written_then_lets_a_close_go_on() -> None:
    """process_item_detached: the item counts in the scraper slot from the call on (the
    spider is not idle, a close waits), goes through the pipelines with no response, and
    once done fires a close that was waiting for it and wakes the engine."""
    from scrapy.core.scraper import Scraper
    from scrapy.core.scraper import Slot as ScraperSlot

    async def run() -> list[str]:
        crawler = get_crawler(Spider)
        crawler.spider = crawler._create_spider("s")
        scraper = Scraper(crawler)
        scraper.slot = ScraperSlot()
        release = asyncio.Event()
        events: list[str] = []

        class Pipelines:
            async def process_item_async(self, item: str) -> str:
                await release.wait()
                events.append(f"written {item}")
                return item

        scraper.itemproc = cast(Any, Pipelines())
        scraper._itemproc_has_async["process_item"] = True
        nextcall = SimpleNamespace(schedule=lambda: events.append("engine woken"))
        crawler.engine = cast(Any, SimpleNamespace(scraper=scraper, _slot=SimpleNamespace(nextcall=nextcall)))
        process_item_detached(crawler, "post", lambda: events.append("room back"))
        assert not scraper.slot.is_idle(), "counted at once, before the pipelines start"
        scraper.slot.closing = Deferred()
        scraper.slot.closing.addCallback(lambda _: events.append("closed"))
        scraper._check_if_closing()  # what Scrapy does when a response is done: not yet
        await asyncio.sleep(0.01)
        assert events == [] and not scraper.slot.is_idle()
        release.set()
        for _ in range(100):
            if "engine woken" in events:
                break
            await asyncio.sleep(0.01)
        assert scraper.slot.is_idle()
        return events

    assert asyncio.run(run()) == ["written post", "room back", "closed", "engine woken"]


# --- Scrapy's log lines said once ----------------------------------------------------------


def _records(logger_name: str, emit: Any) -> list[logging.LogRecord]:
    """What ``emit()`` logs on ``logger_name``, through ScrapyLogLines, at any level."""
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    remove = quiet_scrapy_log_lines(lambda exception: type(exception).__name__)
    target, keep = logging.getLogger(logger_name), Keep(logging.DEBUG)
    target.addHandler(keep)
    try:
        emit()
    finally:
        target.removeHandler(keep)
        remove()
    return seen


def test_a_failed_robots_txt_is_one_warning_line_naming_it() -> None:
    """RobotsTxtMiddleware.robot_parser logs a failed robots.txt with ``exc_info`` and dict
    arguments ``request`` (the request that needed it) and ``f_exception``."""
    import inspect

    from scrapy.downloadermiddlewares import robotstxt

    source = inspect.getsource(robotstxt.RobotsTxtMiddleware.robot_parser)
    assert '"f_exception": e' in source and '"request": request' in source and "exc_info=True" in source
    assert robotstxt.logger.name == ROBOTS_TXT_LOGGER
    needing = Request(f"https://{HOST}/doc-i1.shtml")

    def emit() -> None:
        try:
            raise ConnectionError("refused")
        except ConnectionError as exc:
            robotstxt.logger.error(
                "Error downloading %(request)s: %(f_exception)s",
                {"request": needing, "f_exception": exc},
                exc_info=True,
            )

    (record,) = _records(ROBOTS_TXT_LOGGER, emit)
    assert record.levelname == "WARNING" and record.exc_info is None
    assert record.getMessage() == (
        f"robots.txt of https://{HOST} not read (ConnectionError): its pages are fetched as if it had none"
    )
    assert "Traceback" not in logging.Formatter().format(record)


def test_a_robots_txt_give_up_is_debug_when_the_robots_line_follows() -> None:
    from scrapy.downloadermiddlewares.retry import get_retry_request, retry_logger

    assert retry_logger.name == RETRY_LOGGER
    crawler = get_crawler(Spider)
    spider = Spider.from_crawler(crawler, "contract")
    robots = Request(f"https://{HOST}/robots.txt", meta={"dont_obey_robotstxt": True})
    page = Request(f"https://{HOST}/doc-i1.shtml")

    def give_up(request: Request, reason: str | Exception) -> None:
        assert get_retry_request(request, spider=spider, reason=reason, max_retry_times=0) is None

    levels = [
        record.levelname
        for request, reason in [
            (robots, ConnectionError("gone")),
            (robots, "503 Service Unavailable"),
            (page, ConnectionError("x")),
        ]
        for record in _records(RETRY_LOGGER, lambda request=request, reason=reason: give_up(request, reason))
        if record.getMessage().startswith("Gave up retrying")
    ]
    assert levels == ["DEBUG", "ERROR", "ERROR"], "only a robots.txt that raised: its answer, or a page, stays"


def test_a_download_over_maxsize_is_debug_its_failure_is_logged_by_the_project() -> None:
    from scrapy.core.downloader.handlers import http11
    from scrapy.utils._download_handlers import get_maxsize_msg

    assert http11.logger.name == DOWNLOAD_HANDLER_LOGGER
    message = get_maxsize_msg(9, 5, Request(f"https://{HOST}/big.jpg"), expected=True)
    assert OVER_MAXSIZE in message
    (record,) = _records(DOWNLOAD_HANDLER_LOGGER, lambda: http11.logger.warning(message))
    assert record.levelname == "DEBUG"


def test_the_crawl_names_a_robots_txt_failure_as_it_names_any_download_failure() -> None:
    from scrapy.exceptions import DownloadTimeoutError

    from crawler.extensions.loglines import exception_reason

    assert exception_reason(DownloadTimeoutError("took too long")) == "timeout"
    assert exception_reason(ValueError("odd")) == "ValueError"


STOP_FEED = "https://feed.mix.sina.com.cn/api/roll/get?pageid=155&lid=1686"


def _stop_request(url: str = STOP_FEED) -> Request:
    return Request(url)


# --- a prompt stop (crawler.downloadermiddlewares.network) -----------------------------------------------------


class _EngineSlot:
    """What abandon_in_progress asks of Scrapy's engine slot (checked below against Scrapy's)."""

    def __init__(self, waiting: int, closing: bool) -> None:
        self.inprogress = {_stop_request(f"{STOP_FEED}&n={n}") for n in range(waiting)}
        self.closing: Deferred[None] | None = Deferred() if closing else None
        self.fired = False

    def _maybe_fire_closing(self) -> None:
        self.fired = True


def test_the_engine_internals_a_stop_relies_on_exist() -> None:
    """abandon_in_progress and install_stop_handlers lean on these (drop_queued_downloads
    on the slot's queue: checked with a real Slot below)."""
    import inspect

    from scrapy.core.engine import ExecutionEngine, _Slot
    from scrapy.crawler import CrawlerProcess, CrawlerProcessBase
    from scrapy.utils.reactor import CallLaterOnce

    async def close_an_idle_slot() -> list[None]:  # a slot needs a running loop
        slot = _Slot(close_if_idle=True, nextcall=CallLaterOnce(lambda: None), scheduler=cast(Any, None))
        assert slot.inprogress == set() and slot.closing is None
        slot.closing = Deferred()
        fired: list[None] = []
        slot.closing.addCallback(fired.append)
        slot._maybe_fire_closing()
        return fired

    assert asyncio.run(close_an_idle_slot()) == [None], "an engine slot with nothing in progress fires its closing"
    assert "self._slot" in inspect.getsource(ExecutionEngine.close_spider_async)
    assert issubclass(CrawlerProcess, CrawlerProcessBase)
    assert "self._signal_shutdown" in inspect.getsource(CrawlerProcessBase._setup_reactor)
    assert "install_shutdown_handlers(self._signal_kill)" in inspect.getsource(CrawlerProcessBase._signal_shutdown)
    assert TunnelError.__module__ == "scrapy.core.downloader.handlers.http11"


def test_queued_downloads_are_dropped_and_in_flight_ones_abandoned_once_closing() -> None:
    crawler = get_crawler(Spider)
    slot = Slot(1, 0, 0)
    failures: list[Failure] = []
    for n in range(3):
        deferred: Deferred[Response] = Deferred()
        deferred.addErrback(failures.append)
        slot.queue.append((_stop_request(f"{STOP_FEED}&n={n}"), deferred))
    engine_slot = _EngineSlot(2, closing=False)
    crawler.engine = cast(Any, SimpleNamespace(downloader=SimpleNamespace(slots={"h": slot}), _slot=engine_slot))
    assert drop_queued_downloads(crawler, lambda request: StopRequested(request.url)) == 3
    assert not slot.queue and [type(failure.value) for failure in failures] == [StopRequested] * 3
    assert abandon_in_progress(crawler) == 0  # not closing: nothing abandoned
    engine_slot.closing = Deferred()
    assert abandon_in_progress(crawler) == 2 and engine_slot.fired and not engine_slot.inprogress
    crawler.engine = cast(Any, None)
    assert drop_queued_downloads(crawler, StopRequested) == 0 and abandon_in_progress(crawler) == 0


def test_signal_handlers_call_the_first_then_the_second_then_scrapys_kill(monkeypatch: pytest.MonkeyPatch) -> None:
    installed: list[Callable[[int, Any], None]] = []
    monkeypatch.setattr("scrapy.utils.ossignal.install_shutdown_handlers", installed.append)
    calls: list[tuple[str, int]] = []

    class Process:
        def _signal_shutdown(self, signum: int, _: Any) -> None:
            calls.append(("scrapy graceful", signum))

        def _signal_kill(self, signum: int, _: Any) -> None:
            calls.append(("scrapy kill", signum))

    process = Process()
    install_stop_handlers(
        cast(CrawlerProcessBase, process),
        lambda n: calls.append(("first", n)),
        lambda n: calls.append(("again", n)),
        call=lambda function, *args: function(*args),
    )
    process._signal_shutdown(signal.SIGTERM, None)
    installed[-1](signal.SIGINT, None)
    installed[-1](signal.SIGINT, None)
    assert calls == [("first", signal.SIGTERM), ("again", signal.SIGINT), ("scrapy kill", signal.SIGINT)]
    install_stop_handlers(cast(CrawlerProcessBase, object()), print, print)  # a runner: no handlers
