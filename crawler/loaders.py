"""Building a post (crawler.items) from what Sina gives: a listed item and its page's
facts, or a flash of the live feed.

Invariant: these pure functions are the only place a post's fields are decided, and they
give a complete post or raise ArticleError naming why there is none (no Scrapy here).
Each field takes the listing's value first and the page's only when the listing has
nothing usable.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from crawler.hexo.body import Body, BodyStyle, process_body
from crawler.hexo.fields import clean_title, utc_from_timestamp
from crawler.hexo.shapes import flash_html
from crawler.items import ArticlePost, FlashPost, GalleryPost, PagePost, Stock, VideoPost
from crawler.parsing.page_facts import PageFacts
from crawler.sina import article_page
from crawler.sina.keywords import split_keywords
from crawler.sina.roll_api import RollItem, without_site_suffix
from crawler.sina.times import parse_published_time
from crawler.sina.urls import GALLERY, VIDEO
from crawler.sina.zhibo_api import ZHIBO_REFERER, Flash

if TYPE_CHECKING:
    from crawler.config import Section

_PAGE_POSTS: dict[str, type[PagePost]] = {GALLERY: GalleryPost, VIDEO: VideoPost}


class ArticleError(Exception):
    """The page cannot give a post; ``reason`` names it in stats and logs."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def _strip(value: str | None) -> str | None:
    """Whitespace collapsed; None when nothing is left."""
    if value is None:
        return None
    return " ".join(value.split()) or None


def _excerpt(intro: str | None) -> str | None:
    """A listing's intro as text: entities decoded (``&nbsp;``), as a title's are, and the
    site's name Sina adds to some left out."""
    text = clean_title(intro)
    return (without_site_suffix(text) or None) if text else None


def _updated(mtime: int | None, date: datetime) -> datetime | None:
    """The edit time, when Sina's mtime is later than the post's date: Sina edited the
    article after publishing it (an unedited item's mtime is its intime, or a few seconds
    before it)."""
    if mtime is None or mtime <= date.timestamp():
        return None
    return _four_digit_year(utc_from_timestamp(mtime))


def _first(*values: str | None) -> str | None:
    return next((value for value in values if value), None)


def _four_digit_year(moment: datetime | None) -> datetime | None:
    """A post's DATE has a four-digit year (docs/hexo-post.md §2)."""
    return moment if moment is not None and 1000 <= moment.year <= 9999 else None


def _post_body(body: Body | None) -> Body:
    if body is None:
        raise ArticleError("no_body", f"none of {', '.join(article_page.BODY_CONTAINERS)}")
    if not body.html.strip():
        raise ArticleError("empty_body", "the body container holds nothing")
    return body


def load_article(listing: RollItem, section: Section, url: str, facts: PageFacts) -> PagePost:
    """The post of one listed page (an article, a gallery or a video: ``listing.kind``)
    from its facts (crawler.parsing.page_facts); ArticleError when the page has none."""
    body = _post_body(facts.body)
    # In order, each only when those before give none (clean_title: text or None).
    title = clean_title(listing.title) or clean_title(facts.og_title) or clean_title(facts.heading_title)
    if title is None:
        raise ArticleError("no_title", "no title in the API item, og:title or <h1>")
    if listing.intime is not None:
        date = _four_digit_year(utc_from_timestamp(listing.intime))
    else:
        date = _four_digit_year(parse_published_time(facts.published_time))
    if date is None:
        raise ArticleError("no_date", "no intime in the API item, no article:published_time")
    kind = _PAGE_POSTS.get(listing.kind, ArticlePost)
    return kind(
        publishid=listing.publishid,
        docid=listing.docid,
        url=url,
        section=section.id,
        title=title,
        date=date,
        media=_first(_strip(listing.media_name), _strip(facts.media_name)),
        editor=_strip(facts.editor),
        keywords=split_keywords([listing.keywords]) or facts.keywords,
        summary=_strip(listing.intro),
        excerpt=_excerpt(listing.intro),
        categories=section.categories,
        author=section.author,
        body=body,
        mtime=listing.mtime,
        updated=_updated(listing.mtime, date),
    )


def flash_url(flash: Flash) -> str:
    """A flash's own page, or the live feed's page at the flash."""
    return flash.docurl or f"{ZHIBO_REFERER}#{flash.id}"


def load_flash(flash: Flash, section: Section, style: BodyStyle) -> FlashPost:
    """The post of one flash of the live feed (docs/post-kinds.md): its title from its
    【…】 lead or its first sentence, its date from create_time, its body from its text and
    images through the article body rules; no page is fetched."""
    body = process_body(flash_html(flash.text, flash.images), flash.docurl or ZHIBO_REFERER, style)
    title = clean_title(flash.title)
    if title is None:
        raise ArticleError("no_title", f"flash {flash.id} has no text to take a title from")
    if not body.html.strip():
        raise ArticleError("empty_body", f"flash {flash.id} gives an empty body")
    date = utc_from_timestamp(flash.created)
    return FlashPost(
        publishid=flash.publishid,
        url=flash_url(flash),
        section=section.id,
        title=title,
        date=date,
        summary=_strip(flash.plain_text),
        excerpt=_strip(flash.lead),  # text already: its entities were decoded once
        keywords=split_keywords(flash.tags),
        tags=flash.tags,
        stocks=tuple(Stock(stock["market"], stock["symbol"], stock["key"]) for stock in flash.stocks),
        categories=section.categories,
        author=section.author,
        body=body,
        mtime=flash.updated,
        updated=_updated(flash.updated, date),
    )
