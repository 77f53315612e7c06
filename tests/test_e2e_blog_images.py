"""Issue 20, images on every page: the real spider writes the corpus with
HEXO_IMAGES=local, real Hexo 7 builds the blog a newcomer gets (``hexo init``'s landscape
theme with the index, archive, category and tag generators, ``post_asset_folder: true``,
built with ``TZ=Asia/Shanghai``), a local server serves it and Chromium opens its pages.

With HEXO_IMAGE_URLS=root every ``<img>`` of the index pages, of a post page and of the
archive and category pages loads from the local server (naturalWidth > 0) and the
server answers no request with a 404.  With ``relative`` (the default), the control:
the same index page asks for each image at the site root, and gets 404s."""

from __future__ import annotations

import re
from typing import TypedDict

import pytest

from tests.conftest import CASES
from tests.support import rasters
from tests.support.blog import PageImages, Site, build_site, page_images, require_blog_tools, serve
from tests.support.crawl import CrawlResult, files_under, run_crawl
from tests.support.replay_proxy import ProxyRequest, ProxyResponse, ReplayProxy, serve_corpus

pytestmark = [pytest.mark.e2e, pytest.mark.hexo, pytest.mark.browser]

# The corpus's image hosts that HEXO_IMAGE_HOSTS allows; its one image elsewhere
# (res.ckxx.net) stays remote, and the browser, kept off the network, cannot load it.
IMAGE_HOSTS = tuple(f"{scheme}://{host}.sinaimg.cn/" for scheme in ("https", "http") for host in ("n", "k", "wx1"))
REMOTE = "http://res.ckxx.net/"
# landscape links /favicon.png, which a new site does not have: the one 404 no post causes.
THEME_404 = "/favicon.png"
PNG = rasters.png_1x1()


def _png(request: ProxyRequest) -> ProxyResponse:
    return ProxyResponse(200, PNG, {"Content-Type": "image/png"})


class Blog(TypedDict):
    crawl: CrawlResult
    posts: dict[str, bytes]
    site: Site
    pages: dict[str, PageImages]
    served: list[tuple[str, int]]  # the local server's log: (path, status)


def _blog(tmp_path_factory: pytest.TempPathFactory, mode: str) -> Blog:
    """Crawl the corpus with HEXO_IMAGES=local and HEXO_IMAGE_URLS=mode, build the blog
    and open its index pages, one post page, the archive and a category page."""
    require_blog_tools()
    work = tmp_path_factory.mktemp(f"blog-{mode}")
    with ReplayProxy() as proxy:
        serve_corpus(proxy, CASES, pageid="155", lid="1686")
        for host in IMAGE_HOSTS:
            proxy.add_handler(host, _png)
        crawl = run_crawl(proxy.url, work, "sections=china", settings={"HEXO_IMAGES": "local", "HEXO_IMAGE_URLS": mode})
    assert crawl.returncode == 0, crawl.log[-3000:]
    site = build_site(work / "posts", work / "public", post_asset_folder=True, tz="Asia/Shanghai")
    assert not site.unpublished, site.unpublished
    with_images = next(post for post in site.posts if "<img" in post.content)
    category = next(
        p.relative_to(work / "public").as_posix() for p in (work / "public").glob("categories/*/index.html")
    )
    paths = [*(page.path for page in site.indexes), with_images.path, "archives/index.html", category]
    served: list[tuple[str, int]] = []
    with serve(work / "public", served) as base_url:
        pages = page_images(base_url, paths)
    return {"crawl": crawl, "posts": files_under(work / "posts"), "site": site, "pages": pages, "served": served}


@pytest.fixture(scope="module")
def root_blog(tmp_path_factory: pytest.TempPathFactory) -> Blog:
    return _blog(tmp_path_factory, "root")


@pytest.fixture(scope="module")
def relative_blog(tmp_path_factory: pytest.TempPathFactory) -> Blog:
    return _blog(tmp_path_factory, "relative")


_LOCAL_SRC = re.compile(r'<img [^>]*src="(/[^/"][^"]*)"')  # a path from the root, not //host/


def _local_srcs(posts: dict[str, bytes]) -> list[str]:
    return [src for path, data in posts.items() if path.endswith(".md") for src in _LOCAL_SRC.findall(data.decode())]


def test_root_image_urls_load_on_every_index_page(root_blog: Blog) -> None:
    """Every image on the index pages (the posts in full: no excerpts), on a post page
    and on the archive and category pages loads from the local server; no 404."""
    crawl, site, pages = root_blog["crawl"], root_blog["site"], root_blog["pages"]
    stored = crawl.stat("sina/images/stored")
    assert stored >= 10, "the corpus stores images"
    assert len(_local_srcs(root_blog["posts"])) >= stored, "every stored image is named from the site root"
    index_images = [image for page in site.indexes for image in pages[page.path].images]
    assert len(index_images) >= stored, "the index pages show the posts with their images"
    assert sum(src.startswith("http://127.0.0.1:") for src, _ in index_images) >= stored
    for path, page in pages.items():
        assert [src for src in page.broken() if not src.startswith(REMOTE)] == [], f"{path}: images that did not load"
        assert [f for f in page.failed if not f.endswith(THEME_404)] == [], f"{path}: failed requests"
        local = [src for src, _ in page.images if not src.startswith(REMOTE)]
        assert all(src.startswith("http://127.0.0.1:") for src in local), path
    not_found = [path for path, status in root_blog["served"] if status == 404 and path != THEME_404]
    assert not_found == []
    assert any(status == 200 and path.endswith(".png") for path, status in root_blog["served"])


def test_relative_image_urls_break_on_the_index_page_the_control(relative_blog: Blog) -> None:
    """The default, relative: right on a post's own page, 404 on the index page."""
    site, pages = relative_blog["site"], relative_blog["pages"]
    index = pages[site.indexes[0].path]
    local = [src for src, _ in index.images if not src.startswith(REMOTE)]
    assert len(local) >= 5 and all(src.startswith("http://127.0.0.1:") for src in local)
    assert len([src for src in index.broken() if not src.startswith(REMOTE)]) == len(local), "none loads"
    failed = [f for f in index.failed if not f.endswith(THEME_404)]
    assert len(failed) == len(set(local)) and all(f.startswith("404 ") for f in failed)
    not_found = [path for path, status in relative_blog["served"] if status == 404 and path != THEME_404]
    assert len(not_found) >= len(set(local))
    post_page = next(page for path, page in pages.items() if re.match(r"\d{4}/", path))
    assert post_page.images, "the post page shows images"
    assert [src for src in post_page.broken() if not src.startswith(REMOTE)] == [], "on the post's own page they load"
    assert _local_srcs(relative_blog["posts"]) == [], "relative: the file name alone"


def test_the_default_bytes_are_unchanged_by_the_new_settings(relative_blog: Blog, root_blog: Blog) -> None:
    """relative and root differ in the image URLs only: the same files, the same posts
    once each root URL is put back to its file name."""
    relative, root = relative_blog["posts"], root_blog["posts"]
    assert sorted(relative) == sorted(root)

    def to_name(match: re.Match[str]) -> str:
        return f'src="{match[1].rsplit("/", 1)[1]}"'

    for path, data in root.items():
        if path.endswith(".md"):
            text = re.sub(r'src="(/[^/"][^"]*)"', to_name, data.decode())
            text = re.sub(r"(headimg|thumbnail): '/[^']*/([0-9a-f]{20}\.\w+)'", r"\1: '\2'", text)
            assert text == relative[path].decode(), path
