"""URL resolution as a browser does it: WHATWG's (``new URL(value, base).href``), never
urllib's RFC 3986, so a link means in the post and in a list page what it meant on
Sina's page.  Pure functions, no Scrapy."""

from __future__ import annotations

import ada_url


def https_base(url: str) -> str:
    """A page URL upgraded to https: the base its links are resolved against (the blog
    and Sina serve https)."""
    return "https://" + url[len("http://") :] if url.startswith("http://") else url


def resolve_url(value: str, base: str) -> str:
    """WHATWG resolution (``new URL(value, base).href``); unparsable stays as is."""
    try:
        return ada_url.join_url(base, value)
    except ValueError:
        return value
