"""The item: one Sina article, ready to be written as a Hexo post."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ArticleItem:
    publishid: str | None = None  # doc-i<publishid>.shtml; the article's identity
    docid: str | None = None  # roll API docid, "comos:<publishid>"
    url: str | None = None  # the URL the page was fetched from
    section: str | None = None  # id of the section (settings/sections.yaml)
    title: str | None = None
    date: str | None = None  # ISO 8601, UTC: 2022-01-24T11:02:07Z
    media: str | None = None  # source (API media_name, else the page)
    editor: str | None = None
    keywords: list[str] = field(default_factory=list)
    summary: str | None = None  # roll API "intro"
    categories: list[str] = field(default_factory=list)
    author: str | None = None
    headimg: str | None = None  # first body image, as written in the body
    image_urls: list[str] = field(default_factory=list)
    image_files: list[dict[str, str]] = field(default_factory=list)  # HEXO_IMAGES=local
    body_html: str | None = None  # BODY of the post format
    body_image_spans: list[tuple[int, int, str]] = field(default_factory=list)  # each <img> src in body_html
    mtime: int | None = None  # roll API mtime, or a flash's update_time (unix seconds)
    kind: str = "article"  # article, gallery, video or flash (docs/post-kinds.md)
    tags: list[str] = field(default_factory=list)  # a flash's tags
    stocks: list[dict[str, str]] = field(default_factory=list)  # a flash's stocks: market, symbol, key
    path: str | None = None  # post path relative to HEXO_POSTS_DIR (set when written)
    # Our earlier post of this article at another path, which goes once this one is in
    # place (a name Hexo does not publish: post_paths).
    replaces: str | None = None
