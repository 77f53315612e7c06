"""HEXO_IMAGES=local in-process (crawler/pipelines/local_images.py): the pipeline is built
from a crawler as Scrapy builds it, and Scrapy's media pipeline drives it.  The engine's
downloads are answered from recorded image bytes (tests/support/rasters.py), including
the hostile ones and the failures a crawl meets.  Each outcome must give the stored
files, the item's ``image_files``, one counter and one log line."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.exceptions import DownloadTimeoutError, IgnoreRequest, NotConfigured
from scrapy.utils.misc import build_from_crawler
from twisted.python.failure import Failure

from crawler.downloadermiddlewares.fetchpolicy import RefusedRequest
from crawler.items import PlacedPost
from crawler.pipelines.local_images import AtomicFSFilesStore, LocalImagesPipeline, asset_folder, asset_stem
from crawler.resolver import PrivateAddressError
from crawler.sina.roll_api import API_REFERER
from tests.support.components import Answer, RecordedDownloads, make_crawler, response
from tests.support.posts import a_body, an_article
from tests.support.rasters import GIF_1X1, HTML_PAGE, SVG_WITH_SCRIPT, png_1x1

PNG = png_1x1()
CDN = "https://n.sinaimg.cn/finance/2026"
POST = "金融/新浪财经/国内/标题.md"
FOLDER = "金融/新浪财经/国内/标题"


def _post(image_urls: list[str], path: str = POST, publishid: str = "imagesaa0000001") -> PlacedPost:
    """A post as it reaches this pipeline: its path is set (PostPathPipeline ran)."""
    html = "".join(f'<img src="{url}">' for url in image_urls)
    article = an_article(
        publishid=publishid,
        url=f"https://finance.sina.com.cn/roll/2026-09-28/doc-i{publishid}.shtml",
        body=a_body(html, tuple(image_urls)),
    )
    return PlacedPost(article, path)


def _files(placed: PlacedPost) -> list[dict[str, str]]:
    """The images stored for a post, as url/path/checksum records."""
    return [{"url": image.url, "path": image.path, "checksum": image.checksum} for image in placed.image_files]


class Images:
    """One run's LocalImagesPipeline, its posts folder under tmp_path, its downloads recorded."""

    def __init__(self, tmp_path: Path, answers: dict[str, Answer], **settings: Any) -> None:
        self.crawler: Crawler = make_crawler(tmp_path, {"HEXO_IMAGES": "local", **settings})
        self.downloads = RecordedDownloads(answers).install(self.crawler)
        self.pipeline = build_from_crawler(LocalImagesPipeline, self.crawler)
        self.pipeline.open_spider()
        self.root = tmp_path / "posts"

    def process(self, item: PlacedPost) -> PlacedPost:
        result: object = asyncio.run(self.pipeline.process_item(item))
        assert isinstance(result, PlacedPost) and result.post is item.post, "the post, its image_files set"
        return result

    def stat(self, key: str) -> Any:
        return self.crawler.stats.get_value(key)

    def requested(self) -> list[str]:
        return [request.url for request in self.downloads.requested]


def _file(url: str, extension: str, folder: str = FOLDER) -> str:
    return f"{folder}/{asset_stem(url)}{extension}"


def test_remote_images_need_no_pipeline(tmp_path: Path) -> None:
    crawler = make_crawler(tmp_path, {"HEXO_IMAGES": "remote"})
    with pytest.raises(NotConfigured) as off:
        build_from_crawler(LocalImagesPipeline, crawler)
    assert off.value.args == (), "a message would make Scrapy log the pipeline's absence as a WARNING"


def test_every_outcome_of_a_post_s_images(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    png, gif = f"{CDN}/a.png", f"{CDN}/b.gif"
    outcomes: dict[str, Answer] = {
        f"{CDN}/c.svg": response(f"{CDN}/c.svg", SVG_WITH_SCRIPT, content_type="image/svg+xml"),
        f"{CDN}/404.png": response(f"{CDN}/404.png", b"gone", status=404),
        f"{CDN}/slow.png": DownloadTimeoutError("took too long"),
        f"{CDN}/moved.png": RefusedRequest("offsite_redirect", "https://evil.example/x.png"),
        f"{CDN}/inside.png": PrivateAddressError("inside.example resolves to 10.0.0.1"),
        f"{CDN}/ignored.png": IgnoreRequest("robots.txt"),
    }
    answers: dict[str, Answer] = {png: response(png, PNG), gif: response(gif, GIF_1X1, content_type="text/html")}
    images = Images(tmp_path, answers | outcomes)
    offsite = "https://evil.example/x.png"
    item = _post([png, "data:image/png;base64,AAAA", gif, png, offsite, *outcomes])
    with caplog.at_level(logging.INFO):
        item = images.process(item)

    assert images.requested() == [png, gif, *outcomes], "each image once; data: URLs and refused hosts never"
    first = images.downloads.requested[0]
    assert first.headers[b"Referer"] == API_REFERER.encode() and first.meta["sina_fetch"] == "image"
    files = _files(item)
    checksums = [entry.pop("checksum") for entry in files]
    assert files == [
        {"url": png, "path": _file(png, ".png")},
        {"url": gif, "path": _file(gif, ".gif")},
        {"url": png, "path": _file(png, ".png")},  # as often as the post names it
    ], "the type is the bytes', not Content-Type's"
    assert checksums[0] == hashlib.md5(PNG, usedforsecurity=False).hexdigest() == checksums[2]
    assert (images.root / _file(png, ".png")).read_bytes() == PNG
    assert (images.root / _file(gif, ".gif")).read_bytes() == GIF_1X1
    assert sorted(path.name for path in (images.root / FOLDER).iterdir()) == sorted(
        [f"{asset_stem(png)}.png", f"{asset_stem(gif)}.gif"]
    ), "nothing else written: not the SVG, not the 404 page"
    assert images.pipeline.stored_bytes == len(PNG) + len(GIF_1X1)

    counters = {key: value for key, value in images.crawler.stats.get_stats().items() if key.startswith("sina/images")}
    assert counters == {
        "sina/images/stored": 2,
        "sina/images/refused": 4,
        "sina/images/refused/offsite": 1,
        "sina/images/refused/not_raster": 1,
        "sina/images/refused/offsite_redirect": 1,
        "sina/images/refused/private_address": 1,
        "sina/images/failed": 3,
        "sina/images/failed/http_404": 1,
        "sina/images/failed/timeout": 1,
        "sina/images/failed/ignored": 1,
    }
    assert images.stat("file_status_count/downloaded") == 2
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert f"Image kept remote for {item.post.url} (refused: offsite): {offsite}" in warnings
    assert any(
        "(refused: not_raster, served as 'image/svg+xml', begins b'<?xml version=\"1'…)" in line for line in warnings
    )
    assert f"Image kept remote for {item.post.url} (download failed: http_404): {CDN}/404.png" in warnings
    assert len(warnings) == 7, "one line per image kept remote"
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR], (
        "no ordinary outcome is an error"
    )


def test_a_later_run_keeps_what_an_earlier_one_stored(tmp_path: Path) -> None:
    png, gif, page = f"{CDN}/a.png", f"{CDN}/b.gif", f"{CDN}/c.png"
    answers: dict[str, Answer] = {png: response(png, PNG), gif: response(gif, GIF_1X1), page: response(page, PNG)}
    first = Images(tmp_path, answers)
    stored = first.process(_post([png, gif, page])).image_files

    (first.root / _file(page, ".png")).write_bytes(HTML_PAGE)  # not a raster any more: fetched again
    old = (first.root / _file(gif, ".gif")).stat().st_mtime - 91 * 86400
    os.utime(first.root / _file(gif, ".gif"), (old, old))  # older than FILES_EXPIRES (90 days): fetched again
    later = Images(tmp_path, answers)
    assert later.process(_post([png, gif, page])).image_files == stored
    assert later.requested() == [gif, page]
    assert later.stat("file_status_count/uptodate") == 1
    assert (later.root / _file(page, ".png")).read_bytes() == PNG


def test_an_image_is_never_written_through_a_symbolic_link(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    png = f"{CDN}/a.png"
    images = Images(tmp_path, {png: response(png, PNG)})
    outside = tmp_path / "outside.png"
    outside.write_bytes(b"not ours")
    (images.root / FOLDER).mkdir(parents=True)
    (images.root / _file(png, ".png")).symlink_to(outside)
    with caplog.at_level(logging.WARNING):
        item = images.process(_post([png]))
    assert item.image_files == () and outside.read_bytes() == b"not ours"
    assert images.stat("sina/images/failed/os_error") == 1
    assert images.pipeline.stored_bytes == 0, "what was not stored does not count against the run's cap"
    assert any(line.startswith(f"Image {png} not stored: ") for line in caplog.messages)


def test_a_post_path_outside_the_posts_folder_stores_nothing(tmp_path: Path) -> None:
    png = f"{CDN}/a.png"
    images = Images(tmp_path, {png: response(png, PNG)})
    item = images.process(_post([png], path="../escape.md"))
    assert item.image_files == () and images.stat("sina/images/failed/os_error") == 1
    assert not (tmp_path / "escape").exists()


def test_a_second_post_of_the_run_gets_its_own_copy(tmp_path: Path) -> None:
    png = f"{CDN}/shared.png"
    images = Images(tmp_path, {png: response(png, PNG)})
    images.process(_post([png]))
    other = images.process(_post([png], path="金融/其他/另一篇.md", publishid="imagesaa0000002"))
    assert images.requested() == [png], "downloaded once per run"
    assert other.image_files[0].path == _file(png, ".png", folder="金融/其他/另一篇")
    assert (images.root / other.image_files[0].path).read_bytes() == PNG
    assert images.pipeline.stored_bytes == 2 * len(PNG), "the copy counts against the cap"


def test_a_copy_that_cannot_be_made_keeps_the_image_remote(tmp_path: Path) -> None:
    png = f"{CDN}/shared.png"
    images = Images(tmp_path, {png: response(png, PNG)})
    images.process(_post([png]))
    (images.root / _file(png, ".png")).unlink()  # gone before the second post is written
    other = images.process(_post([png], path="金融/其他/另一篇.md", publishid="imagesaa0000002"))
    assert other.image_files == () and images.stat("sina/images/failed/os_error") == 1

    blocked = Images(tmp_path / "again", {png: response(png, PNG)})
    blocked.process(_post([png]))
    (blocked.root / "金融/其他").mkdir(parents=True)
    (blocked.root / "金融/其他/另一篇").write_bytes(b"a file where the asset folder goes")
    other = blocked.process(_post([png], path="金融/其他/另一篇.md", publishid="imagesaa0000002"))
    assert other.image_files == () and blocked.stat("sina/images/failed/os_error") == 1
    assert blocked.pipeline.stored_bytes == len(PNG), "the copy not made is not counted"


def test_the_caps_per_post_and_per_run(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    urls = [f"{CDN}/{n}.png" for n in range(4)]
    images = Images(
        tmp_path,
        {url: response(url, PNG) for url in urls},
        HEXO_IMAGES_MAX_PER_POST=2,
        HEXO_IMAGES_MAX_BYTES_PER_RUN=len(PNG),
    )
    with caplog.at_level(logging.WARNING):
        item = images.process(_post(urls[:3]))
    assert images.requested() == urls[:2], "the third is not even requested"
    assert [image.url for image in item.image_files] == urls[:1], "the second does not fit the run's bytes"
    assert images.stat("sina/images/capped/per_post") == 1
    assert images.stat("sina/images/capped/per_run") == 1
    assert f"1 image(s) kept remote for {item.post.url} (HEXO_IMAGES_MAX_PER_POST=2 reached), the first: {urls[2]}" in (
        caplog.messages
    )
    later = images.process(_post(urls[3:], path="金融/其他/另一篇.md", publishid="imagesaa0000002"))
    assert later.image_files == () and images.requested() == urls[:2], "the run's bytes are spent: not requested"
    assert images.stat("sina/images/capped/per_run") == 2
    shared = images.process(_post(urls[:1], path="金融/其他/第三篇.md", publishid="imagesaa0000003"))
    assert shared.image_files == () and images.stat("sina/images/capped/per_run") == 3, "nor copied"


def test_a_bug_while_storing_keeps_the_image_remote_with_a_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    png = f"{CDN}/a.png"
    images = Images(tmp_path, {})
    request = Request(png)  # no sina_post_path: a bug of ours
    with caplog.at_level(logging.ERROR):
        result = asyncio.run(images.pipeline.media_downloaded(response(png, PNG), request, images.pipeline.spiderinfo))
    assert result["status"] == "failed/error"
    assert caplog.records[-1].getMessage() == f"Image {png}: storing it failed" and caplog.records[-1].exc_info


def test_a_result_that_is_not_the_pipeline_s_own_is_logged_in_full(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    png = f"{CDN}/a.png"
    images = Images(tmp_path, {})
    item = _post([png])
    info = images.pipeline.spiderinfo
    assert [request.url for request in images.pipeline.get_media_requests(item, info)] == [png]
    failure = Failure(ValueError("Scrapy's own"))  # type: ignore[no-untyped-call]  # Twisted's Failure() is untyped
    with caplog.at_level(logging.ERROR):
        item = images.pipeline.item_completed([(False, failure)], item, info)
    assert item.image_files == () and images.stat("sina/images/failed/error") == 1
    assert caplog.messages[-1].startswith(f"Image {png} kept remote for {item.post.url}: ")


def test_file_path_and_the_store(tmp_path: Path) -> None:
    png = f"{CDN}/a.png"
    images = Images(tmp_path, {})
    request = Request(png, meta={"sina_post_path": POST})
    pipeline = images.pipeline
    assert pipeline.file_path(request, response(png, PNG)) == _file(png, ".png")
    assert pipeline.file_path(request) == _file(png, ""), "the extension is known once the bytes are"
    assert pipeline.file_path(request, item=_post([png], path="a/b.md")) == f"a/b/{asset_stem(png)}"
    assert asset_folder("a/b/c.md") == "a/b/c" and asset_folder("a/b") == "a/b"
    store = pipeline.store
    assert isinstance(store, AtomicFSFilesStore) and store.tree.root == images.root
    store.persist_file(_file(png, ".png"), BytesIO(PNG), pipeline.spiderinfo)
    assert (images.root / _file(png, ".png")).read_bytes() == PNG
    assert not list((images.root / ".sina-finance-hexo.tmp").iterdir()), "no temporary file left"
