"""`scrapy crawl`, whose exit status says how the run ended, so that cron, systemd and
scrapyd users see it:

- 0: the run finished;
- 1: the run failed (its finish reason is one of
  crawler.extensions.runstate.FAILED_RUN_REASONS, e.g. ``network_unreachable``), or it
  finished but a section's article template seems to have changed
  (crawler.extensions.runsummary: ``template changed?``);
- 2: the configuration or a spider argument is wrong (one plain message, no traceback);
- 3: the run was stopped before it finished (SIGINT, SIGTERM: finish reason ``shutdown``);
  what it listed and did not reach is fetched by the next run.

SIGINT and SIGTERM stop the crawl promptly (crawler.downloadermiddlewares.network): the
spider closes once the downloads in flight end (at most SINA_STOP_GRACE seconds), with its run
summary; a second signal closes it at once, summary included; a third is Scrapy's forced
stop."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.commands.crawl import Command as ScrapyCrawlCommand
from scrapy.exceptions import UsageError

from crawler.config import ConfigError
from crawler.downloadermiddlewares.network import SHUTDOWN, CrawlStop
from crawler.extensions.runstate import FAILED_RUN_REASONS
from crawler.extensions.runsummary import TEMPLATE_CHANGED_STAT
from crawler.scrapy_internals import command_crawler, install_stop_handlers

if TYPE_CHECKING:
    from scrapy.crawler import Crawler, CrawlerProcessBase

logger = logging.getLogger(__name__)

#: The exit status of a run that was stopped before it finished.
EXIT_INTERRUPTED = 3


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
        stop = CrawlStop.of(crawler)
        signalled: list[int] = []

        def first(signum: int) -> None:
            signalled.append(signum)
            logger.info(
                "Received %s: stopping once the downloads in flight end (at most %g s); send it again to stop now",
                signal_name(signum),
                stop.grace,
            )
            stop.stop(SHUTDOWN)

        def again(signum: int) -> None:
            signalled.append(signum)
            logger.info("Received %s again: stopping now", signal_name(signum))
            stop.stop(SHUTDOWN)

        install_stop_handlers(self.crawler_process, first, again)
        mistakes = crawl_to_the_end(self.crawler_process, crawler, opts.spargs)
        if mistakes:
            self.exitcode = 2  # the operator's mistake, as a usage error
        elif self.crawler_process.bootstrap_failed or FAILED_RUN_REASONS.intersection(reasons):
            self.exitcode = 1
        elif signalled or SHUTDOWN in reasons:
            self.exitcode = EXIT_INTERRUPTED
        elif crawler.stats is not None and crawler.stats.get_value(TEMPLATE_CHANGED_STAT, 0):
            self.exitcode = 1  # finished, but some section's pages have no body container any more


def crawl_to_the_end(
    process: CrawlerProcessBase, crawler: Crawler, spider_arguments: dict[str, Any]
) -> list[ConfigError]:
    """Run ``crawler`` in ``process`` until it ends; the configuration or argument mistakes
    that stopped it at start (each already logged as one plain line)."""
    started = process.crawl(crawler, **spider_arguments)
    mistakes: list[ConfigError] = []
    if isinstance(started, asyncio.Future):
        started.add_done_callback(lambda task: _report_start_failure(task, mistakes))
    process.start()
    return mistakes


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


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"
