"""Which network addresses the crawler may connect to: public unicast ones only.

A Sina name, an image host or a redirect can lead to a loopback, private, link-local,
shared, multicast or reserved address (the cloud metadata service at 169.254.169.254,
a router at 10.0.0.1); the crawler never connects there (issue 9).  IPv6 addresses that
embed an IPv4 one (mapped, NAT64, 6to4) are judged by that address.
"""

from __future__ import annotations

import ipaddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public(address: IPAddress) -> bool:
    """A global unicast address (and so is any IPv4 address it embeds)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None and not is_public(embedded):
            return False
    return address.is_global and not address.is_multicast


def ip_literal(host: str) -> IPAddress | None:
    """The address a URL's host names when it is an IP literal (``[::1]`` included);
    None for a domain name.  Give the host as a WHATWG URL parse leaves it (``0x7f.1``
    is already ``127.0.0.1`` there)."""
    text = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None
