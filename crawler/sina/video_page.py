"""Video pages (``video.sina.com.cn/p/…/detail-i<publishid>.d.html``): what a post shows of
a video without a player: its poster image, its description and its title.

The page describes the video in a script, ``$SCOPE['video'] = { pic: '…', video_id: …,
… }`` (a JavaScript object, not JSON), and in ``<meta name="description">``.  The
publication time is in a leading comment, ``<!-- [ published at 2019-10-05 20:07:50 ] -->``
(Beijing time), when the page has no ``article:published_time``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from selectolax.lexbor import LexborHTMLParser

_VIDEO_SCOPE = re.compile(r"\$SCOPE\[\s*['\"]video['\"]\s*\]\s*=\s*\{(.*?)\};", re.DOTALL)
_POSTER = re.compile(r"\bpic\s*:\s*(['\"])(.*?)\1")
_PUBLISHED_COMMENT = re.compile(r"\[\s*published at (\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})\s*\]")


@dataclass(frozen=True, slots=True)
class Video:
    title: str | None
    description: str | None
    poster: str | None  # the poster image's URL, as the page gives it
    published: str | None  # YYYY-MM-DD HH:MM:SS, Beijing time


def video(tree: LexborHTMLParser, text: str) -> Video | None:
    """The video of a parsed video page (``text``: the page as text, for its scripts and
    comments); None when the page describes none."""
    poster = None
    for script in tree.css("script"):
        scope = _VIDEO_SCOPE.search(script.text(deep=True) or "")
        if scope is not None:
            found = _POSTER.search(scope.group(1))
            poster = found.group(2).strip() if found is not None and found.group(2).strip() else None
            break
    description_node = tree.css_first('meta[name="description"]')
    description = (description_node.attributes.get("content") or "").strip() if description_node else ""
    title_node = tree.css_first('meta[property="og:title"]')
    title = (title_node.attributes.get("content") or "").strip() if title_node is not None else ""
    if not title:
        head_title = tree.css_first("title")
        title = " ".join(head_title.text(deep=True).split()) if head_title is not None else ""
    published = _PUBLISHED_COMMENT.search(text[:2000])
    if poster is None and not description:
        return None
    return Video(title or None, description or None, poster, published.group(1) if published else None)
