"""List sections end to end, through the real `scrapy crawl sina_finance` and the
replay proxy: a server-rendered column page (plain HTTP, no browser), a run of roll
sections only (no browser either), a list page whose links only JavaScript builds
(Debian's Chromium through scrapy-playwright, articles still fetched with plain HTTP),
and a list page that answers 404.

Needs /usr/bin/chromium (Debian: `apt-get install -y chromium`)."""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from crawler.settings import USER_AGENT
from tests.conftest import RECORDED, corpus_case
from tests.support.crawl import CrawlResult, files_under, run_crawl
from tests.support.replay_proxy import (
    ProxyRequest,
    ProxyResponse,
    ReplayProxy,
    serve_corpus,
)

pytestmark = pytest.mark.e2e

GOLDEN = corpus_case("nitmeau2811260")  # dated by article:published_time, the same instant as the API's intime
SEED = corpus_case("seed-haiguan")  # template of the synthetic articles
RECORDED_COLUMN = RECORDED / "finance.sina.com.cn_roll_c_56592.EXCERPT.html"
CHROMIUM = Path("/usr/bin/chromium")

CATEGORIES = ("金融", "新浪财经", "新浪财经－国內")  # the golden posts' folders
FOLDER = "/".join(CATEGORIES) + "/"
COLUMN_CID = "56592"
COLUMN_URL = f"https://finance.sina.com.cn/roll/c/{COLUMN_CID}.shtml"
LIST_URL = "https://finance.sina.com.cn/china/"
FEED_URL = "https://finance.sina.com.cn/china/e2e-feed.json"
IMAGE_URL = "https://n.sinaimg.cn/finance/e2e/list-banner.jpg"
FONT_URL = "https://finance.sina.com.cn/e2e/fonts/list.woff2"

SEED_TITLE = "2022年全国海关工作会议在北京召开"
SEED_PUBLISHED = "2022-01-24T19:02:07+08:00"
SEED_DATE_LINE = "date: Mon, 24 Jan 2022 11:02:07 GMT\n"


@dataclass(frozen=True)
class Synthetic:
    """The seed page under another URL, title and article:published_time; its post is
    the seed's golden post with that title and date."""

    url: str
    title: str
    published: str  # article:published_time, Beijing time
    date_line: str  # the post's `date:` line

    @property
    def page(self) -> bytes:
        text = SEED.page.decode("utf-8")
        assert text.count(SEED_PUBLISHED) == 1
        return text.replace(SEED_TITLE, self.title).replace(SEED_PUBLISHED, self.published).encode("utf-8")

    @property
    def expected(self) -> bytes:
        text = SEED.expected.decode("utf-8")
        title_line = f"title: '{SEED_TITLE}'\n"
        assert text.count(title_line) == 1 and text.count(SEED_DATE_LINE) == 1 and text.count(SEED_TITLE) == 1
        return text.replace(title_line, f"title: '{self.title}'\n").replace(SEED_DATE_LINE, self.date_line).encode()

    @property
    def path(self) -> str:
        return FOLDER + self.title + ".md"


def _sections_file(work: Path, *sections: str) -> Path:
    work.mkdir(parents=True, exist_ok=True)
    path = work / "sections.yaml"
    path.write_text("sections:\n" + "".join(sections), encoding="utf-8")
    return path


def _column_section(section_id: str = "col-test", cid: str = COLUMN_CID) -> str:
    return (
        f"  - id: {section_id}\n    name: 上市公司\n    kind: column\n    cid: '{cid}'\n"
        f"    categories: [{', '.join(CATEGORIES)}]\n    author: 新浪财经\n"
    )


def _page_section(section_id: str = "page-test", url: str = LIST_URL) -> str:
    # wait_for left out: the default (a[href*="/doc-i"]) is what is tested.
    return (
        f"  - id: {section_id}\n    name: 国内\n    kind: page\n    url: {url}\n"
        f"    categories: [{', '.join(CATEGORIES)}]\n    author: 新浪财经\n"
    )


def _assert_no_browser(result: CrawlResult) -> None:
    assert not [key for key in result.stats if key.startswith("playwright/")], "a browser was started"
    assert "Starting download handler" not in result.log
    # DOWNLOAD_HANDLERS untouched: scrapy-playwright's handler (not lazy) logs as soon as it
    # is installed, before any browser.  ("Overridden settings" cannot tell: Scrapy leaves
    # dict settings and its unknown PLAYWRIGHT_* out of that line, and LOG_FILE_APPEND=False
    # loses it when the root log handler is installed again after the spider is created.)
    assert "scrapy-playwright" not in result.log and "scrapy_playwright" not in result.log
    assert "playwright" not in result.log.lower()


def _requests_to(proxy: ReplayProxy, url: str) -> list[ProxyRequest]:
    return [request for request in proxy.requests if request.url_without_query == url]


def _is_plain_scrapy_request(request: ProxyRequest) -> bool:
    """Scrapy's own downloader: the project's User-Agent and none of a browser's
    sec-fetch-* / sec-ch-ua* headers."""
    browser_headers = [name for name in request.headers if name.startswith(("sec-fetch-", "sec-ch-ua"))]
    return request.headers.get("user-agent") == USER_AGENT and not browser_headers


# --- 1. column page: server-rendered, plain HTTP ------------------------------------

_RECORDED_ITEM = re.compile(r'<li><a href="([^"]+)" target="_blank">([^<]+)</a><span>\(([^)]+)\)</span></li>')


def _recorded_column() -> tuple[str, list[tuple[str, str, str]], str]:
    """(markup before the list's items, the recorded items (url, title, shown time), after)."""
    text = RECORDED_COLUMN.read_text(encoding="utf-8")
    opening = '<ul class="list_009" id="listcontent" style="display: none;">'
    before, rest = text.split(opening, 1)
    items, after = rest.split("</ul>", 1)
    recorded = _RECORDED_ITEM.findall(items)
    assert len(recorded) == items.count("<li>") == 16, "the recorded excerpt changed"
    return before + opening + "\n", recorded, "\n</ul>" + after


def _column_page(entries: list[tuple[str, str, str]]) -> bytes:
    """A column page in the recorded markup: hidden ul#listcontent, `<li><a>…</a><span>(…)</span></li>`."""
    before, _, after = _recorded_column()
    items = "\t".join(
        f'<li><a href="{url}" target="_blank">{title}</a><span>({shown})</span></li>' for url, title, shown in entries
    )
    head = (
        '<!DOCTYPE html>\n<html>\n<head>\n<meta http-equiv="Content-type" content="text/html; charset=utf-8" />\n'
        "<title>上市公司_新浪财经_新浪网</title>\n</head>\n<body>\n"
        '<div class="pagebox"><span class="pagebox_num"><a href="?page=2">2</a></span></div>\n'
    )
    return (head + before + items + after + "\n</body>\n</html>\n").encode("utf-8")


def test_column_page_is_read_without_a_browser(tmp_path: Path) -> None:
    _, recorded, _ = _recorded_column()
    by_id = {url.rsplit("-i", 1)[1].split(".", 1)[0]: (url, title, shown) for url, title, shown in recorded}
    # Two recorded links (real URLs, titles and times), served as synthetic article pages.
    first = Synthetic(
        *by_id["nitkxut8383109"][:2], "2026-09-28T21:18:03+08:00", "date: Mon, 28 Sep 2026 13:18:03 GMT\n"
    )
    second = Synthetic(
        *by_id["nitkxuw2874051"][:2], "2026-09-28T21:17:42+08:00", "date: Mon, 28 Sep 2026 13:17:42 GMT\n"
    )
    mobile = by_id["nitkpex8566217"]  # finance.sina.cn …/detail-i….d.html: not an article page
    assert urlsplit(mobile[0]).hostname == "finance.sina.cn"
    undated = by_id["nitkxuw2883208"]
    undated_url = undated[0].replace("/2026-09-28/", "/")  # a doc-i link, but no date in its path
    entries = [
        (GOLDEN.https_url, GOLDEN.item["title"], "09月28日 23:20"),
        by_id["nitkxut8383109"],
        mobile,
        (undated_url, *undated[1:]),
        by_id["nitkxuw2874051"],
    ]
    page = _column_page(entries)
    sections = _sections_file(tmp_path, _column_section())
    with ReplayProxy() as proxy:
        proxy.add(COLUMN_URL, page)
        proxy.add(GOLDEN.https_url, GOLDEN.page)
        for article in (first, second):
            proxy.add(article.url, article.page)
        # Were they fetched, these would be found: skipping them is the spider's decision.
        proxy.add(mobile[0], SEED.page)
        proxy.add(undated_url, SEED.page)
        result = run_crawl(proxy.url, tmp_path, settings={"SINA_SECTIONS_FILE": str(sections)})
        requested = proxy.urls()
        column_requests = _requests_to(proxy, COLUMN_URL)

    assert result.returncode == 0, result.log[-3000:]
    posts = files_under(tmp_path / "posts")
    assert posts == {GOLDEN.expected_path: GOLDEN.expected, first.path: first.expected, second.path: second.expected}
    assert result.stat("sina/posts/new") == 3
    assert result.stat("sina/articles/parsed") == 3
    assert result.stat("sina/section/col-test/listed") == 3
    assert result.stat("sina/skipped/not_article") == 2
    assert result.stat("sina/section/col-test/skipped") == 2
    assert not [key for key in result.stats if key.startswith("sina/list/failed/")]
    assert mobile[0] not in requested and undated_url not in requested
    assert sorted(url for url in requested if "/doc-i" in url) == sorted([GOLDEN.https_url, first.url, second.url])
    assert len(column_requests) == 1 and _is_plain_scrapy_request(column_requests[0])
    _assert_no_browser(result)


# --- 2. roll sections only ------------------------------------------------------------


def test_roll_sections_only_start_no_browser(tmp_path: Path) -> None:
    cases = [GOLDEN, SEED]
    with ReplayProxy() as proxy:
        serve_corpus(proxy, cases, pageid="155", lid="1686")
        # The packaged sections.yaml, which also holds page sections (not selected here).
        result = run_crawl(proxy.url, tmp_path, "sections=china")
    assert result.returncode == 0, result.log[-3000:]
    assert files_under(tmp_path / "posts") == {case.expected_path: case.expected for case in cases}
    assert result.stat("sina/posts/new") == 2
    _assert_no_browser(result)


# --- 3. a list page built by JavaScript -----------------------------------------------

LIST_PAGE = f"""<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<title>国内财经_新浪财经_新浪网</title>
<style>
@font-face {{ font-family: "E2EList"; src: url("{FONT_URL}") format("woff2"); }}
body {{ font-family: "E2EList", serif; }}
</style>
</head>
<body>
<img src="{IMAGE_URL}" alt="banner" width="600" height="90">
<h1>国内财经</h1>
<p><a href="https://finance.sina.com.cn/roll/">滚动</a></p>
<ul id="feed"></ul>
<script>
// Like Sina's channel pages: the list is filled from a feed, a moment after load.
setTimeout(function () {{
  fetch("/china/e2e-feed.json", {{ headers: {{ "Accept": "application/json" }} }})
    .then(function (response) {{ return response.json(); }})
    .then(function (feed) {{
      var list = document.getElementById("feed");
      feed.items.forEach(function (item) {{
        var entry = document.createElement("li");
        var link = document.createElement("a");
        link.href = item.url;
        link.textContent = item.title;
        entry.appendChild(link);
        list.appendChild(entry);
      }});
    }});
}}, 400);
</script>
</body>
</html>
""".encode()

JS_FIRST = Synthetic(
    "https://finance.sina.com.cn/china/gncj/2026-09-28/doc-ijsbuilt0000001.shtml",
    "脚本生成的列表第一篇",
    "2026-09-28T22:05:09+08:00",
    "date: Mon, 28 Sep 2026 14:05:09 GMT\n",
)
JS_SECOND = Synthetic(
    "https://finance.sina.com.cn/china/2026-09-27/doc-ijsbuilt0000002.shtml",
    "脚本生成的列表第二篇",
    "2026-09-27T08:00:00+08:00",
    "date: Sun, 27 Sep 2026 00:00:00 GMT\n",
)


def _feed() -> bytes:
    items = [
        {"url": GOLDEN.https_url, "title": GOLDEN.item["title"]},
        {"url": JS_FIRST.url, "title": JS_FIRST.title},
        {"url": GOLDEN.https_url + "#comment", "title": "评论"},  # the same article again: fetched once
        {"url": JS_SECOND.url, "title": JS_SECOND.title},
    ]
    return json.dumps({"items": items}, ensure_ascii=False).encode("utf-8")


def _processes_with(marker: str) -> dict[int, str]:
    """Live processes whose environment carries ``marker`` (pid -> command line)."""
    found = {}
    needle = marker.encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle not in (entry / "environ").read_bytes():
                continue
            found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return found


def _chromium_pids() -> set[int]:
    """What `pgrep -f chromium` finds."""
    pids = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if b"chromium" in (entry / "cmdline").read_bytes():
                    pids.add(int(entry.name))
            except OSError:
                continue
    return pids


def _left_over(marker: str, wait: float = 60.0) -> dict[int, str]:
    """Processes started by the crawl (they carry its marker) still alive after it, given
    `wait` seconds to finish exiting (ample on a loaded machine: the wait ends as soon as
    none is left, so only a failing run waits it out)."""
    deadline = time.monotonic() + wait
    while True:
        left = _processes_with(marker)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


@dataclass
class BrowserRun:
    result: CrawlResult
    work: Path
    requests: list[ProxyRequest]
    chromium_during: dict[int, str]
    left_over: dict[int, str]
    new_chromium_pids: set[int]


ListPageSeen = Callable[[ProxyRequest], None]  # told of each request for the list page


def _browser_crawl(work: Path, sections: Path, serve: Callable[[ReplayProxy, ListPageSeen], None]) -> BrowserRun:
    """A crawl with `-s SINA_BROWSER_IGNORE_HTTPS_ERRORS=True`; every process it starts
    carries a marker in its environment, so its Chromium can be told from any other."""
    assert os.access(CHROMIUM, os.X_OK), "needs Debian's chromium: apt-get install -y chromium"
    marker = f"SINA_E2E_LISTS_RUN={uuid.uuid4().hex}"
    name, value = marker.split("=", 1)
    chromium_during: dict[int, str] = {}
    chromium_before = _chromium_pids()
    with ReplayProxy() as proxy, pytest.MonkeyPatch.context() as patch:

        def list_page_seen(request: ProxyRequest) -> None:
            # Called while the browser fetches the list page: the marker must find it.
            chromium_during.update({pid: cmd for pid, cmd in _processes_with(value).items() if "chromium" in cmd})

        serve(proxy, list_page_seen)
        patch.setenv(name, value)
        result = run_crawl(
            proxy.url,
            work,
            settings={"SINA_SECTIONS_FILE": str(sections), "SINA_BROWSER_IGNORE_HTTPS_ERRORS": "True"},
            timeout=120,
        )
        requests = list(proxy.requests)
    left = _left_over(value)
    return BrowserRun(result, work, requests, chromium_during, left, _chromium_pids() - chromium_before)


@pytest.fixture(scope="module")
def js_list_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserRun]:
    work = tmp_path_factory.mktemp("js-list")
    sections = _sections_file(work, _page_section())

    def serve(proxy: ReplayProxy, on_list_page: ListPageSeen) -> None:
        def list_page(request: ProxyRequest) -> ProxyResponse:
            on_list_page(request)
            return ProxyResponse(200, LIST_PAGE, {"Content-Type": "text/html; charset=utf-8"})

        proxy.add_handler(LIST_URL, list_page)
        proxy.add(FEED_URL, _feed(), headers={"Content-Type": "application/json; charset=utf-8"})
        # Served, so that only blocking can keep them from being fetched.
        proxy.add(IMAGE_URL, b"\xff\xd8\xff\xe0 jpeg", headers={"Content-Type": "image/jpeg"})
        proxy.add(FONT_URL, b"wOF2 font", headers={"Content-Type": "font/woff2"})
        proxy.add(GOLDEN.https_url, GOLDEN.page)
        for article in (JS_FIRST, JS_SECOND):
            proxy.add(article.url, article.page)

    yield _browser_crawl(work, sections, serve)


@pytest.mark.browser
def test_list_page_built_by_javascript(js_list_run: BrowserRun) -> None:
    run, result = js_list_run, js_list_run.result
    assert b"/doc-i" not in LIST_PAGE, "the served HTML must hold no article link: only its script builds them"
    assert result.returncode == 0, result.log[-3000:]
    assert result.stats.get("finish_reason") == "finished"

    # The posts: the golden one byte for byte, the synthetic ones too.
    posts = files_under(run.work / "posts")
    assert posts == {
        GOLDEN.expected_path: GOLDEN.expected,
        JS_FIRST.path: JS_FIRST.expected,
        JS_SECOND.path: JS_SECOND.expected,
    }
    assert result.stat("sina/section/page-test/listed") == 3
    assert result.stat("sina/posts/new") == 3
    assert not [key for key in result.stats if key.startswith(("sina/list/failed/", "sina/skipped/"))]

    # One browser; the list page, and the feed its script asked for, went through the proxy.
    assert result.stat("playwright/browser_count") == 1
    assert "Starting download handler" in result.log  # what tests 1 and 2 check the absence of
    (list_request,) = [r for r in run.requests if r.url == LIST_URL]
    assert list_request.headers.get("sec-fetch-mode") == "navigate"
    # scrapy-playwright sends Scrapy's headers on navigations (PLAYWRIGHT_PROCESS_REQUEST_HEADERS
    # default), User-Agent included: the browser is told apart by its sec-* headers.
    assert list_request.headers.get("user-agent") == USER_AGENT
    assert "Chromium" in list_request.headers.get("sec-ch-ua", "")
    (feed_request,) = [r for r in run.requests if r.url == FEED_URL]
    assert feed_request.headers.get("sec-fetch-mode") == "cors"
    assert feed_request.headers.get("referer") == LIST_URL

    # Images and fonts were asked for by the page, and blocked before the network.
    urls = [r.url for r in run.requests]
    assert IMAGE_URL not in urls and FONT_URL not in urls
    assert result.stat("playwright/request_count/resource_type/image") >= 1
    assert result.stat("playwright/request_count/resource_type/font") >= 1
    assert result.stat("playwright/request_count/aborted") >= 2

    # The articles: once each, by Scrapy's own downloader (not the browser).
    assert USER_AGENT.endswith("sina-finance-hexo/0.1")
    articles = [r for r in run.requests if "/doc-i" in r.url]
    assert sorted(r.url for r in articles) == sorted([GOLDEN.https_url, JS_FIRST.url, JS_SECOND.url])
    assert all(_is_plain_scrapy_request(r) for r in articles), [r.headers for r in articles]
    assert result.stat("playwright/request_count/navigation") == 1


@pytest.mark.browser
def test_browser_is_gone_after_the_crawl(js_list_run: BrowserRun) -> None:
    run = js_list_run
    assert run.chromium_during, "no Chromium of this crawl was seen while it fetched the list page"
    # `pgrep -f chromium` after vs before, narrowed to this crawl's processes by its marker
    # (other Chromiums, e.g. of tests running alongside, are not this test's business).
    assert run.left_over == {}, f"processes of the crawl still running: {run.left_over}"
    assert not run.new_chromium_pids & set(run.chromium_during)


@pytest.mark.browser
def test_browser_contacts_nothing_but_the_site(js_list_run: BrowserRun) -> None:
    """crawler/browser.py: "none of Chromium's own background connections"."""
    foreign = sorted(
        f"{r.method} {r.url_without_query}"
        for r in js_list_run.requests
        if not (urlsplit(r.url).hostname or "").endswith(".sina.com.cn")
    )
    assert foreign == [], f"Chromium's own requests went out through the proxy: {foreign}"


# --- 4. the list page answers 404 -----------------------------------------------------


@pytest.mark.browser
def test_list_page_404_is_counted_and_the_crawl_goes_on(tmp_path: Path) -> None:
    column_article = Synthetic(
        "https://finance.sina.com.cn/stock/s/2026-09-28/doc-inotfoun0000001.shtml",
        "列表页失败时的栏目文章",
        "2026-09-28T20:00:00+08:00",
        "date: Mon, 28 Sep 2026 12:00:00 GMT\n",
    )
    # The failing page section comes first: its failure must still release the column's articles.
    sections = _sections_file(tmp_path, _page_section(), _column_section())
    missing = b"<!DOCTYPE html><html><head><title>404</title></head><body><h1>404 Not Found</h1></body></html>"

    def serve(proxy: ReplayProxy, on_list_page: ListPageSeen) -> None:
        def list_page(request: ProxyRequest) -> ProxyResponse:
            on_list_page(request)
            return ProxyResponse(404, missing, {"Content-Type": "text/html; charset=utf-8"})

        proxy.add_handler(LIST_URL, list_page)
        proxy.add(COLUMN_URL, _column_page([(column_article.url, column_article.title, "09月28日 20:00")]))
        proxy.add(column_article.url, column_article.page)

    run = _browser_crawl(tmp_path, sections, serve)
    result = run.result
    assert result.returncode == 0, result.log[-3000:]
    assert result.stats.get("finish_reason") == "finished"
    assert len([r for r in run.requests if r.url == LIST_URL]) == 1  # a 404 is not retried
    # A 404 page has no link to wait for: the browser must not wait out its timeout.  Had it
    # waited, Playwright's wait_for_function would have raised a TimeoutError and the listing
    # would have failed as a timeout, not as http_404 (told by event, not by elapsed time).
    assert result.stat("sina/list/failed/http_404") == 1, {
        key: value for key, value in result.stats.items() if key.startswith("sina/list/")
    }
    assert not [key for key in result.stats if key.startswith("sina/list/failed/") and "404" not in key]
    assert "TimeoutError" not in result.log, result.log[-3000:]
    assert result.stat("sina/section/page-test/list_failed") == 1
    assert "Listing failed for section page-test: https://finance.sina.com.cn/china/: http_404" in result.log
    assert files_under(tmp_path / "posts") == {column_article.path: column_article.expected}
    assert run.left_over == {}
