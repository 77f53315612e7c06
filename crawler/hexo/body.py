"""BODY of a post: the article HTML processed as §3 of the post format says.

Two styles: ``clean`` (the default) applies every rule; ``sample`` leaves out rule 8
and gives the 2022 chain's body, made inert.  Rules 1 to 6 are the same in both, so
no style ever publishes anything that runs code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import ada_url
from selectolax.lexbor import LexborHTMLParser, LexborNode

from crawler.hexo.html_serializer import ImageSpan, TreeSerializer, delete_c0, escape_attribute
from crawler.hexo.inert import inert_visit
from crawler.hexo.publishing import delete_blank_lines, delete_blank_lines_inside, promotion_visit
from crawler.hexo.tree_walk import prune

BodyStyle = Literal["clean", "sample"]
BODY_STYLES: tuple[BodyStyle, ...] = get_args(BodyStyle)
DEFAULT_BODY_STYLE: BodyStyle = "clean"

IMAGE_EXTENSIONS = (".gif", ".png", ".jpg", ".webp")
REMOVED_IMG_ATTRIBUTES = ("onclick", "onerror", "onload")

_SERIALIZERS = {
    "clean": TreeSerializer(final=True, pre_line_feeds=True),
    "sample": TreeSerializer(final=True),
}


@dataclass(frozen=True, slots=True)
class Body:
    html: str  # BODY exactly as it goes into the post (before the {} escaping)
    first_image: str | None  # first <img> src as written in BODY, for headimg/thumbnail
    image_urls: tuple[str, ...]  # every distinct img src (resolved), in order
    # Where each <img>'s src value is in html (start, end, src): the places a post written
    # with local images points at the local copy instead (crawler.hexo.post).
    image_spans: tuple[ImageSpan, ...] = ()


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


def _apply_link_rules(body: LexborNode, base: str) -> None:
    """Rules 2-4 of §3, in place."""
    for script in body.css("script"):
        script.decompose()
    for anchor in body.css("a[href]"):
        attributes = anchor.attributes
        if "href" in attributes:  # the selector also matches xlink:href, which is never resolved
            anchor.attrs["href"] = resolve_url(attributes["href"] or "", base)
    for img in body.css("img"):
        attrs = img.attrs
        src = img.attributes.get("src")
        if not src:
            lazy = _lazy_image_source(img)
            if lazy is not None:
                src = lazy
        if src:
            attrs["src"] = resolve_url(src, base)
        attrs["referrerpolicy"] = "no-referrer"
        # Removed last: the lazy-src scan above sees them too (§3.4, as RSSHub did).
        for name in REMOVED_IMG_ATTRIBUTES:
            if name in attrs:
                del attrs[name]


def _image_sources(body: LexborNode) -> list[str]:
    """The non-empty src of every <img> element of the final tree, in order (CSS does not
    reach into template content, where images do not count)."""
    return [src for img in body.css("img") if (src := img.attributes.get("src"))]


def process_body(inner_html: str, article_url: str, style: BodyStyle = DEFAULT_BODY_STYLE) -> Body:
    """Turn the inner HTML of the body container into the post's BODY."""
    clean = style == "clean"
    document = LexborHTMLParser(inner_html, scripting=True)
    body = document.body
    if body is None:  # lexbor always builds <body>; kept for type checkers
        return Body("", None, ())
    _apply_link_rules(body, https_base(article_url))
    if clean:  # rule 5, and rule 8a before IMG is chosen
        prune(body, lambda element, namespace: inert_visit(element, namespace) or promotion_visit(element, namespace))
    else:
        prune(body, inert_visit)
    sources = _image_sources(body)
    html, spans = _SERIALIZERS[style].children_and_images(body)
    first = delete_c0(escape_attribute(sources[0])) if sources else None
    if clean:
        html, spans = delete_blank_lines(html, spans)
        first = delete_blank_lines_inside(first) if first else None
    return Body(html=html, first_image=first, image_urls=tuple(dict.fromkeys(sources)), image_spans=tuple(spans))


def container_inner_html(container: LexborNode) -> str:
    """Inner HTML of a node of the page, in a form that parses back to the same tree.

    lexbor's own serialiser (the HTML standard's algorithm, scripting on) is exact for
    that and runs in C; TreeSerializer(final=False) gives the same tree, slower."""
    return container.inner_html or ""
