"""BODY of a post: the article HTML processed as spec §3 of the post format says."""

from __future__ import annotations

from dataclasses import dataclass

import ada_url
from selectolax.lexbor import LexborHTMLParser, LexborNode

from crawler.hexo.html_serializer import TreeSerializer, delete_c0, escape_attribute

IMAGE_EXTENSIONS = (".gif", ".png", ".jpg", ".webp")
REMOVED_IMG_ATTRIBUTES = ("onclick", "onerror", "onload")

_FINAL = TreeSerializer(final=True)


@dataclass(frozen=True, slots=True)
class Body:
    html: str  # BODY exactly as it goes into the post (before the {} escaping)
    first_image: str | None  # first <img> src as written in BODY, for headimg/thumbnail
    image_urls: tuple[str, ...]  # every distinct img src (resolved), in order


def https_base(url: str) -> str:
    """The article URL, upgraded to https, against which links are resolved."""
    return "https://" + url[len("http://") :] if url.startswith("http://") else url


def resolve_url(value: str, base: str) -> str:
    """WHATWG resolution (``new URL(value, base).href``); unparsable stays as is."""
    try:
        return ada_url.join_url(base, value)
    except ValueError:
        return value


def _lazy_image_source(img: LexborNode) -> str | None:
    for value in img.attributes.values():
        trimmed = (value or "").strip()
        if trimmed and any(ext in trimmed for ext in IMAGE_EXTENSIONS):
            return trimmed
    return None


def _apply_rules(body: LexborNode, base: str) -> list[str]:
    """Rules 2-4 of §3, in place; returns the resolved image sources in order."""
    for script in body.css("script"):
        script.decompose()
    for anchor in body.css("a[href]"):
        anchor.attrs["href"] = resolve_url(anchor.attributes["href"] or "", base)
    sources = []
    for img in body.css("img"):
        attrs = img.attrs
        src = img.attributes.get("src")
        if not src:
            lazy = _lazy_image_source(img)
            if lazy is not None:
                src = lazy
        if src:
            src = resolve_url(src, base)
            attrs["src"] = src
            sources.append(src)
        attrs["referrerpolicy"] = "no-referrer"
        # Removed last: the lazy-src scan above sees them too (§3.4, as RSSHub did).
        for name in REMOVED_IMG_ATTRIBUTES:
            if name in attrs:
                del attrs[name]
    return sources


def process_body(inner_html: str, article_url: str) -> Body:
    """Turn the inner HTML of the body container into the post's BODY."""
    document = LexborHTMLParser(inner_html, scripting=True)
    body = document.body
    if body is None:  # lexbor always builds <body>; kept for type checkers
        return Body("", None, ())
    sources = _apply_rules(body, https_base(article_url))
    html = delete_c0(_FINAL.children(body))
    first = sources[0] if sources else None
    return Body(
        html=html,
        first_image=delete_c0(escape_attribute(first)) if first else None,
        image_urls=tuple(dict.fromkeys(sources)),
    )


def container_inner_html(container: LexborNode) -> str:
    """Inner HTML of a node of the page, in a form that parses back to the same tree.

    lexbor's own serialiser (the HTML standard's algorithm, scripting on) is exact for
    that and runs in C; TreeSerializer(final=False) gives the same tree, slower."""
    return container.inner_html or ""
