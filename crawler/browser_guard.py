"""The browser's guard: every request a list page's Chromium makes is checked before it
leaves, by crawler.net.browser_policy (Sina's hosts, usual ports, public literal
addresses; the top document, scripts and XHR/fetch only) and, when Chromium connects
without a proxy, by the crawl's resolver (crawler.resolver: the name must resolve to a
public address).  Whatever fails is aborted and counted as ``sina/browser/aborted/<reason>``.

The guard's parts, all installed before the page asks for anything:

- ``abort_request`` is scrapy-playwright's PLAYWRIGHT_ABORT_REQUEST, asked for every
  request of the page (all its frames and dedicated workers);
- ``confine_page`` is the page's ``playwright_page_init_callback``: WebSockets refused
  (``websocket``), popups closed and every request of theirs refused (``popup``),
  downloads cancelled (``download``).  A page it has not confined (the callback failed:
  scrapy-playwright only logs that) gets nothing at all (``unconfined``).

Service workers are blocked and downloads refused by the context's options
(crawler.browser.page_request_meta); what Playwright's routes cannot see (the hops of a
redirect, a worker's WebSocket) is stopped by Chromium's own host rules
(crawler.browser.confinement_args).
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from crawler.net.browser_policy import browser_decision
from crawler.resolver import PrivateAddressError

if TYPE_CHECKING:
    from playwright.async_api import BrowserContext, Download, Page, Request, Route, WebSocketRoute

logger = logging.getLogger(__name__)

PREFIX = "sina/browser/aborted/"
PRIVATE_ADDRESS = "private_address"
UNCONFINED = "unconfined"
WEBSOCKET = "websocket"
POPUP = "popup"
DOWNLOAD = "download"
# What any news page asks for (other hosts, images, styles, iframes) is logged at DEBUG;
# the rest (an internal address, an odd port, a WebSocket, a popup…) is worth a warning.
_ROUTINE = frozenset({"offsite", "resource_type", "subframe"})

Resolve = Callable[[str], Awaitable[object]]


async def crawl_resolver(host: str) -> object:
    """The crawl's resolver (TWISTED_DNS_RESOLVER, crawler.resolver.PublicAddressResolver):
    raises PrivateAddressError for a name of an address that is not public."""
    from scrapy.utils.defer import maybe_deferred_to_future
    from twisted.internet import reactor

    return await maybe_deferred_to_future(reactor.resolver.getHostByName(host))


class BrowserGuard:
    """One crawl's guard.  ``count`` adds one to a stats key.  ``direct``: Chromium
    connects to the hosts itself (no proxy), so their names are resolved first and must be
    public (behind a proxy, the proxy resolves them, as for Scrapy's requests)."""

    def __init__(self, count: Callable[[str], object], *, direct: bool, resolve: Resolve = crawl_resolver) -> None:
        self.count = count
        self.direct = direct
        self.resolve = resolve
        self._pages: weakref.WeakSet[Page] = weakref.WeakSet()
        self._contexts: weakref.WeakSet[BrowserContext] = weakref.WeakSet()

    def aborted(self, reason: str, url: str, page_url: str = "") -> None:
        self.count(PREFIX + reason)
        level = logging.DEBUG if reason in _ROUTINE else logging.WARNING
        logger.log(level, "Browser request refused (%s): %s%s", reason, url, f" (on {page_url})" if page_url else "")

    # --- PLAYWRIGHT_ABORT_REQUEST -------------------------------------------------

    async def abort_request(self, request: Request) -> bool:
        page, top_frame, page_url = _origin(request)
        if page is not None and page not in self._pages:
            reason: str | None = UNCONFINED
        else:
            decision = browser_decision(request.url, request.resource_type, top_frame=top_frame)
            reason = decision.reason
            if reason is None and self.direct:
                reason = await self._address_refusal(decision.host)
        if reason is None:
            return False
        self.aborted(reason, request.url, page_url)
        return True

    async def _address_refusal(self, host: str) -> str | None:
        try:
            await self.resolve(host)
        except PrivateAddressError:
            return PRIVATE_ADDRESS
        except Exception:  # no answer: Chromium's own lookup fails the same way
            return None
        return None

    # --- playwright_page_init_callback -----------------------------------------------

    async def confine_page(self, page: Page, request: Any = None) -> None:
        await page.route_web_socket(lambda url: True, self._refuse_websocket)
        page.on("popup", self._close_popup)
        page.on("download", self._cancel_download)
        context = page.context
        if context not in self._contexts:
            # Page routes come first: this one sees only what no page route does, i.e.
            # the requests of pages the crawl did not open (popups).
            await context.route("**", self._refuse_popup_request)
            self._contexts.add(context)
        self._pages.add(page)  # only now may the page fetch anything

    async def _refuse_websocket(self, websocket: WebSocketRoute) -> None:
        # Never connected to a server (no connect_to_server): the page's socket only closes.
        self.aborted(WEBSOCKET, websocket.url)
        await websocket.close(code=1008, reason="refused by the crawler")

    async def _refuse_popup_request(self, route: Route, request: Request) -> None:
        self.aborted(POPUP, request.url)
        await route.abort()

    async def _close_popup(self, popup: Page) -> None:
        await popup.close()

    async def _cancel_download(self, download: Download) -> None:
        self.aborted(DOWNLOAD, download.url)
        await download.cancel()


def _origin(request: Request) -> tuple[Page | None, bool, str]:
    """The page a request is for, whether its top frame asked, and that frame's URL.
    Playwright has no frame for a service worker's request (blocked anyway), nor for a
    navigation that comes before its frame: such a request is not the top document's."""
    try:
        frame = request.frame
    except Exception:
        return None, False, ""
    return frame.page, frame.parent_frame is None, frame.url
