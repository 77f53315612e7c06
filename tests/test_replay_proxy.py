"""Tests for the local replay proxy (no network access needed)."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.replay_proxy import (
    ROLL_API_PREFIX,
    CorpusCase,
    ProxyRequest,
    ProxyResponse,
    ReplayProxy,
    RollApi,
    load_corpus,
    serve_corpus,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
PYTHON = str(REPO_ROOT / ".venv" / "bin" / "python")
if not Path(PYTHON).exists():
    PYTHON = sys.executable


@pytest.fixture
def proxy() -> Iterator[ReplayProxy]:
    with ReplayProxy() as p:
        yield p


def plain_get(proxy: ReplayProxy, url: str) -> tuple[int, bytes]:
    """GET an http:// URL through the proxy with urllib."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": proxy.url, "https": proxy.url}))
    try:
        with opener.open(url, timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def tunnel(proxy: ReplayProxy, host: str = "finance.sina.com.cn") -> http.client.HTTPSConnection:
    """An HTTPS connection through a CONNECT tunnel that verifies the proxy's cert."""
    ctx = ssl.create_default_context(cafile=proxy.ca_pem_path)
    assert ctx.check_hostname
    conn = http.client.HTTPSConnection("127.0.0.1", proxy.port, context=ctx, timeout=5)
    conn.set_tunnel(host, 443)
    return conn


def https_get(proxy: ReplayProxy, host: str, path: str) -> tuple[int, bytes, http.client.HTTPResponse]:
    conn = tunnel(proxy, host)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read(), resp
    finally:
        conn.close()


# ---------------------------------------------------------------- transport


def test_plain_http_through_urllib_proxy(proxy: ReplayProxy) -> None:
    proxy.add("http://example.sina.com.cn/y?a=1", b"plain body")
    status, body = plain_get(proxy, "http://example.sina.com.cn/y?a=1")
    assert (status, body) == (200, b"plain body")
    assert proxy.urls() == ["http://example.sina.com.cn/y?a=1"]
    assert proxy.requests[0].method == "GET"
    assert proxy.requests[0].headers["host"] == "example.sina.com.cn"


def test_https_connect_tunnel_keepalive(proxy: ReplayProxy) -> None:
    proxy.add("https://finance.sina.com.cn/x.shtml", "第一".encode())
    proxy.add(
        "https://finance.sina.com.cn/z.json",
        b"{}",
        headers={"Content-Type": "application/json"},
    )
    conn = tunnel(proxy)
    try:
        conn.connect()
        cert = conn.sock.getpeercert()
        conn.request("GET", "/x.shtml")
        r1 = conn.getresponse()
        assert r1.getheader("Connection") == "keep-alive"
        assert (r1.status, r1.read()) == (200, "第一".encode())
        assert r1.getheader("Content-Type") == "text/html; charset=utf-8"
        conn.request("GET", "/z.json")
        r2 = conn.getresponse()
        assert (r2.status, r2.read()) == (200, b"{}")
        assert r2.getheader("Content-Type") == "application/json"
    finally:
        conn.close()
    assert cert is not None
    alt_names = cert["subjectAltName"]
    assert isinstance(alt_names, tuple)
    sans = {value for _, value in alt_names}
    assert {"*.sina.com.cn", "*.finance.sina.com.cn", "*.sinaimg.cn"} <= sans
    assert proxy.connections_accepted == 1  # both requests over one tunnel
    assert proxy.urls() == [
        "https://finance.sina.com.cn/x.shtml",
        "https://finance.sina.com.cn/z.json",
    ]


def test_tunnel_to_uncovered_host_gets_own_cert(proxy: ReplayProxy) -> None:
    proxy.add("https://feed.mix.sina.com.cn/ok", b"ok")
    proxy.add("https://www.example.org/ok", b"ok2")
    assert https_get(proxy, "feed.mix.sina.com.cn", "/ok")[:2] == (200, b"ok")
    assert https_get(proxy, "www.example.org", "/ok")[:2] == (200, b"ok2")


def test_tunnel_is_real_tls_signed_by_proxy_ca(proxy: ReplayProxy) -> None:
    proxy.add("https://finance.sina.com.cn/x", b"x")
    other_ca_ctx = ssl.create_default_context()  # system roots only
    conn = http.client.HTTPSConnection("127.0.0.1", proxy.port, context=other_ca_ctx, timeout=5)
    conn.set_tunnel("finance.sina.com.cn", 443)
    with pytest.raises(ssl.SSLCertVerificationError):
        conn.request("GET", "/x")
    conn.close()


def test_plain_keepalive_and_connection_close(proxy: ReplayProxy) -> None:
    proxy.add("http://a.sina.com.cn/1", b"one")
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=5)
    for _ in range(3):
        conn.request("GET", "http://a.sina.com.cn/1")
        resp = conn.getresponse()
        assert resp.read() == b"one"
        assert resp.getheader("Connection") == "keep-alive"
    conn.request("GET", "http://a.sina.com.cn/1", headers={"Connection": "close"})
    resp = conn.getresponse()
    assert resp.getheader("Connection") == "close"
    assert resp.read() == b"one"
    conn.close()
    assert proxy.connections_accepted == 1

    with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock:
        sock.sendall(b"GET http://a.sina.com.cn/1 HTTP/1.1\r\nHost: a.sina.com.cn\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):  # ends only if the server closes
            data += chunk
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    assert data.endswith(b"\r\n\r\none")


def test_request_body_with_content_length(proxy: ReplayProxy) -> None:
    seen: list[ProxyRequest] = []

    def echo(req: ProxyRequest) -> ProxyResponse:
        seen.append(req)
        return ProxyResponse(201, req.body[::-1])

    proxy.add_handler("https://finance.sina.com.cn/post", echo)
    conn = tunnel(proxy)
    conn.request("POST", "/post", body=b"abcdef")
    resp = conn.getresponse()
    assert (resp.status, resp.read()) == (201, b"fedcba")
    conn.request("GET", "/post")  # same connection still usable after a body
    resp = conn.getresponse()
    assert resp.status == 201
    resp.read()
    conn.close()
    assert [(r.method, r.body) for r in seen] == [("POST", b"abcdef"), ("GET", b"")]


def test_start_stop_lifecycle() -> None:
    proxy = ReplayProxy()
    with proxy:
        assert proxy.url == f"http://127.0.0.1:{proxy.port}"
        assert proxy.port > 0
        assert Path(proxy.ca_pem_path).read_bytes().startswith(b"-----BEGIN CERTIFICATE")
        idle = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
        thread = proxy._thread
        assert thread is not None and thread.is_alive()
    assert not thread.is_alive()
    assert idle.recv(1) == b""  # idle keep-alive connection was closed by stop()
    idle.close()
    assert not Path(proxy.ca_pem_path).exists()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", proxy.port), timeout=5)


# ---------------------------------------------------------------- routing


def test_unknown_url_is_404(proxy: ReplayProxy) -> None:
    proxy.add("http://finance.sina.com.cn/only-http", b"x")
    status, body = plain_get(proxy, "http://finance.sina.com.cn/nope")
    assert status == 404
    assert b"/nope" in body
    # no scheme folding: an http:// route does not answer https requests
    status, _, _ = https_get(proxy, "finance.sina.com.cn", "/only-http")
    assert status == 404
    assert plain_get(proxy, "http://finance.sina.com.cn/only-http")[0] == 200


def test_exact_then_no_query_fallback_and_remove(proxy: ReplayProxy) -> None:
    proxy.add("https://finance.sina.com.cn/p.shtml", b"bare")
    proxy.add("https://finance.sina.com.cn/p.shtml?v=2", b"v2")
    assert https_get(proxy, "finance.sina.com.cn", "/p.shtml?v=2")[1] == b"v2"
    assert https_get(proxy, "finance.sina.com.cn", "/p.shtml?v=3")[1] == b"bare"
    assert https_get(proxy, "finance.sina.com.cn", "/p.shtml")[1] == b"bare"
    proxy.remove("https://finance.sina.com.cn/p.shtml")
    assert https_get(proxy, "finance.sina.com.cn", "/p.shtml?v=3")[0] == 404
    assert https_get(proxy, "finance.sina.com.cn", "/p.shtml?v=2")[1] == b"v2"
    proxy.clear()
    assert https_get(proxy, "finance.sina.com.cn", "/p.shtml?v=2")[0] == 404


def test_handler_routing_with_query(proxy: ReplayProxy) -> None:
    def short(req: ProxyRequest) -> ProxyResponse:
        return ProxyResponse(body=b"short")

    def long(req: ProxyRequest) -> ProxyResponse:
        return ProxyResponse(body=json.dumps(req.query).encode(), headers={"X-Test": "long"})

    proxy.add_handler("https://finance.sina.com.cn/api/", short)
    proxy.add_handler("https://finance.sina.com.cn/api/v2/", long)
    proxy.add("https://finance.sina.com.cn/api/v2/static", b"static")

    status, body, resp = https_get(proxy, "finance.sina.com.cn", "/api/v2/get?a=1&b=x&a=2")
    assert status == 200
    assert json.loads(body) == {"a": "1", "b": "x"}
    assert resp.getheader("X-Test") == "long"
    assert https_get(proxy, "finance.sina.com.cn", "/api/v1?a=1")[1] == b"short"
    assert https_get(proxy, "finance.sina.com.cn", "/api/v2/static?q")[1] == b"static"
    assert https_get(proxy, "finance.sina.com.cn", "/other")[0] == 404


def test_handler_exception_gives_500_and_server_survives(proxy: ReplayProxy, caplog: pytest.LogCaptureFixture) -> None:
    def boom(req: ProxyRequest) -> ProxyResponse:
        raise RuntimeError("kaboom-42")

    proxy.add_handler("http://err.sina.com.cn/", boom)
    proxy.add("http://err.sina.com.cn/fine", b"fine")
    status, body = plain_get(proxy, "http://err.sina.com.cn/x")
    assert status == 500
    assert b"kaboom-42" in body
    assert "kaboom-42" in caplog.text
    assert plain_get(proxy, "http://err.sina.com.cn/fine") == (200, b"fine")


# ---------------------------------------------------------------- faults, delay, log


def test_fault_drop(proxy: ReplayProxy) -> None:
    proxy.add_handler("https://finance.sina.com.cn/drop", lambda r: ProxyResponse(fault="drop"))
    proxy.add("https://finance.sina.com.cn/ok", b"ok")
    conn = tunnel(proxy)
    conn.request("GET", "/drop")
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        conn.getresponse()
    conn.close()
    assert proxy.count("/drop") == 1
    assert https_get(proxy, "finance.sina.com.cn", "/ok")[:2] == (200, b"ok")


def test_fault_truncate(proxy: ReplayProxy) -> None:
    body = b"0123456789" * 100
    proxy.add_handler(
        "http://t.sina.com.cn/",
        lambda r: ProxyResponse(body=body, fault="truncate"),
    )
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=5)
    conn.request("GET", "http://t.sina.com.cn/big")
    resp = conn.getresponse()
    assert resp.getheader("Content-Length") == str(len(body))
    with pytest.raises(http.client.IncompleteRead) as info:
        resp.read()
    assert info.value.partial == body[: len(body) // 2]
    conn.close()


def test_delay(proxy: ReplayProxy) -> None:
    proxy.add_handler("http://slow.sina.com.cn/", lambda r: ProxyResponse(body=b"z", delay=0.3))
    proxy.add("http://fast.sina.com.cn/", b"f")
    t0 = time.monotonic()
    assert plain_get(proxy, "http://fast.sina.com.cn/") == (200, b"f")
    fast = time.monotonic() - t0
    t0 = time.monotonic()
    assert plain_get(proxy, "http://slow.sina.com.cn/x") == (200, b"z")
    slow = time.monotonic() - t0
    assert slow >= 0.3  # a lower bound: a busy machine only makes it longer
    # The same request without the delay, measured alongside (not against a fixed bound).
    assert fast < slow


def test_hold_answers_only_once_released(proxy: ReplayProxy) -> None:
    release = threading.Event()
    proxy.add_handler("http://held.sina.com.cn/", lambda r: ProxyResponse(body=b"h", hold=release))
    proxy.add("http://other.sina.com.cn/", b"o")
    answers: list[tuple[int, bytes]] = []
    client = threading.Thread(target=lambda: answers.append(plain_get(proxy, "http://held.sina.com.cn/x")))
    client.start()
    for _ in range(3000):  # the request has arrived ...
        if proxy.count("held.sina.com.cn"):
            break
        time.sleep(0.01)
    assert proxy.count("held.sina.com.cn") == 1
    assert plain_get(proxy, "http://other.sina.com.cn/") == (200, b"o")
    assert answers == []  # ... other requests are answered, this one waits
    release.set()
    client.join(timeout=30)
    assert answers == [(200, b"h")]


def test_request_log_count_and_reset(proxy: ReplayProxy) -> None:
    proxy.add("http://log.sina.com.cn/a", b"a")
    for path in ("/a", "/a?x=1", "/b"):
        plain_get(proxy, "http://log.sina.com.cn" + path)
    https_get(proxy, "finance.sina.com.cn", "/a")
    assert len(proxy.requests) == 4
    assert proxy.count("log.sina.com.cn/a") == 2
    assert proxy.count("/a") == 3
    assert proxy.count("https://") == 1
    assert proxy.count("nothing-like-this") == 0
    proxy.reset_log()
    assert proxy.requests == []
    assert proxy.count("/a") == 0


def test_proxy_request_query() -> None:
    req = ProxyRequest("GET", "https://h/p?a=1&a=2&b=&c=%E4%B8%AD", {}, b"")
    assert req.query == {"a": "1", "b": "", "c": "中"}
    assert ProxyRequest("GET", "https://h/p", {}, b"").query == {}


# ---------------------------------------------------------------- roll API


def _items(n: int) -> list[dict[str, Any]]:
    return [{"docid": f"d{i}", "ctime": str(2000 - i)} for i in range(n)]


def roll_get(proxy: ReplayProxy, query: str) -> dict[str, Any]:
    status, body, resp = https_get(proxy, "feed.mix.sina.com.cn", "/api/roll/get?" + query)
    assert status == 200
    assert resp.getheader("Content-Type") == "application/json; charset=utf-8"
    envelope: dict[str, Any] = json.loads(body)
    return envelope


def test_roll_api_paging(proxy: ReplayProxy) -> None:
    api = RollApi({("155", "1686"): _items(120)}).install(proxy)
    assert api.prefix == ROLL_API_PREFIX

    doc = roll_get(proxy, "pageid=155&lid=1686&num=10&page=2&_=123")["result"]
    assert doc["status"] == {"code": 0, "msg": "succ"}
    assert [it["docid"] for it in doc["data"]] == [f"d{i}" for i in range(10, 20)]
    assert (doc["total"], doc["start"], doc["end"], doc["lid"]) == (
        120,
        1990,
        1981,
        1686,
    )
    for key in ("top", "pdps", "cre"):
        assert doc[key] == []
    assert isinstance(doc["timestamp"], str) and isinstance(doc["rtime"], float)

    default = roll_get(proxy, "pageid=155&lid=1686")["result"]
    assert len(default["data"]) == 50 and default["data"][0]["docid"] == "d0"
    clamped = roll_get(proxy, "pageid=155&lid=1686&num=100&page=3")["result"]
    assert [it["docid"] for it in clamped["data"]] == [f"d{i}" for i in range(100, 120)]
    past_end = roll_get(proxy, "pageid=155&lid=1686&num=50&page=4")["result"]
    assert (past_end["data"], past_end["start"], past_end["end"]) == ([], 0, 0)

    unknown = roll_get(proxy, "pageid=155&lid=9999&num=10&page=1")
    assert unknown == {"result": {"status": {"code": 1, "msg": "lid not found"}, "data": []}}

    api.listings[("155", "1686")][0] = {"docid": "changed", "ctime": "3000"}
    doc = roll_get(proxy, "pageid=155&lid=1686&num=1")["result"]
    assert doc["data"] == [{"docid": "changed", "ctime": "3000"}]


# ---------------------------------------------------------------- corpus


def _write_case(root: Path, name: str, url: str, ctime: str) -> None:
    d = root / name
    d.mkdir()
    (d / "page.html").write_bytes(f"<html>{name}</html>".encode())
    (d / "item.json").write_text(json.dumps({"url": url, "ctime": ctime, "title": name}))
    (d / "expected.md").write_bytes(f"# {name}\n".encode())
    (d / "expected_path.txt").write_text(f"2016/{name}.md\n")


def test_load_and_serve_corpus(proxy: ReplayProxy, tmp_path: Path) -> None:
    _write_case(tmp_path, "a", "http://finance.sina.com.cn/a/doc-a.shtml?cre=x&r=9", "100")
    _write_case(tmp_path, "b", "https://finance.sina.com.cn/b/doc-b.shtml", "300")
    (tmp_path / "README.txt").write_text("not a case")
    cases = load_corpus(tmp_path)
    assert [c.name for c in cases] == ["a", "b"]
    assert isinstance(cases[0], CorpusCase)
    assert cases[0].expected_path == "2016/a.md"
    assert cases[0].expected == b"# a\n"

    api = serve_corpus(proxy, cases)
    host = "finance.sina.com.cn"
    assert https_get(proxy, host, "/a/doc-a.shtml?cre=x&r=9")[1] == b"<html>a</html>"
    assert https_get(proxy, host, "/a/doc-a.shtml")[1] == b"<html>a</html>"
    assert https_get(proxy, host, "/b/doc-b.shtml?foo")[1] == b"<html>b</html>"
    assert plain_get(proxy, "http://finance.sina.com.cn/a/doc-a.shtml")[0] == 404
    doc = roll_get(proxy, "pageid=155&lid=1686&num=50&page=1")["result"]
    assert [it["title"] for it in doc["data"]] == ["b", "a"]
    assert api.listings[("155", "1686")][0]["title"] == "b"


def test_real_corpus_loads(corpus_cases: tuple[CorpusCase, ...]) -> None:
    assert corpus_cases
    for case in corpus_cases:
        assert case.page and case.expected and case.item["url"].startswith("http")
        assert case.expected_path and not case.expected_path.endswith("\n")


def test_cli_serves_corpus(tmp_path: Path) -> None:
    _write_case(tmp_path, "c", "http://finance.sina.com.cn/c.shtml", "5")
    proc = subprocess.Popen(
        [PYTHON, "-m", "tests.support.replay_proxy", "--corpus", str(tmp_path)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("proxy listening on http://127.0.0.1:")
        port = int(line.rsplit(":", 1)[1])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "http://finance.sina.com.cn/c.shtml")  # http not served
        assert conn.getresponse().status == 404
        conn.close()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            _, stderr = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGUSR1)  # faulthandler: every thread's stack to stderr
            time.sleep(1)
            proc.kill()
            _, stderr = proc.communicate()
            pytest.fail(f"the proxy did not stop within 10 s of SIGINT; its stderr:\n{stderr}")
    assert proc.returncode == 0, stderr


# ---------------------------------------------------------------- real Scrapy crawl

SPIDER = """
import scrapy


class ReplaySpider(scrapy.Spider):
    name = "replay"
    start_urls = [
        "https://finance.sina.com.cn/x.shtml",
        "http://example.sina.com.cn/y",
    ]
    custom_settings = {
        "TELNETCONSOLE_ENABLED": False,
        "RETRY_ENABLED": False,
        "DOWNLOAD_TIMEOUT": 10,
        "LOG_LEVEL": "INFO",
    }

    def parse(self, response):
        yield {"url": response.url, "status": response.status, "body": response.text}
"""


@pytest.mark.e2e  # a real `scrapy runspider` in a subprocess
def test_real_scrapy_crawl_through_proxy(proxy: ReplayProxy, tmp_path: Path) -> None:
    proxy.add("https://finance.sina.com.cn/x.shtml", "<p>财经 https</p>".encode())
    proxy.add("http://example.sina.com.cn/y", b"<p>plain http</p>")
    (tmp_path / "spider.py").write_text(SPIDER)
    env = {
        k: v
        for k, v in os.environ.items()
        if k.lower() not in {"http_proxy", "https_proxy", "no_proxy", "all_proxy"} and not k.startswith("SCRAPY_")
    }
    env.update(https_proxy=proxy.url, http_proxy=proxy.url)
    result = subprocess.run(
        [PYTHON, "-m", "scrapy", "runspider", "spider.py", "-O", "out.json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        check=False,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    items = json.loads((tmp_path / "out.json").read_text())
    bodies = {it["url"]: (it["status"], it["body"]) for it in items}
    assert bodies == {
        "https://finance.sina.com.cn/x.shtml": (200, "<p>财经 https</p>"),
        "http://example.sina.com.cn/y": (200, "<p>plain http</p>"),
    }
    assert proxy.count("https://finance.sina.com.cn/x.shtml") == 1
    assert proxy.count("http://example.sina.com.cn/y") == 1
    assert len(proxy.requests) == 2
