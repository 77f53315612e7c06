"""What the browser (Chromium, for ``page`` sections) may fetch: the same hosts, ports and
public addresses as Scrapy's list requests (crawler.net.fetch_policy, purpose ``listing``),
and of those only what finding a list page's links needs: the page's own document (the top
frame's, on Sina's hosts), its scripts and its XHR/fetch calls (on Sina's hosts or Sina's
static-content CDNs, ``*.sinaimg.cn`` and ``*.sinajs.cn``, from which Sina's pages load
the scripts that build their lists).  Every other request is refused with a short,
stable reason (the stats key ``sina/browser/aborted/<reason>``):

- a reason of the fetch policy: ``offsite`` (not a Sina host), ``private_address`` (a
  literal address that is not public), ``odd_port``, ``user_info``, ``backslash``,
  ``not_http``, ``bad_url``;
- ``subframe``: a document for an iframe (or any frame but the top one);
- ``resource_type``: an image, stylesheet, font, media, beacon/ping, prefetch, manifest,
  event stream… on a Sina host.

The host is checked before the type, so a request that leaves Sina is counted as leaving
Sina whatever it is.  Pure functions, no Scrapy and no Playwright.
"""

from __future__ import annotations

from dataclasses import dataclass

from crawler.net.fetch_policy import SINA_HOSTS, HostPatterns, RefusedURL, checked_url

# Playwright's resource types (Request.resource_type) the browser may load besides the
# top document.
ALLOWED_RESOURCE_TYPES = frozenset({"script", "xhr", "fetch"})
DOCUMENT = "document"
SUBFRAME = "subframe"
RESOURCE_TYPE = "resource_type"
# Sina's own static-content CDNs: scripts and data only, never a document.
SINA_SCRIPT_CDNS = ("*.sinaimg.cn", "*.sinajs.cn")
BROWSER_HOSTS = (*SINA_HOSTS, *SINA_SCRIPT_CDNS)  # every name the browser may reach
_DOCUMENT_HOSTS = HostPatterns.of(SINA_HOSTS)
_SCRIPT_HOSTS = HostPatterns.of(BROWSER_HOSTS)


@dataclass(frozen=True, slots=True)
class BrowserDecision:
    """``reason`` is None when the request may go out; ``host`` is the host it goes to
    (as the WHATWG parse reads it), empty when the URL has none."""

    reason: str | None
    host: str = ""

    @property
    def allowed(self) -> bool:
        return self.reason is None


def browser_decision(url: str, resource_type: str, *, top_frame: bool) -> BrowserDecision:
    """May the browser fetch ``url``, a ``resource_type`` (Playwright's names), asked for by
    the top frame (``top_frame``) or by another one?"""
    hosts = _SCRIPT_HOSTS if resource_type in ALLOWED_RESOURCE_TYPES else _DOCUMENT_HOSTS
    try:
        host = checked_url(url, hosts).hostname
    except RefusedURL as refused:
        return BrowserDecision(refused.reason)
    if resource_type == DOCUMENT:
        return BrowserDecision(None if top_frame else SUBFRAME, host)
    if resource_type in ALLOWED_RESOURCE_TYPES:
        return BrowserDecision(None, host)
    return BrowserDecision(RESOURCE_TYPE, host)
