"""A healthy run logs nothing at WARNING or above, and a problem is logged once, on one
line: Scrapy's own lines that say less than the project's, or say it twice, are reworded
or demoted while a crawl runs (crawler.scrapy_internals.ScrapyLogLines says which)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy import signals
from twisted.python.failure import Failure

from crawler.failures import failure_reason
from crawler.scrapy_internals import quiet_scrapy_log_lines

if TYPE_CHECKING:
    from collections.abc import Callable

    from scrapy.crawler import Crawler


def exception_reason(exception: BaseException) -> str:
    """A download exception's short name, as its failure's (crawler.failures)."""
    return failure_reason(Failure(exception))  # type: ignore[no-untyped-call]  # Twisted's Failure() is untyped


class LogLines:
    """On from the crawler's making to its engine's stop (in-process crawls come and go)."""

    def __init__(self, remove: Callable[[], None]) -> None:
        self.remove = remove

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> LogLines:
        extension = cls(quiet_scrapy_log_lines(exception_reason))
        crawler.signals.connect(extension.engine_stopped, signal=signals.engine_stopped)
        return extension

    def engine_stopped(self) -> None:
        self.remove()
