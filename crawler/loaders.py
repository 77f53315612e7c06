"""Assembling an ArticleItem from the roll-API item and the article page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from itemloaders.processors import Identity, MapCompose, TakeFirst
from scrapy.loader import ItemLoader

from crawler.config import Section
from crawler.hexo.body import Body, BodyStyle, process_body
from crawler.hexo.fields import clean_title, iso_utc, parse_published_time, utc_from_timestamp
from crawler.hexo.shapes import flash_html
from crawler.items import ArticleItem
from crawler.parsing.page_facts import PageFacts
from crawler.sina import article_page
from crawler.sina.roll_api import RollItem
from crawler.sina.zhibo_api import ZHIBO_REFERER, Flash


class ArticleError(Exception):
    """The page cannot give a post; ``reason`` names it in stats and logs."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def _strip(value: str | None) -> str | None:
    if value is None:
        return None
    value = " ".join(value.split())
    return value or None


def _split_keywords(value: str | list[str] | None) -> list[str]:
    if not value:
        return []
    if isinstance(value, list):
        return value
    return [word.strip() for word in value.replace("，", ",").split(",") if word.strip()]


class ArticleLoader(ItemLoader):
    """First non-empty value wins: the API item is added before the page's fallbacks."""

    default_item_class = ArticleItem
    default_output_processor = TakeFirst()

    title_in = MapCompose(clean_title)
    media_in = MapCompose(_strip)
    editor_in = MapCompose(_strip)
    summary_in = MapCompose(_strip)
    keywords_in = MapCompose(_split_keywords)
    keywords_out = Identity()
    tags_out = Identity()
    stocks_out = Identity()
    categories_out = Identity()
    image_urls_out = Identity()
    body_image_spans_out = Identity()

    # The processors are fixed per class (ArticleItem's fields carry no metadata), so they
    # are looked up once: itemloaders looks at the item's field metadata on every value.
    _processors: ClassVar[dict[tuple[str, str], Callable[..., Any]]] = {}

    def get_input_processor(self, field_name: str) -> Callable[..., Any]:
        key = ("in", field_name)
        if key not in self._processors:
            self._processors[key] = super().get_input_processor(field_name)
        return self._processors[key]

    def get_output_processor(self, field_name: str) -> Callable[..., Any]:
        key = ("out", field_name)
        if key not in self._processors:
            self._processors[key] = super().get_output_processor(field_name)
        return self._processors[key]


def _add_first(loader: ItemLoader, field: str, *sources: Callable[[], Any]) -> None:
    """Add the first source's value that survives the field's input processor."""
    for source in sources:
        loader.add_value(field, source())
        if loader.get_collected_values(field):
            return


def _add_post_fields(loader: ItemLoader, section: Section, body: Body) -> None:
    """What every kind of post takes from its section and its processed body."""
    loader.add_value("categories", list(section.categories))
    loader.add_value("author", section.author)
    loader.add_value("headimg", body.first_image)
    loader.add_value("image_urls", list(body.image_urls))
    loader.add_value("body_html", body.html)
    loader.add_value("body_image_spans", list(body.image_spans))


def _published(facts: PageFacts) -> str | None:
    published = parse_published_time(facts.published_time)
    return iso_utc(published) if published is not None else None


def load_article(listing: RollItem, section: Section, url: str, facts: PageFacts) -> ArticleItem:
    """The item for one article page (crawler.parsing.page_facts); ArticleError when the page has
    no post in it."""
    body = facts.body
    if body is None:
        raise ArticleError("no_body", f"none of {', '.join(article_page.BODY_CONTAINERS)}")
    if not body.html.strip():
        raise ArticleError("empty_body", "the body container holds nothing")

    loader = ArticleLoader()
    loader.add_value("publishid", listing.publishid)
    loader.add_value("docid", listing.docid)
    loader.add_value("url", url)
    loader.add_value("section", section.id)
    # The API item first; the page only when the API item has nothing usable.
    _add_first(loader, "title", lambda: listing.title, lambda: facts.og_title, lambda: facts.heading_title)
    _add_first(
        loader,
        "date",
        lambda: iso_utc(utc_from_timestamp(listing.intime)) if listing.intime is not None else None,
        lambda: _published(facts),
    )
    _add_first(loader, "media", lambda: listing.media_name, lambda: facts.media_name)
    _add_first(loader, "keywords", lambda: listing.keywords, lambda: list(facts.keywords))
    loader.add_value("editor", facts.editor)
    loader.add_value("summary", listing.intro)
    _add_post_fields(loader, section, body)
    loader.add_value("mtime", listing.mtime)
    loader.add_value("kind", listing.kind)
    item: ArticleItem = loader.load_item()
    if not item.title:
        raise ArticleError("no_title", "no title in the API item, og:title or <h1>")
    if not item.date:
        raise ArticleError("no_date", "no intime in the API item, no article:published_time")
    return item


def load_flash(flash: Flash, section: Section, style: BodyStyle) -> ArticleItem:
    """The item for one flash of the live feed (docs/post-kinds.md): its title from its
    【…】 lead or its first sentence, its date from create_time, its body from its text and
    images through the article body rules; no page is fetched."""
    base = flash.docurl or ZHIBO_REFERER
    body = process_body(flash_html(flash.text, flash.images), base, style)
    loader = ArticleLoader()
    loader.add_value("publishid", flash.publishid)
    loader.add_value("url", flash.docurl or f"{ZHIBO_REFERER}#{flash.id}")
    loader.add_value("section", section.id)
    loader.add_value("title", flash.title)
    loader.add_value("date", iso_utc(utc_from_timestamp(flash.created)))
    loader.add_value("summary", flash.plain_text)
    loader.add_value("keywords", list(flash.tags))
    loader.add_value("tags", list(flash.tags))
    loader.add_value("stocks", list(flash.stocks))
    _add_post_fields(loader, section, body)
    loader.add_value("mtime", flash.updated)
    loader.add_value("kind", "flash")
    item: ArticleItem = loader.load_item()
    return item
