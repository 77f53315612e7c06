"""§3 rule 8, "Clean for publishing": the default body style.

Hexo renders a post as Markdown, where the raw-HTML block that holds BODY ends at the
first blank line; after it, a line indented by four spaces is shown as a code block.
So Sina's promotion blocks go (8a), and no line of BODY is left blank (8b: line feeds
inside ``pre``/``textarea``/``listing`` are written ``&#10;`` by the serialiser, then
whitespace-only lines are deleted).  BODY reads back as the same elements, less
whitespace that HTML does not render.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from selectolax.lexbor import LexborNode

from crawler.hexo.html_serializer import ImageSpan

PROMOTION_IDS = frozenset(["left_hzh_ad"])
PROMOTION_CLASSES = frozenset(["appendQr_wrap", "app-kaihu-qr", "tech-quotation"])
_CLASS_SEPARATORS = re.compile("[\t\n\x0c\r ]+")  # HTML splits class on ASCII whitespace only
_BLANK_LINE = re.compile(r"^[ \t]*\n", re.MULTILINE)


def is_promotion(element: LexborNode) -> bool:
    """Rule 8a: compared exactly as written (case-sensitively), in any namespace."""
    attributes = element.attributes
    if "id" in attributes and attributes["id"] in PROMOTION_IDS:
        return True
    classes = attributes.get("class") if "class" in attributes else None
    if not classes:
        return False
    return any(token in PROMOTION_CLASSES for token in _CLASS_SEPARATORS.split(classes))


def promotion_visit(element: LexborNode, namespace: str) -> bool:
    return is_promotion(element)


def delete_blank_lines(html: str, spans: Sequence[ImageSpan] = ()) -> tuple[str, list[ImageSpan]]:
    """Rule 8b: every line that is empty or only spaces and tabs goes with its line feed;
    then the whitespace at the end goes.  ``spans`` (places in html) are moved with the
    text; a span that a deleted line touches (a src holding a line feed) is dropped."""
    removed = [match.span() for match in _BLANK_LINE.finditer(html)]
    result = _BLANK_LINE.sub("", html).rstrip(" \t\n")
    if not removed:
        return result, list(spans)
    moved = []
    for start, end, value in spans:
        if any(cut_start < end and start < cut_end for cut_start, cut_end in removed):
            continue
        shift = sum(cut_end - cut_start for cut_start, cut_end in removed if cut_end <= start)
        moved.append((start - shift, end - shift, value))
    return result, moved


def delete_blank_lines_inside(value: str) -> str:
    """Rule 8b on a value that sits inside a line of BODY (an attribute value): its first
    and last lines are joined to markup, so only the lines between can be blank."""
    if "\n" not in value:
        return value
    return _BLANK_LINE.sub("", "x" + value + "x")[1:-1]
