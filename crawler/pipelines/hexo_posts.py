"""Last pipeline step: render the post, write it atomically (crawler.storage.files),
then record it in the manifest and the state (in that order, so a crash never records an
unwritten post and a post written but not recorded is fetched and announced again)."""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import stat
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from scrapy.exceptions import DropItem

from crawler.extensions.runstate import CrawlRun
from crawler.hexo.fields import rfc1123
from crawler.hexo.post import PostContent, render_post_bytes, with_local_images
from crawler.items import ArticleItem
from crawler.storage.files import GroupFsync, OwnedTree, UnsafePath, checked_post_path

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)


def post_content(item: ArticleItem) -> PostContent:
    if not (item.title and item.date and item.author and item.body_html is not None):
        raise ValueError("item lacks title, date, author or body")
    # HEXO_IMAGES=local: images stored beside the post (their file names) replace their URLs.
    local = {image["url"]: PurePosixPath(image["path"]).name for image in item.image_files}
    first = (item.headimg, item.image_urls[0]) if item.headimg and item.image_urls else None
    body, headimg = with_local_images(item.body_html, item.body_image_spans, first, local)
    return PostContent(
        title=item.title,
        categories=list(item.categories),
        author=item.author,
        date=rfc1123(datetime.fromisoformat(item.date.replace("Z", "+00:00"))),
        headimg=headimg,
        body=body,
    )


def manifest_entry(item: ArticleItem, sha256: str, status: str, run_id: str) -> dict[str, Any]:
    return {
        "docid": item.docid,
        "publishid": item.publishid,
        "url": item.url,
        "section": item.section,
        "path": item.path,
        "title": item.title,
        "date": item.date,
        "media": item.media,
        "editor": item.editor,
        "keywords": item.keywords,
        "summary": item.summary,
        "images": item.image_urls,
        "kind": item.kind,
        "tags": item.tags,
        "stocks": item.stocks,
        "sha256": sha256,
        "status": status,
        "run_id": run_id,
    }


class HexoPostsPipeline:
    def __init__(self, run: CrawlRun) -> None:
        self.run = run
        self.posts_dir = run.output.posts_dir
        self.tree = OwnedTree(self.posts_dir)
        self.stats = run.crawler.stats
        self._fsync = GroupFsync()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> HexoPostsPipeline:
        return cls(CrawlRun.of(crawler))

    async def process_item(self, item: ArticleItem) -> ArticleItem:
        state, manifest = self.run.state, self.run.manifest
        assert state is not None and manifest is not None, "PostPathPipeline opens the run"
        try:
            if not (item.path and item.publishid):
                raise ValueError("item has no path or publishid")
            data = render_post_bytes(post_content(item))
            written = await self._write(self.posts_dir / item.path, data)
        except ValueError as exc:
            raise self._failed("bad_item", item, str(exc)) from exc
        except UnsafePath as exc:
            raise self._failed("unsafe_path", item, str(exc)) from exc
        except OSError as exc:
            raise self._failed("os_error", item, f"{exc.strerror or exc} ({exc.filename})") from exc
        sha256 = hashlib.sha256(data).hexdigest()
        known = state.get(item.publishid)
        if known is None:
            status = "new"
        elif known.sha256 != sha256 or known.path != item.path:  # moved off an unsafe or _ path
            status = "updated"
        else:
            status = "unchanged"
            if written:
                self.stats.inc_value("sina/posts/restored")  # the file had gone or been edited
        try:
            if status != "unchanged":
                manifest.append(manifest_entry(item, sha256, status, self.run.run_id))
            state.record(
                publishid=item.publishid,
                docid=item.docid,
                url=item.url or "",
                section=item.section or "",
                path=item.path,
                sha256=sha256,
                mtime=item.mtime,
                post_format=self.run.output.post_format,
                changed=status != "unchanged",
            )
        except (OSError, sqlite3.Error) as exc:  # the post is in place; the next run records it
            raise self._failed("record_error", item, str(exc)) from exc
        self.stats.inc_value(f"sina/posts/{status}")
        self.stats.inc_value(f"sina/section/{item.section}/{status}")
        log = logger.debug if status == "unchanged" else logger.info
        log("Post %s: %s (%s)", status, item.path, item.url)
        if item.replaces and item.replaces != item.path and known is not None:
            self._remove_replaced(item, item.replaces, known.sha256)
        return item

    def _remove_replaced(self, item: ArticleItem, relative: str, sha256: str) -> None:
        """Remove our earlier post of this article, now that its new one is in place and
        recorded: only a regular file, reached through no symbolic link, whose bytes are
        still the ones we wrote (a file someone edited stays, with a warning)."""
        try:
            old = checked_post_path(self.posts_dir, relative)
            if not stat.S_ISREG(os.lstat(old).st_mode):
                raise UnsafePath(f"{relative!r}: not a regular file")
            if hashlib.sha256(old.read_bytes()).hexdigest() != sha256:
                logger.warning("Left %s in place for %s: it is not the post we wrote there", relative, item.url)
                return
            old.unlink()
        except FileNotFoundError:
            return
        except (UnsafePath, OSError) as exc:
            logger.warning("Left %s in place for %s: %s", relative, item.url, exc)
            return
        self.stats.inc_value("sina/posts/moved/removed_old")
        logger.info("Removed %s: %s moved to %s", relative, item.url, item.path)

    def close_spider(self) -> None:
        self._fsync.close()

    async def _write(self, target: Path, data: bytes) -> bool:
        """Temporary file, durable with its group, renamed: False when nothing changed.
        Paths are unique per article in a run, so two writes never race for one file."""
        temp = self.tree.write_temporary(target, data)
        if temp is None:
            return False
        try:
            if self.run.output.fsync:  # a power cut after the rename must not leave an empty post
                await self._fsync.durable(temp)
            os.replace(temp, target)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return True

    def _failed(self, reason: str, item: ArticleItem, detail: str) -> DropItem:
        """Count the failure; the DropItem returned is logged by Scrapy with the URL."""
        self.stats.inc_value(f"sina/posts/failed/{reason}")
        self.stats.inc_value(f"sina/section/{item.section}/failed")
        if item.section:
            self.run.section(item.section).post_failed = True
        return DropItem(f"post not written for {item.url}: {reason}: {detail}")
