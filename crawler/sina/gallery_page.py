"""Gallery pages (图集, ``slide.*.sina.com.cn/…/slide_<ch>_<sid>_<id>.html``): their images
and captions, from the page's own data.

The page carries its gallery twice: ``var slide_data = {…}`` in a script (JSON: each image's
``image_url`` and ``intro``, the caption) and a hidden ``#eData`` list (one ``<dl>`` per
image: ``<dt>`` title, then ``<dd>`` image URL, thumbnails, date, caption, …).  The script
is read first; the list when the script is missing or unreadable.  Pages are GB2312 in
the recorded example; decoding is the article pages' (crawler.sina.article_page).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from selectolax.lexbor import LexborHTMLParser

_SLIDE_DATA = re.compile(r"var\s+slide_data\s*=\s*(\{.*?\})\s*;?\s*$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class GalleryImage:
    url: str
    caption: str


@dataclass(frozen=True, slots=True)
class Gallery:
    title: str | None  # the gallery's own title (the page's og:title is cleaner)
    lead: str  # an introduction, when the gallery has one
    images: tuple[GalleryImage, ...]


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _from_script(tree: LexborHTMLParser) -> Gallery | None:
    for script in tree.css("script"):
        match = _SLIDE_DATA.search(script.text(deep=True) or "")
        if match is None:
            continue
        try:
            data = json.loads(match.group(1))
        except (ValueError, RecursionError):
            return None
        if not isinstance(data, dict) or not isinstance(data.get("images"), list):
            return None
        slide = data["slide"] if isinstance(data.get("slide"), dict) else {}
        images = tuple(
            GalleryImage(_text(image.get("image_url")) or _text(image.get("download_img")), _text(image.get("intro")))
            for image in data["images"]
            if isinstance(image, dict) and (_text(image.get("image_url")) or _text(image.get("download_img")))
        )
        lead = _text(slide.get("long_intro")) or _text(slide.get("lead"))
        return Gallery(_text(slide.get("title")) or None, lead, images)
    return None


def _from_list(tree: LexborHTMLParser) -> Gallery | None:
    images = []
    for entry in tree.css("#eData dl"):
        fields = [node.text(deep=True).strip() for node in entry.css("dd")]
        if fields and fields[0]:
            images.append(GalleryImage(fields[0], fields[4] if len(fields) > 4 else ""))
    return Gallery(None, "", tuple(images)) if images else None


def gallery(tree: LexborHTMLParser) -> Gallery | None:
    """The gallery of a parsed gallery page; None when the page holds none."""
    found = _from_script(tree) or _from_list(tree)
    return found if found is not None and found.images else None
