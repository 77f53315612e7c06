"""What one crawl shares between the spider and the pipelines: the posts-folder
lock, the state database, the manifest and the run id.  Opened once, by the first
pipeline's open_spider (PostPathPipeline), so a locked folder closes the spider
before any request.  Without the pipelines (e.g. only `-O items.jsonl`), nothing
is opened and every listed article is fetched."""

from __future__ import annotations

import logging
import uuid
import weakref
from datetime import UTC, datetime
from typing import TYPE_CHECKING, ClassVar

from scrapy import signals
from scrapy.exceptions import CloseSpider

from crawler.config import OutputConfig, load_output
from crawler.storage.files import OwnedTree
from crawler.storage.locking import LockedError, LockFileError, PostsFolderLock
from crawler.storage.manifest import Manifest
from crawler.storage.state import CrawlState, StateError

if TYPE_CHECKING:
    from scrapy import Spider
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)


class CrawlRun:
    _runs: ClassVar[weakref.WeakKeyDictionary[Crawler, CrawlRun]] = weakref.WeakKeyDictionary()

    def __init__(self, crawler: Crawler, output: OutputConfig) -> None:
        self.crawler = crawler
        self.output = output
        self.run_id = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
        self.lock = PostsFolderLock(output.posts_dir)
        self.state: CrawlState | None = None
        self.manifest: Manifest | None = None
        crawler.signals.connect(self.close, signal=signals.engine_stopped)

    @classmethod
    def of(cls, crawler: Crawler) -> CrawlRun:
        run = cls._runs.get(crawler)
        if run is None:
            run = cls._runs[crawler] = cls(crawler, load_output(crawler.settings))
        return run

    @property
    def is_open(self) -> bool:
        return self.state is not None

    def open(self) -> None:
        """Lock, clean up after a killed run, open state and manifest (idempotent)."""
        if self.is_open:
            return
        try:
            self.lock.acquire(self.output.lock_wait)
        except LockedError as exc:
            logger.error("Not crawling: %s", exc)
            raise CloseSpider("posts_dir_locked") from exc
        except (LockFileError, OSError) as exc:
            raise self._unwritable(exc) from exc
        self._open_locked()

    async def open_async(self) -> None:
        """open(), waiting for the lock without blocking the crawl's event loop."""
        if self.is_open:
            return
        try:
            await self.lock.acquire_async(self.output.lock_wait)
        except LockedError as exc:
            logger.error("Not crawling: %s", exc)
            raise CloseSpider("posts_dir_locked") from exc
        except (LockFileError, OSError) as exc:
            raise self._unwritable(exc) from exc
        self._open_locked()

    def _unwritable(self, exc: Exception) -> CloseSpider:
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        logger.error("Not crawling: cannot write to the posts folder %s: %s", self.output.posts_dir, detail)
        return CloseSpider("posts_dir_unwritable")

    def _open_locked(self) -> None:
        try:
            tree = OwnedTree(self.output.posts_dir)
            try:
                removed = tree.remove_temporary()
                tree.check_writable()
            except OSError as exc:
                self.lock.release()
                raise self._unwritable(exc) from exc
            if removed:
                logger.info("Removed %d temporary file(s) left by an interrupted run", removed)
                self.crawler.stats.inc_value("sina/posts/temp_removed", removed)
            assert self.output.state_db is not None and self.output.manifest is not None
            self.state = CrawlState(self.output.state_db)
            self.manifest = Manifest(self.output.manifest)
        except (StateError, OSError) as exc:
            logger.error("Not crawling: %s", exc)
            self.close()
            raise CloseSpider("state_unavailable") from exc
        logger.info(
            "Run %s: posts %s, state %s (%d articles), manifest %s",
            self.run_id,
            self.output.posts_dir,
            self.output.state_db,
            self.state.count(),
            self.output.manifest,
        )

    def close(self) -> None:
        if self.manifest is not None:
            self.manifest.close()
            self.manifest = None
        if self.state is not None:
            self.state.close()
            self.state = None
        self.lock.release()


# Finish reasons of a failed run: `scrapy crawl` then exits 1 (crawler/commands/crawl.py).
FAILED_RUN_REASONS = frozenset(
    {"all_listings_failed", "no_article_parsed", "posts_dir_locked", "posts_dir_unwritable", "state_unavailable"}
)


class RunHealth:
    """Closes a run that did nothing useful with a finish reason that names it:
    every listing failed (Sina's API or list pages unreachable or changed), or
    articles were requested and none could be parsed (article pages changed)."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RunHealth:
        extension = cls(crawler)
        crawler.signals.connect(extension.spider_idle, signal=signals.spider_idle)
        return extension

    def failure(self, spider: Spider) -> str | None:
        assert self.crawler.stats is not None
        stats = self.crawler.stats.get_stats()
        sections = [section.id for section in getattr(spider, "sections", ())]
        if sections and all(stats.get(f"sina/section/{section_id}/list_failed") for section_id in sections):
            return "all_listings_failed"
        if stats.get("sina/articles/requested", 0) and not stats.get("sina/articles/parsed", 0):
            return "no_article_parsed"
        return None

    def spider_idle(self, spider: Spider) -> None:
        reason = self.failure(spider)
        if reason is not None:
            logger.error("Run failed: %s", reason)
            raise CloseSpider(reason)
