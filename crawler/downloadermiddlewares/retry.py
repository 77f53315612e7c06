"""Retry rule: Scrapy's retries (``get_retry_request``), with a pause that holds the HOST.

When a host answers with a status of RETRY_HTTP_CODES (403 and 429 are how Sina says
"slow down"; 5xx) or a request to it fails with one of RETRY_EXCEPTIONS, the host's
download slot (the Scrapy downloader's per-host queue, key ``request.meta["download_slot"]``)
is slowed down, so every later request to that host waits, not only the retry:

* Quiet time: no request to the host is dispatched before ``not_before`` = the moment the
  answer was handled + ``max(backoff, Retry-After)``, at most RETRY_BACKOFF_MAX seconds.
  ``backoff`` = RETRY_BACKOFF_BASE * 2**n (+ up to 25 % jitter), n the host's consecutive
  failures so far (0 for the first).  Retry-After is seconds or an HTTP date.
* Spacing: the slot's delay is raised to at least ``backoff``, as AutoThrottle raises it,
  and decays back as the host answers fine again (below).

How ``not_before`` holds, whatever the delay's randomisation (DOWNLOAD_DELAY_JITTER,
RANDOMIZE_DOWNLOAD_DELAY: the delay times 0.5-1.5): the downloader dispatches a slot's next
request only one randomized delay after the slot's last dispatch.  The rule moves that
moment forward to ``not_before`` (``DownloadSlot.hold_until``), as if the host's last
request had gone then: whatever the random factor, the next dispatch is at
``not_before + delay * factor >= not_before`` (so the first request after the hold waits
one randomized delay more).  A delay of zero skips that check, so the slot's delay is kept
above zero while ``not_before`` is ahead.  (This holds for any jitter below 1, i.e.
±100 %; Scrapy's default is 0.5.)  Scrapy has no public hook for such a hold: the slot is
reached through crawler.scrapy_internals, which says what it assumes of Scrapy's
downloader, and whose test checks it.  Answers are handled on Scrapy's
``response_downloaded`` signal, which the downloader sends before it frees the answer's
transfer slot and dispatches the next request: no request to the host leaves between an
answer and the hold it sets.  Requests already on the wire when the answer came are not
recalled.  A failed download (an exception) is handled in ``process_exception``, after the
downloader had its chance to dispatch one request that was already due.

Decay: with AutoThrottle on, AutoThrottle owns the delay on good answers (it averages the
delay toward its latency target, never below DOWNLOAD_DELAY): this rule only resets the
failure count.  With AutoThrottle off (or a request with ``autothrottle_dont_adjust_delay``),
each good answer after ``not_before`` halves the slot delay's excess over the delay it had
before the first failure (DOWNLOAD_DELAY, or the slot's DOWNLOAD_SLOTS delay); within 10 ms
it is that delay again.  A "good" answer is any downloaded response whose status is not in
RETRY_HTTP_CODES.  Answers inside the quiet time (requests that were already on the wire)
reset the failure count but never lower the delay.

Retries themselves are Scrapy's: ``scrapy.downloadermiddlewares.retry.get_retry_request``,
with RETRY_TIMES / ``max_retry_times``, RETRY_PRIORITY_ADJUST / ``priority_adjust``,
RETRY_GIVE_UP_LOG_LEVEL / ``give_up_log_level``, and its stats (``retry/count``,
``retry/reason_count/<reason>``, ``retry/max_reached``).  A request with meta ``dont_retry``
is never retried, nor is an IgnoreRequest (the fetch policy's ``RefusedRequest``), nor any
request once the crawl stops; before the crawl's first answer, a connection-level failure
(DNS, refused, proxy down: crawler.downloadermiddlewares.network) is retried without
slowing the host down.  Otherwise the host
is slowed down by what it answered all the same, whatever request it answered.  A retry
goes back through the scheduler and waits in the slot like any other request: nothing
sleeps in this middleware.  ``sina/retry/backoff_seconds`` counts the seconds of quiet time
added to hosts (overlapping holds counted once)."""

from __future__ import annotations

import logging
import random
import re
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from time import monotonic, time
from typing import TYPE_CHECKING

from scrapy import signals
from scrapy.downloadermiddlewares.retry import RetryMiddleware, get_retry_request
from scrapy.exceptions import IgnoreRequest
from scrapy.extensions.throttle import AutoThrottle
from scrapy.utils.response import response_status_message

from crawler.config.values import setting
from crawler.downloadermiddlewares.network import CrawlStop, NetworkWatch
from crawler.scrapy_internals import DownloadSlot, download_slot

if TYPE_CHECKING:
    from typing import Self

    from scrapy import Request, Spider
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from scrapy.settings import BaseSettings

logger = logging.getLogger(__name__)

#: The smallest slot delay while a host is held: a zero delay skips the downloader's check.
HOLD_MIN_DELAY = 0.001
#: A decaying delay this close to its configured value is the configured value again.
DECAY_DONE = 0.01
_MAX_EXPONENT = 60  # 2**60 times any sane base is far beyond RETRY_BACKOFF_MAX
_SECONDS = re.compile(r"\d+(?:\.\d+)?")


def retry_after_seconds(value: bytes | str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds from ``now`` (Unix time, default: the clock): a number of
    seconds or an HTTP date (a date in the past is 0).  None when absent or unreadable."""
    if not value:
        return None
    text = (value.decode("latin-1") if isinstance(value, bytes) else value).strip()
    if _SECONDS.fullmatch(text):
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000": HTTP dates are GMT
        when = when.replace(tzinfo=UTC)
    return max(when.timestamp() - (time() if now is None else now), 0.0)


@dataclass(eq=False)
class HostHold:
    """What the rule keeps for one download slot (one host) it has slowed down."""

    slot: DownloadSlot
    base_delay: float  # the slot's delay before the first failure: what decay returns to
    failures: int = 0  # consecutive retryable answers or errors
    not_before: float = 0.0  # monotonic time before which nothing is dispatched


class BackoffRetryMiddleware(RetryMiddleware):
    """Scrapy's RetryMiddleware settings and retries, with host-wide backoff (see module)."""

    def __init__(self, settings: BaseSettings) -> None:
        super().__init__(settings)
        self.backoff_base = float(setting(settings, "RETRY_BACKOFF_BASE"))  # type: ignore[arg-type]
        self.backoff_max = float(setting(settings, "RETRY_BACKOFF_MAX"))  # type: ignore[arg-type]
        self.holds: dict[str, HostHold] = {}
        self._autothrottle: AutoThrottle | None = None
        self._autothrottle_known = False

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        middleware = super().from_crawler(crawler)
        # Sent before the downloader frees the transfer slot and dispatches the next request.
        crawler.signals.connect(middleware.response_downloaded, signal=signals.response_downloaded)
        return middleware

    # ------------------------------------------------------------------ retries

    def process_response(
        self, request: Request, response: Response, spider: Spider | None = None
    ) -> Request | Response:
        if request.meta.get("dont_retry", False) or response.status not in self.retry_http_codes:
            return response
        return self._retry_request(request, response_status_message(response.status)) or response

    def process_exception(
        self, request: Request, exception: Exception, spider: Spider | None = None
    ) -> Request | Response | None:
        if isinstance(exception, IgnoreRequest) or not isinstance(exception, self.exceptions_to_retry):
            return None
        if CrawlStop.of(self.crawler).stopping:
            return None  # no retry of a crawl that stops: the next run fetches it
        slot = self.slot_of(request)
        # Before any answer, a connection-level failure says the network may not be there
        # (crawler.downloadermiddlewares.network), not that the host wants a pause.
        if slot is not None and not NetworkWatch.of(self.crawler).unproven(request, exception):
            self.host_failed(slot, retry_after=None, why=type(exception).__name__)
        if request.meta.get("dont_retry", False):
            return None
        return self._retry_request(request, exception)

    def _retry_request(self, request: Request, reason: str | Exception) -> Request | None:
        spider = self.crawler.spider
        assert spider is not None, "retries happen while a spider runs"
        return get_retry_request(
            request,
            spider=spider,
            reason=reason,
            max_retry_times=request.meta.get("max_retry_times", self.max_retry_times),
            priority_adjust=request.meta.get("priority_adjust", self.priority_adjust),
            give_up_log_level=request.meta.get("give_up_log_level", self.give_up_log_level),
        )

    # ------------------------------------------------------------------ the host's pace

    def response_downloaded(self, response: Response, request: Request) -> None:
        """Every downloaded answer (signal ``response_downloaded``, after AutoThrottle's)."""
        slot = self.slot_of(request)
        if slot is None:
            return
        if response.status in self.retry_http_codes:
            asked = retry_after_seconds(response.headers.get("Retry-After"))
            self.host_failed(slot, retry_after=asked, why=str(response.status))
        else:
            self.host_answered(slot, request)

    def slot_of(self, request: Request) -> DownloadSlot | None:
        """The download slot the request went through, or None if it never reached one."""
        return download_slot(self.crawler, request)

    def backoff(self, failures: int) -> float:
        """Pause after ``failures`` earlier consecutive failures: base * 2**n, + up to 25 %."""
        pause = self.backoff_base * 2.0 ** min(failures, _MAX_EXPONENT) * (1 + random.random() / 4)
        return min(pause, self.backoff_max)

    def _hold_of(self, slot: DownloadSlot) -> HostHold:
        hold = self.holds.get(slot.key)
        if hold is None or hold.slot != slot:  # new, or the downloader made a new slot
            hold = self.holds[slot.key] = HostHold(slot, base_delay=slot.delay)
        return hold

    def host_failed(self, slot: DownloadSlot, *, retry_after: float | None, why: str) -> None:
        """Hold the host for max(backoff, Retry-After) and raise its delay to the backoff."""
        hold = self._hold_of(slot)
        pause = self.backoff(hold.failures)
        hold.failures += 1
        quiet = min(max(pause, retry_after or 0.0), self.backoff_max)
        now = monotonic()
        until = now + quiet
        if until > hold.not_before:
            self._add_backoff_seconds(until - max(hold.not_before, now))
            hold.not_before = until
        slot.delay = max(slot.delay, pause, HOLD_MIN_DELAY)
        slot.hold_until(hold.not_before)
        logger.info(
            "Slowing down %s (%s, failure %d): nothing sent for %.2f s, then a %.2f s delay",
            slot.key,
            why,
            hold.failures,
            hold.not_before - now,
            slot.delay,
        )

    def _add_backoff_seconds(self, seconds: float) -> None:
        stats = self.crawler.stats  # inc_value() is typed for counts; this one is seconds
        stats.set_value(
            "sina/retry/backoff_seconds", round(stats.get_value("sina/retry/backoff_seconds", 0) + seconds, 3)
        )

    def host_answered(self, slot: DownloadSlot, request: Request) -> None:
        """A good answer: the failure streak ends; the delay decays (see module)."""
        key = slot.key
        hold = self.holds.get(key)
        if hold is None:
            return
        if hold.slot != slot:
            del self.holds[key]
            return
        hold.failures = 0
        if monotonic() < hold.not_before:  # an answer to a request sent before the hold
            slot.delay = max(slot.delay, HOLD_MIN_DELAY)  # whatever AutoThrottle just did
            return
        if self._autothrottle_adjusts(request):
            del self.holds[key]  # AutoThrottle owns the delay from here
            return
        excess = slot.delay - hold.base_delay
        if excess <= DECAY_DONE:
            slot.delay = hold.base_delay
            del self.holds[key]
        else:
            slot.delay = hold.base_delay + excess / 2

    def _autothrottle_adjusts(self, request: Request) -> bool:
        """Whether AutoThrottle lowers the slot's delay on this request's good answers."""
        if not self._autothrottle_known:
            self._autothrottle = self.crawler.get_extension(AutoThrottle)
            self._autothrottle_known = True
        return self._autothrottle is not None and not request.meta.get("autothrottle_dont_adjust_delay", False)
