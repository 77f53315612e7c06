"""What one article page gives a post, as plain data: BODY after the post rules, and the
page's own metadata (the fallbacks for the roll-API item).

A pure function of the page's bytes, its Content-Type and its URL, with no Scrapy in it,
so that it runs in a parse worker process (crawler.parsing.workers), decoding included.
"""

from __future__ import annotations

from dataclasses import dataclass

from crawler.hexo.body import DEFAULT_BODY_STYLE, Body, BodyStyle, container_inner_html, process_body
from crawler.sina import article_page


@dataclass(frozen=True, slots=True)
class PageFacts:
    body: Body | None  # None: the page has none of the body containers
    og_title: str | None
    heading_title: str | None
    published_time: str | None  # article:published_time, as written
    media_name: str | None
    editor: str | None
    keywords: tuple[str, ...]


def page_facts(body: bytes, content_type: str | None, url: str, style: BodyStyle = DEFAULT_BODY_STYLE) -> PageFacts:
    """The facts of the page served at url with that body and Content-Type header; BODY in
    the given body style."""
    text, encoding = article_page.decode_page(body, content_type)
    tree = article_page.parse_page(article_page.parser_input(body, text, encoding))
    del text  # the tree holds the page now
    container = article_page.body_container(tree)
    post_body = process_body(container_inner_html(container), url, style) if container is not None else None
    return PageFacts(
        body=post_body,
        og_title=article_page.og_title(tree),
        heading_title=article_page.heading_title(tree),
        published_time=article_page.published_time(tree),
        media_name=article_page.media_name(tree),
        editor=article_page.editor(tree),
        keywords=tuple(article_page.keywords(tree)),
    )
