"""Writes each ArticleItem as a Hexo post: path, content and write are three steps."""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from scrapy.exceptions import DropItem

from crawler.config import OutputConfig, load_output
from crawler.hexo.fields import rfc1123
from crawler.hexo.paths import post_file_name, post_relative_path
from crawler.hexo.post import PostContent, render_post_bytes
from crawler.items import ArticleItem

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.statscollectors import StatsCollector

logger = logging.getLogger(__name__)

TEMP_PREFIX = ".tmp-"  # temporary files live beside the post, then are renamed


@dataclass(frozen=True, slots=True)
class WriteOutcome:
    status: str  # "written" (new file), "updated" (bytes changed), "unchanged"


def post_content(item: ArticleItem) -> PostContent:
    if not (item.title and item.date and item.author and item.body_html is not None):
        raise ValueError("item lacks title, date, author or body")
    return PostContent(
        title=item.title,
        categories=list(item.categories),
        author=item.author,
        date=rfc1123(datetime.fromisoformat(item.date.replace("Z", "+00:00"))),
        headimg=item.headimg,
        body=item.body_html,
    )


def write_atomically(target: Path, data: bytes) -> WriteOutcome:
    """Temporary file in the same folder, fsync, rename: never a partial post."""
    try:
        if target.read_bytes() == data:
            return WriteOutcome("unchanged")
        existed = True
    except FileNotFoundError:
        existed = False
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".md", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as temp:
            temp.write(data)
            temp.flush()
            os.fsync(temp.fileno())
        os.replace(temp_name, target)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return WriteOutcome("updated" if existed else "written")


class HexoPostsPipeline:
    def __init__(self, output: OutputConfig, stats: StatsCollector) -> None:
        self.posts_dir = output.posts_dir
        self.stats = stats
        self._owners: dict[str, str] = {}  # relative path -> publishid, this run

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> HexoPostsPipeline:
        assert crawler.stats is not None
        return cls(load_output(crawler.settings), crawler.stats)

    def open_spider(self) -> None:
        self.posts_dir.mkdir(parents=True, exist_ok=True)
        logger.info("Writing Hexo posts under %s", self.posts_dir)

    def post_path(self, item: ArticleItem) -> str:
        """Relative path; a name another article took this run gets ``_<publishid>``."""
        assert item.title and item.publishid
        name = post_file_name(item.title, item.publishid)
        relative = post_relative_path(item.categories, name)
        owner = self._owners.get(relative)
        if owner is not None and owner != item.publishid:
            name = post_file_name(item.title, item.publishid, disambiguate=True)
            relative = post_relative_path(item.categories, name)
        return relative

    def process_item(self, item: ArticleItem) -> ArticleItem:
        try:
            data = render_post_bytes(post_content(item))
            relative = self.post_path(item)
            outcome = write_atomically(self.posts_dir / relative, data)
        except (ValueError, AssertionError) as exc:
            raise self._failed("bad_item", item, str(exc)) from exc
        except OSError as exc:
            raise self._failed("os_error", item, f"{exc.strerror or exc} ({exc.filename})") from exc
        self._owners[relative] = item.publishid or ""
        item.path = relative
        self.stats.inc_value(f"sina/posts/{outcome.status}")
        log = logger.debug if outcome.status == "unchanged" else logger.info
        log("Post %s: %s (%s)", outcome.status, relative, item.url)
        return item

    def _failed(self, reason: str, item: ArticleItem, detail: str) -> DropItem:
        """Count the failure; the DropItem returned is logged by Scrapy with the URL."""
        self.stats.inc_value(f"sina/posts/failed/{reason}")
        return DropItem(f"post not written for {item.url}: {reason}: {detail}")
