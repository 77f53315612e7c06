"""Name resolution that never hands the downloader an address that is not public.

The crawl's resolver (TWISTED_DNS_RESOLVER): Scrapy's caching resolver, but a name that
resolves to a loopback, private, link-local, multicast or reserved address
(crawler.net.addresses) fails to resolve, so no connection to it is ever opened, whatever
URL, redirect or DNS answer led there.  The proxies of the environment (``http_proxy``,
``https_proxy``) are exempt: a proxy on the local network is the user's choice.  Behind
a proxy the proxy resolves the names, not this resolver.

crawler.downloadermiddlewares.fetchpolicy.PublicAddressMiddleware asks the same resolver first, so that a
refused address is reported by name (``private_address``) and not retried.
"""

from __future__ import annotations

import urllib.request
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from scrapy.resolver import CachingThreadedResolver
from twisted.internet.error import DNSLookupError

from crawler.net.addresses import ip_literal, is_public

if TYPE_CHECKING:
    from collections.abc import Sequence

    from twisted.internet.defer import Deferred


class PrivateAddressError(DNSLookupError):
    """The name resolves to an address the crawler does not connect to."""


def proxy_hosts(proxies: dict[str, str] | None = None) -> frozenset[str]:
    """The host names of the environment's proxies (as urllib and Scrapy read them)."""
    found = set()
    for scheme, url in (urllib.request.getproxies() if proxies is None else proxies).items():
        if scheme == "no":  # no_proxy: the hosts reached without a proxy, not proxies
            continue
        host = urlsplit(url if "//" in url else f"//{url}").hostname
        if host:
            found.add(host.lower())
    return frozenset(found)


def check_public(name: str, address: str) -> str:
    ip = ip_literal(address)
    if ip is None or not is_public(ip):
        raise PrivateAddressError(f"{name} resolves to {address}, which is not a public address")
    return address


class PublicAddressResolver(CachingThreadedResolver):
    exempt: frozenset[str] = frozenset()

    def __init__(self, reactor: Any, cache_size: int, timeout: float) -> None:
        super().__init__(reactor, cache_size, timeout)
        self.exempt = proxy_hosts()

    def getHostByName(self, name: str, timeout: Sequence[int] = ()) -> Deferred[str]:
        resolved = self.lookup(name, timeout)
        if name.lower() in self.exempt:
            return resolved
        return resolved.addCallback(lambda address: check_public(name, address))

    def lookup(self, name: str, timeout: Sequence[int] = ()) -> Deferred[str]:
        """The address the name has (Scrapy's cached lookup; tests give their own)."""
        return super().getHostByName(name, timeout)
