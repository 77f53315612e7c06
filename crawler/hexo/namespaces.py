"""Which namespace (HTML, SVG, MathML) an element of a parsed tree is in, read from the tree.

lexbor does not expose an element's namespace, so it is derived the way the HTML5 tree
builder assigns it: an element takes its parent's foreign namespace, except below an
HTML integration point (SVG ``foreignObject``/``desc``/``title``, MathML
``annotation-xml`` with an HTML encoding), a MathML text integration point
(``mi``/``mo``/``mn``/``ms``/``mtext``, but for ``mglyph``/``malignmark``) or an HTML
element, where it is HTML unless it is ``<svg>`` or ``<math>``.

This is also how a parser reading the post back assigns namespaces to the markup we
write, which is what matters for §3 rules 5 and 6: an element is written, and checked,
in the namespace the reader of the post will give it.
"""

from __future__ import annotations

from typing import Final

from selectolax.lexbor import LexborNode

HTML: Final = "html"
SVG: Final = "svg"
MATHML: Final = "math"

SVG_HTML_INTEGRATION_POINTS = frozenset({"foreignObject", "desc", "title"})
MATHML_TEXT_INTEGRATION_POINTS = frozenset({"mi", "mo", "mn", "ms", "mtext"})
_MATHML_TEXT_CHILDREN = frozenset({"mglyph", "malignmark"})  # stay MathML in mi, mtext…
_HTML_ENCODINGS = frozenset({"text/html", "application/xhtml+xml"})


def in_html_context(tag: str) -> str:
    """An element started where the tree builder follows the HTML rules."""
    if tag == "svg":
        return SVG
    if tag == "math":
        return MATHML
    return HTML


def child_namespace(parent_namespace: str, parent: LexborNode | None, child_tag: str) -> str:
    """The namespace of an element named ``child_tag`` whose parent is ``parent``
    (None: the document, a fragment or a template's content, all HTML contexts)."""
    if parent is None or parent_namespace == HTML:
        return in_html_context(child_tag)
    parent_tag = parent.tag
    if parent_namespace == SVG:
        if parent_tag in SVG_HTML_INTEGRATION_POINTS:
            return in_html_context(child_tag)
        return SVG
    # MathML
    if parent_tag in MATHML_TEXT_INTEGRATION_POINTS and child_tag not in _MATHML_TEXT_CHILDREN:
        return in_html_context(child_tag)
    if parent_tag == "annotation-xml":
        if child_tag == "svg":
            return SVG
        encoding = (parent.attributes.get("encoding") or "").lower()
        if encoding in _HTML_ENCODINGS:
            return in_html_context(child_tag)
    return MATHML
