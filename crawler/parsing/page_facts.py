"""What one listed page gives a post, as plain data: BODY after the post rules, and the
page's own metadata (the fallbacks for the listing's item).

A pure function of the page's bytes, its Content-Type, its URL and its kind (an article,
a gallery or a video page: crawler.sina.urls), with no Scrapy in it, so that it runs in
a parse worker process (crawler.parsing.workers), decoding included.
"""

from __future__ import annotations

from dataclasses import dataclass

from crawler.hexo.body import DEFAULT_BODY_STYLE, Body, BodyStyle, container_inner_html, process_body
from crawler.hexo.shapes import gallery_html, video_html
from crawler.sina import article_page, gallery_page, video_page
from crawler.sina.urls import ARTICLE, GALLERY, VIDEO


@dataclass(frozen=True, slots=True)
class PageFacts:
    body: Body | None  # None: the page has none of the body containers (or no gallery, no video)
    og_title: str | None
    heading_title: str | None
    published_time: str | None  # article:published_time, as written
    media_name: str | None
    editor: str | None
    keywords: tuple[str, ...]


def page_facts(
    body: bytes,
    content_type: str | None,
    url: str,
    style: BodyStyle = DEFAULT_BODY_STYLE,
    kind: str = ARTICLE,
) -> PageFacts:
    """The facts of the page of that kind served at url with that body and Content-Type
    header; BODY in the given body style."""
    text, encoding = article_page.decode_page(body, content_type)
    tree = article_page.parse_page(article_page.parser_input(body, text, encoding))
    heading = article_page.heading_title(tree)
    published = article_page.published_time(tree)
    post_body: Body | None = None
    if kind == GALLERY:
        found = gallery_page.gallery(tree)
        if found is not None:
            images = [(image.url, image.caption) for image in found.images]
            post_body = process_body(gallery_html(found.lead, images), url, style)
    elif kind == VIDEO:
        clip = video_page.video(tree, text)
        if clip is not None:
            heading = heading or clip.title
            published = published or clip.published
            description = clip.description if clip.description != clip.title else None
            post_body = process_body(video_html(url, clip.poster, description), url, style)
    else:
        container = article_page.body_container(tree)
        if container is not None:
            post_body = process_body(container_inner_html(container), url, style)
    del text  # the tree holds the page now
    return PageFacts(
        body=post_body,
        og_title=article_page.og_title(tree),
        heading_title=heading,
        published_time=published,
        media_name=article_page.media_name(tree),
        editor=article_page.editor(tree),
        keywords=article_page.keywords(tree),
    )
