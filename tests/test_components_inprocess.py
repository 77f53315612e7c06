"""Components in this process, on the paths a run rarely takes: a posts folder that
cannot be written when the run opens, the earlier post of an article that moved off an
unpublished name, a flash written before, the browser set up for a page section, the
listing kinds' shared shape, and BODY made inert (docs/hexo-post.md §3 rule 5).  Each is
built as Scrapy builds it (tests/support/components.py); subprocess crawls cover the
same behaviours end to end (tests/test_e2e_*.py)."""

from __future__ import annotations

import asyncio
import hashlib
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from scrapy import Request, Spider
from scrapy.crawler import Crawler
from scrapy.exceptions import CloseSpider
from scrapy.http import HtmlResponse, TextResponse
from scrapy.utils.test import get_crawler
from selectolax.lexbor import LexborHTMLParser

from crawler.browser import HANDLER
from crawler.config import ConfigError
from crawler.extensions.runstate import CrawlRun
from crawler.hexo.inert import make_inert
from crawler.items import FlashPost, PlacedPost
from crawler.pipelines.hexo_posts import HexoPostsPipeline
from crawler.pipelines.post_paths import PostPathPipeline
from crawler.sina.zhibo_api import Flash, flash, parse_zhibo_page
from crawler.spiders.kinds import ListingKind
from crawler.spiders.sina_finance import SinaFinanceSpider
from crawler.spiders.sina_requests import browser_meta
from crawler.storage.files import TEMP_FOLDER
from crawler.storage.locking import LOCK_NAME, PostsFolderLock
from crawler.storage.state import CrawlState
from tests.conftest import RECORDED
from tests.support.components import make_crawler, output_settings
from tests.support.posts import an_article
from tests.support.settings import own_settings, project_settings

ZHIBO = (RECORDED / "zhibo.api.zhibo.feed_zhibo_id152_page1.trimmed.json").read_bytes()


# --- a posts folder that cannot be written closes the run before any request ---------------------


def _file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("not a folder", encoding="utf-8")


@pytest.mark.parametrize(
    ("spoil", "detail"),
    [
        (lambda posts: _file(posts), "File exists"),
        (lambda posts: (posts / LOCK_NAME).mkdir(parents=True), "Is a directory"),
        (lambda posts: _file(posts / TEMP_FOLDER), "is not a folder of ours (a symbolic link or a file)"),
    ],
    ids=["posts-is-a-file", "lock-is-a-folder", "temporary-folder-is-a-file"],
)
def test_a_posts_folder_that_cannot_be_written_closes_the_run(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, spoil: Any, detail: str
) -> None:
    posts = tmp_path / "posts"
    spoil(posts)
    run = CrawlRun.of(make_crawler(tmp_path))
    with pytest.raises(CloseSpider) as closed:
        run.open()
    assert closed.value.reason == "posts_dir_unwritable" and not run.is_open
    (line,) = [record.getMessage() for record in caplog.records if record.levelname == "ERROR"]
    assert line.startswith(f"Not crawling: cannot write to the posts folder {posts}: ") and detail in line
    if (posts / LOCK_NAME).is_file():  # taken, then given back: a run that did not open keeps no lock
        assert PostsFolderLock(posts).try_acquire()


# --- the earlier post of an article that moved off an unpublished name ---------------------------


def _moved_post(tmp_path: Path, at_old_path: str) -> tuple[Any, Path, Path, Path]:
    """An article written before at ``…/_<name>.md`` (Hexo never publishes it), then
    written again at its fresh path.  ``at_old_path``: what the old path holds then."""
    crawler = make_crawler(tmp_path)
    run = CrawlRun.of(crawler)
    run.open()
    paths, posts = PostPathPipeline.from_crawler(crawler), HexoPostsPipeline.from_crawler(crawler)
    root = tmp_path / "posts"
    post = an_article()
    first = paths.process_item(post)
    asyncio.run(posts.process_item(first))
    fresh = root / first.path
    old = fresh.with_name("_" + fresh.name)
    fresh.rename(old)
    state = run.state
    assert isinstance(state, CrawlState)
    row = state.get(post.publishid)
    assert row is not None
    state.record(
        **{name: getattr(row, name) for name in ("publishid", "docid", "url", "section", "sha256", "mtime")},
        path=old.relative_to(root).as_posix(),
        post_format=run.output.post_format,
        changed=False,
    )
    if at_old_path == "edited":
        old.write_text("edited by hand", encoding="utf-8")
    elif at_old_path == "gone":
        old.unlink()
    elif at_old_path == "a link":
        other = root / "other.md"
        other.write_bytes(old.read_bytes())
        old.unlink()
        old.symlink_to(other)
    second = paths.process_item(post)
    assert isinstance(second, PlacedPost) and second.replaces == old.relative_to(root).as_posix()
    asyncio.run(posts.process_item(second))
    run.close()
    assert crawler.stats is not None
    return crawler.stats.get_stats(), root, fresh, old


def test_the_earlier_post_of_a_moved_article_is_removed(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO")
    stats, root, fresh, old = _moved_post(tmp_path, "ours")
    assert fresh.is_file() and not old.exists()
    assert stats["sina/posts/moved/removed_old"] == 1 and stats["sina/posts/updated"] == 1
    relative = old.relative_to(root).as_posix()
    assert f"Removed {relative}: {an_article().url} moved to {fresh.relative_to(root).as_posix()}" in caplog.text


@pytest.mark.parametrize(
    ("at_old_path", "why"),
    [("edited", "it is not the post we wrote there"), ("a link", "not a regular file")],
)
def test_an_earlier_post_that_is_not_ours_as_written_stays(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, at_old_path: str, why: str
) -> None:
    stats, root, fresh, old = _moved_post(tmp_path, at_old_path)
    assert fresh.is_file() and (old.is_symlink() or old.read_text(encoding="utf-8") == "edited by hand")
    assert "sina/posts/moved/removed_old" not in stats
    relative = old.relative_to(root).as_posix()
    (warning,) = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    assert warning.startswith(f"Left {relative} in place for {an_article().url}: ") and why in warning


def test_an_earlier_post_already_gone_is_not_missed(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    stats, _root, fresh, old = _moved_post(tmp_path, "gone")
    assert fresh.is_file() and not old.exists() and "sina/posts/moved/removed_old" not in stats
    assert not [record for record in caplog.records if record.levelname == "WARNING"]


# --- a flash written before -------------------------------------------------------------------


def _zhibo_spider(tmp_path: Path) -> tuple[SinaFinanceSpider, Request]:
    crawler = get_crawler(SinaFinanceSpider, own_settings({**output_settings(tmp_path), "SINA_PARSE_WORKERS": 0}))
    assert crawler.stats is not None
    crawler.stats.open_spider()
    spider = SinaFinanceSpider.from_crawler(crawler, sections="zhibo")
    crawler.spider = spider
    spider.run.open()

    async def starts() -> list[Any]:
        outputs: AsyncIterator[Any] = spider.start()
        return [output async for output in outputs]

    (start,) = asyncio.run(starts())
    assert isinstance(start, Request)
    return spider, start


def _flashes() -> list[Flash]:
    return [flash(item) for item in parse_zhibo_page(ZHIBO.decode()).items]


@pytest.mark.parametrize(("change", "written"), [(0, 2), (-1, 3)], ids=["unchanged", "updated-since"])
def test_a_flash_written_before_is_written_again_only_once_updated(tmp_path: Path, change: int, written: int) -> None:
    spider, start = _zhibo_spider(tmp_path)
    known = _flashes()[0]
    assert known.ctime == known.intime == known.created  # listed (-a since) when it was created
    state = spider.run.state
    assert state is not None
    path = "金融/新浪财经/新浪财经－7x24/known.md"
    (tmp_path / "posts" / path).parent.mkdir(parents=True)
    (tmp_path / "posts" / path).write_bytes(b"the post written before")
    state.record(
        publishid=known.publishid,
        docid=None,
        url="https://finance.sina.com.cn/7x24/",
        section="zhibo",
        path=path,
        sha256=hashlib.sha256(b"the post written before").hexdigest(),
        mtime=known.mtime + change,
        post_format=spider.run.output.post_format,
        changed=True,
    )
    response = TextResponse(start.url, body=ZHIBO, encoding="utf-8", request=start)
    posts = [output for output in spider.parse_listing(response, **start.cb_kwargs) if isinstance(output, FlashPost)]
    assert len(posts) == written and (known.publishid in {post.publishid for post in posts}) == (written == 3)
    assert spider.crawler.stats is not None
    assert spider.crawler.stats.get_value("sina/section/zhibo/known", 0) == 3 - written
    spider.run.close()


# --- the browser, set up for a page section ----------------------------------------------------


def _browser_crawler(tmp_path: Path, **settings: Any) -> Crawler:
    """A crawler as a spider's from_crawler sees it: its settings not frozen yet."""
    return Crawler(Spider, project_settings({**output_settings(tmp_path), **settings}))


def test_a_page_section_sets_the_crawl_up_for_the_browser(tmp_path: Path) -> None:
    chromium = tmp_path / "chromium"
    chromium.write_text("#!/bin/sh\n", encoding="utf-8")
    chromium.chmod(chromium.stat().st_mode | stat.S_IXUSR)
    crawler = _browser_crawler(tmp_path, SINA_BROWSER_EXECUTABLE=str(chromium))
    crawler.settings.set("PLAYWRIGHT_BROWSER_TYPE", "firefox", priority="cmdline")  # -s: the confinement wins
    meta = browser_meta(crawler, ignore_https_errors=True)
    settings = crawler.settings
    assert settings["PLAYWRIGHT_BROWSER_TYPE"] == "chromium"
    assert settings.getdict("DOWNLOAD_HANDLERS")["https"] == settings.getdict("DOWNLOAD_HANDLERS")["http"] == HANDLER
    launch = settings.getdict("PLAYWRIGHT_LAUNCH_OPTIONS")
    assert launch["executable_path"] == str(chromium) and launch["headless"] is True
    assert callable(settings["PLAYWRIGHT_ABORT_REQUEST"])
    assert meta["playwright"] is True and callable(meta["playwright_page_init_callback"])
    assert meta["playwright_context_kwargs"] == {
        "ignore_https_errors": True,
        "service_workers": "block",
        "accept_downloads": False,
    }


def test_a_page_section_without_a_browser_is_a_configuration_error(tmp_path: Path) -> None:
    crawler = _browser_crawler(tmp_path, SINA_BROWSER_EXECUTABLE=str(tmp_path / "no-chromium"))
    with pytest.raises(ConfigError, match=f"no browser at {tmp_path / 'no-chromium'}: install Debian's chromium"):
        browser_meta(crawler, ignore_https_errors=False)


# --- the listing kinds ---------------------------------------------------------------------------


def test_every_listing_kind_says_where_its_pages_are_and_how_to_read_them() -> None:
    kinds = ListingKind.__subclasses__()
    assert sorted(kind.__name__ for kind in kinds) == [
        "ColumnListing",
        "FeedListing",
        "PageListing",
        "RollListing",
        "ZhiboListing",
    ]
    assert all({"url", "read"} <= set(vars(kind)) for kind in kinds)
    with pytest.raises(NotImplementedError):
        ListingKind().url(None, 1)
    with pytest.raises(NotImplementedError):
        ListingKind().read(HtmlResponse("https://finance.sina.com.cn/", body=b""), None, 1)


# --- BODY made inert ------------------------------------------------------------------------------


def test_make_inert_removes_what_runs_or_loads_and_nothing_else() -> None:
    html = (
        '<div><p onclick="x()" class="k">a<script>x()</script></p><a href="javascript:x()">l</a>'
        '<img src="data:image/png;base64,AA" onerror="x()"><iframe></iframe><!-- more --><!-- kept -->'
        '<style>```</style><svg><set attributeName="href"/><a href="https://a/">s</a></svg></div>'
    )
    root = LexborHTMLParser(html).css_first("div")
    assert root is not None
    assert make_inert(root) == 5  # script, iframe, the excerpt marker, a fenced style, svg <set>
    assert root.html == (
        '<div><p class="k">a</p><a>l</a><img src="data:image/png;base64,AA"><!-- kept -->'
        '<svg><a href="https://a/">s</a></svg></div>'
    )
