"""§3 rule 5, "Make it inert": nothing in BODY may run code, load another document or
take over the blog's page.

Applied to the whole tree after rules 2 to 4, inside <svg> and <math> and in every
template's content too.  What is removed is exactly what the rule lists, no more: the
post format is byte-exact, and everything else (``<style>``, ``style`` attributes)
is part of the article as served.
"""

from __future__ import annotations

import re
import string

from selectolax.lexbor import LexborNode

from crawler.hexo.namespaces import HTML, SVG
from crawler.hexo.tree_walk import prune

# Elements that run code, embed or load another document, or retarget the page.
ACTIVE_ELEMENTS = frozenset(
    ["script", "iframe", "frame", "frameset", "object", "embed", "applet", "base", "meta", "link"]
)
# SVG animation can set any attribute (an href to javascript:) after the post loads.
SVG_ANIMATION_ELEMENTS = frozenset(["animate", "animateMotion", "animateTransform", "set"])
URL_ATTRIBUTES = frozenset(
    ["href", "src", "xlink:href", "action", "formaction", "poster", "background", "cite", "data"]
)
ACTIVE_SCHEMES = ("javascript:", "vbscript:", "data:")
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


def is_active_attribute(name: str, value: str | None, *, image: bool = False) -> bool:
    """An event handler, a ``srcdoc``, or a URL attribute that would run code (``image``:
    the attribute is on an HTML <img>)."""
    if name[:2].lower() == "on" or name == "srcdoc":
        return True
    return name in URL_ATTRIBUTES and bool(value) and is_active_url(value or "", image_source=image and name == "src")


def _active_attributes(element: LexborNode, namespace: str) -> list[str]:
    image = namespace == HTML and element.tag == "img"
    return [name for name, value in element.attributes.items() if is_active_attribute(name, value, image=image)]


def inert_visit(element: LexborNode, namespace: str) -> bool:
    """Rule 5 for one element: True when it goes as a whole; else its active attributes go."""
    tag = element.tag or ""
    if tag in ACTIVE_ELEMENTS or (namespace == SVG and tag in SVG_ANIMATION_ELEMENTS):
        return True
    active = _active_attributes(element, namespace)
    if active:
        attrs = element.attrs
        for name in active:
            del attrs[name]
    return False


def make_inert(root: LexborNode) -> int:
    """Rule 5 over everything below root; returns how many elements were removed."""
    return prune(root, inert_visit)
