"""A hostile list page (issue 17, item 1), crawled through the real `scrapy crawl
sina_finance` as a `kind: page` section.  Its markup and scripts reach for a loopback
service (a stand-in for scrapyd's schedule.json: fetch() POST, sendBeacon, an iframe, a
WebSocket, a worker, a popup, a preconnect, a Sina URL that redirects there), the cloud
metadata address, a Sina name that resolves to a private address, and a script on a
foreign host.  None of it may leave Chromium; the article the page lists is still written.

Run twice: with the browser behind the replay proxy, and with no proxy at all, where
Chromium's host rules (given by the test in PLAYWRIGHT_LAUNCH_OPTIONS) send Sina's name
straight to the replay proxy as if it were Sina, and the foreign names and the metadata
address to the loopback listener, so that whatever got past the guard would be seen.

Needs /usr/bin/chromium (Debian: `apt-get install -y chromium`)."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from crawler.browser import CHROMIUM_ARGS
from crawler.browser_guard import PREFIX
from tests.support.crawl import CrawlResult, files_under, run_crawl
from tests.support.replay_proxy import ProxyResponse, ReplayProxy
from tests.test_e2e_lists import CATEGORIES, CHROMIUM, GOLDEN, Synthetic

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

ARTICLE = Synthetic(
    "https://finance.sina.com.cn/china/2026-09-29/doc-ihostile0000001.shtml",
    "敌意列表页上的文章",
    "2026-09-29T09:30:00+08:00",
    "date: Tue, 29 Sep 2026 01:30:00 GMT\n",
)
EVIL_SCRIPT = "https://evil.example/x.js"
METADATA = "http://169.254.169.254/latest/meta-data/"
INTRANET = "http://intranet.finance.sina.com.cn/secret"  # resolves to 10.0.0.8 (direct run only)
PUBLIC_ADDRESS = "202.108.33.60"  # what finance.sina.com.cn resolves to for the crawl's resolver
SINA_SUFFIXES = (".sina.com.cn", ".sina.cn")


class LoopbackListener:
    """A loopback HTTP service (scrapyd's schedule.json, say) that records every
    connection it accepts and every request line it reads, and answers 200 to anything."""

    def __init__(self) -> None:
        self.connections: list[tuple[str, int]] = []
        self.requests: list[str] = []
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def parse_request(self) -> bool:
                listener.requests.append(self.requestline)
                return super().parse_request()

            def answer(self) -> None:
                body = b'{"status": "ok"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Access-Control-Allow-Origin", "*")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_OPTIONS = answer

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def get_request(self) -> Any:
                connection, address = super().get_request()
                listener.connections.append(address)
                return connection, address

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LoopbackListener:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def hostile_page(origin: str, listener: str, direct: bool) -> bytes:
    """The list page at ``origin``/china/: a JS-built list of one article, after every
    attempt to reach elsewhere has been made."""
    loopback_ws = listener.replace("http://", "ws://")
    worker = (
        f"fetch('{listener}/from-worker', {{method: 'POST', body: 'x'}}).catch(function () {{}});"
        f"try {{ new WebSocket('{loopback_ws}/worker-ws'); }} catch (e) {{}}"
        "postMessage('tried');"
    )
    intranet = f"quietly(function () {{ return fetch('{INTRANET}'); }});" if direct else ""
    return f"""<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<title>国内财经_新浪财经_新浪网</title>
<link rel="preconnect" href="{listener}/">
<link rel="stylesheet" href="/china/e2e-hostile.css">
<script src="{EVIL_SCRIPT}"></script>
</head>
<body>
<img src="/china/e2e-banner.jpg" alt="" width="10" height="10">
<iframe src="{listener}/frame"></iframe>
<iframe src="/china/e2e-frame.html"></iframe>
<ul id="feed"></ul>
<script>
function quietly(attempt) {{
  try {{ var promise = attempt(); if (promise && promise.catch) promise.catch(function () {{}}); }} catch (e) {{}}
}}
quietly(function () {{
  return fetch("{listener}/schedule.json", {{
    method: "POST",
    headers: {{"Content-Type": "application/x-www-form-urlencoded"}},
    body: "project=sina&spider=evil"
  }});
}});
quietly(function () {{ return navigator.sendBeacon("{listener}/schedule.json", "project=sina&spider=beacon"); }});
quietly(function () {{ return fetch("http://127.0.0.1/schedule.json", {{method: "POST", body: "x"}}); }});
quietly(function () {{ return fetch("http://[::1]/schedule.json", {{method: "POST", body: "x"}}); }});
quietly(function () {{ return fetch("{METADATA}"); }});
quietly(function () {{ return fetch("/china/e2e-redirect"); }});
quietly(function () {{ return navigator.sendBeacon("/china/e2e-beacon", "x"); }});
quietly(function () {{ new WebSocket("{loopback_ws}/ws"); }});
quietly(function () {{ window.open("{listener}/popup"); }});
{intranet}
var workerDone = new Promise(function (resolve) {{
  try {{
    var blob = new Blob([{json.dumps(worker)}], {{type: "text/javascript"}});
    var worker = new Worker(URL.createObjectURL(blob));
    worker.onmessage = resolve;
    setTimeout(resolve, 3000);
  }} catch (e) {{ resolve(); }}
}});
var loaded = new Promise(function (resolve) {{ window.addEventListener("load", resolve); }});
// The links come last: the page is closed once they are there.
Promise.all([workerDone, loaded]).then(function () {{
  setTimeout(function () {{
    fetch("/china/e2e-feed.json").then(function (r) {{ return r.json(); }}).then(function (feed) {{
      feed.items.forEach(function (item) {{
        var entry = document.createElement("li"), link = document.createElement("a");
        link.href = item.url;
        link.textContent = item.title;
        entry.appendChild(link);
        document.getElementById("feed").appendChild(entry);
      }});
    }});
  }}, 1000);
}});
</script>
</body>
</html>
""".encode()


FEED = json.dumps(
    {
        "items": [
            {"url": GOLDEN.https_url, "title": GOLDEN.item["title"]},
            {"url": ARTICLE.url, "title": ARTICLE.title},
        ]
    },
    ensure_ascii=False,
).encode()


@dataclass
class HostileRun:
    direct: bool
    result: CrawlResult
    work: Path
    proxy_requests: list[str]
    proxy_connects: list[str]
    listener_connections: list[tuple[str, int]]
    listener_requests: list[str]
    list_url: str
    listener_url: str


def _crawl(work: Path, direct: bool) -> HostileRun:
    assert os.access(CHROMIUM, os.X_OK), "needs Debian's chromium: apt-get install -y chromium"
    origin = "http://finance.sina.com.cn" if direct else "https://finance.sina.com.cn"
    list_url = f"{origin}/china/"
    sections = work / "sections.yaml"
    work.mkdir(parents=True, exist_ok=True)
    sections.write_text(
        "sections:\n  - id: page-hostile\n    name: 国内\n    kind: page\n"
        f"    url: {list_url}\n    categories: [{', '.join(CATEGORIES)}]\n    author: 新浪财经\n",
        encoding="utf-8",
    )
    with LoopbackListener() as listener, ReplayProxy() as proxy:
        proxy.add(list_url, hostile_page(origin, listener.url, direct))
        proxy.add(f"{origin}/china/e2e-feed.json", FEED, headers={"Content-Type": "application/json"})
        proxy.add(f"{origin}/china/e2e-hostile.css", b"body { color: red }", headers={"Content-Type": "text/css"})
        proxy.add(f"{origin}/china/e2e-banner.jpg", b"\xff\xd8\xff\xe0", headers={"Content-Type": "image/jpeg"})
        proxy.add(f"{origin}/china/e2e-frame.html", b"<p>frame</p>")
        proxy.add(f"{origin}/china/e2e-beacon", b"")
        proxy.add_handler(
            f"{origin}/china/e2e-redirect",
            lambda request: ProxyResponse(302, b"", {"Location": f"{listener.url}/redirected"}),
        )
        # Answered, were they asked: only the browser's refusal keeps them unasked.
        proxy.add(EVIL_SCRIPT, f"fetch('{listener.url}/from-evil', {{method: 'POST'}});".encode())
        proxy.add(METADATA, b"ami-id\ninstance-id\n", headers={"Content-Type": "text/plain"})
        proxy.add(GOLDEN.https_url, GOLDEN.page)
        proxy.add(ARTICLE.url, ARTICLE.page)
        settings = {
            "SINA_SECTIONS_FILE": str(sections),
            "SINA_BROWSER_IGNORE_HTTPS_ERRORS": "True",
            "LOG_LEVEL": "DEBUG",  # the routine refusals (other hosts, images…) are DEBUG lines
        }
        if direct:
            # Chromium without a proxy (Scrapy keeps the environment's for the articles):
            # Sina's name is the replay proxy, the foreign ones the listener.
            rules = (
                f"MAP finance.sina.com.cn 127.0.0.1:{proxy.port}, "
                f"MAP evil.example 127.0.0.1:{listener.port}, MAP 169.254.169.254 127.0.0.1:{listener.port}"
            )
            launch = {"proxy": None, "args": [*CHROMIUM_ARGS, f"--host-resolver-rules={rules}"]}
            settings.update(
                PLAYWRIGHT_LAUNCH_OPTIONS=json.dumps(launch),
                TWISTED_DNS_RESOLVER="tests.support.fake_dns.MappedResolver",
                TEST_DNS=json.dumps(
                    {"finance.sina.com.cn": PUBLIC_ADDRESS, "intranet.finance.sina.com.cn": "10.0.0.8"}
                ),
            )
        result = run_crawl(proxy.url, work, settings=settings, timeout=150)
        return HostileRun(
            direct,
            result,
            work,
            proxy.urls(),
            list(proxy.connects),
            list(listener.connections),
            list(listener.requests),
            list_url,
            listener.url,
        )


@pytest.fixture(scope="module", params=["behind-proxy", "direct"])
def hostile_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostileRun]:
    yield _crawl(tmp_path_factory.mktemp(request.param), direct=request.param == "direct")


def _is_sina(host: str) -> bool:
    return host.endswith(SINA_SUFFIXES)


def test_nothing_leaves_for_another_host(hostile_run: HostileRun) -> None:
    run = hostile_run
    assert run.result.returncode == 0, run.result.log[-3000:]
    off_sina = [url for url in run.proxy_requests if not _is_sina(urlsplit(url).hostname or "")]
    assert off_sina == [], f"requests for other hosts reached the proxy: {off_sina}"
    tunnels = [target for target in run.proxy_connects if not _is_sina(target.rsplit(":", 1)[0])]
    assert tunnels == [], f"tunnels to other hosts: {tunnels}"
    # Not one connection, let alone a request: fetch, beacon, iframe, WebSocket, worker,
    # popup, preconnect, the redirect's hop (and, direct, evil.example and 169.254.169.254).
    assert run.listener_connections == [], (run.listener_connections, run.listener_requests)
    # The redirect was asked for (a Sina URL may be), and its hop went nowhere.
    assert any(url.endswith("/china/e2e-redirect") for url in run.proxy_requests)


def test_the_listed_article_is_still_written(hostile_run: HostileRun) -> None:
    result = hostile_run.result
    assert result.returncode == 0, result.log[-3000:]
    assert result.stats.get("finish_reason") == "finished"
    assert files_under(hostile_run.work / "posts") == {
        GOLDEN.expected_path: GOLDEN.expected,
        ARTICLE.path: ARTICLE.expected,
    }
    assert result.stat("sina/section/page-hostile/listed") == 2
    assert not [key for key in result.stats if key.startswith("sina/list/failed/")]


def test_every_refusal_is_counted_and_named(hostile_run: HostileRun) -> None:
    run, result = hostile_run, hostile_run.result
    aborted = {key.removeprefix(PREFIX): value for key, value in result.stats.items() if key.startswith(PREFIX)}
    print(f"aborted ({'direct' if run.direct else 'behind a proxy'}): {aborted}")
    listener, origin = run.listener_url, run.list_url.removesuffix("/china/")
    expected = {
        # The loopback service's port is not the scheme's: refused for that first.
        f"{listener}/schedule.json": "odd_port",  # fetch() POST and sendBeacon
        f"{listener}/frame": "odd_port",
        f"{listener}/from-worker": "odd_port",
        "http://127.0.0.1/schedule.json": "private_address",
        "http://[::1]/schedule.json": "private_address",
        METADATA: "private_address",
        EVIL_SCRIPT: "offsite",
        f"{origin}/china/e2e-frame.html": "subframe",
        f"{origin}/china/e2e-hostile.css": "resource_type",
        f"{origin}/china/e2e-banner.jpg": "resource_type",
        f"{origin}/china/e2e-beacon": "resource_type",
        f"{listener.replace('http://', 'ws://')}/ws": "websocket",
        f"{listener}/popup": "popup",
    }
    if run.direct:
        expected[INTRANET] = "private_address"  # the crawl's resolver says 10.0.0.8
    for url, reason in expected.items():
        assert f"Browser request refused ({reason}): {url}" in result.log, (url, reason, aborted)
    assert aborted.get("odd_port", 0) == 4
    assert aborted.get("private_address", 0) == 3 + run.direct
    assert aborted.get("resource_type", 0) == 3
    for reason in ("offsite", "subframe", "websocket", "popup"):
        assert aborted.get(reason, 0) >= 1, (reason, aborted)
    assert "unconfined" not in aborted
    # scrapy-playwright counts the aborts of the page's own route (not the popup's, nor
    # WebSockets, which never were requests).
    page_aborts = sum(aborted.values()) - aborted.get("websocket", 0) - aborted.get("popup", 0)
    assert result.stat("playwright/request_count/aborted") == page_aborts
