"""A resolver for end-to-end tests: the crawl's own (crawler.resolver.PublicAddressResolver),
with the lookup answered from the setting TEST_DNS (``{"name": "address"}``) instead of
the network, so a test can make a name resolve to a loopback address without any DNS.

Use with ``-s TWISTED_DNS_RESOLVER=tests.support.fake_dns.MappedResolver`` and the
name in ``no_proxy`` (behind a proxy nothing is resolved locally)."""

from __future__ import annotations

import json
from typing import Any

from twisted.internet import defer
from twisted.internet.error import DNSLookupError

from crawler.net.addresses import ip_literal
from crawler.resolver import PublicAddressResolver


class MappedResolver(PublicAddressResolver):
    names: dict[str, str]

    @classmethod
    def from_crawler(cls, crawler: Any, reactor: Any) -> MappedResolver:
        resolver = super().from_crawler(crawler, reactor)
        value = crawler.settings.get("TEST_DNS") or "{}"
        resolver.names = json.loads(value) if isinstance(value, str) else dict(value)
        return resolver

    def lookup(self, name: str, timeout: Any = ()) -> defer.Deferred[str]:
        if name in self.names:
            return defer.succeed(self.names[name])
        if ip_literal(name) is not None:
            return defer.succeed(name)
        return defer.fail(DNSLookupError(f"no test DNS entry for {name}"))
