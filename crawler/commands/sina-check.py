"""`scrapy sina-check [-a sections=id,id]`: is the site still the site?  Per selected
section (as a crawl selects them: settings/sections.yaml, ``-a sections``), its first
listing page and one article of it are fetched through the normal downloader and judged
(crawler.spiders.site_check, crawler.sina.site_check); one table row per section on
standard output.

Invariant: it writes no post and takes no lock (a read-only run: no pipeline, no run
extension).  Exit status 0 only when every section is ``ok``; 1 when one is not (or the
check could not run); 2 with one plain line on an operator's mistake, as ``scrapy crawl``.
The command's name is its module's (Scrapy's COMMANDS_MODULE), hence the file's hyphen.
"""

from __future__ import annotations

import argparse
import unicodedata

from scrapy import signals
from scrapy.commands.crawl import Command as ScrapyCrawlCommand
from scrapy.exceptions import UsageError

from crawler.commands.crawl import crawl_to_the_end
from crawler.sina.site_check import SectionCheck
from crawler.spiders.site_check import SiteCheckSpider

HEADER = ("section", "name", "status", "reason")


def width(text: str) -> int:
    """Columns the text takes in a terminal: a wide (CJK) character takes two."""
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def table(rows: list[SectionCheck]) -> str:
    """One line per row under a header, columns aligned (the reason, last, is not padded)."""
    cells = [HEADER, *((row.section_id, row.name, row.status, row.reason) for row in rows)]
    widths = [max(width(cell[column]) for cell in cells) for column in range(len(HEADER) - 1)]
    lines = []
    for cell in cells:
        padded = [value + " " * (widths[column] - width(value)) for column, value in enumerate(cell[:-1])]
        lines.append("  ".join([*padded, cell[-1]]))
    return "\n".join(lines)


class Command(ScrapyCrawlCommand):
    def syntax(self) -> str:
        return "[-a sections=id,id] [options]"

    def short_desc(self) -> str:
        return "Check that Sina's listings and article pages still read as the crawler expects"

    def long_desc(self) -> str:
        return (
            "For each selected section (-a sections=id,id; default: every enabled one), fetch its "
            "first listing page and one article of it, and print one row: ok, listing broken or "
            "template changed, with the reason. Exits 0 only when every section is ok. Writes no "
            "post and takes no lock."
        )

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if args:
            raise UsageError("scrapy sina-check takes no spider; select sections with -a sections=id,id")
        assert self.crawler_process
        crawler = self.crawler_process.create_crawler(SiteCheckSpider)
        rows: list[SectionCheck] = []

        def spider_closed(spider: object, reason: str) -> None:
            if isinstance(spider, SiteCheckSpider):
                rows.extend(spider.results(reason))

        crawler.signals.connect(spider_closed, signal=signals.spider_closed, weak=False)
        if crawl_to_the_end(self.crawler_process, crawler, opts.spargs):
            self.exitcode = 2
            return
        if rows:
            print(table(rows), flush=True)
        self.exitcode = 0 if rows and all(row.ok for row in rows) else 1
