"""Unit tests of the browser's confinement (issue 17, item 1): which requests a list page's
Chromium may make (crawler.net.browser_policy), the guard that aborts and counts the rest
(crawler.browser_guard, with stand-ins for Playwright's objects), and Chromium's own
proxy and host rules (crawler.browser).  End to end: test_e2e_browser_guard.py."""

from __future__ import annotations

import asyncio
import base64
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest

from crawler.browser import (
    CHROMIUM_ARGS,
    PROXY_ALIAS,
    BrowserProxy,
    browser_settings,
    confinement_args,
    host_resolver_rules,
    pac_script,
    page_request_meta,
)
from crawler.browser_guard import PREFIX, BrowserGuard
from crawler.config import ConfigError
from crawler.net.browser_policy import browser_decision
from crawler.resolver import PrivateAddressError
from tests.support.settings import project_settings

LIST = "https://finance.sina.com.cn/china/"

# (url, resource type, asked by the top frame) -> the reason it is refused, None if allowed.
DECISIONS: dict[str, tuple[str, str, bool, str | None]] = {
    "the list page": (LIST, "document", True, None),
    "its script": ("https://finance.sina.com.cn/js/list.js", "script", True, None),
    "a script on a sina.cn host": ("https://n.sina.cn/x.js", "script", True, None),
    "its feed (fetch)": ("https://feed.mix.sina.com.cn/api/roll/get?pageid=155", "fetch", True, None),
    "its feed (xhr)": ("https://finance.sina.com.cn/e2e-feed.json", "xhr", True, None),
    "a worker's fetch": ("https://finance.sina.com.cn/api", "fetch", False, None),
    "a Sina iframe": ("https://finance.sina.com.cn/frame.html", "document", False, "subframe"),
    "a Sina image": ("https://finance.sina.com.cn/a.jpg", "image", True, "resource_type"),
    "a Sina stylesheet": ("https://finance.sina.com.cn/a.css", "stylesheet", True, "resource_type"),
    "a Sina font": ("https://finance.sina.com.cn/a.woff2", "font", True, "resource_type"),
    "a Sina video": ("https://finance.sina.com.cn/a.mp4", "media", True, "resource_type"),
    "a beacon to Sina": ("https://finance.sina.com.cn/beacon", "ping", True, "resource_type"),
    "a prefetch on Sina": ("https://finance.sina.com.cn/next", "other", True, "resource_type"),
    "an event stream on Sina": ("https://finance.sina.com.cn/events", "eventsource", True, "resource_type"),
    "a manifest on Sina": ("https://finance.sina.com.cn/manifest.json", "manifest", True, "resource_type"),
    # Sina's static CDNs serve the scripts that build a list page: scripts and data only.
    "an image on Sina's CDN": ("https://n.sinaimg.cn/a.jpg", "image", True, "offsite"),
    "a script on Sina's CDN": ("https://n.sinaimg.cn/a.js", "script", True, None),
    "data on Sina's script CDN": ("https://hq.sinajs.cn/list=sh600000", "xhr", True, None),
    "a document on Sina's CDN": ("https://n.sinaimg.cn/a.html", "document", True, "offsite"),
    "a foreign script": ("https://evil.example/x.js", "script", True, "offsite"),
    "a foreign iframe": ("https://evil.example/", "document", False, "offsite"),
    "a look-alike host": ("https://finance.sina.com.cn.evil.example/x.js", "script", True, "offsite"),
    "user-info trick": ("https://evil.example\\@finance.sina.com.cn/x.js", "script", True, "backslash"),
    "user-info": ("https://user@finance.sina.com.cn/x.js", "script", True, "user_info"),
    "scrapyd on loopback": ("http://127.0.0.1:6800/schedule.json", "fetch", True, "odd_port"),
    "loopback, usual port": ("http://127.0.0.1/schedule.json", "fetch", True, "private_address"),
    "loopback in hex": ("http://0x7f.1/", "xhr", True, "private_address"),
    "IPv6 loopback": ("http://[::1]/", "fetch", True, "private_address"),
    "the metadata service": ("http://169.254.169.254/latest/meta-data/", "fetch", True, "private_address"),
    "a private iframe": ("http://10.0.0.1/", "document", False, "private_address"),
    "a Sina page on an odd port": ("https://finance.sina.com.cn:8443/x.js", "script", True, "odd_port"),
    "a data URL": ("data:text/javascript,alert(1)", "script", True, "not_http"),
    "a WebSocket URL": ("wss://finance.sina.com.cn/ws", "websocket", True, "not_http"),
    "no URL": ("http://", "fetch", True, "bad_url"),
}


@pytest.mark.parametrize(("url", "resource_type", "top_frame", "reason"), DECISIONS.values(), ids=DECISIONS.keys())
def test_browser_decision(url: str, resource_type: str, top_frame: bool, reason: str | None) -> None:
    decision = browser_decision(url, resource_type, top_frame=top_frame)
    assert decision.reason == reason
    assert decision.allowed is (reason is None)


def test_an_allowed_request_names_its_host() -> None:
    assert browser_decision("https://Finance.Sina.com.cn/x.js", "script", top_frame=True).host == "finance.sina.com.cn"


# --- the guard -----------------------------------------------------------------------


@dataclass
class FakeFrame:
    page: Any
    parent_frame: Any = None
    url: str = LIST


@dataclass
class FakeRequest:
    url: str
    resource_type: str
    frame_of: FakeFrame | None

    @property
    def frame(self) -> FakeFrame:
        if self.frame_of is None:
            raise RuntimeError("Service Worker requests do not have an associated frame")
        return self.frame_of


@dataclass(eq=False)
class FakeContext:
    routes: list[tuple[Any, Any]] = field(default_factory=list)

    async def route(self, url: Any, handler: Any) -> None:
        self.routes.append((url, handler))


@dataclass(eq=False)
class FakePage:
    context: FakeContext
    websocket_routes: list[tuple[Any, Any]] = field(default_factory=list)
    listeners: dict[str, Any] = field(default_factory=dict)

    async def route_web_socket(self, url: Any, handler: Any) -> None:
        self.websocket_routes.append((url, handler))

    def on(self, event: str, handler: Any) -> None:
        self.listeners[event] = handler


def _guard(direct: bool = False, addresses: dict[str, str] | None = None) -> tuple[BrowserGuard, Counter[str]]:
    counts: Counter[str] = Counter()
    addresses = addresses or {}

    async def resolve(host: str) -> str:
        if host not in addresses:
            raise OSError(f"no answer for {host}")
        if addresses[host].startswith("10."):
            raise PrivateAddressError(f"{host} resolves to {addresses[host]}")
        return addresses[host]

    return BrowserGuard(lambda key: counts.update([key]), direct=direct, resolve=resolve), counts


def _aborted(counts: Counter[str]) -> dict[str, int]:
    return {key.removeprefix(PREFIX): value for key, value in counts.items()}


def test_the_guard_aborts_and_counts_by_reason() -> None:
    guard, counts = _guard()
    page = FakePage(FakeContext())

    async def scenario() -> list[bool]:
        await guard.confine_page(page)  # type: ignore[arg-type]
        top, iframe = FakeFrame(page), FakeFrame(page, parent_frame=object())
        requests = [
            FakeRequest(LIST, "document", top),
            FakeRequest("https://finance.sina.com.cn/list.js", "script", top),
            FakeRequest("http://127.0.0.1:6800/schedule.json", "fetch", top),
            FakeRequest("http://169.254.169.254/latest/meta-data/", "fetch", top),
            FakeRequest("https://evil.example/x.js", "script", top),
            FakeRequest("https://finance.sina.com.cn/frame.html", "document", iframe),
            FakeRequest("https://finance.sina.com.cn/a.png", "image", top),
            FakeRequest("https://finance.sina.com.cn/sw.js", "script", None),  # no frame
        ]
        return [await guard.abort_request(request) for request in requests]  # type: ignore[arg-type]

    assert asyncio.run(scenario()) == [False, False, True, True, True, True, True, False]
    assert _aborted(counts) == {
        "odd_port": 1,
        "private_address": 1,
        "offsite": 1,
        "subframe": 1,
        "resource_type": 1,
    }


def test_a_page_the_guard_did_not_confine_gets_nothing() -> None:
    guard, counts = _guard()
    page = FakePage(FakeContext())
    request = FakeRequest(LIST, "document", FakeFrame(page))
    assert asyncio.run(guard.abort_request(request)) is True  # type: ignore[arg-type]
    assert _aborted(counts) == {"unconfined": 1}


def test_confining_a_page_refuses_websockets_popups_and_downloads() -> None:
    guard, counts = _guard()
    context = FakeContext()
    first, second = FakePage(context), FakePage(context)

    async def confine() -> None:
        await guard.confine_page(first)  # type: ignore[arg-type]
        await guard.confine_page(second)  # type: ignore[arg-type]

    asyncio.run(confine())
    ((matcher, _),) = first.websocket_routes
    assert matcher("ws://127.0.0.1:6800/") and matcher("wss://finance.sina.com.cn/")
    assert set(first.listeners) == {"popup", "download"}
    assert len(context.routes) == 1  # once a context: it catches what no page route does

    @dataclass
    class FakeWebSocket:
        url: str
        closed: list[int] = field(default_factory=list)

        async def close(self, *, code: int, reason: str) -> None:
            self.closed.append(code)

    @dataclass
    class FakeRoute:
        aborted: bool = False

        async def abort(self) -> None:
            self.aborted = True

    websocket, route = FakeWebSocket("ws://127.0.0.1:6800/"), FakeRoute()
    asyncio.run(first.websocket_routes[0][1](websocket))
    asyncio.run(context.routes[0][1](route, FakeRequest("http://127.0.0.1:6800/popup", "document", None)))
    assert websocket.closed == [1008] and route.aborted
    assert _aborted(counts) == {"websocket": 1, "popup": 1}


def test_direct_the_host_must_resolve_to_a_public_address() -> None:
    addresses = {"finance.sina.com.cn": "202.108.33.60", "intranet.finance.sina.com.cn": "10.0.0.8"}
    guard, counts = _guard(direct=True, addresses=addresses)
    behind_proxy, proxy_counts = _guard(direct=False, addresses=addresses)
    page = FakePage(FakeContext())

    async def ask(guard: BrowserGuard, url: str) -> bool:
        await guard.confine_page(page)  # type: ignore[arg-type]
        return await guard.abort_request(FakeRequest(url, "fetch", FakeFrame(page)))  # type: ignore[arg-type]

    assert asyncio.run(ask(guard, "https://finance.sina.com.cn/feed")) is False
    assert asyncio.run(ask(guard, "https://intranet.finance.sina.com.cn/secret")) is True
    # No answer at all: Chromium's own lookup fails the same way.
    assert asyncio.run(ask(guard, "https://nowhere.sina.com.cn/feed")) is False
    assert _aborted(counts) == {"private_address": 1}
    # Behind a proxy, the proxy resolves names (as for Scrapy's requests).
    assert asyncio.run(ask(behind_proxy, "https://intranet.finance.sina.com.cn/secret")) is False
    assert not proxy_counts


# --- Chromium's proxy and host rules ---------------------------------------------------


def test_proxy_servers() -> None:
    assert BrowserProxy.parse("http://127.0.0.1:8899") == BrowserProxy("PROXY", "127.0.0.1", 8899)
    assert BrowserProxy.parse("proxy.corp:3128") == BrowserProxy("PROXY", "proxy.corp", 3128)
    assert BrowserProxy.parse("https://proxy.corp") == BrowserProxy("HTTPS", "proxy.corp", 443)
    assert BrowserProxy.parse("socks5://[::1]:1080") == BrowserProxy("SOCKS5", "[::1]", 1080)
    assert BrowserProxy.parse("http://user:secret@proxy.corp:8080") == BrowserProxy("PROXY", "proxy.corp", 8080)
    with pytest.raises(ConfigError, match=r"ftp://proxy\.corp"):
        BrowserProxy.parse("ftp://proxy.corp")


def test_the_pac_script_sends_only_sina_through_the_proxy() -> None:
    script = pac_script(BrowserProxy("PROXY", "127.0.0.1", 8899))
    assert f'return "PROXY {PROXY_ALIAS}:8899"' in script
    for test in (
        'host == "sina.com.cn"',
        'dnsDomainIs(host, ".sina.com.cn")',
        'dnsDomainIs(host, ".sina.cn")',
        'dnsDomainIs(host, ".sinaimg.cn")',  # Sina's script CDNs
        'dnsDomainIs(host, ".sinajs.cn")',
    ):
        assert test in script
    assert script.rstrip().endswith('return "DIRECT";\n}')
    assert "127.0.0.1" not in script  # the proxy's address is only in the host rules


def test_host_rules() -> None:
    proxy = BrowserProxy("PROXY", "127.0.0.1", 8899)
    assert host_resolver_rules(proxy) == f"MAP {PROXY_ALIAS} 127.0.0.1, MAP * ~NOTFOUND"
    assert host_resolver_rules(None) == (
        "MAP * ~NOTFOUND, EXCLUDE *.sina.com.cn, EXCLUDE sina.com.cn, EXCLUDE *.sina.cn, EXCLUDE sina.cn,"
        " EXCLUDE *.sinaimg.cn, EXCLUDE sinaimg.cn, EXCLUDE *.sinajs.cn, EXCLUDE sinajs.cn"
    )
    # Rules of your own come first, and take the place of Sina's names.
    assert host_resolver_rules(None, ["MAP finance.sina.com.cn 127.0.0.1:8080", " "]) == (
        "MAP finance.sina.com.cn 127.0.0.1:8080, MAP * ~NOTFOUND"
    )


def test_confinement_args_replace_any_proxy_switch() -> None:
    given = [
        *CHROMIUM_ARGS,
        "--proxy-server=http://elsewhere:1",
        "--proxy-bypass-list=*",
        "--host-resolver-rules=MAP a b",
    ]
    direct = confinement_args(given, None)
    assert direct[: len(CHROMIUM_ARGS)] == list(CHROMIUM_ARGS)
    assert direct[len(CHROMIUM_ARGS) :] == ["--no-proxy-server", "--host-resolver-rules=MAP a b, MAP * ~NOTFOUND"]
    proxied = confinement_args(CHROMIUM_ARGS, BrowserProxy("PROXY", "127.0.0.1", 8899))
    pac_url, rules = proxied[len(CHROMIUM_ARGS) :]
    prefix = "--proxy-pac-url=data:application/x-ns-proxy-autoconfig;base64,"
    assert pac_url.startswith(prefix)
    assert base64.b64decode(pac_url.removeprefix(prefix)).decode() == pac_script(
        BrowserProxy("PROXY", "127.0.0.1", 8899)
    )
    assert rules == f"--host-resolver-rules=MAP {PROXY_ALIAS} 127.0.0.1, MAP * ~NOTFOUND"


def test_browser_settings() -> None:
    environ = {"HTTPS_PROXY": "http://127.0.0.1:8899", "no_proxy": "finance.sina.com.cn"}
    settings, guard = browser_settings(project_settings(), lambda key: None, environ)
    launch = settings["PLAYWRIGHT_LAUNCH_OPTIONS"]
    assert "proxy" not in launch  # the PAC script is the proxy setting
    assert any(arg.startswith("--proxy-pac-url=") for arg in launch["args"])
    assert settings["PLAYWRIGHT_ABORT_REQUEST"] == guard.abort_request
    assert guard.direct is False
    # PLAYWRIGHT_LAUNCH_OPTIONS' proxy wins over the environment's; None is none.
    given = project_settings({"PLAYWRIGHT_LAUNCH_OPTIONS": json.dumps({"proxy": None, "args": ["--no-sandbox"]})})
    settings, guard = browser_settings(given, lambda key: None, environ)
    assert settings["PLAYWRIGHT_LAUNCH_OPTIONS"]["args"] == [
        "--no-sandbox",
        "--no-proxy-server",
        "--host-resolver-rules=" + host_resolver_rules(None),
    ]
    assert guard.direct is True
    meta = page_request_meta(guard, ignore_https_errors=False)
    assert meta["playwright_context_kwargs"] == {
        "ignore_https_errors": False,
        "service_workers": "block",
        "accept_downloads": False,
    }
    assert meta["playwright_page_init_callback"] == guard.confine_page
