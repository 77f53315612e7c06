"""A crawl that SIGKILLs itself right after its k-th retention step, for the crash tests
(k from ``RETENTION_KILL_AT``): a file removed (crawler.storage.retention's one removal
call), a ``deleted`` manifest line appended, the rows forgotten.  A kill -9 at a chosen
point, with nothing of the crawler changed but those three calls counted.

    RETENTION_KILL_AT=3 python -m tests.support.retention_killer scrapy crawl sina_finance …
"""

from __future__ import annotations

import itertools
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

from crawler.storage import retention
from crawler.storage.manifest import Manifest
from crawler.storage.state import CrawlState

_steps = itertools.count(1)


def _kill_after(step: Callable[..., Any], at: int, counts: Callable[..., bool] = lambda *args: True) -> Any:
    def counted(*args: Any) -> Any:
        result = step(*args)
        if counts(*args) and next(_steps) >= at:
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    return counted


def main(argv: list[str]) -> None:
    at = int(os.environ["RETENTION_KILL_AT"])
    retention._unlink = _kill_after(retention._unlink, at)
    Manifest.append = _kill_after(  # type: ignore[method-assign]
        Manifest.append, at, lambda manifest, entry: entry.get("status") == "deleted"
    )
    CrawlState.forget = _kill_after(CrawlState.forget, at)  # type: ignore[method-assign]
    from scrapy.cmdline import execute

    execute(argv)


if __name__ == "__main__":
    main(sys.argv[1:])
