"""What a post is, one frozen dataclass per kind (docs/post-kinds.md): an article, a
gallery, a video page, a 7×24 flash.

Invariant: a post is complete and never changes.  Every field is set when it is built
(crawler.loaders, the only place that decides a field), its date is an aware UTC
``datetime``, and nothing downstream checks a field again.  What the pipelines add on
the way to the posts folder (the path, the post it replaces, the images stored beside
it) is a separate value, PlacedPost, made anew at each step.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from crawler.hexo.body import Body
from crawler.hexo.fields import iso_utc


@dataclass(frozen=True, slots=True)
class Stock:
    """A stock a flash names (its ``ext.stocks``)."""

    market: str
    symbol: str
    key: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Post:
    """What every kind of post has."""

    publishid: str  # its identity in the state and in file names (doc-i<publishid>, zhibo<id>, slide_…)
    url: str  # the page it was fetched from (a flash: its own page, or the 7x24 page#<id>)
    section: str  # id of the section that listed it first (settings/sections.yaml)
    title: str
    date: datetime  # aware, UTC
    summary: str | None  # the listing's intro as given (a flash: its whole text)
    excerpt: str | None  # the summary as text an index page shows (HEXO_FRONT_MATTER_EXTRAS)
    keywords: tuple[str, ...]  # each once, in Sina's order (a flash: its tag names): the post's tags
    categories: tuple[str, str, str]
    author: str
    body: Body  # BODY and its images (crawler.hexo.body)
    mtime: int | None  # the listing's mtime (a flash: its update_time): changed, written again
    updated: datetime | None  # aware, UTC: mtime, when it is later than date (Sina edited the article)

    kind: ClassVar[str]


@dataclass(frozen=True, slots=True, kw_only=True)
class PagePost(Post):
    """A post made from a listed item and the page fetched for it."""

    docid: str | None  # roll API docid, "comos:<publishid>"
    media: str | None  # source (the listing's media_name, else the page's)
    editor: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ArticlePost(PagePost):
    kind: ClassVar[str] = "article"


@dataclass(frozen=True, slots=True, kw_only=True)
class GalleryPost(PagePost):
    kind: ClassVar[str] = "gallery"


@dataclass(frozen=True, slots=True, kw_only=True)
class VideoPost(PagePost):
    kind: ClassVar[str] = "video"


@dataclass(frozen=True, slots=True, kw_only=True)
class FlashPost(Post):
    """A flash of the live feed: no page is fetched."""

    tags: tuple[str, ...]
    stocks: tuple[Stock, ...]
    kind: ClassVar[str] = "flash"


POST_KINDS: dict[str, type[Post]] = {cls.kind: cls for cls in (ArticlePost, GalleryPost, VideoPost, FlashPost)}


@dataclass(frozen=True, slots=True)
class ImageFile:
    """An image stored beside its post (HEXO_IMAGES=local), ``path`` relative to the posts folder."""

    url: str
    path: str
    checksum: str


@dataclass(frozen=True, slots=True)
class PlacedPost:
    """A post with where it goes: its path under HEXO_POSTS_DIR (crawler.pipelines.post_paths),
    our earlier post of it at another path, which goes once this one is in place, and the
    images stored beside it (crawler.pipelines.local_images)."""

    post: Post
    path: str
    replaces: str | None = None
    image_files: tuple[ImageFile, ...] = ()


def post_fields(post: Post) -> dict[str, Any]:
    """A post's fields as JSON values, every kind's (a field another kind has is None or
    empty): what the export and the manifest take theirs from."""
    page = post if isinstance(post, PagePost) else None
    flash = post if isinstance(post, FlashPost) else None
    return {
        "publishid": post.publishid,
        "docid": page.docid if page else None,
        "url": post.url,
        "section": post.section,
        "title": post.title,
        "date": iso_utc(post.date),
        "media": page.media if page else None,
        "editor": page.editor if page else None,
        "keywords": list(post.keywords),
        "summary": post.summary,
        "categories": list(post.categories),
        "author": post.author,
        "mtime": post.mtime,
        "kind": post.kind,
        "tags": list(flash.tags) if flash else [],
        "stocks": [dataclasses.asdict(stock) for stock in flash.stocks] if flash else [],
    }


def pick(fields: dict[str, Any], *keys: str) -> dict[str, Any]:
    """These keys of fields, in this order."""
    return {key: fields[key] for key in keys}


def exported(placed: PlacedPost) -> dict[str, Any]:
    """A post written, as ``scrapy crawl -O items.jsonl`` exports it: one flat object, its
    keys and their order those of the item before posts were typed (the pipelines' output)."""
    fields, body = post_fields(placed.post), placed.post.body
    return {
        **pick(fields, "publishid", "docid", "url", "section", "title", "date", "media", "editor", "keywords"),
        **pick(fields, "summary", "categories", "author"),
        "headimg": body.first_image,
        "image_urls": list(body.image_urls),
        "image_files": [dataclasses.asdict(image) for image in placed.image_files],
        "body_html": body.html,
        "body_image_spans": list(body.image_spans),
        **pick(fields, "mtime", "kind", "tags", "stocks"),
        "path": placed.path,
        "replaces": placed.replaces,
    }
