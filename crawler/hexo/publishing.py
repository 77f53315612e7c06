"""§3 rule 8, "Clean for publishing": the default body style.

Hexo renders a post as Markdown, where the raw-HTML block that holds BODY ends at the
first blank line; after it, a line indented by four spaces is shown as a code block.
So Sina's promotion blocks and page furniture go (8a), comments and HTML ``<style>``
go (8b: a reader sees neither), and no line of BODY is left blank (8c: line feeds
inside ``pre``/``textarea``/``listing`` are written ``&#10;`` by the serialiser, then
whitespace-only lines are deleted).  BODY reads back as the same elements, less
whitespace that HTML does not render.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Mapping, Sequence

from selectolax.lexbor import LexborNode

from crawler.hexo.html_serializer import ImageSpan
from crawler.hexo.namespaces import HTML

# 8a: promotion blocks (as RSSHub removes them) and the page furniture inside the body
# container that is not article text (quote chart, ad slot, dead video players, topic
# links, original-headline and editor lines, notices, the 股吧 link).
PROMOTION_IDS = frozenset(["left_hzh_ad", "J_Article_Player"])
PROMOTION_CLASSES = frozenset(
    [
        "appendQr_wrap",
        "app-kaihu-qr",
        "tech-quotation",
        "ct_hqimg",
        "hqimg_wrapper",
        "otherContent_01",
        "video-2017",
        "artical-player-wrap",
        "wap_special",
        "ori_titlesource",
        "article-editor",
        "show_author",
        "article-notice",
    ]
)
PROMOTION_SUDACLICK = "suda_1028_guba"
ORIGINAL_TITLE_PREFIXES = ("原标题：", "原标题:")
_LEADING_SPACE = " \t\n\u3000\u00a0"
_CLASS_SEPARATORS = re.compile("[\t\n\x0c\r ]+")  # HTML splits class on ASCII whitespace only
_BLANK_LINE = re.compile(r"^[ \t]*\n", re.MULTILINE)


def is_promotion(
    element: LexborNode, namespace: str = HTML, attributes: Mapping[str, str | None] | None = None
) -> bool:
    """Rule 8a: compared exactly as written (case-sensitively), in any namespace; and an
    HTML ``<p>`` that is an original-headline line.  ``attributes``: element.attributes as
    the caller already read them."""
    if attributes is None:
        attributes = element.attributes
    if not attributes:  # most elements
        return namespace == HTML and element.tag == "p" and _original_title(element)
    if "id" in attributes and attributes["id"] in PROMOTION_IDS:
        return True
    if "data-sudaclick" in attributes and attributes["data-sudaclick"] == PROMOTION_SUDACLICK:
        return True
    classes = attributes.get("class") if "class" in attributes else None
    if classes and any(token in PROMOTION_CLASSES for token in _CLASS_SEPARATORS.split(classes)):
        return True
    return namespace == HTML and element.tag == "p" and _original_title(element)


def _original_title(paragraph: LexborNode) -> bool:
    return paragraph.text(deep=True).lstrip(_LEADING_SPACE).startswith(ORIGINAL_TITLE_PREFIXES)


def publishing_visit(element: LexborNode, namespace: str, attributes: Mapping[str, str | None] | None = None) -> bool:
    """Rules 8a and 8b for one element: True when it goes as a whole."""
    return is_promotion(element, namespace, attributes) or (namespace == HTML and element.tag == "style")


def is_comment(node: LexborNode) -> bool:
    """Rule 8b: every comment goes."""
    return True


def delete_blank_lines(html: str, spans: Sequence[ImageSpan] = ()) -> tuple[str, list[ImageSpan]]:
    """Rule 8c: every line that is empty or only spaces and tabs goes with its line feed;
    then the whitespace at the end goes.  ``spans`` (places in html) are moved with the
    text (attribute values hold no line feed: rule 6 writes it ``&#10;``)."""
    removed = [match.span() for match in _BLANK_LINE.finditer(html)]
    result = _BLANK_LINE.sub("", html).rstrip(" \t\n")
    if not removed:
        return result, list(spans)
    # removed is in order and without overlaps: the cuts before a span are a prefix of it.
    cut_ends = [cut_end for _, cut_end in removed]
    cut_before = [0, *itertools.accumulate(cut_end - cut_start for cut_start, cut_end in removed)]
    moved = []
    for start, end, value in spans:
        shift = cut_before[bisect.bisect_right(cut_ends, start)]
        moved.append((start - shift, end - shift, value))
    return result, moved
