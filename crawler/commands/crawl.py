"""`scrapy crawl`, exiting 1 when the run failed (see crawler.extensions.runstate.FAILED_RUN_REASONS)
or a section's article template seems to have changed (crawler.extensions.runsummary), so
cron, systemd and scrapyd users see a failed run as a failure, and 2 with one plain
message (no traceback) when the configuration or a spider argument is wrong."""

from __future__ import annotations

import argparse
import asyncio
import logging

from scrapy import signals
from scrapy.commands.crawl import Command as ScrapyCrawlCommand
from scrapy.exceptions import UsageError

from crawler.config import ConfigError
from crawler.extensions.runstate import FAILED_RUN_REASONS
from crawler.extensions.runsummary import TEMPLATE_CHANGED_STAT
from crawler.scrapy_internals import command_crawler

logger = logging.getLogger(__name__)


class Command(ScrapyCrawlCommand):
    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if len(args) != 1:
            raise UsageError("run one spider: scrapy crawl <spider>")
        assert self.crawler_process
        crawler = command_crawler(self, args[0])
        reasons: list[str] = []

        def spider_closed(spider: object, reason: str) -> None:
            reasons.append(reason)

        crawler.signals.connect(spider_closed, signal=signals.spider_closed, weak=False)
        started = self.crawler_process.crawl(crawler, **opts.spargs)
        mistakes: list[ConfigError] = []
        if isinstance(started, asyncio.Future):
            started.add_done_callback(lambda task: _report_start_failure(task, mistakes))
        self.crawler_process.start()
        if mistakes:
            self.exitcode = 2  # the operator's mistake, as a usage error
        elif self.crawler_process.bootstrap_failed or FAILED_RUN_REASONS.intersection(reasons):
            self.exitcode = 1
        elif crawler.stats is not None and crawler.stats.get_value(TEMPLATE_CHANGED_STAT, 0):
            self.exitcode = 1  # finished, but some section's pages have no body container any more


def _report_start_failure(task: asyncio.Future[None], mistakes: list[ConfigError]) -> None:
    """A configuration or argument mistake stops the crawl with one plain line; any other
    failure to start is a bug, logged with its traceback."""
    if task.cancelled() or task.exception() is None:
        return
    exc = task.exception()
    if isinstance(exc, ConfigError):
        mistakes.append(exc)
        logger.error("Not crawling: %s", exc)
    else:
        logger.error("The crawl could not start", exc_info=exc)
