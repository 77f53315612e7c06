"""HEXO_IMAGES=local: every body image is downloaded (Scrapy's FilesPipeline, the
original bytes, not re-encoded) into the post's Hexo asset folder
``<post name>/<file>``; the item's ``image_files`` says which, and the post's src,
headimg and thumbnail point at them when it is rendered (crawler.hexo.post).

A failed download keeps that image's remote URL and is counted; it never fails the
post.  Files are written atomically, so an interrupted run never leaves half an image
that a later run would take as up to date."""

from __future__ import annotations

import hashlib
import logging
import os
from io import BytesIO
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

from scrapy import Request
from scrapy.exceptions import NotConfigured
from scrapy.pipelines.files import FilesPipeline, FSFilesStore
from twisted.python.failure import Failure

from crawler.config import Config
from crawler.downloadermiddlewares.fetchpolicy import RefusedRequest
from crawler.failures import failure_reason
from crawler.items import ArticleItem
from crawler.net.fetch_policy import IMAGE, FetchPolicy, HostPatterns, RefusedURL
from crawler.resolver import PrivateAddressError
from crawler.sina.roll_api import API_REFERER
from crawler.storage.files import OwnedTree

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from scrapy.pipelines.media import MediaPipeline

logger = logging.getLogger(__name__)

_KNOWN_EXTENSIONS = {".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".svg", ".avif"}


class AtomicFSFilesStore(FSFilesStore):
    """Images written into the posts folder as posts are (crawler.storage.files):
    atomically, and never through a symbolic link."""

    fsync = True  # set from HEXO_FSYNC by LocalImagesPipeline

    def __init__(self, basedir: str | os.PathLike[str]) -> None:
        super().__init__(basedir)
        self.tree = OwnedTree(Path(self.basedir))

    def persist_file(self, path: Any, buf: BytesIO, info: Any, meta: Any = None, headers: Any = None) -> None:
        self.tree.write_atomically(Path(self.basedir, path), buf.getvalue(), fsync=self.fsync)


def asset_file_name(url: str) -> str:
    """Stable name of a downloaded image: hash of its URL plus its extension."""
    suffix = PurePosixPath(url.split("?", 1)[0].split("#", 1)[0]).suffix.lower()
    if suffix not in _KNOWN_EXTENSIONS:
        suffix = ""
    return hashlib.sha1(url.encode("utf-8")).hexdigest()[:20] + suffix


def asset_folder(post_path: str) -> str:
    """``a/b/c/title.md`` -> ``a/b/c/title`` (Hexo's post_asset_folder)."""
    return post_path[: -len(".md")] if post_path.endswith(".md") else post_path


class LocalImagesPipeline(FilesPipeline):
    STORE_SCHEMES: ClassVar[dict[str, Any]] = {
        **FilesPipeline.STORE_SCHEMES,
        "": AtomicFSFilesStore,
        "file": AtomicFSFilesStore,
    }
    FILES_URLS_FIELD = "image_urls"
    FILES_RESULT_FIELD = "image_files"

    policy: FetchPolicy
    _refusals: dict[str, str]  # image URL -> why its download was refused

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> LocalImagesPipeline:
        output = Config.of(crawler).output
        if output.images != "local":
            raise NotConfigured("HEXO_IMAGES is not 'local'")
        AtomicFSFilesStore.fsync = output.fsync
        pipeline = cls(str(output.posts_dir), crawler=crawler)
        pipeline.policy = FetchPolicy(image_hosts=HostPatterns.of(output.image_hosts))
        pipeline._refusals = {}
        return pipeline

    def get_media_requests(self, item: ArticleItem, info: MediaPipeline.SpiderInfo) -> list[Request]:
        """A request per image the policy allows (HEXO_IMAGE_HOSTS, public addresses, no
        user-info or odd port); a refused one keeps its remote URL and is counted."""
        requests = []
        for url in item.image_urls:
            if not url.startswith(("http://", "https://")):
                continue  # data:image/ stays in the post as it is
            try:
                self.policy.check(url, IMAGE)
            except RefusedURL as refused:
                self._refused(item, url, refused.reason)
                continue
            requests.append(
                Request(url, headers={"Referer": API_REFERER}, meta={"sina_post_path": item.path, "sina_fetch": IMAGE})
            )
        return requests

    def media_failed(self, failure: Failure, request: Request, info: MediaPipeline.SpiderInfo) -> NoReturn:
        """Remembers why a download was refused (FilesPipeline reports every failure alike)."""
        if failure.check(RefusedRequest, PrivateAddressError):
            self._refusals[request.url] = failure_reason(failure)
        super().media_failed(failure, request, info)

    def _allowed(self, url: str) -> bool:
        try:
            self.policy.check(url, IMAGE)
        except RefusedURL:
            return False
        return True

    def _refused(self, item: ArticleItem, url: str, reason: str) -> None:
        stats = self.crawler.stats
        stats.inc_value("sina/images/refused")
        stats.inc_value(f"sina/images/refused/{reason}")
        logger.warning("Image kept remote for %s (refused: %s): %s", item.url, reason, url)

    def file_path(
        self,
        request: Request,
        response: Response | None = None,
        info: MediaPipeline.SpiderInfo | None = None,
        *,
        item: Any = None,
    ) -> str:
        post_path = item.path if item is not None else request.meta["sina_post_path"]
        return f"{asset_folder(post_path)}/{asset_file_name(request.url)}"

    def _own_copy(self, result: dict[str, Any], item: ArticleItem) -> dict[str, Any]:
        """An image another post of this run stored first is copied into this post's folder
        (the media pipeline downloads a URL once per run and reports the first path)."""
        assert item.path is not None
        wanted = f"{asset_folder(item.path)}/{asset_file_name(result['url'])}"
        if result["path"] != wanted:
            store = self.store
            assert isinstance(store, AtomicFSFilesStore)
            data = Path(store.basedir, result["path"]).read_bytes()
            store.tree.write_atomically(Path(store.basedir, wanted), data, fsync=store.fsync)
            result = {**result, "path": wanted}
        return result

    def item_completed(self, results: list[Any], item: ArticleItem, info: MediaPipeline.SpiderInfo) -> ArticleItem:
        stored = {}
        for ok, result in results:
            if not ok:
                continue
            try:
                stored[result["url"]] = self._own_copy(result, item)
            except OSError as exc:
                logger.warning("Image %s not copied for %s: %s", result["url"], item.url, exc)
        item.image_files = [
            {"url": url, "path": stored[url]["path"], "checksum": stored[url]["checksum"]}
            for url in item.image_urls
            if url in stored
        ]
        downloads = [url for url in item.image_urls if url.startswith(("http://", "https://")) and self._allowed(url)]
        for url in downloads:
            if url not in stored and url in self._refusals:  # by a redirect, or by the resolver
                self._refused(item, url, self._refusals[url])
        failed = [url for url in downloads if url not in stored and url not in self._refusals]
        stats = self.crawler.stats
        stats.inc_value("sina/images/stored", len(stored))
        if failed:
            stats.inc_value("sina/images/failed", len(failed))
            logger.warning("Images kept remote for %s (download failed): %s", item.url, " ".join(failed))
        return item  # the post points at image_files when it is rendered (crawler.hexo.post)
