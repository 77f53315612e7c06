"""What the crawler may fetch: every URL, its redirects and its meta refreshes are checked
against the policy of what it is fetched for (request meta ``sina_fetch``).

- ``article`` and ``listing``: Sina's own hosts (``*.sina.com.cn``, ``*.sina.cn``);
- ``image`` (HEXO_IMAGES=local): the hosts of HEXO_IMAGE_HOSTS (default Sina's CDNs);
- anything else (robots.txt): any host the other purposes allow.

Hosts are read by the WHATWG URL parse that also builds the request (never by string
matching: ``https://evil.example\\@finance.sina.com.cn/`` is evil.example), and a URL
with user-info, a backslash, a port other than the scheme's own, or an address that is
not public (crawler.net.addresses) is refused whatever its host.  Names that resolve to such
an address are refused by the resolver (crawler.resolver).  Pure functions, no Scrapy.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field

import ada_url

from crawler.net.addresses import ip_literal, is_public

ARTICLE = "article"
LISTING = "listing"
IMAGE = "image"
SINA_HOSTS = ("*.sina.com.cn", "*.sina.cn")
_DEFAULT_PORTS = {"http": "80", "https": "443"}


class RefusedURL(ValueError):
    """A URL the crawler will not fetch; ``reason`` is short and stable (stats keys)."""

    def __init__(self, reason: str, url: str) -> None:
        super().__init__(f"{reason}: {url}")
        self.reason = reason
        self.url = url


@dataclass(frozen=True, slots=True)
class HostPatterns:
    """``example.com`` (that host) or ``*.example.com`` (it and every name below it)."""

    patterns: tuple[str, ...]

    @classmethod
    def of(cls, patterns: Iterable[str]) -> HostPatterns:
        return cls(tuple(pattern.strip().lower().rstrip(".") for pattern in patterns if pattern.strip()))

    def match(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        for pattern in self.patterns:
            if pattern.startswith("*."):
                domain = pattern[2:]
                if host == domain or host.endswith("." + domain):
                    return True
            elif host == pattern:
                return True
        return False

    def __add__(self, other: HostPatterns) -> HostPatterns:
        return HostPatterns(tuple(dict.fromkeys(self.patterns + other.patterns)))


_SINA = HostPatterns.of(SINA_HOSTS)


@dataclass(frozen=True, slots=True)
class CheckedURL:
    href: str  # WHATWG-serialised
    hostname: str  # lower case, as WHATWG parses it
    pathname: str


def checked_url(url: str, hosts: HostPatterns) -> CheckedURL:
    """The URL as WHATWG parses it, when it may be fetched from one of hosts; else RefusedURL."""
    if "\\" in url:
        raise RefusedURL("backslash", url)
    try:
        parts = ada_url.parse_url(url.strip())
    except ValueError:
        raise RefusedURL("bad_url", url) from None
    scheme = parts["protocol"].rstrip(":")
    if scheme not in _DEFAULT_PORTS:
        raise RefusedURL("not_http", url)
    if parts["username"] or parts["password"]:
        raise RefusedURL("user_info", url)
    if parts["port"] and parts["port"] != _DEFAULT_PORTS[scheme]:
        raise RefusedURL("odd_port", url)
    host = parts["hostname"]
    refusal = _host_refusal(host, hosts)
    if refusal is not None:
        raise RefusedURL(refusal, url)
    return CheckedURL(parts["href"], host, parts["pathname"])


@functools.lru_cache(maxsize=1024)  # a crawl asks about a few hosts, once per request
def _host_refusal(host: str, hosts: HostPatterns) -> str | None:
    """Why a URL at host (as WHATWG parses it) is refused whatever its path, or None."""
    address = ip_literal(host)
    if address is not None and not is_public(address):
        return "private_address"
    if not hosts.match(host):
        return "offsite"
    return None


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    """The hosts each purpose may fetch from: articles and listings, Sina's; images, the
    crawl's HEXO_IMAGE_HOSTS (none unless given: its default is in crawler/settings.py)."""

    image_hosts: HostPatterns = field(default_factory=lambda: HostPatterns(()))

    def hosts_for(self, purpose: str | None) -> HostPatterns:
        if purpose in (ARTICLE, LISTING):
            return _SINA
        if purpose == IMAGE:
            return self.image_hosts
        return _SINA + self.image_hosts

    def check(self, url: str, purpose: str | None) -> CheckedURL:
        return checked_url(url, self.hosts_for(purpose))
