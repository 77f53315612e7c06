"""The bodies of the post shapes that are not articles (docs/post-kinds.md): a 7×24 flash,
a gallery and a video.  Each is written as plain HTML from the item's data here, then
goes through the article body rules (crawler.hexo.body: inert, serialised, clean), so
every shape is published the same way an article is."""

from __future__ import annotations

import html
from collections.abc import Sequence


def _text(value: str) -> str:
    return html.escape(value, quote=False)


def _attribute(value: str) -> str:
    return html.escape(value, quote=True)


def https(url: str) -> str:
    """An image URL as the post shows it: Sina's image hosts serve https, and a blog served
    over https would block (or warn about) an http image."""
    return "https://" + url[len("http://") :] if url.startswith("http://") else url


def _image(url: str) -> str:
    return f'<p><img src="{_attribute(https(url))}" alt=""></p>'


def flash_html(rich_text: str, images: Sequence[str]) -> str:
    """A flash: its text (Sina's rich text, HTML) a paragraph per line, then its images."""
    paragraphs = [f"<p>{line.strip()}</p>" for line in rich_text.splitlines() if line.strip()]
    return "\n".join([*paragraphs, *(_image(url) for url in images)])


def gallery_html(lead: str, images: Sequence[tuple[str, str]]) -> str:
    """A gallery: its introduction, then each image with its caption under it (a caption
    the image before already showed is not repeated)."""
    parts = [f"<p>{_text(lead)}</p>"] if lead else []
    shown = None
    for url, caption in images:
        parts.append(_image(url))
        if caption and caption != shown:
            parts.append(f"<p>{_text(caption)}</p>")
        shown = caption
    return "\n".join(parts)


def video_html(page_url: str, poster: str | None, description: str | None) -> str:
    """A video: its poster image, its description and a link to the video page (no player)."""
    parts = []
    if poster:
        parts.append(f'<p><a href="{_attribute(page_url)}"><img src="{_attribute(https(poster))}" alt=""></a></p>')
    if description:
        parts.append(f"<p>{_text(description)}</p>")
    parts.append(f'<p><a href="{_attribute(page_url)}">观看视频</a></p>')
    return "\n".join(parts)
