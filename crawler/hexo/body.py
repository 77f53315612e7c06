"""BODY of a post: the article HTML processed as §3 of the post format says.

Two styles: ``clean`` (the default) applies every rule; ``sample`` leaves out rule 8
and gives the 2022 chain's body, made inert.  Rules 1 to 6 are the same in both, so
no style ever publishes anything that runs code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from selectolax.lexbor import LexborHTMLParser, LexborNode

from crawler.hexo.html_serializer import (
    RAW_TEXT_ELEMENTS,
    ImageSpan,
    TreeSerializer,
    escape_attribute,
    escape_text,
)
from crawler.hexo.inert import inert_visit, make_inert
from crawler.hexo.namespaces import HTML, child_namespace
from crawler.hexo.publishing import delete_blank_lines, is_comment, publishing_visit
from crawler.hexo.tree_walk import prune
from crawler.net.urls import https_base, resolve_url

BodyStyle = Literal["clean", "sample"]
BODY_STYLES: tuple[BodyStyle, ...] = get_args(BodyStyle)
DEFAULT_BODY_STYLE: BodyStyle = "clean"

IMAGE_EXTENSIONS = (".gif", ".png", ".jpg", ".webp")
REMOVED_IMG_ATTRIBUTES = ("onclick", "onerror", "onload")
READ_BACK_RUNS = 3  # rule 9

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
    # Rule 9: how many read-back parses ran (1 when the first gives BODY back unchanged).
    read_back_runs: int = 0


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


def _apply_rules(root: LexborNode, base: str, style: BodyStyle) -> tuple[str, list[ImageSpan]]:
    """Rules 2 to 8 on the children of root, in place; returns them serialised (rule 6)
    and, in the clean style, with blank lines deleted (rule 8c)."""
    _apply_link_rules(root, base)
    if style == "clean":  # rule 5, with 8a (before IMG is chosen) and 8b: every comment goes
        prune(root, _clean_visit, is_comment)
    else:
        make_inert(root)
    html, spans = _SERIALIZERS[style].children_and_images(root)
    if style == "clean":
        html, spans = delete_blank_lines(html, spans)
    return html, spans


def _clean_visit(element: LexborNode, namespace: str) -> bool:
    # Read once for both rules: rule 5 removes no attribute that rule 8a reads (id, class,
    # data-sudaclick), so the rules see what they saw reading them each.
    attributes = element.attributes
    return inert_visit(element, namespace, attributes) or publishing_visit(element, namespace, attributes)


def _read_back(html: str) -> LexborNode:
    """Rule 9's parse: BODY inside the post's <div>, in a no-quirks page."""
    document = LexborHTMLParser(f"<!DOCTYPE html><body><div>{html}</div>", scripting=True)
    container = document.css_first("body > div")
    assert container is not None  # the <div> is the body's first child whatever html holds
    return container


def _text_only(root: LexborNode) -> str:
    """Rule 9's last resort: every text node that is not raw text, in document order,
    escaped as rule 6 escapes text."""
    parts = []
    for node in root.traverse(include_text=True):
        if node.tag == "-text" and not _in_raw_text(node):
            parts.append(escape_text(node.text_content or ""))
    return "".join(parts)


def _in_raw_text(text: LexborNode) -> bool:
    parent = text.parent
    return parent is not None and (parent.tag or "") in RAW_TEXT_ELEMENTS and _namespace_of(parent) == HTML


def _namespace_of(element: LexborNode) -> str:
    """The namespace the tree builder gave element, derived from its ancestors."""
    chain = []
    node: LexborNode | None = element
    while node is not None and node.is_element_node and node.tag not in ("body", "html"):
        chain.append(node)
        node = node.parent
    namespace, parent = HTML, None
    for ancestor in reversed(chain):
        namespace = child_namespace(namespace, parent, ancestor.tag or "")
        parent = ancestor
    return namespace


def process_body(inner_html: str, article_url: str, style: BodyStyle = DEFAULT_BODY_STYLE) -> Body:
    """Turn the inner HTML of the body container into the post's BODY."""
    base = https_base(article_url)
    # Rule 1: a whole document, in no-quirks mode as the blog's pages are.
    root = LexborHTMLParser("<!DOCTYPE html>" + inner_html, scripting=True).body
    if root is None:  # lexbor always builds <body>; kept for type checkers
        return Body("", None, ())
    html, spans = _apply_rules(root, base, style)
    # Rule 9: read back as written, until BODY no longer changes (three runs at most).
    runs = 0
    while True:
        runs += 1
        again = _read_back(html)
        written, written_spans = _apply_rules(again, base, style)
        if written == html:
            break
        root, html, spans = again, written, written_spans
        if runs == READ_BACK_RUNS:  # still changing: only its text surely reads back as itself
            return Body(html=_text_only(root), first_image=None, image_urls=(), read_back_runs=runs)
    sources = _image_sources(root)
    first = escape_attribute(sources[0]) if sources else None
    return Body(html, first, tuple(dict.fromkeys(sources)), tuple(spans), runs)


def container_inner_html(container: LexborNode) -> str:
    """Inner HTML of a node of the page, in a form that parses back to the same tree.

    lexbor's own serialiser (the HTML standard's algorithm, scripting on) is exact for
    that and runs in C; TreeSerializer(final=False) gives the same tree, slower."""
    return container.inner_html or ""
