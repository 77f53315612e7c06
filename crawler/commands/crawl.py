"""`scrapy crawl`, exiting 1 when the run failed (see crawler.extensions.FAILED_RUN_REASONS),
so cron, systemd and scrapyd users see a failed run as a failure."""

from __future__ import annotations

import argparse

from scrapy import signals
from scrapy.commands.crawl import Command as ScrapyCrawlCommand
from scrapy.exceptions import UsageError

from crawler.extensions import FAILED_RUN_REASONS


class Command(ScrapyCrawlCommand):
    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if len(args) != 1:
            raise UsageError("run one spider: scrapy crawl <spider>")
        assert self.crawler_process
        crawler = self._create_crawler(args[0])
        reasons: list[str] = []

        def spider_closed(spider: object, reason: str) -> None:
            reasons.append(reason)

        crawler.signals.connect(spider_closed, signal=signals.spider_closed, weak=False)
        self.crawler_process.crawl(crawler, **opts.spargs)
        self.crawler_process.start()
        if self.crawler_process.bootstrap_failed or FAILED_RUN_REASONS.intersection(reasons):
            self.exitcode = 1
