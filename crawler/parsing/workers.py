"""Article pages turned into PageFacts in worker processes, beside the crawl.

Parsing a page and applying the post rules is most of the crawl's CPU work, and Python
runs it on one core at a time; a worker process does it on another core while the
crawl's event loop goes on downloading and writing.  ``SINA_PARSE_WORKERS`` (default 1)
sets how many; 0 parses in the crawl's own process.

Each worker (crawler.parsing.worker) reads pages on its stdin and answers on its stdout, in
order.  A worker whose crawl is gone sees its stdin close and exits, so a crawl killed
with ``kill -9`` leaves no worker behind.

A worker that dies (a page that crashes the parser, the OOM killer) fails the pages it
held; each is parsed again, alone, in a fresh retry worker, so that only a page that
crashes a worker on its own is lost (skipped as ``parser_crashed``).

A page parsed for longer than ``SINA_PARSE_TIMEOUT`` seconds (a hostile page can make the
HTML parser's work grow with the square of its size) has its worker killed and is
skipped as ``parse_timeout``; the other pages that worker held are parsed again.  In the
crawl's own process (0 workers) nothing can stop a parse: there is no such budget.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import fcntl
import logging
import pickle
import sys
import time
import traceback
from collections.abc import Callable, Sequence

from crawler.hexo.body import DEFAULT_BODY_STYLE, BodyStyle
from crawler.parsing.page_facts import PageFacts, page_facts
from crawler.parsing.worker import LENGTH, page_request
from crawler.sina.urls import ARTICLE

logger = logging.getLogger(__name__)

# Run with the crawl's sys.path (a scrapyd egg included), nothing of the crawl imported.
_BOOTSTRAP = "import sys; sys.path[:0] = sys.argv[1:]; from crawler.parsing.worker import main; main()"
_STOP_WAIT = 5.0  # seconds a worker gets to exit after its stdin closes
# Pages handed to one worker and not yet answered: enough that it is never idle while
# the crawl's event loop is busy elsewhere before it reads an answer and hands in the next
# page.  A page's response stays in Scrapy's scraper slot (5 MB in all) until its post is
# made (the post then goes to the pipelines on its own), so a short queue here stopped the
# downloads: 3 gave 85-109 articles/s where 8 gave 109-111 and a second worker 112-114
# (2,000 articles, same runs, a loaded machine).
# What does not fit in the 1 MB pipe waits in asyncio's buffer (a few MB at most).
IN_FLIGHT_PER_WORKER = 8
_PIPE_SIZE = 1 << 20  # Linux allows this much without privileges (fs.pipe-max-size)
# Seconds one page may be parsed for: real pages take milliseconds; a hostile one (200,000
# attributes on an element, 100,000 nested elements) would take minutes in the parser.
DEFAULT_BUDGET = 30.0


def worker_command() -> list[str]:
    """This Python, with the crawl's sys.path (a scrapyd egg included), running the worker."""
    return [sys.executable, "-c", _BOOTSTRAP, *[entry for entry in sys.path if entry]]


class WorkerDied(Exception):
    """The worker process ended before answering."""


class PageFactsError(Exception):
    """page_facts raised on a page (a bug met there); the message holds the traceback."""


class PageCrashedParser(Exception):
    """The page killed a worker process twice, the second time alone in it."""


class PageTimedOut(Exception):
    """The page was parsed for longer than SINA_PARSE_TIMEOUT (its worker was killed)."""


# --- the crawl's side ----------------------------------------------------------------


class _Worker:
    """One worker process and the answers it owes, oldest first."""

    def __init__(self, process: asyncio.subprocess.Process, budget: float | None = None) -> None:
        self.process = process
        self.waiting: collections.deque[asyncio.Future[PageFacts]] = collections.deque()
        self.alive = True
        self.budget = budget  # seconds a page may take; None: no limit
        self._head_since = 0.0  # when the worker began the oldest page it owes
        self._reader = asyncio.ensure_future(self._read_answers())
        self._watchdog = asyncio.ensure_future(self._watch()) if budget else None

    @classmethod
    async def start(cls, command: Sequence[str], budget: float | None = None) -> _Worker:
        process = await asyncio.create_subprocess_exec(
            *command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
        )
        pipe = process.stdin.get_extra_info("pipe") if process.stdin is not None else None
        if pipe is not None and hasattr(fcntl, "F_SETPIPE_SZ"):
            with contextlib.suppress(OSError):  # a smaller pipe only costs speed
                fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, _PIPE_SIZE)
        return cls(process, budget)

    def submit(
        self, body: bytes, content_type: str | None, url: str, style: BodyStyle, kind: str
    ) -> asyncio.Future[PageFacts]:
        answer: asyncio.Future[PageFacts] = asyncio.get_running_loop().create_future()
        if not self.alive:
            answer.set_exception(WorkerDied(f"worker {self.process.pid} had ended"))
            return answer
        assert self.process.stdin is not None
        if not self.waiting:
            self._head_since = time.monotonic()
        self.waiting.append(answer)
        for part in page_request(url, content_type, style, kind, body):
            self.process.stdin.write(part)
        return answer

    async def _read_answers(self) -> None:
        assert self.process.stdout is not None
        stdout = self.process.stdout
        try:
            while True:
                header = await stdout.readexactly(LENGTH)
                ok, value = pickle.loads(await stdout.readexactly(int.from_bytes(header, "big")))
                answer = self.waiting.popleft()
                self._head_since = time.monotonic()  # the next page's parse begins now
                if answer.done():  # its caller was cancelled
                    continue
                if ok:
                    answer.set_result(value)
                else:
                    answer.set_exception(PageFactsError(f"in parse worker {self.process.pid}: {value}"))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the worker ended: its pages fail below, and are parsed again
        except Exception:  # an answer that cannot be read: this worker is of no more use
            logger.exception("Parse worker %s gave an unreadable answer; stopping it", self.process.pid)
            self.process.kill()
        finally:
            self.alive = False
            code = await self.process.wait()
            for answer in self.waiting:
                if not answer.done():
                    answer.set_exception(WorkerDied(f"worker {self.process.pid} ended with exit status {code}"))
            self.waiting.clear()

    async def _watch(self) -> None:
        """Kill the worker when the page it is on takes longer than the budget: that page
        fails as PageTimedOut, the others it held are parsed again elsewhere."""
        assert self.budget is not None
        while self.alive:
            await asyncio.sleep(min(1.0, self.budget / 4))
            if self.waiting and time.monotonic() - self._head_since > self.budget:
                self.alive = False  # first: no page may be handed to it any more
                with contextlib.suppress(ProcessLookupError):
                    self.process.kill()
                head = self.waiting[0]
                if not head.done():
                    head.set_exception(PageTimedOut(f"parsing took more than {self.budget:g} s (SINA_PARSE_TIMEOUT)"))
                return

    async def stop(self) -> None:
        if self.process.returncode is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                await asyncio.wait_for(self.process.wait(), _STOP_WAIT)
            except TimeoutError:
                self.process.kill()
        await self._reader
        if self._watchdog is not None:
            self._watchdog.cancel()


class ParseWorkers:
    """PageFacts for the crawl's pages, from ``count`` worker processes (0: in process)."""

    def __init__(
        self,
        count: int,
        *,
        budget: float | None = DEFAULT_BUDGET,
        command: Sequence[str] | None = None,
        count_event: Callable[[str], None] | None = None,
    ) -> None:
        """``count`` workers (0: parse in this process); ``budget`` seconds per page;
        ``count_event(name)`` is told ``started`` and ``died`` (the crawl's stats)."""
        if count < 0:
            raise ValueError(f"SINA_PARSE_WORKERS={count}: expected 0 or more")
        self.count = count
        self.budget = budget
        self.command = list(command or worker_command())
        self._count_event = count_event
        self._workers: list[_Worker] = []
        self._retry_worker: _Worker | None = None
        self._starting: asyncio.Lock | None = None
        self._retrying: asyncio.Lock | None = None
        self._slots: asyncio.Semaphore | None = None  # pages in flight, all workers
        self._dead: set[_Worker] = set()

    async def page_facts(
        self,
        body: bytes,
        content_type: str | None,
        url: str,
        style: BodyStyle = DEFAULT_BODY_STYLE,
        kind: str = ARTICLE,
    ) -> PageFacts:
        if self.count == 0:
            try:
                return page_facts(body, content_type, url, style, kind)
            except Exception as exc:  # as a worker reports it, so both ways end alike
                raise PageFactsError(f"{url}:\n{traceback.format_exc()}") from exc
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.count * IN_FLIGHT_PER_WORKER)
        async with self._slots:
            worker = await self._least_busy()
            try:
                return await worker.submit(body, content_type, url, style, kind)
            except WorkerDied as died:
                if worker not in self._dead:  # counted once, whatever number of pages it held
                    self._dead.add(worker)
                    self._inc("died")
                logger.warning("Parse worker died (%s); parsing %s again, alone", died, url)
        return await self._retry(body, content_type, url, style, kind)

    async def close(self) -> None:
        workers = [*self._workers, *([self._retry_worker] if self._retry_worker else [])]
        self._workers, self._retry_worker = [], None
        await asyncio.gather(*(worker.stop() for worker in workers))

    async def _least_busy(self) -> _Worker:
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            self._workers = [worker for worker in self._workers if worker.alive]
            while len(self._workers) < self.count:
                self._workers.append(await self._start())
        return min(self._workers, key=lambda worker: len(worker.waiting))

    async def _retry(self, body: bytes, content_type: str | None, url: str, style: BodyStyle, kind: str) -> PageFacts:
        if self._retrying is None:
            self._retrying = asyncio.Lock()
        async with self._retrying:  # one page at a time: a death now is that page's doing
            if self._retry_worker is None or not self._retry_worker.alive:
                self._retry_worker = await self._start()
            try:
                return await self._retry_worker.submit(body, content_type, url, style, kind)
            except WorkerDied as died:
                self._inc("died")
                raise PageCrashedParser(f"the page killed a parse worker twice ({died})") from None

    async def _start(self) -> _Worker:
        worker = await _Worker.start(self.command, self.budget)
        self._inc("started")
        logger.debug("Parse worker %s started", worker.process.pid)
        return worker

    def _inc(self, event: str) -> None:
        if self._count_event is not None:
            self._count_event(event)
