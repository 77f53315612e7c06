"""Every use the project makes of a part of Scrapy that is not public API, in this one
module.  tests/test_scrapy_internals.py checks each against the installed Scrapy and
fails, naming the assumption, when an upgrade changes one.  Nothing else in crawler/
or tests/ names these internals.

Why each is used:

- **A host-wide Retry-After hold** (crawler.downloadermiddlewares.retry).  A 429 or 503
  from a host should hold every request to that host, not only the retry.  Scrapy has no
  public hook for this.  A downloader middleware sees one request at a time, and the
  only per-host pacing Scrapy has is the downloader's slot.  Scrapy's own AutoThrottle
  reaches the slot the same undocumented way: ``crawler.engine.downloader.slots[key]``,
  where the key is the request's ``download_slot`` meta, and it sets ``Slot.delay``.  A
  hold moves ``Slot.lastseen``, the time of the slot's last dispatch, forward.  This
  relies on ``Downloader._process_queue``, which dispatches a slot's next request only
  once ``monotonic() >= lastseen + slot.download_delay()``, and checks that only when the
  delay is not zero.
- **A prompt stop** (crawler.downloadermiddlewares.network).  Scrapy's graceful stop
  waits for every request the engine has taken, those waiting in a download slot behind
  a delay or a backoff hold included (minutes).  A stop drops those: each waits in its
  slot's ``queue`` as ``(request, deferred)``, and failing the deferred fails the request
  as a download error would.  After a grace time, or at a second signal, the close goes on
  without the downloads still in flight: the engine's slot waits for its ``inprogress``
  set to empty (``_Slot._maybe_fire_closing``).  And Scrapy's signal handlers are the
  crawl process's ``_signal_shutdown`` and ``_signal_kill`` methods, looked up when the
  process starts its reactor: the crawl command sets its own on the instance, so that
  SIGINT and SIGTERM start that prompt stop, and a second one still closes the spider
  (its summary, its exit status) instead of stopping the reactor.  Scrapy's HTTP/1.1
  handler's ``TunnelError`` (a proxy that refused a CONNECT) has no public name either.
- **The crawl command's crawler** (crawler.commands.crawl).  The command needs its
  crawler before the crawl starts, to hear how the crawl ended.  Scrapy's own crawl
  command makes it with ``BaseRunSpiderCommand._create_crawler``, which also connects
  the FEEDS warning.  There is no public equivalent that does both.

- **A post's response released before its post is written** (crawler.spiders.sina_finance).
  Scrapy holds a response in its scraper slot until the callback's items have gone
  through the item pipelines, and stops downloading while the slot holds
  SCRAPER_SLOT_MAX_ACTIVE_SIZE bytes of responses: a post waiting for its fsync group held
  a 200 KB page.  ``process_item_detached`` starts the pipelines as Scrapy does for an
  item of ``start()`` (``Scraper._start_itemproc_nowait``: ``Slot.itemproc_size`` keeps the
  spider from being idle), then calls ``Scraper._check_if_closing`` and schedules the
  engine's ``_slot.nextcall`` when the item is done, since Scrapy checks both only when a
  response is done.

- **Scrapy log lines said once, on one line** (crawler.extensions.loglines).  A robots.txt
  that cannot be fetched is logged by ``scrapy.downloadermiddlewares.robotstxt`` as
  ``Error downloading <the request that needed it>`` at ERROR with a 40-line traceback,
  though the crawl goes on as if the host had no robots.txt; the HTTP download handler
  (``scrapy.core.downloader.handlers.http11``) logs a download over DOWNLOAD_MAXSIZE as a
  WARNING before the failure reaches the project's errbacks and pipelines, which log it
  again (``too_large``); a robots.txt download that failed after its retries is also
  logged by ``get_retry_request`` ("Gave up retrying", at ERROR) just before.  A
  ``logging.Filter`` on those loggers makes the robots.txt failure one WARNING line naming
  the robots.txt and the reason, and the other two DEBUG.  It relies on the records Scrapy
  makes: the robots one with ``exc_info`` and dict arguments holding ``request`` and
  ``f_exception``; the give-up one with dict arguments holding ``request`` and ``reason``
  (an exception when the download raised); the max-size one a ready message saying
  ``larger than download max size``.

Three helpers serve tests only, so that tests need no internals either:
``DownloadSlot.standalone`` (a slot in no downloader), ``DownloadSlot.next_dispatch`` (when
Scrapy's own dispatch code would send from it) and ``install_slots`` (slots where
``download_slot`` and AutoThrottle look for them).  The crawl never calls them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from scrapy.core.downloader import Slot
from scrapy.core.downloader.handlers.http11 import TunnelError

__all__ = ["TunnelError"]  # the proxy refused to open a CONNECT tunnel

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.commands import BaseRunSpiderCommand
    from scrapy.core.engine import ExecutionEngine
    from scrapy.crawler import Crawler, CrawlerProcessBase


class DownloadSlot:
    """One slot of Scrapy's downloader (one host, by default): its delay between
    requests, and a hold.  Two of these are equal when they stand for the same slot; the
    downloader drops an idle slot and makes a new one for the host's next request."""

    __slots__ = ("_slot", "key")

    def __init__(self, key: str, slot: Slot) -> None:
        self.key = key
        self._slot = slot

    @classmethod
    def standalone(cls, key: str, *, delay: float, jitter: float = 0.5, concurrency: int = 1) -> DownloadSlot:
        """A slot as the downloader makes one (DOWNLOAD_DELAY, DOWNLOAD_DELAY_JITTER and
        the per-host concurrency), in no downloader: for tests."""
        return cls(key, Slot(concurrency, delay, jitter))

    @property
    def delay(self) -> float:
        """Seconds between two dispatches, before the downloader randomizes them."""
        return self._slot.delay

    @delay.setter
    def delay(self, seconds: float) -> None:
        self._slot.delay = seconds

    @property
    def held_until(self) -> float:
        """The monotonic time that the next dispatch's delay counts from: the slot's last
        dispatch, or the end of a hold."""
        return self._slot.lastseen

    def hold_until(self, moment: float) -> None:
        """Nothing leaves the slot before ``moment`` (monotonic), plus one randomized delay,
        as if its last request had gone then.  The downloader skips the check when the
        delay is zero, so a holder keeps the delay above zero."""
        self._slot.lastseen = max(self._slot.lastseen, moment)

    def next_dispatch(self, now: float) -> float:
        """When Scrapy's downloader would dispatch this slot's next request, asked at
        ``now`` (monotonic; one draw of the randomized delay).  It runs Scrapy's own
        ``Downloader._process_queue`` on the slot, with one request queued and a stand-in
        clock.  Nothing is sent and nothing is left scheduled.  This probes an idle slot of
        no running downloader (``standalone``).  The crawl never calls it; tests do, to
        check a hold against Scrapy's code rather than a copy of it."""
        from unittest import mock

        import scrapy.core.downloader as downloader
        from scrapy import Request
        from twisted.internet.defer import Deferred

        slot = self._slot
        if slot.queue or slot.latercall is not None:
            raise RuntimeError("next_dispatch probes an idle slot, in no running downloader")
        waits: list[float] = []
        sent: list[object] = []

        def later(delay: float, *args: object) -> mock.Mock:
            waits.append(delay)
            return mock.Mock()  # its cancel() does nothing

        def schedule(coroutine: object) -> None:
            sent.append(coroutine)
            coroutine.close()  # type: ignore[attr-defined]  # a probe: the download never starts

        lastseen = slot.lastseen
        slot.queue.append((Request("https://probe.invalid/"), Deferred()))
        try:
            with mock.patch.multiple(downloader, monotonic=lambda: now, call_later=later, _schedule_coro=schedule):
                downloader.Downloader._process_queue(object.__new__(downloader.Downloader), slot)
        finally:
            slot.queue.clear()
            slot.latercall = None
            slot.lastseen = lastseen  # a probe, not a dispatch
        if sent:
            return now
        if len(waits) != 1:
            raise RuntimeError(f"Scrapy's downloader neither dispatched nor waited once (waits: {waits})")
        return now + waits[0]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DownloadSlot) and other._slot is self._slot

    def __hash__(self) -> int:
        return id(self._slot)

    def __repr__(self) -> str:
        return f"DownloadSlot({self.key!r}, delay={self.delay!r}, held_until={self.held_until!r})"


def download_slot(crawler: Crawler, request: Request) -> DownloadSlot | None:
    """The slot the request went through, or None if it never reached one or the slot is
    gone.  The downloader names the slot in the request's meta ``download_slot`` when the
    request enters it."""
    key = request.meta.get("download_slot")
    if key is None:
        return None
    slot = crawler.engine.downloader.slots.get(key)
    return None if slot is None else DownloadSlot(str(key), slot)


def install_slots(crawler: Crawler, *slots: DownloadSlot) -> None:
    """For tests of download pacing without a running crawl: a stand-in engine whose
    downloader holds these slots, where download_slot and Scrapy's own AutoThrottle look
    for them.  Installing again replaces the slots, as the downloader replaces an idle one."""
    from types import SimpleNamespace

    downloader = SimpleNamespace(slots={slot.key: slot._slot for slot in slots})
    crawler.engine = SimpleNamespace(downloader=downloader)  # type: ignore[assignment]


def command_crawler(command: BaseRunSpiderCommand, spider: str) -> Crawler:
    """The crawler that Scrapy's own crawl command would run for ``spider``, FEEDS warning
    included."""
    return command._create_crawler(spider)


def send_to_pipelines(crawler: Crawler, item: object) -> None:
    """Hand an item that no callback yielded (a cluster worker's answer) to the item
    pipelines, as the engine's scraper does with a callback's output: Scrapy has no public
    call for it (scrapy-redis's spiders yield instead; the coordinator has no response)."""
    from scrapy.utils.defer import deferred_from_coro

    deferred_from_coro(crawler.engine.scraper.start_itemproc_async(item, response=None))


def process_item_detached(crawler: Crawler, item: object, done: Callable[[], None]) -> None:
    """Hand a callback's item to the item pipelines without the callback waiting for them,
    so that Scrapy releases the item's response from its scraper slot at once (the slot
    holds every response until its callback's output is processed: SCRAPER_SLOT_MAX_ACTIVE_SIZE
    of responses then stop the downloads while posts wait for their fsync).  As Scrapy
    does with an item of ``start()`` (``Scraper._start_itemproc_nowait``): counted in the
    slot's ``itemproc_size`` from now on, so the spider is not idle and a close waits for
    it.  Once processed: ``done()``; the scraper checks whether a close was waiting for this
    item (``_check_if_closing``, which Scrapy calls only when a response is done) and the
    engine looks for idleness at once (else its 5-second heartbeat would)."""
    from scrapy.utils.defer import deferred_from_coro

    engine = crawler.engine
    scraper = engine.scraper
    slot = scraper.slot
    assert slot is not None, "the spider is open"
    slot.itemproc_size += 1

    async def process() -> None:
        slot.itemproc_size -= 1  # start_itemproc_async counts it from here
        try:
            await scraper.start_itemproc_async(item, response=None)
        finally:
            done()
            scraper._check_if_closing()
            if engine._slot is not None:
                engine._slot.nextcall.schedule()

    deferred_from_coro(process())


def engine_is_full(crawler: Crawler) -> bool:
    """Whether the engine would take no more requests now (its slots and scraper full)."""
    return bool(crawler.engine.needs_backout())


ROBOTS_TXT_LOGGER = "scrapy.downloadermiddlewares.robotstxt"
DOWNLOAD_HANDLER_LOGGER = "scrapy.core.downloader.handlers.http11"
RETRY_LOGGER = "scrapy.downloadermiddlewares.retry"
OVER_MAXSIZE = "larger than download max size"


def _robots_txt_raised(args: object) -> bool:
    """A give-up's arguments: a robots.txt whose download raised (the robots.txt middleware
    then logs it); a robots.txt that answered 5xx is parsed as it is, so its give-up stays."""
    if not isinstance(args, dict) or not isinstance(args.get("reason"), BaseException):
        return False
    return urlsplit(str(getattr(args.get("request"), "url", ""))).path == "/robots.txt"


class ScrapyLogLines(logging.Filter):
    """A failed robots.txt as one WARNING line, without its traceback (and its retries'
    give-up at DEBUG); a download over DOWNLOAD_MAXSIZE at DEBUG (the request's errback
    or pipeline logs it as ``too_large``).  ``reason``: a download exception's short name
    (crawler.failures)."""

    def __init__(self, reason: Callable[[BaseException], str]) -> None:
        super().__init__()
        self.reason = reason

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == ROBOTS_TXT_LOGGER and record.exc_info and isinstance(record.args, dict):
            request, exception = record.args.get("request"), record.args.get("f_exception")
            parts = urlsplit(str(getattr(request, "url", "")))
            reason = self.reason(exception) if isinstance(exception, BaseException) else "error"
            record.msg = "robots.txt of %s not read (%s): its pages are fetched as if it had none"
            record.args = (f"{parts.scheme}://{parts.netloc}", reason)
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        elif (record.name == DOWNLOAD_HANDLER_LOGGER and OVER_MAXSIZE in record.getMessage()) or (
            record.name == RETRY_LOGGER and _robots_txt_raised(record.args)
        ):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True


def quiet_scrapy_log_lines(reason: Callable[[BaseException], str]) -> Callable[[], None]:
    """Put ScrapyLogLines on those loggers; what it returns takes it off again."""
    line_filter = ScrapyLogLines(reason)
    loggers = [logging.getLogger(name) for name in (ROBOTS_TXT_LOGGER, DOWNLOAD_HANDLER_LOGGER, RETRY_LOGGER)]
    for each in loggers:
        each.addFilter(line_filter)

    def remove() -> None:
        for each in loggers:
            each.removeFilter(line_filter)

    return remove


def running_engine(crawler: Crawler) -> ExecutionEngine | None:
    """The crawler's engine, or None before the crawl starts (Scrapy raises then)."""
    try:
        return crawler.engine
    except RuntimeError:
        return None


def drop_queued_downloads(crawler: Crawler, error: Callable[[Request], Exception]) -> int:
    """Fail every request waiting in a download slot (not yet sent) with ``error(request)``,
    as a download error; returns how many.  Requests already on the wire are not touched."""
    engine = running_engine(crawler)
    if engine is None:
        return 0
    dropped = 0
    for slot in list(engine.downloader.slots.values()):
        while slot.queue:
            request, deferred = slot.queue.popleft()
            deferred.errback(error(request))
            dropped += 1
    return dropped


def abandon_in_progress(crawler: Crawler) -> int:
    """Let a closing engine go on without the requests it still waits for (downloads in
    flight); returns how many.  Nothing once the spider is closed."""
    engine = running_engine(crawler)
    slot = None if engine is None else engine._slot
    if slot is None or slot.closing is None:
        return 0
    waiting = len(slot.inprogress)
    slot.inprogress.clear()
    slot._maybe_fire_closing()
    return waiting


def install_stop_handlers(
    process: CrawlerProcessBase,
    first: Callable[[int], None],
    again: Callable[[int], None],
    *,
    call: Callable[..., object] | None = None,
) -> None:
    """SIGINT/SIGTERM (and SIGBREAK) call ``first(signum)``, the next one ``again(signum)``, both
    in the reactor's thread (``call``: the reactor's callFromThread), instead of Scrapy's
    graceful stop and its forced one; a third is Scrapy's forced stop.  Set before
    ``process.start()``, which installs the handlers."""
    from scrapy.utils.ossignal import install_shutdown_handlers

    if not hasattr(process, "_signal_kill"):
        return  # a crawler runner, which installs no signal handlers (tests)
    scrapy_kill = process._signal_kill

    def in_reactor(function: Callable[[int], None], signum: int) -> None:
        if call is not None:
            call(function, signum)
            return
        from twisted.internet import reactor  # installed by then: the process runs it

        reactor.callFromThread(function, signum)

    def on_first(signum: int, _: Any) -> None:  # a signal handler: no logging here
        install_shutdown_handlers(on_again)
        in_reactor(first, signum)

    def on_again(signum: int, _: Any) -> None:
        install_shutdown_handlers(scrapy_kill)
        in_reactor(again, signum)

    process._signal_shutdown = on_first  # type: ignore[method-assign]
    process._signal_kill = on_again  # type: ignore[method-assign]
