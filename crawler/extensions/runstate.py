"""The run: what one crawl shares between the spider, the pipelines and the extensions,
and the decisions taken from it, as named fields (stats counters only report).

CrawlRun holds the posts-folder lock, the state database, the manifest, the run id and
what happened to each section this run (crawler.admission.SectionProgress).

Only a crawl that writes posts opens it: the spider's own ``start()`` does, before its
first request (so a locked or unwritable posts folder closes the spider before any
request), and takes a cluster's lease after the lock.  ``scrapy shell``, ``parse``,
``fetch`` and ``check`` replace or skip that ``start()``, so they read pages, write no
post (crawler.pipelines.post_paths) and leave the posts folder free.  A cluster's worker
writes nothing and never opens it.
The RunState extension, when the crawl finishes, records what each section tells its next
run (crawler.admission's rules).  RunHealth closes a run that did nothing useful with a
named reason.
"""

from __future__ import annotations

import logging
import sqlite3
import time
import uuid
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, ClassVar

from scrapy import signals
from scrapy.exceptions import CloseSpider

from crawler.admission import PAGES_DONE_WHILE_LISTING, Listed, SectionProgress, Window, is_known, may_stop_at_known
from crawler.config import Config, OutputConfig
from crawler.downloadermiddlewares.network import SHUTDOWN, CrawlStop
from crawler.extensions.retention import Retention
from crawler.storage.files import OwnedTree, UnsafePath, checked_post_path
from crawler.storage.locking import LockedError, LockFileError, PostsFolderLock
from crawler.storage.manifest import Manifest
from crawler.storage.state import CrawlState, StateError

if TYPE_CHECKING:
    from scrapy import Spider
    from scrapy.crawler import Crawler

    from crawler.cluster.coordinator import Coordinator

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
        self.sections: dict[str, SectionProgress] = {}
        self.pages = 1  # -a pages of this run
        self.articles_requested = 0
        self.articles_parsed = 0
        self.articles_listed = 0  # admitted for fetching (listed, not known, not listed twice)
        self.articles_reached = 0  # of those, answered or failed for good
        self.cluster: Coordinator | None = None  # SINA_REDIS_URL: this run coordinates a cluster
        self.window: Window | None = None  # retention is on: what admission skips as outside it
        crawler.signals.connect(self.close, signal=signals.engine_stopped)

    @classmethod
    def of(cls, crawler: Crawler) -> CrawlRun:
        run = cls._runs.get(crawler)
        if run is None:
            run = cls._runs[crawler] = cls(crawler, Config.of(crawler).output)
        return run

    def section(self, section_id: str) -> SectionProgress:
        return self.sections.setdefault(section_id, SectionProgress())

    def begin(self, section_ids: Sequence[str], pages: int) -> None:
        """The run lists these sections, ``pages`` pages each: a section whose last run
        finished that many pages may stop paging at known articles; until this run finishes
        a section, the state says it is not done (a killed run leaves that)."""
        self.pages = pages
        for section_id in section_ids:
            progress = self.section(section_id)
            if self.state is not None:
                progress.stop_at_known = may_stop_at_known(self.state.pages_done(section_id), pages)
                self.state.set_pages_done(section_id, PAGES_DONE_WHILE_LISTING)

    def finish(self, reason: str) -> None:
        """Each section records what it tells the next run (SectionProgress.pages_done_after)."""
        if self.state is None:
            return
        for section_id, progress in self.sections.items():
            pages_done = progress.pages_done_after(reason, self.pages)
            if pages_done is not None:
                self.state.set_pages_done(section_id, pages_done)

    def retain(self, keep_days: int | None, keep_posts: int | None) -> None:
        """Retention, once the run is open (the lock held) and before any request: our posts
        out of the window go (crawler.extensions.retention), and admission skips what is
        listed outside it.  Spider arguments win over HEXO_KEEP_DAYS / HEXO_KEEP_POSTS."""
        window = Window(
            keep_days if keep_days is not None else self.output.keep_days,
            keep_posts if keep_posts is not None else self.output.keep_posts,
            now=int(time.time()),
        )
        if not window.on or self.state is None or self.manifest is None:
            return
        retention = Retention(
            self.output.posts_dir,
            self.state,
            self.manifest,
            self.crawler.stats,
            run_id=self.run_id,
            fsync=self.output.fsync,
        )
        try:
            self.window = retention.apply(window)
        except (OSError, sqlite3.Error) as exc:  # what is done stays done; the next run goes on
            self.crawler.stats.inc_value("sina/retention/failed")
            logger.error("Retention stopped: %s", exc)
            self.window = window

    def known(self, entry: Listed, *, refresh: bool) -> bool:
        """Whether the entry is a post written before and unchanged (crawler.admission.is_known)."""
        if self.state is None:
            return False
        return is_known(
            entry,
            self.state.get(entry.publishid),
            post_format=self.output.post_format,
            refresh=refresh,
            post_there=self._post_there,
        )

    def _post_there(self, path: str) -> bool:
        """At a path that passes the check of a new one (a row whose path fails it was
        fetched, and its row replaced: crawler.pipelines.post_paths)."""
        try:
            return checked_post_path(self.output.posts_dir, path).is_file()
        except UnsafePath:
            return False

    @property
    def waiting_for_cluster(self) -> bool:
        """A coordinator with articles pushed and not answered yet."""
        return self.cluster is not None and not self.cluster.finished

    @property
    def all_listings_failed(self) -> bool:
        return bool(self.sections) and all(progress.listing_failed for progress in self.sections.values())

    @property
    def not_reached(self) -> int:
        """Articles listed for fetching that this run never reached (a stopped run): the
        next run fetches them, as none has a state row."""
        return max(self.articles_listed - self.articles_reached, 0)

    @property
    def nothing_parsed(self) -> bool:
        return self.articles_requested > 0 and self.articles_parsed == 0

    @property
    def is_open(self) -> bool:
        return self.state is not None

    async def begin_crawl(self, spider: Spider) -> None:
        """A crawl that writes posts begins (the spider's own start()): the lock, the state
        and the manifest, retention (-a keep_days / keep_posts), then a cluster's lease
        (SINA_REDIS_URL); CloseSpider when one of them cannot be had.  A spider that writes
        no posts (a cluster's worker) takes none."""
        if not getattr(spider, "writes_posts", True):
            return
        await self.open_async()
        arguments = getattr(spider, "arguments", None)
        self.retain(getattr(arguments, "keep_days", None), getattr(arguments, "keep_posts", None))
        cluster = Config.of(self.crawler).cluster
        if cluster is None or self.cluster is not None:
            return
        # Imported only for a cluster: redis and scrapy-redis are the `cluster` extra.
        from crawler.cluster.coordinator import ClusterError, Coordinator, redis_address
        from crawler.cluster.protocol import ClusterKeys, project_version

        coordinator = Coordinator(cluster.redis_url, ClusterKeys(cluster.name), project_version(), self.run_id)
        try:
            coordinator.open(spider)
        except ClusterError as exc:
            logger.error("Not crawling: %s", exc.detail)
            raise CloseSpider(exc.reason) from exc
        coordinator.keep_lease()
        logger.info("Coordinating cluster %r at %s", cluster.name, redis_address(cluster.redis_url))
        self.cluster = coordinator

    def open(self) -> None:
        """Lock, clean up after a killed run, open state and manifest (idempotent)."""
        if self.is_open:
            return
        with self._taking_lock():
            self.lock.acquire(self.output.lock_wait)
        self._open_locked()

    async def open_async(self) -> None:
        """open(), waiting for the lock without blocking the crawl's event loop."""
        if self.is_open:
            return
        stop = CrawlStop.of(self.crawler)
        with self._taking_lock():
            taken = await self.lock.acquire_async(self.output.lock_wait, give_up=lambda: stop.stopping)
        if not taken:
            logger.info("Stopped while waiting for the posts folder's lock: nothing was crawled")
            raise CloseSpider(SHUTDOWN)
        self._open_locked()

    @contextmanager
    def _taking_lock(self) -> Iterator[None]:
        """A lock not taken closes the spider: held by another run, or not writable."""
        try:
            yield
        except LockedError as exc:
            logger.error("Not crawling: %s", exc)
            raise CloseSpider("posts_dir_locked") from exc
        except (LockFileError, OSError) as exc:
            raise self._unwritable(exc) from exc

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
    {
        "all_listings_failed",
        "no_article_parsed",
        "posts_dir_locked",
        "posts_dir_unwritable",
        "state_unavailable",
        "cluster_locked",
        "cluster_unavailable",
        "version_mismatch",
        "network_unreachable",
    }
)


class RunState:
    """Finishes the run when the spider closes (CrawlRun.begin_crawl opened it, if a crawl
    that writes posts ran)."""

    def __init__(self, run: CrawlRun) -> None:
        self.run = run

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RunState:
        extension = cls(CrawlRun.of(crawler))
        crawler.signals.connect(extension.spider_closed, signal=signals.spider_closed)
        return extension

    def spider_closed(self, spider: Spider, reason: str) -> None:
        if self.run.cluster is not None:
            self.run.cluster.close()
        self.run.finish(reason)


class RunHealth:
    """Closes a run that did nothing useful with a finish reason that names it:
    every listing failed (Sina's API or list pages unreachable or changed), or
    articles were requested and none could be parsed (article pages changed)."""

    def __init__(self, run: CrawlRun) -> None:
        self.run = run

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RunHealth:
        extension = cls(CrawlRun.of(crawler))
        crawler.signals.connect(extension.spider_idle, signal=signals.spider_idle)
        return extension

    def failure(self) -> str | None:
        if self.run.all_listings_failed:
            return "all_listings_failed"
        if self.run.nothing_parsed:
            return "no_article_parsed"
        return None

    def spider_idle(self, spider: Spider) -> None:
        if not getattr(spider, "writes_posts", True) or self.run.waiting_for_cluster:
            return  # a worker; or a coordinator whose workers have not answered yet
        reason = self.failure()
        if reason is not None:
            logger.error("Run failed: %s", reason)
            raise CloseSpider(reason)
