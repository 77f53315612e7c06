"""Sina article URLs (site notes §2)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

# doc-i + publishid (7 lowercase letters + 7 digits), on any *.sina.com.cn host.
_ARTICLE_PATH = re.compile(r"/doc-i([a-z]{7}\d{7})\.shtml$")


def _is_sina_host(host: str) -> bool:
    return host == "sina.com.cn" or host.endswith(".sina.com.cn")


def article_publishid(url: str) -> str | None:
    """The publishid of a PC article URL, or None when the URL is not an article."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not _is_sina_host(parts.hostname or ""):
        return None
    match = _ARTICLE_PATH.search(parts.path)
    return match.group(1) if match else None


def article_request_url(url: str) -> str:
    """The URL the article is fetched from (and resolved against): https, no fragment."""
    parts = urlsplit(url.strip())
    return urlunsplit(("https", parts.netloc, parts.path, parts.query, ""))
