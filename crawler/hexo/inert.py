"""§3 rule 5, "Make it inert": nothing in BODY may run code, load another document or
take over the blog's page, neither as we write it nor after Hexo rewrites it.

Applied to the whole tree after rules 2 to 4, inside <svg> and <math> and in every
template's content too.  What is removed is exactly what the rule lists, no more: the
post format is byte-exact, and everything else (``<style>``, ``style`` attributes)
is part of the article as served.  Hexo's own rewrites (the excerpt marker, code
fences) act on raw text with regular expressions, so a comment or an HTML raw-text
element that holds their markers goes whole (rule 6 keeps them out of text and
attribute values by escaping).
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping

from selectolax.lexbor import LexborNode

from crawler.hexo.namespaces import HTML, SVG
from crawler.hexo.tree_walk import prune

# Elements that run code, embed or load another document, or retarget the page;
# ``plaintext`` turns the rest of the blog's page into text.
ACTIVE_ELEMENTS = frozenset(
    ["script", "iframe", "frame", "frameset", "object", "embed", "applet", "base", "meta", "link", "plaintext"]
)
# SVG animation can set any attribute (an href to javascript:) after the post loads.
SVG_ANIMATION_ELEMENTS = frozenset(["animate", "animateMotion", "animateTransform", "set"])
# Removed whatever their value: a post submits nothing anywhere.
ALWAYS_REMOVED_ATTRIBUTES = frozenset(["srcdoc", "action", "formaction"])
# Removed when their value runs code; so is every attribute whose name ends in ``href``
# (``data-href``: Hexo's external-link filter can make it the link's href).
URL_ATTRIBUTES = frozenset(["src", "poster", "background", "cite", "data"])
ACTIVE_SCHEMES = ("javascript:", "vbscript:", "data:")
# HTML raw-text elements whose text Hexo's regular expressions would read as markup.
HEXO_MARKER_ELEMENTS = frozenset(["style", "xmp", "noembed", "noframes", "noscript"])
EXCERPT_MARKER = re.compile(r"<!-- ?more ?-->", re.IGNORECASE)  # Hexo's, as it matches it
FENCES = ("```", "~~~")
_C0_AND_DEL = re.compile("[\x00-\x1f\x7f]")
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def _normalised_url(value: str) -> str:
    """The value as a browser's URL parser sees its scheme: C0 controls and DEL deleted
    (the parser drops tabs and newlines, rule 6 drops the rest), spaces trimmed, ASCII
    lower case."""
    return _C0_AND_DEL.sub("", value).strip(" ").translate(_ASCII_LOWER)


def is_active_url(value: str, *, image_source: bool = False) -> bool:
    """Would following or loading this URL run code?  ``data:image/`` is allowed only
    as the src of an HTML <img>."""
    url = _normalised_url(value)
    if not url.startswith(ACTIVE_SCHEMES):
        return False
    return not (image_source and url.startswith("data:image/"))


def is_url_attribute(name: str) -> bool:
    return name in URL_ATTRIBUTES or name[-4:].lower() == "href"


def is_active_attribute(name: str, value: str | None, *, image: bool = False) -> bool:
    """An event handler, ``srcdoc``, ``action``, ``formaction``, or a URL attribute that
    would run code (``image``: the attribute is on an HTML <img>)."""
    if name[:2].lower() == "on" or name in ALWAYS_REMOVED_ATTRIBUTES:
        return True
    return bool(value) and is_url_attribute(name) and is_active_url(value or "", image_source=image and name == "src")


def holds_hexo_marker(text: str) -> bool:
    """Would Hexo read this raw text as its excerpt marker or a code fence?"""
    return EXCERPT_MARKER.search(text) is not None or any(fence in text for fence in FENCES)


def is_hexo_comment(comment: LexborNode) -> bool:
    """A comment that holds Hexo's excerpt marker (``<!--`` + data + ``-->`` matches it)
    or a fence.  lexbor's ``html`` of a comment is ``<!--`` + its data + ``-->``."""
    return holds_hexo_marker(comment.html or "")


def _active_attributes(element: LexborNode, namespace: str, attributes: Mapping[str, str | None]) -> list[str]:
    image = namespace == HTML and element.tag == "img"
    return [name for name, value in attributes.items() if is_active_attribute(name, value, image=image)]


def inert_visit(element: LexborNode, namespace: str, attributes: Mapping[str, str | None] | None = None) -> bool:
    """Rule 5 for one element: True when it goes as a whole; else its active attributes go.
    ``attributes``: element.attributes as the caller already read them (reading them
    makes a new dict each time)."""
    tag = element.tag or ""
    if tag in ACTIVE_ELEMENTS or (namespace == SVG and tag in SVG_ANIMATION_ELEMENTS):
        return True
    if namespace == HTML and tag in HEXO_MARKER_ELEMENTS and holds_hexo_marker(element.text(deep=True)):
        return True
    if attributes is None:
        attributes = element.attributes
    if not attributes:  # most elements: nothing more to check
        return False
    active = _active_attributes(element, namespace, attributes)
    if active:
        attrs = element.attrs
        for name in active:
            del attrs[name]
    return False


def make_inert(root: LexborNode) -> int:
    """Rule 5 over everything below root; returns how many nodes were removed."""
    return prune(root, inert_visit, is_hexo_comment)
