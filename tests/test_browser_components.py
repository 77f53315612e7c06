"""The browser's parts that test_browser_policy.py leaves to the end-to-end tests, here
in-process: a popup is closed, a download is cancelled and counted, a direct guard asks
the crawl's own resolver (the reactor's, TWISTED_DNS_RESOLVER), and the browser is
checked before a crawl needs it (crawler/browser.py: executable_problem)."""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import twisted.internet
from playwright.async_api import Page
from scrapy.settings import Settings
from twisted.internet import defer

from crawler.browser import executable_problem
from crawler.browser_guard import DOWNLOAD, PREFIX, BrowserGuard, crawl_resolver
from crawler.resolver import PrivateAddressError, check_public


@dataclass(eq=False)
class _Context:
    routes: list[Any] = field(default_factory=list)

    async def route(self, url: str, handler: Any) -> None:
        self.routes.append(handler)


@dataclass(eq=False)
class _Page:
    """What confine_page and a popup use of Playwright's Page."""

    context: _Context = field(default_factory=_Context)
    listeners: dict[str, Any] = field(default_factory=dict)
    closed: bool = False

    async def route_web_socket(self, url: Any, handler: Any) -> None:
        pass

    def on(self, event: str, handler: Any) -> None:
        self.listeners[event] = handler

    async def close(self) -> None:
        self.closed = True


@dataclass
class _Download:
    url: str
    cancelled: bool = False

    async def cancel(self) -> None:
        self.cancelled = True


def test_a_popup_is_closed_and_a_download_cancelled_and_counted() -> None:
    counts: Counter[str] = Counter()
    guard = BrowserGuard(lambda key: counts.update([key]), direct=False)
    page, popup = _Page(), _Page()
    download = _Download("https://finance.sina.com.cn/report.pdf")

    async def scenario() -> None:
        await guard.confine_page(page)  # type: ignore[arg-type]
        await page.listeners["popup"](popup)
        await page.listeners["download"](download)

    asyncio.run(scenario())
    assert popup.closed and download.cancelled
    assert counts == Counter({PREFIX + DOWNLOAD: 1}), "a popup's requests are counted by the context's route"


class _Resolver:
    """The reactor's resolver as the crawl installs it: the address is checked as
    crawler.resolver.PublicAddressResolver checks it."""

    def __init__(self, addresses: dict[str, str]) -> None:
        self.addresses = addresses

    def getHostByName(self, name: str) -> defer.Deferred[str]:
        try:
            return defer.succeed(check_public(name, self.addresses[name]))
        except PrivateAddressError:
            return defer.fail()


def test_a_direct_guard_asks_the_crawl_s_resolver(monkeypatch: pytest.MonkeyPatch) -> None:
    resolver = _Resolver({"finance.sina.com.cn": "202.108.33.60", "intranet.sina.com.cn": "10.1.2.3"})
    monkeypatch.setattr(twisted.internet, "reactor", SimpleNamespace(resolver=resolver), raising=False)
    assert asyncio.run(crawl_resolver("finance.sina.com.cn")) == "202.108.33.60"
    with pytest.raises(PrivateAddressError, match=r"10\.1\.2\.3"):
        asyncio.run(crawl_resolver("intranet.sina.com.cn"))
    guard = BrowserGuard(lambda key: None, direct=True)
    assert guard.resolve is crawl_resolver, "the crawl's resolver unless a test gives another"
    assert asyncio.run(guard._address_refusal("intranet.sina.com.cn")) == "private_address"
    assert asyncio.run(guard._address_refusal("finance.sina.com.cn")) is None


def _launch(path: str) -> Settings:
    return Settings({"PLAYWRIGHT_LAUNCH_OPTIONS": {"executable_path": path}})


def test_a_missing_browser_is_named_before_the_crawl(tmp_path: Path) -> None:
    missing = tmp_path / "chromium"
    assert executable_problem(_launch(str(missing))) == (
        f"no browser at {missing}: install Debian's chromium (apt-get install -y chromium)"
        " or set SINA_BROWSER_EXECUTABLE"
    )
    missing.write_text("not executable")
    assert executable_problem(_launch(str(missing))) is not None, "a file that cannot run is no browser"


def test_a_browser_that_can_run_needs_a_playwright_that_refuses_websockets(monkeypatch: pytest.MonkeyPatch) -> None:
    assert executable_problem(_launch(sys.executable)) is None
    assert executable_problem(Settings()) is None, "no path given: scrapy-playwright's own browser"
    monkeypatch.delattr(Page, "route_web_socket")
    assert executable_problem(_launch(sys.executable)) == (
        "the browser's WebSockets cannot be refused: Playwright 1.48 or later is needed"
    )
