"""Last pipeline step: render the post, write it atomically (crawler.storage.files),
then record it in the manifest and the state (in that order, so a crash never records an
unwritten post and a post written but not recorded is fetched and announced again)."""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import stat
from collections.abc import Collection
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from scrapy.exceptions import DropItem

from crawler.extensions.runstate import CrawlRun
from crawler.hexo.fields import rfc1123
from crawler.hexo.permalink import SitePermalink, asset_url
from crawler.hexo.post import PostContent, render_post_bytes, with_local_images
from crawler.items import PagePost, PlacedPost, exported, pick, post_fields
from crawler.storage.files import GroupFsync, OwnedTree, UnsafePath, checked_post_path

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)


def post_content(placed: PlacedPost, extras: Collection[str] = (), site: SitePermalink | None = None) -> PostContent:
    """The post as spec §1 writes it; with HEXO_IMAGES=local, the images stored beside it
    replace their URLs: their file names, or (``site``: HEXO_IMAGE_URLS=root) the path
    from the site root that Hexo publishes them at (crawler.hexo.permalink).  ``extras``
    (HEXO_FRONT_MATTER_EXTRAS): the front-matter lines after the sample's that it has, each
    only when the post has a value."""
    post = placed.post
    local = {image.url: PurePosixPath(image.path).name for image in placed.image_files}
    if site is not None:
        local = {url: asset_url(site, placed.path, post.date, name) for url, name in local.items()}
    body = post.body
    first = (body.first_image, body.image_urls[0]) if body.first_image and body.image_urls else None
    html, headimg = with_local_images(body.html, body.image_spans, first, local)
    return PostContent(
        title=post.title,
        categories=list(post.categories),
        author=post.author,
        date=rfc1123(post.date),
        headimg=headimg,
        body=html,
        excerpt=post.excerpt if "excerpt" in extras else None,
        tags=post.keywords if "tags" in extras else (),
        updated=rfc1123(post.updated) if "updated" in extras and post.updated is not None else None,
    )


def manifest_entry(placed: PlacedPost, sha256: str, status: str, run_id: str) -> dict[str, Any]:
    """The manifest line of a post written or updated: its keys, their order and their
    values are the manifest's format, which other tools read."""
    fields = post_fields(placed.post)
    return {
        **pick(fields, "docid", "publishid", "url", "section"),
        "path": placed.path,
        **pick(fields, "title", "date", "media", "editor", "keywords", "summary"),
        "images": list(placed.post.body.image_urls),
        **pick(fields, "kind", "tags", "stocks"),
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
        output = run.output
        self._site = output.site if output.image_urls == "root" else None  # None: file names

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> HexoPostsPipeline:
        return cls(CrawlRun.of(crawler))

    async def process_item(self, item: PlacedPost) -> dict[str, Any]:
        """Write the post; what it returns is what ``-O`` exports (crawler.items.exported)."""
        state, manifest = self.run.state, self.run.manifest
        assert state is not None and manifest is not None, "PostPathPipeline placed it in an open run"
        post = item.post
        try:
            data = render_post_bytes(post_content(item, self.run.output.front_matter_extras, self._site))
            written = await self._write(self.posts_dir / item.path, data)
        except UnsafePath as exc:
            raise self._failed("unsafe_path", item, str(exc)) from exc
        except OSError as exc:
            raise self._failed("os_error", item, f"{exc.strerror or exc} ({exc.filename})") from exc
        sha256 = hashlib.sha256(data).hexdigest()
        known = state.get(post.publishid)
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
                publishid=post.publishid,
                docid=post.docid if isinstance(post, PagePost) else None,
                url=post.url,
                section=post.section,
                path=item.path,
                sha256=sha256,
                mtime=post.mtime,
                post_format=self.run.output.post_format,
                changed=status != "unchanged",
                date=int(post.date.timestamp()),
            )
        except (OSError, sqlite3.Error) as exc:  # the post is in place; the next run records it
            raise self._failed("record_error", item, str(exc)) from exc
        self.stats.inc_value(f"sina/posts/{status}")
        self.stats.inc_value(f"sina/section/{post.section}/{status}")
        log = logger.debug if status == "unchanged" else logger.info
        log("Post %s: %s (%s)", status, item.path, post.url)
        if item.replaces and item.replaces != item.path and known is not None:
            self._remove_replaced(item, item.replaces, known.sha256)
        return exported(item)

    def _remove_replaced(self, item: PlacedPost, relative: str, sha256: str) -> None:
        """Remove our earlier post of this article, now that its new one is in place and
        recorded: only a regular file, reached through no symbolic link, whose bytes are
        still the ones we wrote (a file someone edited stays, with a warning)."""
        try:
            old = checked_post_path(self.posts_dir, relative)
            if not stat.S_ISREG(os.lstat(old).st_mode):
                raise UnsafePath(f"{relative!r}: not a regular file")
            if hashlib.sha256(old.read_bytes()).hexdigest() != sha256:
                logger.warning("Left %s in place for %s: it is not the post we wrote there", relative, item.post.url)
                return
            old.unlink()
        except FileNotFoundError:
            return
        except (UnsafePath, OSError) as exc:
            logger.warning("Left %s in place for %s: %s", relative, item.post.url, exc)
            return
        self.stats.inc_value("sina/posts/moved/removed_old")
        logger.info("Removed %s: %s moved to %s", relative, item.post.url, item.path)

    def close_spider(self) -> None:
        self._fsync.close()

    async def _write(self, target: Path, data: bytes) -> bool:
        """Temporary file, durable with its group, renamed: False when nothing changed.
        Paths are unique per article in a run, so two writes never race for one file."""
        # In this thread: a thread of its own for this Python code would hold the GIL the
        # event loop waits for (measured: each hand-over cost the loop about 1 ms).
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

    def _failed(self, reason: str, item: PlacedPost, detail: str) -> DropItem:
        """Count the failure; the DropItem returned is logged by Scrapy with the URL."""
        section = item.post.section
        self.stats.inc_value(f"sina/posts/failed/{reason}")
        self.stats.inc_value(f"sina/section/{section}/failed")
        self.run.section(section).post_not_written()
        return DropItem(f"post not written for {item.post.url}: {reason}: {detail}")
