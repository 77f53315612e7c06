"""Hostile input, end to end (issue 9): the real spider through the real downloader and
the replay proxy, which answers for foreign hosts and private addresses itself, so no
test ever opens a connection to 10.x, 169.254.x or another host.  In each case nothing
foreign or internal is written, each outcome has its counter and its log line, and the
ordinary articles of the same run still come out byte for byte."""

from __future__ import annotations

import copy
import json
import os
import sqlite3
import stat
from pathlib import Path
from typing import Any

import pytest

from crawler.storage.files import TEMP_FOLDER
from crawler.storage.locking import LOCK_NAME
from tests.conftest import corpus_case
from tests.support.crawl import files_under, run_crawl
from tests.support.hexo import load_with_hexo
from tests.support.replay_proxy import ProxyRequest, ProxyResponse, ReplayProxy, RollApi

pytestmark = pytest.mark.e2e

SEED = corpus_case("seed-haiguan")
GOOD = corpus_case("nitmeau2811260")
FOLDER = "金融/新浪财经/新浪财经－国內"
SECRET = b"<html><body><div id='artibody'><p>INTERNAL SECRET</p></div></body></html>"


def _item(publishid: str, title: str, ctime: int | str = 1790000000, **fields: str) -> dict[str, Any]:
    item = copy.deepcopy(SEED.item)
    url = f"https://finance.sina.com.cn/roll/2026-09-28/doc-i{publishid}.shtml"
    item.update(url=url, title=title, ctime=str(ctime), intime=str(ctime), mtime=str(ctime))
    item["docid"] = f"comos:{publishid}"
    item.update(fields)
    return item


def _redirect(location: str, status: int = 302) -> ProxyResponse:
    return ProxyResponse(status, b"", {"Location": location})


def _refresh_page(target: str) -> bytes:
    return (
        f'<html><head><meta http-equiv="refresh" content="0;url={target}"></head>'
        "<body><div id='artibody'><p>moved</p></div></body></html>"
    ).encode()


def _foreign(proxy: ReplayProxy) -> list[str]:
    """Requests the proxy saw for anything but Sina's hosts."""
    return [url for url in proxy.urls() if not any(h in url.split("/")[2] for h in ("sina.com.cn", "sinaimg.cn"))]


def _no_secret(root: Path) -> None:
    for path, data in files_under(root).items():
        assert b"INTERNAL SECRET" not in data, path


# --- 1. what is fetched stays on Sina ----------------------------------------------------


def test_redirects_and_refreshes_that_leave_sina_write_nothing(tmp_path: Path) -> None:
    onsite_target = "https://finance.sina.com.cn/roll/2026-09-28/doc-imergedd0000001.shtml"
    redirects = {
        "offsite": _redirect("https://evil.example/article.shtml"),
        "metadata": _redirect("http://169.254.169.254/latest/meta-data/"),
        "private": _redirect("http://10.0.0.1/admin", 301),
        "decimal-loopback": _redirect("http://2130706433/"),
        "odd-port": _redirect("https://finance.sina.com.cn:8443/x.shtml"),
        "user-info": _redirect("https://evil.example%5C@finance.sina.com.cn/x.shtml"),
        "refresh-offsite": ProxyResponse(200, _refresh_page("https://evil.example/r.shtml")),
        "refresh-private": ProxyResponse(200, _refresh_page("http://169.254.169.254/latest/")),
        "merged-1": _redirect(onsite_target),
        "merged-2": _redirect(onsite_target),
    }
    items = [GOOD.item]
    with ReplayProxy() as proxy:
        proxy.add(GOOD.https_url, GOOD.page)
        for host_url in (
            "https://evil.example/article.shtml",
            "https://evil.example/r.shtml",
            "http://169.254.169.254/latest/meta-data/",
            "http://169.254.169.254/latest/",
            "http://10.0.0.1/admin",
            "http://127.0.0.1/",
            "https://finance.sina.com.cn:8443/x.shtml",
        ):
            proxy.add(host_url, SECRET)
        proxy.add(onsite_target, SEED.page)
        for number, (name, response) in enumerate(redirects.items()):
            item = _item(f"redirct{number:07d}", f"跳转{name}", 1790000000 - number)
            items.append(item)

            def redirect(request: ProxyRequest, response: ProxyResponse = response) -> ProxyResponse:
                return response

            proxy.add_handler(item["url"], redirect)
        RollApi({("155", "1686"): items}).install(proxy)
        result = run_crawl(proxy.url, tmp_path, "sections=china", settings={"RETRY_TIMES": "0"})
        foreign = _foreign(proxy)
        robots = [url for url in proxy.urls() if url.endswith("/robots.txt")]
    assert result.returncode == 0, result.log[-3000:]
    assert foreign == [], "nothing off Sina's hosts is requested, robots.txt included"
    assert all("evil" not in url and "169.254" not in url for url in robots)
    files = files_under(tmp_path / "posts")
    _no_secret(tmp_path / "posts")
    assert files[GOOD.expected_path] == GOOD.expected
    # Two articles redirected to one Sina page: each is fetched, counted and written.
    merged = sorted(path for path in files if "跳转merged" in path)
    assert merged == [f"{FOLDER}/跳转merged-1.md", f"{FOLDER}/跳转merged-2.md"]
    assert result.stat("sina/articles/redirected") == 2
    assert result.stat("sina/posts/new") == 3
    assert result.stat("sina/skipped/offsite_redirect") == 8
    for name in redirects:
        if not name.startswith("merged"):
            (line,) = [ln for ln in result.log.splitlines() if f"redirct{list(redirects).index(name):07d}" in ln]
            assert "Article skipped (offsite_redirect)" in line and "redirected to" in line, line


def test_listed_urls_that_only_look_like_sina_are_refused(tmp_path: Path) -> None:
    bypasses = {
        "backslash": "https://evil.example\\@finance.sina.com.cn/roll/2026-09-28/doc-ibackslh0000001.shtml",
        "user-info": "https://user:pw@finance.sina.com.cn/roll/2026-09-28/doc-iuserinf0000001.shtml",
        "odd-port": "https://finance.sina.com.cn:8080/roll/2026-09-28/doc-ioddport0000001.shtml",
        "suffix": "https://finance.sina.com.cn.evil.example/roll/doc-isuffixx0000001.shtml",
        "loopback": "http://0x7f.1/roll/2026-09-28/doc-iloopbak0000001.shtml",
        "metadata": "http://169.254.169.254/roll/2026-09-28/doc-imetadat0000001.shtml",
    }
    items = [GOOD.item]
    with ReplayProxy() as proxy:
        proxy.add(GOOD.https_url, GOOD.page)
        for number, (name, url) in enumerate(bypasses.items()):
            items.append({**_item(f"bypass{number:08d}", f"绕过{name}"), "url": url})
            proxy.add_handler(url.replace("\\", "/").split("?")[0], lambda request: ProxyResponse(200, SECRET))
        proxy.add_handler("https://evil.example/", lambda request: ProxyResponse(200, SECRET))
        RollApi({("155", "1686"): items}).install(proxy)
        result = run_crawl(proxy.url, tmp_path, "sections=china")
        requested = proxy.urls()
    assert result.returncode == 0, result.log[-3000:]
    assert [url for url in requested if "doc-i" in url] == [GOOD.https_url]
    assert _foreign_of(requested) == []
    assert files_under(tmp_path / "posts") == {GOOD.expected_path: GOOD.expected}
    assert result.stat("sina/skipped/unsafe_url") == 5  # backslash, user-info, odd port, 2 private addresses
    assert result.stat("sina/skipped/not_article") == 1  # not a Sina host at all
    assert "Roll item skipped (unsafe_url)" in result.log and "backslash" in result.log


def _foreign_of(urls: list[str]) -> list[str]:
    return [url for url in urls if not url.split("/")[2].endswith(("sina.com.cn", "sinaimg.cn"))]


def test_local_images_only_from_sina_cdns_and_public_addresses(tmp_path: Path) -> None:
    """HEXO_IMAGES=local: an image at a literal private address, at a host off the
    allow-list, at a redirect to the metadata service, at an odd port, or at a name that
    resolves to a loopback address (a direct connection, through the crawl's resolver)
    is never fetched; it keeps its remote URL and is counted."""
    images = {
        "ok": "https://n.sinaimg.cn/finance/ok.jpg",
        "loopback": "http://127.0.0.1/secret.jpg",
        "metadata": "http://169.254.169.254/latest/meta-data/iam.jpg",
        "private": "http://10.0.0.1/router.jpg",
        "foreign": "https://evil.example/track.jpg",
        "odd-port": "https://n.sinaimg.cn:8443/x.jpg",
        "redirected": "https://n.sinaimg.cn/finance/redirected.jpg",
        "resolved": "https://intranet.sinaimg.cn/dns.jpg",  # resolves to 127.0.0.1 (TEST_DNS)
    }
    body = "".join(f'<p><img src="{url}"></p>' for url in images.values())
    page = SEED.page.replace(b'<div class="img_wrapper">', f'{body}<div class="img_wrapper">'.encode(), 1)
    assert page != SEED.page
    jpeg = b"\xff\xd8\xff\xe0 a jpeg"
    with ReplayProxy() as proxy:
        proxy.add(SEED.https_url, page)
        proxy.add(images["ok"], jpeg, headers={"Content-Type": "image/jpeg"})
        proxy.add(images["redirected"], b"", status=302, headers={"Location": images["metadata"]})
        for name in ("loopback", "metadata", "private", "foreign", "odd-port"):
            proxy.add(images[name], b"INTERNAL SECRET", headers={"Content-Type": "image/jpeg"})
        proxy.add_handler("https://n.sinaimg.cn/finance/crawl/", lambda request: ProxyResponse(200, jpeg))
        RollApi({("155", "1686"): [SEED.item]}).install(proxy)
        result = run_crawl(
            proxy.url,
            tmp_path,
            "sections=china",
            settings={
                "HEXO_IMAGES": "local",
                "RETRY_TIMES": "0",
                "TWISTED_DNS_RESOLVER": "tests.support.fake_dns.MappedResolver",
                "TEST_DNS": json.dumps({"intranet.sinaimg.cn": "127.0.0.1"}),
            },
            env={"no_proxy": "intranet.sinaimg.cn"},
        )
        requested = proxy.urls()
    assert result.returncode == 0, result.log[-3000:]
    for name in ("loopback", "metadata", "private", "foreign", "odd-port"):
        assert images[name] not in requested, name
    assert images["redirected"] in requested and images["metadata"] not in requested
    _no_secret(tmp_path / "posts")
    post = files_under(tmp_path / "posts")[SEED.expected_path].decode("utf-8")
    for name, url in images.items():
        if name != "ok":
            assert f'src="{url}"' in post, f"{name} keeps its remote URL"
    assert f'src="{images["ok"]}"' not in post
    assert result.stat("sina/images/refused") == 7
    assert result.stat("sina/images/refused/private_address") == 4  # 3 literals + the resolved name
    assert result.stat("sina/images/refused/offsite") == 1
    assert result.stat("sina/images/refused/odd_port") == 1
    assert result.stat("sina/images/refused/offsite_redirect") == 1
    assert "Image kept remote for" in result.log and "(refused: private_address): https://intranet" in result.log
    assert "Connection was refused" not in result.log, "no connection to the loopback name was even tried"


# --- 2. bad input never stops other work in silence ----------------------------------


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_a_listing_that_breaks_fails_its_section_alone(tmp_path: Path) -> None:
    """Deeply nested JSON, or a 5,000-digit number, inside a valid envelope: that section
    is failed, counted and logged; a later section, whose articles wait for every earlier
    section's listing (sections.yaml order), still has its articles written."""
    nested = '{"result":{"status":{"code":0},"data":[{"x":' + _nested(100_000) + "}]}}"
    huge = '{"result":{"status":{"code":0},"total":1,"data":[{"url":"x","ctime":' + "9" * 5000 + "}]}}"
    with ReplayProxy() as proxy:
        proxy.add(GOOD.https_url, GOOD.page)
        api = RollApi({("155", "1688"): [GOOD.item]})
        answers = {"1686": nested, "1687": huge}  # china and macro, before local

        def answer(request: ProxyRequest) -> ProxyResponse:
            lid = request.query.get("lid", "")
            if lid in answers:
                return ProxyResponse(200, answers[lid].encode(), {"Content-Type": "application/json"})
            return api(request)

        proxy.add_handler(api.prefix, answer)
        result = run_crawl(proxy.url, tmp_path, "sections=china,macro,local")
    assert result.returncode == 0, result.log[-3000:]
    local = GOOD.expected_path.replace("新浪财经－国內", "新浪财经－地方经济")
    assert list(files_under(tmp_path / "posts")) == [local]
    assert result.stat("sina/roll/failed/not_json") == 2
    assert result.stat("sina/section/china/list_failed") == 1
    assert result.stat("sina/section/macro/list_failed") == 1
    assert result.stat("sina/section/local/new") == 1
    assert "Roll API failed for section china" in result.log and "RecursionError" in result.log
    assert "Roll API failed for section macro" in result.log
    assert "Traceback" not in result.log
    assert "roll API failures: not_json=2" in result.log


def test_unwritable_field_values_skip_their_item_every_run_without_a_traceback(tmp_path: Path) -> None:
    bad = [
        _item("surrogt0000001", "lone\ud800surrogate"),
        _item("bigmtim0000001", "mtime past 64 bits", mtime=str(2**70)),
        _item("yearten0000001", "past the year 9999", intime="300000000000", ctime="300000000000"),
    ]
    with ReplayProxy() as proxy:
        proxy.add(GOOD.https_url, GOOD.page)
        for item in bad:
            proxy.add(item["url"], SEED.page)
        RollApi({("155", "1686"): [GOOD.item, *bad]}).install(proxy)
        first = run_crawl(proxy.url, tmp_path, "sections=china")
        proxy.reset_log()
        second = run_crawl(proxy.url, tmp_path, "sections=china")
        second_articles = [url for url in proxy.urls() if "doc-i" in url]
    for run in (first, second):
        assert run.returncode == 0, run.log[-3000:]
        assert run.stat("sina/skipped/bad_field") == 3
        assert "Traceback" not in run.log
    assert files_under(tmp_path / "posts") == {GOOD.expected_path: GOOD.expected}
    assert second_articles == [], "skipped at the listing: never fetched, never failing"
    assert "Roll item skipped (bad_field)" in first.log and "lone surrogate" in first.log


def _pathological_attributes(count: int) -> bytes:
    attributes = " ".join(f"a{n}=1" for n in range(count))
    return f"<html><body><div id='artibody'><p {attributes}>x</p></div></body></html>".encode()


def _pathological_nesting(depth: int) -> bytes:
    return (
        "<html><body><div id='artibody'>" + "<div>" * depth + "deep" + "</div>" * depth + "</div></body></html>"
    ).encode()


def test_pathological_pages_are_bounded(tmp_path: Path) -> None:
    """200,000 attributes on one element, or 100,000 nested elements, would keep the parser
    busy for minutes: the page is skipped once it has taken SINA_PARSE_TIMEOUT; 3,000 nested
    elements (deeper than Python's recursion) are written."""
    pages = {
        "attributes": _pathological_attributes(200_000),
        "nesting": _pathological_nesting(100_000),
        "deep": _pathological_nesting(3_000),
    }
    items = [GOOD.item]
    with ReplayProxy() as proxy:
        proxy.add(GOOD.https_url, GOOD.page)
        for number, (name, page) in enumerate(pages.items()):
            item = _item(f"patholo{number:07d}", f"病态{name}", 1790000000 - number)
            items.append(item)
            proxy.add(item["url"], page)
        RollApi({("155", "1686"): items}).install(proxy)
        result = run_crawl(proxy.url, tmp_path, "sections=china", settings={"SINA_PARSE_TIMEOUT": "3"}, timeout=120)
    assert result.returncode == 0, result.log[-3000:]
    files = files_under(tmp_path / "posts")
    assert files[GOOD.expected_path] == GOOD.expected
    deep = files[f"{FOLDER}/病态deep.md"].decode("utf-8")
    assert deep.count("<div>") == 3_000 + 1 and "deep" in deep
    assert sorted(files) == sorted([GOOD.expected_path, f"{FOLDER}/病态deep.md"])
    assert result.stat("sina/skipped/parse_timeout") == 2
    assert result.log.count("Article skipped (parse_timeout)") == 2
    assert "RecursionError" not in result.log and "Traceback" not in result.log


# --- plain messages for the operator's mistakes ----------------------------------------


def test_operator_mistakes_stop_the_crawl_with_one_plain_message(tmp_path: Path) -> None:
    latin1 = tmp_path / "sections.yaml"
    latin1.write_bytes("sections:\n  - id: china\n    name: caf\xe9\n".encode("latin-1"))
    with ReplayProxy() as proxy:
        argument = run_crawl(proxy.url, tmp_path / "a", "page=5")
        encoding = run_crawl(proxy.url, tmp_path / "b", settings={"SINA_SECTIONS_FILE": str(latin1)})
        not_a_folder = tmp_path / "file"
        not_a_folder.write_text("x", encoding="utf-8")
        folder = run_crawl(proxy.url, tmp_path / "c", settings={"HEXO_POSTS_DIR": str(not_a_folder / "posts")})
        assert [url for url in proxy.urls() if "doc-i" in url or "roll" in url] == []
    assert argument.returncode == 2
    assert "Not crawling: -a page=5: unknown spider argument (did you mean pages?)" in argument.log
    assert encoding.returncode == 2
    assert f"Not crawling: {latin1}: not UTF-8 text (byte 37 is 0xe9)" in encoding.log
    assert folder.returncode == 1
    (line,) = [line for line in folder.log.splitlines() if "Not crawling" in line]
    assert f"Not crawling: cannot write to the posts folder {not_a_folder / 'posts'}: " in line
    assert line.endswith("Not a directory")
    for run in (argument, encoding, folder):
        assert "Traceback" not in run.log, run.log[-3000:]


# Root writes to any folder whatever its mode: without these capabilities it does not.
AS_AN_ORDINARY_USER = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"] if os.geteuid() == 0 else []


def test_a_read_only_posts_folder_is_named(tmp_path: Path) -> None:
    posts = tmp_path / "posts"
    posts.mkdir()
    posts.chmod(0o555)
    try:
        with ReplayProxy() as proxy:
            result = run_crawl(proxy.url, tmp_path, "sections=china", prefix=AS_AN_ORDINARY_USER)
    finally:
        posts.chmod(0o755)
    assert result.returncode == 1, result.log[-3000:]
    (line,) = [line for line in result.log.splitlines() if "Not crawling" in line]
    assert f"Not crawling: cannot write to the posts folder {posts}: " in line and line.endswith("Permission denied")
    assert "Traceback" not in result.log
    assert list(posts.iterdir()) == []


@pytest.mark.hexo
def test_categories_yaml_would_misread_are_quoted(tmp_path: Path) -> None:
    sections = tmp_path / "sections.yaml"
    sections.write_text(
        "sections:\n  - id: odd\n    name: odd\n    kind: roll\n    pageid: '155'\n    lid: '1686'\n"
        "    categories: ['~', 'true', '2022-01-24']\n    author: 'null'\n",
        encoding="utf-8",
    )
    with ReplayProxy() as proxy:
        proxy.add(GOOD.https_url, GOOD.page)
        RollApi({("155", "1686"): [GOOD.item]}).install(proxy)
        result = run_crawl(proxy.url, tmp_path, "sections=odd", settings={"SINA_SECTIONS_FILE": str(sections)})
    assert result.returncode == 0, result.log[-3000:]
    (path, data) = next(iter(files_under(tmp_path / "posts").items()))
    assert path.startswith("~/true/2022-01-24/")
    text = data.decode("utf-8")
    assert "categories: \n - '~'\n - 'true'\n - '2022-01-24'\nheadimg:" in text
    assert "\nauthor: 'null'\n" in text
    (post,) = load_with_hexo(tmp_path / "posts")
    assert post["categories"] == ["~", "true", "2022-01-24"]


# --- 3. local files: only ours ---------------------------------------------------------


def test_only_our_files_are_written_or_deleted(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "victim.txt"
    victim.write_bytes(b"do not touch")
    posts = tmp_path / "posts"
    (posts / "金融" / "新浪财经").mkdir(parents=True)
    # A category folder that is a symbolic link to somewhere else.
    (posts / "金融" / "新浪财经" / "新浪财经－国內").symlink_to(outside, target_is_directory=True)
    # Files of the user's whose names look like ours once did.
    users = {posts / ".tmp-notes.md": b"mine", posts / "金融" / ".tmp-1-2.md": b"mine too"}
    for path, data in users.items():
        path.write_bytes(data)
    with ReplayProxy() as proxy:
        proxy.add(GOOD.https_url, GOOD.page)
        RollApi({("155", "1686"): [GOOD.item]}).install(proxy)
        result = run_crawl(proxy.url, tmp_path, "sections=china")
        # The lock file made a symbolic link to the victim: the next run refuses it.
        (posts / LOCK_NAME).unlink()
        (posts / LOCK_NAME).symlink_to(victim)
        locked = run_crawl(proxy.url, tmp_path, "sections=china")
    assert victim.read_bytes() == b"do not touch"
    assert sorted(p.name for p in outside.iterdir()) == ["victim.txt"]
    assert all(path.read_bytes() == data for path, data in users.items())
    assert result.stat("sina/posts/failed/unsafe_path") == 1
    assert "unsafe_path" in result.log and "is a symbolic link: not written through" in result.log
    assert locked.returncode == 1
    assert "is a symbolic link; the crawler does not write through it" in locked.log
    assert "Traceback" not in locked.log


def test_a_post_that_became_a_symlink_is_not_written_through(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"do not touch")
    with ReplayProxy() as proxy:
        proxy.add(GOOD.https_url, GOOD.page)
        RollApi({("155", "1686"): [GOOD.item]}).install(proxy)
        run_crawl(proxy.url, tmp_path, "sections=china")
        post = tmp_path / "posts" / GOOD.expected_path
        post.unlink()
        post.symlink_to(victim)
        again = run_crawl(proxy.url, tmp_path, "sections=china", "refresh=1")
    assert victim.read_bytes() == b"do not touch"
    assert post.is_symlink()
    assert again.stat("sina/posts/failed/unsafe_path") == 1
    assert not list((tmp_path / "posts" / TEMP_FOLDER).iterdir())
    with sqlite3.connect(tmp_path / "state.sqlite") as db:
        assert db.execute("SELECT count(*) FROM articles").fetchone()[0] == 1
    db.close()
    assert stat.S_ISLNK(os.lstat(post).st_mode)
