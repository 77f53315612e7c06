"""First pipeline step: the post's path, decided before anything is stored.

An article keeps its path forever (the state remembers it).  A new article whose
file name another article owns gets ``<name>_<publishid>.md``; a name too long for
the file system is shortened at a character boundary and gets the same suffix.

A path read back from the state is checked as a new one is (relative, no ``..``, no
symbolic-link folder on its way, inside the posts folder once resolved): a row that
fails is ``unsafe_path``, logged and counted, and the article gets its fresh path, which
replaces the row once the post is written.  So no state row places a write anywhere.

A post written before version 3 of the post format under a name that begins with ``_``
(``_一带一路_….md``) was never published: Hexo skips such files.  It moves to its fresh
path (§4), and the old file goes once the new one is in place (HexoPostsPipeline).

With retention on, a post dated before the window (an item its listing could not date,
its page did) is not written: retention would remove it at the next run's start.

Only ``scrapy crawl`` writes posts: its start() opened the run (the lock, the state).
``scrapy parse --pipelines`` runs no start() and does not wait for an asynchronous
pipeline, so its post is dropped here with a line that says so."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from scrapy.exceptions import DropItem

from crawler.extensions.runstate import CrawlRun
from crawler.hexo.paths import UNPUBLISHED_PREFIX, post_file_name, post_relative_path
from crawler.items import PlacedPost, Post
from crawler.storage.files import UnsafePath, checked_post_path

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)


class PostPathPipeline:
    def __init__(self, run: CrawlRun) -> None:
        self.run = run
        self._claimed: dict[str, str] = {}  # path -> publishid, this run

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> PostPathPipeline:
        return cls(CrawlRun.of(crawler))

    def place(self, post: Post) -> PlacedPost:
        """The post with its path: the one the state remembers, else a fresh one."""
        state = self.run.state
        assert state is not None, "the crawl's start() opened the run"
        known = state.get(post.publishid)
        replaces = None
        if known is not None:
            try:
                checked_post_path(self.run.output.posts_dir, known.path)
            except UnsafePath as exc:
                self.run.crawler.stats.inc_value("sina/state/unsafe_path")
                logger.warning("State row of %s has an unsafe path (%s): written at its fresh path", post.url, exc)
            else:
                if not known.path.rpartition("/")[2].startswith(UNPUBLISHED_PREFIX):
                    return PlacedPost(post, known.path)
                replaces = known.path
                self.run.crawler.stats.inc_value("sina/posts/moved/unpublished_name")
                logger.info("Post of %s moves off %s: Hexo does not publish a file named _…", post.url, known.path)
        path = post_relative_path(post.categories, post_file_name(post.title, post.publishid))
        owner = state.owner_of(path) or self._claimed.get(path)
        if owner is not None and owner != post.publishid:
            name = post_file_name(post.title, post.publishid, disambiguate=True)
            path = post_relative_path(post.categories, name)
        self._claimed[path] = post.publishid
        return PlacedPost(post, path, replaces)

    def process_item(self, item: Post) -> PlacedPost:
        if not self.run.is_open:  # `scrapy parse --pipelines`: no crawl opened the run
            raise DropItem(f"not written: only `scrapy crawl` writes posts ({item.url})")
        window = self.run.window
        if window is not None and window.outside(int(item.date.timestamp()), item.publishid):
            self.run.crawler.stats.inc_value("sina/skipped/outside_window")
            raise DropItem(f"post not written for {item.url}: dated {item.date:%Y-%m-%d}, before the retention window")
        return self.place(item)
