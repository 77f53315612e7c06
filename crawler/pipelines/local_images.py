"""HEXO_IMAGES=local: body images are downloaded (Scrapy's FilesPipeline, the original
bytes, not re-encoded) into the post's Hexo asset folder ``<post name>/<file>``; the
placed post's ``image_files`` says which, and the post's src, headimg and thumbnail point at
them when it is rendered (crawler.hexo.post).

Only real raster images are stored: the type is read from the bytes' signature
(crawler.storage.rasters), never from the URL or ``Content-Type``, and names the file's
extension; anything else (SVG, HTML, unknown) is refused as ``not_raster``.  At most
HEXO_IMAGES_MAX_PER_POST images of a post are requested, and a run stores at most
HEXO_IMAGES_MAX_BYTES_PER_RUN bytes of images.  An image not stored for any reason keeps
its remote URL in the post, is counted and named in one warning line; it never fails the
post, and no ordinary outcome (a 404, a timeout, a refusal) logs an error or a traceback.
Files are written atomically, so an interrupted run never leaves half an image that a
later run would take as up to date."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import stat
import time
from io import BytesIO
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, ClassVar, cast

from scrapy import Request
from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.pipelines.files import FilesPipeline, FSFilesStore
from scrapy.pipelines.media import FileInfo
from twisted.internet.defer import Deferred, succeed
from twisted.python.failure import Failure

from crawler.config import Config
from crawler.downloadermiddlewares.fetchpolicy import RefusedRequest
from crawler.failures import failure_reason
from crawler.items import ImageFile, PlacedPost
from crawler.net.fetch_policy import IMAGE, FetchPolicy, HostPatterns, RefusedURL
from crawler.resolver import PrivateAddressError
from crawler.sina.roll_api import API_REFERER
from crawler.storage.files import OwnedTree, UnsafePath, checked_post_path
from crawler.storage.rasters import RASTER_EXTENSIONS, raster_extension

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from scrapy.pipelines.media import MediaPipeline

logger = logging.getLogger(__name__)

STORED = ("downloaded", "uptodate")  # a result's status when the image is in the post's folder


class AtomicFSFilesStore(FSFilesStore):
    """Images written into the posts folder as posts are (crawler.storage.files):
    atomically, and never through a symbolic link."""

    fsync = True  # set from HEXO_FSYNC by LocalImagesPipeline

    def __init__(self, basedir: str | os.PathLike[str]) -> None:
        super().__init__(basedir)
        self.tree = OwnedTree(Path(self.basedir))

    def persist_file(self, path: Any, buf: BytesIO, info: Any, meta: Any = None, headers: Any = None) -> None:
        self.tree.write_atomically(Path(self.basedir, path), buf.getvalue(), fsync=self.fsync)


def asset_stem(url: str) -> str:
    """Stable name of a downloaded image, without its extension: a hash of its URL."""
    return hashlib.sha1(url.encode("utf-8")).hexdigest()[:20]


def asset_folder(post_path: str) -> str:
    """``a/b/c/title.md`` -> ``a/b/c/title`` (Hexo's post_asset_folder)."""
    return post_path[: -len(".md")] if post_path.endswith(".md") else post_path


class ImageResult(FileInfo):
    """What one image request came to: ``status`` is one of STORED (``path`` then names
    the file), or ``refused/<reason>``, ``failed/<reason>``, ``capped/per_run``;
    ``detail`` says more for the log."""

    detail: str


def _result(url: str, status: str, path: str = "", checksum: str | None = None, detail: str = "") -> ImageResult:
    return ImageResult(url=url, path=path, checksum=checksum, status=status, detail=detail)


def _begins(data: bytes) -> str:
    """The first bytes of a refused body, safe to log."""
    return repr(data[:16]) + ("…" if len(data) > 16 else "")


class LocalImagesPipeline(FilesPipeline):
    STORE_SCHEMES: ClassVar[dict[str, Any]] = {
        **FilesPipeline.STORE_SCHEMES,
        "": AtomicFSFilesStore,
        "file": AtomicFSFilesStore,
    }
    FILES_URLS_FIELD = "image_urls"
    FILES_RESULT_FIELD = "image_files"

    policy: FetchPolicy
    max_per_post: int
    max_bytes_per_run: int
    stored_bytes: int  # bytes of images stored by this run, copies included
    _failed: dict[str, ImageResult]  # image URL -> its result, for a download that raised
    _requested: dict[int, list[str]]  # id(item) -> the URLs requested for it, in order

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> LocalImagesPipeline:
        output = Config.of(crawler).output
        if output.images != "local":
            # Not a problem, so no message on the exception: Scrapy logs one as a WARNING.
            logger.debug("Images are not stored: HEXO_IMAGES is not 'local'")
            raise NotConfigured
        AtomicFSFilesStore.fsync = output.fsync
        pipeline = cls(str(output.posts_dir), crawler=crawler)
        pipeline.policy = FetchPolicy(image_hosts=HostPatterns.of(output.image_hosts))
        pipeline.max_per_post = output.images_max_per_post
        pipeline.max_bytes_per_run = output.images_max_bytes_per_run
        pipeline.stored_bytes = 0
        pipeline._failed = {}
        pipeline._requested = {}
        return pipeline

    @property
    def _tree(self) -> OwnedTree:
        store = self.store
        assert isinstance(store, AtomicFSFilesStore)
        return store.tree

    # --- before the downloads --------------------------------------------------------

    def get_media_requests(self, item: PlacedPost, info: MediaPipeline.SpiderInfo) -> list[Request]:
        """A request per image the policy allows (HEXO_IMAGE_HOSTS, public addresses, no
        user-info or odd port), up to the caps; the others keep their remote URL, counted."""
        requests: list[Request] = []
        over_post: list[str] = []
        over_run: list[str] = []
        seen: set[str] = set()
        for url in item.post.body.image_urls:
            if not url.startswith(("http://", "https://")) or url in seen:
                continue  # data:image/ stays in the post as it is; a repeated image is one
            seen.add(url)
            try:
                self.policy.check(url, IMAGE)
            except RefusedURL as refused:
                self._refused(item, url, refused.reason)
                continue
            if len(requests) >= self.max_per_post:
                over_post.append(url)  # not even requested
            elif self.stored_bytes >= self.max_bytes_per_run:
                over_run.append(url)
            else:
                # A failed image is logged once, by item_completed: not also by the retry's give-up.
                meta = {"sina_post_path": item.path, "sina_fetch": IMAGE, "give_up_log_level": "DEBUG"}
                requests.append(Request(url, headers={"Referer": API_REFERER}, meta=meta))
        self._capped(item, "per_post", over_post)
        self._capped(item, "per_run", over_run)
        self._requested[id(item)] = [request.url for request in requests]
        return requests

    def media_to_download(
        self, request: Request, info: MediaPipeline.SpiderInfo, *, item: Any = None
    ) -> Deferred[FileInfo | None]:
        return succeed(self._stored_before(request))

    def _stored_before(self, request: Request) -> ImageResult | None:
        """The image as a former run stored it for this post (a raster file of ours, not
        older than FILES_EXPIRES days): not downloaded again.  None: download it."""
        folder, stem = asset_folder(request.meta["sina_post_path"]), asset_stem(request.url)
        try:  # the asset folder and every folder above it real folders, inside the posts folder
            checked = checked_post_path(Path(self._tree.root), f"{folder}/{stem}.md")
        except UnsafePath:
            return None
        for extension in RASTER_EXTENSIONS.values():
            relative, path = f"{folder}/{stem}{extension}", checked.with_suffix(extension)
            try:
                status = os.lstat(path)
            except OSError:
                continue
            if not stat.S_ISREG(status.st_mode) or time.time() - status.st_mtime > self.expires * 86400:
                continue
            try:
                data = _read_no_follow(path)
            except OSError:
                continue
            if raster_extension(data) == extension:
                self.inc_stats("uptodate")
                return _result(request.url, "uptodate", relative, hashlib.md5(data, usedforsecurity=False).hexdigest())
        return None

    # --- each download ---------------------------------------------------------------

    async def media_downloaded(
        self, response: Response, request: Request, info: MediaPipeline.SpiderInfo, *, item: Any = None
    ) -> ImageResult:
        """Every answer comes here (redirects followed): stored when it is a raster and the
        run's byte cap allows, else a result saying why not; never an exception."""
        url = request.url
        try:
            if response.status != 200:
                return _result(url, f"failed/http_{response.status}")
            data = response.body
            extension = raster_extension(data)
            if extension is None:
                served = (response.headers.get("Content-Type") or b"").decode("latin-1")
                return _result(url, "refused/not_raster", detail=f"served as {served!r}, begins {_begins(data)}")
            if not self._reserve(len(data)):
                return _result(url, "capped/per_run")
            path = f"{asset_folder(request.meta['sina_post_path'])}/{asset_stem(url)}{extension}"
            try:
                self._tree.write_atomically(Path(self._tree.root, path), data, fsync=AtomicFSFilesStore.fsync)
            except OSError as exc:
                self.stored_bytes -= len(data)
                logger.warning("Image %s not stored: %s", url, exc)
                return _result(url, "failed/os_error")
            self.inc_stats("downloaded")
            return _result(url, "downloaded", path, hashlib.md5(data, usedforsecurity=False).hexdigest())
        except Exception:  # a bug of ours: logged in full, and the image stays remote
            logger.exception("Image %s: storing it failed", url)
            return _result(url, "failed/error")

    def media_failed(  # type: ignore[override]  # answers instead of raising: no traceback logged
        self, failure: Failure, request: Request, info: MediaPipeline.SpiderInfo
    ) -> ImageResult:
        """The download raised (refused by the fetch policy on a redirect, a private
        address, a timeout, DNS, robots.txt): remembered as this image's result.  Scrapy's
        own media_failed would raise, and Scrapy then logs it as an error with a traceback."""
        if isinstance(failure.value, (RefusedRequest, PrivateAddressError)):
            result = _result(request.url, f"refused/{failure_reason(failure)}")
        elif isinstance(failure.value, IgnoreRequest):
            result = _result(request.url, "failed/ignored")
        else:
            result = _result(request.url, f"failed/{failure_reason(failure)}")
        self._failed[request.url] = result
        return result

    # --- once every image of the post is done ----------------------------------------

    def item_completed(self, results: list[Any], item: PlacedPost, info: MediaPipeline.SpiderInfo) -> PlacedPost:
        urls = self._requested.pop(id(item), [])
        stored: dict[str, ImageResult] = {}
        over_run: list[str] = []
        for url, (ok, value) in zip(urls, results, strict=False):
            result = cast("ImageResult", value) if ok and isinstance(value, dict) else self._failed.get(url)
            if result is None:  # not an outcome of ours: Scrapy's failure, in full
                logger.error("Image %s kept remote for %s: %s", url, item.post.url, value)
                result = _result(url, "failed/error")
            if result["status"] in STORED:
                result = self._own_copy(result, item)
            kind, _, reason = result["status"].partition("/")
            if result["status"] in STORED:
                stored[url] = result
            elif kind == "capped":
                over_run.append(url)
            elif kind == "refused":
                self._refused(item, url, reason, result["detail"])
            else:
                self.crawler.stats.inc_value("sina/images/failed")
                self.crawler.stats.inc_value(f"sina/images/failed/{reason}")
                logger.warning("Image kept remote for %s (download failed: %s): %s", item.post.url, reason, url)
        self._capped(item, "per_run", over_run)
        image_files = tuple(
            ImageFile(url, stored[url]["path"], stored[url]["checksum"] or "")
            for url in item.post.body.image_urls
            if url in stored
        )
        self.crawler.stats.inc_value("sina/images/stored", len(stored))
        # The post points at its image files when it is rendered (crawler.hexo.post).
        return dataclasses.replace(item, image_files=image_files)

    def _own_copy(self, result: ImageResult, item: PlacedPost) -> ImageResult:
        """An image another post of this run stored first is copied into this post's folder
        (the media pipeline downloads a URL once per run and reports the first path); the
        copy counts against the run's byte cap."""
        wanted = f"{asset_folder(item.path)}/{PurePosixPath(result['path']).name}"
        if result["path"] == wanted:
            return result
        try:
            data = _read_no_follow(Path(self._tree.root, result["path"]))
            if not self._reserve(len(data)):
                return _result(result["url"], "capped/per_run")
            try:
                self._tree.write_atomically(Path(self._tree.root, wanted), data, fsync=AtomicFSFilesStore.fsync)
            except OSError:
                self.stored_bytes -= len(data)
                raise
        except OSError as exc:
            logger.warning("Image %s not copied for %s: %s", result["url"], item.post.url, exc)
            return _result(result["url"], "failed/os_error")
        return {**result, "path": wanted}

    def file_path(
        self,
        request: Request,
        response: Response | None = None,
        info: MediaPipeline.SpiderInfo | None = None,
        *,
        item: Any = None,
    ) -> str:
        """Where the image goes: its extension is the one of the type its bytes are, so
        it is known only once it is downloaded (media_downloaded)."""
        post_path = item.path if item is not None else request.meta["sina_post_path"]
        extension = raster_extension(response.body) if response is not None else None
        return f"{asset_folder(post_path)}/{asset_stem(request.url)}{extension or ''}"

    # --- counting --------------------------------------------------------------------

    def _reserve(self, size: int) -> bool:
        """Count size against HEXO_IMAGES_MAX_BYTES_PER_RUN; False when it does not fit."""
        if self.stored_bytes + size > self.max_bytes_per_run:
            return False
        self.stored_bytes += size
        return True

    def _refused(self, item: PlacedPost, url: str, reason: str, detail: str = "") -> None:
        stats = self.crawler.stats
        stats.inc_value("sina/images/refused")
        stats.inc_value(f"sina/images/refused/{reason}")
        why = f"{reason}, {detail}" if detail else reason
        logger.warning("Image kept remote for %s (refused: %s): %s", item.post.url, why, url)

    def _capped(self, item: PlacedPost, cap: str, urls: list[str]) -> None:
        if not urls:
            return
        self.crawler.stats.inc_value(f"sina/images/capped/{cap}", len(urls))
        setting, limit = (
            ("HEXO_IMAGES_MAX_PER_POST", self.max_per_post)
            if cap == "per_post"
            else ("HEXO_IMAGES_MAX_BYTES_PER_RUN", self.max_bytes_per_run)
        )
        logger.warning(
            "%d image(s) kept remote for %s (%s=%d reached), the first: %s",
            len(urls),
            item.post.url,
            setting,
            limit,
            urls[0],
        )


def _read_no_follow(path: Path) -> bytes:
    handle = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(handle, "rb") as existing:
        return existing.read()
