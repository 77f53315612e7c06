"""What may be fetched (crawler.net.fetch_policy), enforced on every request the
downloader sees: first requests, redirects, meta refreshes, robots.txt and images."""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy.exceptions import IgnoreRequest
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached

from crawler.config import Config
from crawler.net.fetch_policy import FetchPolicy, HostPatterns, RefusedURL
from crawler.resolver import PrivateAddressError

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler


class RefusedRequest(IgnoreRequest):
    """A request the fetch policy refuses; ``reason`` names it in stats and logs."""

    def __init__(self, reason: str, url: str) -> None:
        super().__init__(f"{reason}: {url}")
        self.reason = reason
        self.url = url


class FetchPolicyMiddleware:
    """Every request, each redirect and meta refresh of it included (they come through
    again), is checked against crawler.net.fetch_policy for its purpose (meta ``sina_fetch``)
    before anything else sees it, robots.txt included.  A refused redirect is
    ``offsite_redirect``; a refused first request is named by the policy's reason."""

    def __init__(self, policy: FetchPolicy) -> None:
        self.policy = policy

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> FetchPolicyMiddleware:
        output = Config.of(crawler).output
        return cls(FetchPolicy(image_hosts=HostPatterns.of(output.image_hosts)))

    def process_request(self, request: Request) -> None:
        try:
            hostname = self.policy.check(request.url, request.meta.get("sina_fetch")).hostname
        except RefusedURL as refused:
            redirected = bool(request.meta.get("redirect_urls"))
            raise RefusedRequest("offsite_redirect" if redirected else refused.reason, request.url) from None
        # The downloader connects where urllib's parse of the URL says: it must agree.
        if (urlparse_cached(request).hostname or "") != hostname:
            raise RefusedRequest("ambiguous_url", request.url)


class PublicAddressMiddleware:
    """A request that goes straight to its host (no proxy) is refused as
    ``private_address`` when the host's name resolves to an address that is not public.
    The crawl's resolver (crawler.resolver) refuses such names anyway; asking it here first
    gives the refusal its name, and no retry.  Runs after HttpProxyMiddleware, which
    decides whether a proxy is used (behind one, the proxy resolves the name)."""

    async def process_request(self, request: Request) -> None:
        if request.meta.get("proxy"):
            return
        host = urlparse_cached(request).hostname
        if not host:
            return
        from twisted.internet import reactor

        try:
            await maybe_deferred_to_future(reactor.resolver.getHostByName(host))
        except PrivateAddressError:
            raise RefusedRequest("private_address", request.url) from None
        except Exception:  # any other lookup failure is the download's to report
            return
