"""Issue 17, end to end as an attacker would try it: the real spider through the replay
proxy.  An image host (an allowed one, n.sinaimg.cn) serves an SVG with a script, an HTML
page and a GIF+HTML polyglot, all as ``image/jpeg``: only real rasters are stored, under
the extension of what they are.  One article with 300 images, a run past its byte cap:
the rest stay remote and the post is written.  A 404 image is a warning, not an error.
State rows whose path is ``../..``, absolute or through a symbolic-link folder: nothing
is written outside the posts folder, the posts come out at their fresh paths, and the
rows are replaced."""

from __future__ import annotations

import copy
import hashlib
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from crawler.storage.rasters import raster_extension
from tests.conftest import corpus_case
from tests.support import rasters
from tests.support.crawl import files_under, run_crawl
from tests.support.replay_proxy import ProxyRequest, ProxyResponse, ReplayProxy, RollApi

pytestmark = pytest.mark.e2e

SEED = corpus_case("seed-haiguan")
SEED_IMAGE = "https://n.sinaimg.cn/finance/crawl/116/w550h366/20220124/cf6c-f4238c0cc33a40060a9c478865af0e20.jpg"
FOLDER = "金融/新浪财经/新浪财经－国內"
FAST = {
    "DOWNLOAD_DELAY": "0",
    "AUTOTHROTTLE_ENABLED": "False",
    "CONCURRENT_REQUESTS_PER_DOMAIN": "16",
    "SINA_IMAGE_HOST_RATE": "1000",
}


def _with_images(urls: list[str]) -> bytes:
    """The seed article with these images in its body, before its own one."""
    body = "".join(f'<p><img src="{url}"></p>' for url in urls)
    page = SEED.page.replace(b'<div class="img_wrapper">', f'{body}<div class="img_wrapper">'.encode(), 1)
    assert page != SEED.page
    return page


def _stored_name(url: str, extension: str) -> str:
    return hashlib.sha1(url.encode("utf-8")).hexdigest()[:20] + extension


def _asset_files(work: Path) -> dict[str, bytes]:
    folder = SEED.expected_path[: -len(".md")] + "/"
    return {p[len(folder) :]: data for p, data in files_under(work / "posts").items() if p.startswith(folder)}


def _local_srcs(post: str) -> list[str]:
    return re.findall(r'src="([0-9a-f]{20}\.\w+)"', post)


# --- only real rasters, under their real extension --------------------------------------

T = "https://n.sinaimg.cn/finance/t/"
SERVED_AS_JPEG = {  # URL -> (bytes, what is stored: an extension, or None)
    f"{T}svg.jpg": (rasters.SVG_WITH_SCRIPT, None),
    f"{T}icon.svg": (rasters.SVG_WITH_SCRIPT, None),
    f"{T}page.jpg": (rasters.HTML_PAGE, None),
    f"{T}html-then-gif.gif": (rasters.HTML_THEN_GIF, None),
    f"{T}polyglot.jpg": (rasters.GIF_HTML_POLYGLOT, ".gif"),
    f"{T}png.jpg": (rasters.png_1x1(), ".png"),
    f"{T}gif87.svg": (rasters.GIF87A, ".gif"),
    f"{T}webp.png": (rasters.WEBP, ".webp"),
    f"{T}avif": (rasters.avif(), ".avif"),
    f"{T}jpeg.html": (rasters.JPEG, ".jpg"),
}
GONE = f"{T}gone.jpg"


def test_only_real_rasters_are_stored_under_their_real_extension(tmp_path: Path) -> None:
    page = _with_images([*SERVED_AS_JPEG, GONE])
    with ReplayProxy() as proxy:
        proxy.add(SEED.https_url, page)
        proxy.add(SEED_IMAGE, rasters.JPEG, headers={"Content-Type": "image/jpeg"})
        for url, (data, _) in SERVED_AS_JPEG.items():
            proxy.add(url, data, headers={"Content-Type": "image/jpeg"})
        proxy.add_handler(GONE, lambda request: ProxyResponse(404, b"<html>not found</html>"))
        RollApi({("155", "1686"): [SEED.item]}).install(proxy)
        result = run_crawl(proxy.url, tmp_path, "sections=china", settings={"HEXO_IMAGES": "local"})
        stored = _asset_files(tmp_path)
        # Fetched again: the images stored are up to date, not requested again.
        proxy.reset_log()
        again = run_crawl(proxy.url, tmp_path, "sections=china", "refresh=1", settings={"HEXO_IMAGES": "local"})
        requested_again = [url for url in proxy.urls() if url.startswith(T) or url == SEED_IMAGE]
    assert result.returncode == 0, result.log[-3000:]
    expected = {_stored_name(url, ext): data for url, (data, ext) in SERVED_AS_JPEG.items() if ext}
    expected[_stored_name(SEED_IMAGE, ".jpg")] = rasters.JPEG
    assert stored == expected, "exactly the rasters, their bytes untouched, under their real extension"
    for name, data in stored.items():
        assert name.endswith(raster_extension(data) or "no raster"), name
    post = files_under(tmp_path / "posts")[SEED.expected_path].decode("utf-8")
    for url, (_, ext) in SERVED_AS_JPEG.items():
        if ext:
            assert f'src="{_stored_name(url, ext)}"' in post and f'src="{url}"' not in post
        else:
            assert f'src="{url}"' in post, f"{url} keeps its remote src"
    assert f'src="{GONE}"' in post
    assert result.stat("sina/images/stored") == 7
    assert result.stat("sina/images/refused/not_raster") == 4
    assert result.stat("sina/images/refused") == 4
    assert result.stat("sina/images/failed/http_404") == 1 and result.stat("sina/images/failed") == 1
    assert result.stat("sina/posts/new") == 1
    (svg_line,) = [line for line in result.log.splitlines() if f"{T}svg.jpg" in line]
    assert "WARNING" in svg_line and "(refused: not_raster, served as 'image/jpeg', begins b'<?xml" in svg_line
    assert SEED.https_url in svg_line
    (gone_line,) = [line for line in result.log.splitlines() if GONE in line]
    assert "WARNING" in gone_line and "download failed: http_404" in gone_line
    assert "Traceback" not in result.log and " ERROR: " not in result.log
    assert result.stat("log_count/ERROR") == 0
    assert sorted(requested_again) == sorted([GONE, *(url for url, (_, ext) in SERVED_AS_JPEG.items() if not ext)])
    assert _asset_files(tmp_path) == stored
    assert again.stat("sina/images/stored") == 7 and again.stat("file_status_count/uptodate") == 7
    assert again.stat("sina/posts/unchanged") == 1


# --- the caps ---------------------------------------------------------------------------


def _numbered_jpeg(request: ProxyRequest) -> ProxyResponse:
    return ProxyResponse(200, rasters.JPEG + request.url.encode(), {"Content-Type": "image/jpeg"})


def test_a_post_stores_at_most_its_cap_and_is_still_written(tmp_path: Path) -> None:
    """300 images (299 added before the article's own): the first 100 stored, the other
    200 not even requested and left remote."""
    urls = [f"https://n.sinaimg.cn/finance/many/{n:03d}.jpg" for n in range(299)]
    with ReplayProxy() as proxy:
        proxy.add(SEED.https_url, _with_images(urls))
        proxy.add_handler("https://n.sinaimg.cn/finance/", _numbered_jpeg)
        RollApi({("155", "1686"): [SEED.item]}).install(proxy)
        result = run_crawl(proxy.url, tmp_path, "sections=china", settings={"HEXO_IMAGES": "local", **FAST})
        requested = [url for url in proxy.urls() if "/finance/many/" in url or url == SEED_IMAGE]
    assert result.returncode == 0, result.log[-3000:]
    assert sorted(requested) == urls[:100]
    assert set(_asset_files(tmp_path)) == {_stored_name(url, ".jpg") for url in urls[:100]}
    post = files_under(tmp_path / "posts")[SEED.expected_path].decode("utf-8")
    assert _local_srcs(post) == [_stored_name(url, ".jpg") for url in urls[:100]]
    remote = re.findall(r'src="(https://n\.sinaimg\.cn/[^"]+)"', post)
    assert remote == [*urls[100:], SEED_IMAGE]
    assert len(remote) == 200
    assert result.stat("sina/images/stored") == 100
    assert result.stat("sina/images/capped/per_post") == 200
    assert result.stat("sina/posts/new") == 1
    assert "200 image(s) kept remote for" in result.log and "HEXO_IMAGES_MAX_PER_POST=100 reached" in result.log


def test_a_run_stores_at_most_its_byte_cap(tmp_path: Path) -> None:
    urls = [f"https://n.sinaimg.cn/finance/big/{n}.jpg" for n in range(10)]
    size = len(rasters.JPEG) + 1000
    cap = 3 * size + size // 2  # three images fit, not four

    def image(request: ProxyRequest) -> ProxyResponse:
        return ProxyResponse(200, rasters.JPEG.ljust(size, b"\x00"), {"Content-Type": "image/jpeg"})

    with ReplayProxy() as proxy:
        proxy.add(SEED.https_url, _with_images(urls))
        proxy.add_handler("https://n.sinaimg.cn/finance/", image)
        RollApi({("155", "1686"): [SEED.item]}).install(proxy)
        result = run_crawl(
            proxy.url,
            tmp_path,
            "sections=china",
            settings={"HEXO_IMAGES": "local", "HEXO_IMAGES_MAX_BYTES_PER_RUN": str(cap), **FAST},
        )
    assert result.returncode == 0, result.log[-3000:]
    stored = _asset_files(tmp_path)
    assert len(stored) == 3 and sum(map(len, stored.values())) <= cap
    post = files_under(tmp_path / "posts")[SEED.expected_path].decode("utf-8")
    assert sorted(_local_srcs(post)) == sorted(stored)
    assert len(re.findall(r'src="https://n\.sinaimg\.cn/', post)) == 8
    assert result.stat("sina/images/stored") == 3
    assert result.stat("sina/images/capped/per_run") == 8
    assert result.stat("sina/posts/new") == 1
    assert f"HEXO_IMAGES_MAX_BYTES_PER_RUN={cap} reached" in result.log


def test_a_negative_cap_stops_the_crawl_at_start(tmp_path: Path) -> None:
    with ReplayProxy() as proxy:
        result = run_crawl(proxy.url, tmp_path, "sections=china", settings={"HEXO_IMAGES_MAX_PER_POST": "-5"})
        requested = proxy.urls()
    assert result.returncode == 2
    assert "HEXO_IMAGES_MAX_PER_POST='-5': expected a whole number, 0 or more" in result.log
    assert requested == []


# --- state rows cannot steer a write ----------------------------------------------------


def _article(publishid: str, title: str) -> dict[str, Any]:
    item = copy.deepcopy(SEED.item)
    url = f"https://finance.sina.com.cn/roll/2026-09-28/doc-i{publishid}.shtml"
    item.update(url=url, title=title, ctime="1790000000", intime="1790000000", mtime="1790000000")
    item["docid"] = f"comos:{publishid}"
    return item


def _rows(work: Path) -> dict[str, str]:
    with sqlite3.connect(work / "state.sqlite") as db:
        rows = dict(db.execute("SELECT publishid, path FROM articles").fetchall())
    db.close()
    return rows


def test_state_rows_cannot_place_a_write_outside_the_posts_folder(tmp_path: Path) -> None:
    work = tmp_path / "blog" / "work"  # posts in blog/work/posts: ../../ is still in tmp_path
    outside = tmp_path / "outside"
    outside.mkdir()
    victims = {
        tmp_path / "blog" / "x.md": b"victim: ../../x.md",
        outside / "absolute.md": b"victim: absolute",
        outside / "linked.md": b"victim: through a link",
    }
    articles = {
        "dotdotx0000001": _article("dotdotx0000001", "点点"),
        "absolut0000001": _article("absolut0000001", "绝对"),
        "symlink0000001": _article("symlink0000001", "链接"),
    }
    with ReplayProxy() as proxy:
        for item in articles.values():
            proxy.add(item["url"], SEED.page)
        RollApi({("155", "1686"): list(articles.values())}).install(proxy)
        first = run_crawl(proxy.url, work, "sections=china")
        fresh = _rows(work)
        posts_before = files_under(work / "posts")
        # The state is edited by someone else: each row points somewhere it should not, at
        # a file that exists (so the article would look written and be skipped); one of the
        # articles changes too, so it is fetched whatever its row says.
        articles["dotdotx0000001"]["mtime"] = "1790000001"
        for victim, data in victims.items():
            victim.write_bytes(data)
        (work / "posts" / "linked").symlink_to(outside, target_is_directory=True)
        bad = {"dotdotx0000001": "../../x.md", "absolut0000001": str(outside / "absolute.md")}
        bad["symlink0000001"] = "linked/linked.md"
        with sqlite3.connect(work / "state.sqlite") as db:
            for publishid, path in bad.items():
                db.execute("UPDATE articles SET path = ? WHERE publishid = ?", (path, publishid))
        db.close()
        for path in fresh.values():
            (work / "posts" / path).unlink()
        proxy.reset_log()
        second = run_crawl(proxy.url, work, "sections=china")
        second_requests = [url for url in proxy.urls() if "/doc-i" in url]
        proxy.reset_log()
        third = run_crawl(proxy.url, work, "sections=china")
        third_requests = [url for url in proxy.urls() if "/doc-i" in url]
    assert first.stat("sina/posts/new") == 3
    assert sorted(fresh.values()) == sorted(f"{FOLDER}/{title}.md" for title in ("点点", "绝对", "链接"))
    assert second.returncode == 0, second.log[-3000:]
    assert all(path.read_bytes() == data for path, data in victims.items()), "nothing outside is written"
    assert sorted(p.name for p in outside.iterdir()) == ["absolute.md", "linked.md"]
    assert sorted(p.name for p in (tmp_path / "blog").iterdir()) == ["work", "x.md"]
    assert files_under(work / "posts") == posts_before, "each post at its fresh path, as before"
    assert _rows(work) == fresh, "the bad rows are replaced"
    assert sorted(second_requests) == sorted(item["url"] for item in articles.values())
    assert second.stat("sina/state/unsafe_path") == 3
    assert second.stat("sina/posts/updated") == 3 and second.stat("sina/posts/restored") == 0
    for publishid, path in bad.items():
        (line,) = [ln for ln in second.log.splitlines() if "unsafe path" in ln and publishid in ln]
        assert "WARNING" in line and repr(path) in line, line
    assert third.stat("sina/articles/known") == 3 and third_requests == []
